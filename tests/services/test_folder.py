"""Scanning a local folder: on one process, or with a forked helper for half the subtrees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataworkflow.errors import InvalidName
from dataworkflow.services import folder as folder_module
from dataworkflow.services.folder import FolderScan, scan_folder


def make_tree(root: Path) -> None:
    """Wide and deep folders, an empty one, an executable, a symlink and a FIFO."""
    for top in range(6):
        for sub in range(4):
            leaf = root / f"t{top}" / f"s{sub}"
            leaf.mkdir(parents=True)
            for n in range(3):
                (leaf / f"f{n}.bin").write_bytes(b"x" * (top * 100 + sub * 10 + n))
        (root / f"t{top}" / "skip.tmp").write_bytes(b"ignored")
    deep = root / "deep"
    for level in range(6):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"bottom")
    (root / "empty" / "inside").mkdir(parents=True)
    (root / "run.sh").write_bytes(b"#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "t1" / "link").symlink_to("s0")
    os.mkfifo(root / "t3" / "s2" / "pipe")


def summary(scan: FolderScan) -> tuple[object, ...]:
    return list(scan.folders.items()), scan.skipped, scan.file_count, scan.total_bytes


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the helpers started, with the split lowered so that small trees get one."""
    started: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            started.append(pid)
        return pid

    monkeypatch.setattr(folder_module.os, "fork", fork)
    monkeypatch.setattr(folder_module, "SCAN_SPLIT_FOLDERS", 3)
    return started


def test_a_scan_with_a_helper_equals_one_on_a_single_process(tmp_path, forks):
    make_tree(tmp_path)

    def ignore(relpath: str, is_dir: bool) -> bool:
        return relpath.endswith(".tmp")

    alone = scan_folder(tmp_path, ignore, helper=False)
    assert not forks
    helped = scan_folder(tmp_path, ignore, helper=True)
    assert len(forks) == 1
    assert summary(helped) == summary(alone)
    assert alone.file_count == 6 * 4 * 3 + 2
    assert sorted(alone.skipped) == [
        ("t1/link", "symbolic link"),
        ("t3/s2/pipe", "not a regular file"),
    ]
    assert alone.folders[()].files[-1][0] == "run.sh" and alone.folders[()].files[-1][3]
    assert ("t0", "s0") in alone.folders and not any("skip.tmp" in str(f) for f in alone.folders)


def test_folders_come_depth_first_by_name_each_parent_before_its_children(tmp_path, forks):
    make_tree(tmp_path)
    scan = scan_folder(tmp_path, helper=True)
    assert forks
    order = list(scan.folders)
    assert order == sorted(order)  # tuples of names: depth-first, by name
    assert order[0] == () and all(parts[:-1] in order[: order.index(parts)] for parts in order[1:])


def test_a_bad_name_in_the_helpers_half_is_refused_as_on_a_single_process(tmp_path, forks):
    make_tree(tmp_path)
    for top in range(6):  # in every subtree: whichever half the helper takes
        os.close(os.open(os.fsencode(tmp_path / f"t{top}" / "s1") + b"/bad\xff", os.O_CREAT, 0o644))
    with pytest.raises(InvalidName) as alone:
        scan_folder(tmp_path, helper=False)
    with pytest.raises(InvalidName) as helped:
        scan_folder(tmp_path, helper=True)
    assert forks and str(helped.value) == str(alone.value)
    assert "t0/s1/bad" in str(alone.value)


def test_when_the_helper_fails_the_scan_does_its_part_here(tmp_path, forks, monkeypatch):
    make_tree(tmp_path)
    alone = scan_folder(tmp_path, helper=False)

    class Broken:
        @staticmethod
        def dumps(*_args: object) -> bytes:
            raise MemoryError("the helper cannot send its part")

        loads = staticmethod(folder_module.marshal.loads)

    monkeypatch.setattr(folder_module, "marshal", Broken)
    helped = scan_folder(tmp_path, helper=True)
    assert forks and summary(helped) == summary(alone)


def test_a_narrow_tree_is_scanned_without_a_helper(tmp_path, forks):
    deep = tmp_path
    for level in range(10):
        deep = deep / f"d{level}"
        deep.mkdir()
        (deep / "f.txt").write_bytes(b"f")
    scan = scan_folder(tmp_path, helper=True)
    assert not forks and scan.file_count == 10


def test_by_default_a_helper_needs_two_cpus_and_no_other_thread(tmp_path, forks, monkeypatch):
    make_tree(tmp_path)
    monkeypatch.setattr(folder_module.os, "sched_getaffinity", lambda _pid: {0})
    scan_folder(tmp_path)
    assert not forks
    monkeypatch.setattr(folder_module.os, "sched_getaffinity", lambda _pid: {0, 1})
    # Counted, not started: the suite's own threads (a moto server) come and go.
    monkeypatch.setattr(folder_module.threading, "active_count", lambda: 2)
    scan_folder(tmp_path)
    assert not forks
    monkeypatch.setattr(folder_module.threading, "active_count", lambda: 1)
    scan_folder(tmp_path)
    assert len(forks) == 1
