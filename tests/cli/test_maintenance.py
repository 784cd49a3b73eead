"""`dw gc` and `dw fsck`."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from dataworkflow.cli.maintenance import GC_PHASES, PhaseProgress, parse_duration
from tests.cli.conftest import write_tree


@pytest.fixture
def imported(dw_any, tmp_path):
    """`data` with two commits on main and a deleted branch that had a file of its own."""
    dw_any.ok("repo", "create", "data")
    folder = write_tree(tmp_path / "src", {"a.csv": b"x\n1\n", "d/b.txt": b"b"})
    dw_any.ok("import", str(folder), "data", "-m", "one")
    write_tree(folder, {"a.csv": b"x\n2\n"})
    dw_any.ok("import", str(folder), "data", "-m", "two")
    dw_any.ok("branch", "create", "data", "exp")
    side = write_tree(tmp_path / "side", {"exp.bin": b"only on exp"})
    dw_any.ok("import", str(side), "data", "--branch", "exp", "--path", "exp", "-m", "exp")
    dw_any.ok("branch", "delete", "data", "exp")
    return dw_any


def test_gc_dry_run_then_gc_reclaims_a_deleted_branch(imported):
    dw = imported
    before = dw.object_count()

    dry = dw.ok("gc", "--dry-run", "--grace", "0s", REFLOG_RETENTION_DAYS="0")

    assert dry.stdout.splitlines() == [
        "would reclaim 1 object (11 B) and 9 metadata rows: 1 commit, 2 trees, 1 blob",
        "dry run: nothing was deleted",
    ]
    assert dw.object_count() == before
    report = json.loads(dw.ok("gc", "--grace", "0s", "--json", REFLOG_RETENTION_DAYS="0").stdout)
    assert report == {
        "run": report["run"],
        "dry_run": False,
        "grace_seconds": 0,
        "objects": 1,
        "bytes": 11,
        "rows": 9,
        "commits": 1,
        "trees": 2,
        "blobs": 1,
        "kept_young_objects": 0,
        "kept_young_bytes": 0,
        "packs_merged": 0,
        "leftovers_removed": 0,
    }
    assert dw.object_count() == before - 1
    assert dw.ok("cat", "data", "main~1", "a.csv").stdout == "x\n1\n"  # history stays
    assert dw.ok("fsck", "--full").stdout.startswith("ok: ")


def test_gc_keeps_young_objects_and_the_ref_log_by_default(imported):
    dw = imported
    dw.storage().put_bytes(b"an upload about to be committed")
    before = dw.object_count()

    result = dw.ok("gc")

    assert result.stdout.splitlines() == [
        "reclaimed 0 objects (0 B) and 0 metadata rows: 0 commits, 0 trees, 0 blobs",
        "kept 1 unreferenced object (31 B) younger than 24h",
    ]
    assert dw.object_count() == before


def test_gc_refuses_a_bad_duration(dw):
    dw.fails("gc", "--grace", "soon", code=2, message="invalid duration 'soon'")


def test_fsck_passes_then_names_each_problem(imported):
    dw = imported
    assert dw.ok("fsck").stdout == "ok: 1 ref, 3 commits, 5 trees and 4 blobs checked\n"
    listing = {e["path"]: e["id"] for e in dw.json("ls", "data", "main", "-r")}
    dw.storage().delete(listing["d/b.txt"])

    result = dw.fails("fsck", message="1 problem found; 1 ref, 3 commits")

    assert result.stdout == f"data: blob {listing['d/b.txt']}: its bytes are not in storage\n"
    result = dw.fails("fsck", "--json", message="1 problem found")
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["checked"] == {"refs": 1, "commits": 3, "trees": 5, "blobs": 4, "objects": 3}
    assert report["problems"] == [
        {
            "repository": "data",
            "kind": "blob",
            "id": listing["d/b.txt"],
            "code": "missing-object",
            "message": "its bytes are not in storage",
        }
    ]


def test_fsck_full_finds_a_flipped_byte(dw, tmp_path):
    dw.ok("repo", "create", "data")
    dw.ok("import", str(write_tree(tmp_path / "src", {"f.bin": b"\x00" * 64})), "data", "-m", "m")
    (entry,) = dw.json("ls", "data", "main")
    path = tmp_path / "objects-root" / "objects" / entry["id"][:2] / entry["id"]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"\x01")

    assert dw.ok("fsck").stdout.startswith("ok: ")
    result = dw.fails("fsck", "--full", message="1 problem found")
    assert result.stdout.startswith(f"data: blob {entry['id']}: its stored bytes hash to ")
    assert "corrupt" in result.stdout


def test_fsck_of_one_repository(dw):
    dw.ok("repo", "create", "data")
    assert dw.ok("fsck", "data").stdout == "ok: 0 refs, 0 commits, 0 trees and 0 blobs checked\n"
    dw.fails("fsck", "nope", message="repository 'nope' not found")


@pytest.mark.parametrize("command", ["gc", "fsck"])
def test_maintenance_is_local_only(dw, command):
    dw.fails("--server", "http://127.0.0.1:9", command, message="not available with --server")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        (" 0s ", timedelta(0)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-1h", "1y", "1h 30m", "24hours"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_phase_progress_draws_on_a_terminal(capsys):
    with PhaseProgress(GC_PHASES, enabled=True) as progress:
        progress("mark", 10)
        progress("mark", 20)
        progress("list", 5)
    assert capsys.readouterr().out == ""  # bars go to stderr, results stay on stdout


def _many_files(count: int, tag: str) -> dict[str, bytes]:
    return {f"{tag}/f{n:04d}.txt": f"{tag} {n}\n".encode() * (n % 5 + 1) for n in range(count)}


def test_gc_rewrites_the_packs_of_an_import_and_keeps_the_rest(dw, tmp_path):
    dw.ok("repo", "create", "data")
    keep = write_tree(tmp_path / "keep", _many_files(300, "k"))
    dw.ok("import", str(keep), "data", "-m", "kept")
    dw.ok("branch", "create", "data", "exp")
    side = write_tree(tmp_path / "side", {**_many_files(300, "k"), **_many_files(300, "s")})
    dw.ok("import", str(side), "data", "--branch", "exp", "-m", "side")  # 300 new, packed
    dw.ok("branch", "delete", "data", "exp")
    half = dict(list(_many_files(300, "s").items())[::2])
    write_tree(keep, half)
    dw.ok("import", str(keep), "data", "-m", "half of side")  # half of its packs live on
    packs = tmp_path / "objects-root" / "packs"
    before_packs = sorted(packs.glob("*.idx"))
    assert before_packs  # the imports packed their files
    before = dw.object_count()

    report = json.loads(dw.ok("gc", "--grace", "0s", "--json", REFLOG_RETENTION_DAYS="0").stdout)

    assert report["objects"] == 150
    assert dw.object_count() == before - 150
    assert sorted(packs.glob("*.idx")) != before_packs  # rewritten without the 150
    assert dw.ok("fsck", "--full").stdout.startswith("ok: ")
    out = tmp_path / "out"
    dw.ok("export", "data", "main", str(out))
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.txt")} == {
        **_many_files(300, "k"),
        **half,
    }


def test_fsck_full_finds_a_flipped_byte_in_a_pack(dw, tmp_path):
    dw.ok("repo", "create", "data")
    files = _many_files(40, "p")
    dw.ok("import", str(write_tree(tmp_path / "src", files)), "data", "-m", "m")
    (pack,) = (tmp_path / "objects-root" / "packs").glob("*.pack")
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as f:
        f.seek(20)  # inside the first object, past the pack's 8-byte magic
        f.write(b"\xff")

    assert dw.ok("fsck").stdout.startswith("ok: ")  # sizes are right
    result = dw.fails("fsck", "--full", message="1 problem found")
    assert "its stored bytes hash to" in result.stdout and "corrupt" in result.stdout
    dw.fails("export", "data", "main", str(tmp_path / "out"), message="")


def test_fsck_names_a_damaged_pack_index_and_what_it_held(dw, tmp_path):
    dw.ok("repo", "create", "data")
    dw.ok("import", str(write_tree(tmp_path / "src", _many_files(20, "d"))), "data", "-m", "m")
    (index,) = (tmp_path / "objects-root" / "packs").glob("*.idx")
    os.chmod(index, 0o644)
    with open(index, "r+b") as f:
        f.seek(40)  # inside the first entry's id: the checksum no longer matches
        f.write(b"\xff")

    result = dw.fails("fsck", message="21 problems found")
    name = f"packs/{index.name}"
    assert f"storage {name}: the pack index fails its checks" in result.stdout
    assert result.stdout.count("its bytes are not in storage") == 20
    report = json.loads(dw.fails("fsck", "--json", message="").stdout)
    (damaged,) = [p for p in report["problems"] if p["kind"] == "storage"]
    assert damaged == {
        "repository": "",
        "kind": "storage",
        "id": name,
        "code": "damaged-pack-index",
        "message": damaged["message"],
    }


def test_gc_removes_what_interrupted_writes_left_once_an_hour_old(dw, tmp_path):
    dw.ok("repo", "create", "data")
    files = _many_files(20, "l")
    dw.ok("import", str(write_tree(tmp_path / "src", files)), "data", "-m", "m")
    root = tmp_path / "objects-root"
    fan_out = root / "objects" / "ab"  # where a loose write of an id ab... begins
    for folder in (fan_out, root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    old = [
        root / "packs" / "pack-0123456789abcdef0123.pack",  # its index was never written
        root / "packs" / ".tmp-0123456789abcdef",
        root / "tmp" / ".tmp-0123456789abcdef",
        fan_out / ".tmp-0123456789abcdef",
    ]
    young = root / "tmp" / ".tmp-fedcba9876543210"  # a write that may still be going on
    for path in [*old, young]:
        path.write_bytes(b"partial")
    two_hours_ago = os.stat(young).st_mtime - 2 * 3600
    for path in old:
        os.utime(path, (two_hours_ago, two_hours_ago))
    kept = sorted((root / "packs").iterdir())

    dry = dw.ok("gc", "--grace", "0s", "--dry-run")
    assert "would remove 4 leftover files of interrupted writes" in dry.stdout
    assert all(path.exists() for path in old)
    assert json.loads(dw.ok("gc", "--grace", "3h", "--json").stdout)["leftovers_removed"] == 0
    done = dw.ok("gc", "--grace", "0s")
    assert "removed 4 leftover files of interrupted writes" in done.stdout
    assert not any(path.exists() for path in old) and young.exists()
    assert sorted((root / "packs").iterdir()) == [p for p in kept if p not in old]
    assert dw.ok("fsck", "--full").stdout.startswith("ok: ")
    out = tmp_path / "out"
    dw.ok("export", "data", "main", str(out))
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        name.rsplit("/", 1)[-1]: data for name, data in files.items()
    }


def test_gc_merges_the_small_packs_of_many_imports(dw, tmp_path, monkeypatch):
    from dataworkflow.storage import packs as packs_module

    dw.ok("repo", "create", "data")
    folder = tmp_path / "src"
    for n in range(3):
        write_tree(folder, _many_files(20, f"i{n}"))
        dw.ok("import", str(folder), "data", "-m", f"import {n}")
    packs = tmp_path / "objects-root" / "packs"
    assert len(list(packs.glob("*.idx"))) == 3
    monkeypatch.setattr(packs_module, "REPACK_MOST", 2)

    result = dw.ok("gc", "--grace", "0s")

    assert result.stdout.splitlines()[-1] == "merged 3 small packs of the storage folder into one"
    assert len(list(packs.glob("*.idx"))) == 1
    assert dw.ok("fsck", "--full").stdout.startswith("ok: ")
    assert json.loads(dw.ok("gc", "--json").stdout)["packs_merged"] == 0
