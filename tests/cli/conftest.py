"""Fixtures for `dw` tests: an environment per database and storage, a runner, folders."""

from __future__ import annotations

import builtins
import errno
import itertools
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dataworkflow.cli import main

DW_SCRIPT = Path(sys.executable).with_name("dw")
AUTHOR = ("Test Author", "test@example.com")
OLD_MTIME_NS = 1_600_000_000 * 10**9  # long before any test's "scan start"


@pytest.fixture(autouse=True)
def _cwd_without_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command in an empty folder, so no developer's .env leaks in."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def filesystem_env(tmp_path: Path) -> dict[str, str]:
    return {"STORAGE_PATH": str(tmp_path / "objects-root"), "S3_BUCKET": ""}


def s3_env(bucket: str, endpoint: str) -> dict[str, str]:
    return {
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_PREFIX": "dw/",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }


def base_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DW_CACHE_DIR": str(tmp_path / "cache"),
        "DW_AUTHOR_NAME": AUTHOR[0],
        "DW_AUTHOR_EMAIL": AUTHOR[1],
        "S3_PREFIX": "",
        "S3_ENDPOINT_URL": "",
    }


@dataclass
class Dw:
    """Runs `dw` in-process with click's runner against one environment."""

    env: dict[str, str]
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | bytes | None = None, **env: str) -> Result:
        return self.runner.invoke(main, list(args), env={**self.env, **env}, input=input)

    def ok(self, *args: str, **kwargs) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    def fails(self, *args: str, code: int = 1, message: str = "", **kwargs) -> Result:
        """Assert a failure: the exit status and one `error: ...` line containing `message`."""
        result = self(*args, **kwargs)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        if code != 2:
            lines = result.stderr.strip().splitlines()
            assert lines and lines[-1].startswith("error: "), result.stderr
            assert message in lines[-1], result.stderr
        else:
            assert message in result.stderr, result.stderr
        return result

    def json(self, *args: str):
        import json

        return json.loads(self.ok(*args, "--json").stdout)

    def settings(self):
        from dataworkflow.settings import Settings

        return Settings.from_env({k: v for k, v in self.env.items() if v}, dotenv=False)

    def storage(self):
        from dataworkflow.storage import open_storage

        return open_storage(self.settings())

    def object_count(self) -> int:
        return sum(1 for _ in self.storage().iter_ids())


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def any_storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Filesystem storage, then S3 on the moto server."""
    if request.param == "filesystem":
        return filesystem_env(tmp_path)
    return s3_env(request.getfixturevalue("s3_bucket"), request.getfixturevalue("moto_server"))


@pytest.fixture
def dw(database_url: str, tmp_path: Path) -> Dw:
    """`dw` on SQLite and PostgreSQL, with filesystem storage."""
    return Dw({**base_env(database_url, tmp_path), **filesystem_env(tmp_path)})


@pytest.fixture
def dw_any(database_url: str, any_storage_env: dict[str, str], tmp_path: Path) -> Dw:
    """`dw` on every combination: SQLite/PostgreSQL x filesystem/S3."""
    return Dw({**base_env(database_url, tmp_path), **any_storage_env})


@pytest.fixture
def dw_sqlite(tmp_path: Path) -> Dw:
    """`dw` on a brand-new SQLite file (migrated on first use) and filesystem storage."""
    return Dw(
        {**base_env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path), **filesystem_env(tmp_path)}
    )


@pytest.fixture
def storage_counter(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every storage `dw` opens in-process (each has a `writes` counter)."""
    import dataworkflow.storage as storage_module

    opened: list = []
    original = storage_module.open_storage

    def counting(settings):
        storage = original(settings)
        opened.append(storage)
        return storage

    monkeypatch.setattr(storage_module, "open_storage", counting)
    return opened


@pytest.fixture
def hash_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the files `dw import` reads to hash them."""
    from dataworkflow.services import folder

    calls: list[str] = []
    original_large, original_small = folder._hash_file, folder._read_small

    def counting_large(path: str):
        calls.append(path)
        return original_large(path)

    def counting_small(path: str):
        calls.append(path)
        return original_small(path)

    # Large files are hashed by _hash_file; small ones are read whole by _read_small;
    # filesystem storage reads each new file once, hashing as it copies (put_local;
    # fewer files than BULK_MIN_FILES, as here, are stored in this process).
    from dataworkflow.storage.filesystem import FileSystemStorage

    original_local = FileSystemStorage.put_local

    def counting_local(self: FileSystemStorage, path: str, pack=None):
        calls.append(path)
        return original_local(self, path, pack)

    monkeypatch.setattr(folder, "_hash_file", counting_large)
    monkeypatch.setattr(folder, "_read_small", counting_small)
    monkeypatch.setattr(FileSystemStorage, "put_local", counting_local)
    return calls


# --- folders ----------------------------------------------------------------------------


_write_count = itertools.count()


def write_tree(root: Path, files: dict[str, bytes], executable: set[str] = frozenset()) -> Path:
    """Create files (and their folders) below `root`, with old mtimes (not "racy").

    Each call uses a later mtime, so a rewrite of the same size is still seen as a change
    (as with a real clock; a stat cache cannot see edits that keep size and mtime).
    """
    mtime = OLD_MTIME_NS + next(_write_count) * 10**9
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if relpath in executable else 0o644)
        os.utime(path, ns=(mtime, mtime))
    root.mkdir(parents=True, exist_ok=True)
    return root


def generated_files(seed: int = 7, count: int = 40) -> dict[str, bytes]:
    """A folder's worth of files: nested, binary, empty, unicode names, one > 1 MiB."""
    rng = random.Random(seed)
    files = {
        f"dir{i % 4}/sub{i % 3}/file{i}.bin": rng.randbytes(rng.randint(0, 5000))
        for i in range(count)
    }
    files["empty.txt"] = b""
    files["données/été.csv"] = b"a,b\n1,2\n"
    files["with space/and 'quote'.txt"] = b"spaces"
    files["big.bin"] = rng.randbytes(1024 * 1024 + 123)  # the large-file (threaded) path
    files["bin/run.sh"] = b"#!/bin/sh\necho hi\n"
    return files


def snapshot(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file below `root`: its bytes and whether it is executable."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), bool(path.stat().st_mode & 0o100))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- permissions (we may run as root, which ignores file modes) ---------------------------


def deny_open(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make `path` unreadable: chmod 000, and for root (who ignores modes) refuse `open`."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    original = builtins.open
    denied = os.fspath(path)

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == denied:
            raise PermissionError(errno.EACCES, "Permission denied", denied)
        return original(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    original_os_open = os.open

    def guarded_os_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == denied:
            raise PermissionError(errno.EACCES, "Permission denied", denied)
        return original_os_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_os_open)


def deny_mkdir_below(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `folder` unwritable: chmod 555, and for root refuse `os.mkdir` below it."""
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return
    original = os.mkdir
    locked = os.fspath(folder)

    def guarded(path, *args, **kwargs):
        if os.path.dirname(os.path.abspath(path)) == locked:  # a new entry in `folder`
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", guarded)


# --- subprocess ---------------------------------------------------------------------------


@pytest.fixture
def run_dw(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `dw` script as a subprocess, with only the given settings."""

    def run(*args: str, env: dict[str, str], cwd: Path | None = None, **kwargs):
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
        agents = ("DW_RUNTIME_DIR", "DW_AGENT_IDLE")  # the run's agents (tests/conftest.py)
        clean = {k: v for k, v in os.environ.items() if k in keep + agents}
        return subprocess.run(
            [str(DW_SCRIPT), *args],
            env={**clean, **env},
            cwd=cwd or tmp_path / "cwd",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **kwargs,
        )

    return run


@pytest.fixture
def repo_name(dw: Dw) -> Iterator[str]:
    dw.ok("repo", "create", "data")
    yield "data"
