"""The scripts `make run` starts with: scripts/init_db.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _init_db(tmp_path: Path, storage: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dw.db'}",
        "STORAGE_PATH": str(storage),
        "S3_BUCKET": "",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "init_db.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_init_db_migrates_and_leaves_a_new_storage_folder_alone(tmp_path):
    result = _init_db(tmp_path, tmp_path / "store")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database at revision ")
    assert len(result.stdout.splitlines()) == 1
    assert not (tmp_path / "store").exists()  # made by the first write, not before


def test_init_db_moves_a_storage_folder_of_the_old_layout(tmp_path):
    objects = tmp_path / "store" / "objects"
    ids = []
    for n in range(3):
        data = f"object {n}".encode()
        object_id = hashlib.sha256(data).hexdigest()
        (objects / object_id[:2] / object_id[2:4]).mkdir(parents=True)
        (objects / object_id[:2] / object_id[2:4] / object_id).write_bytes(data)
        ids.append(object_id)

    result = _init_db(tmp_path, tmp_path / "store")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "storage: moved 3 objects to the objects/ab/<id> layout"
    ]
    assert sorted(p.name for p in objects.glob("*/*")) == sorted(ids)
    assert (objects / "LAYOUT").is_file()
    assert _init_db(tmp_path, tmp_path / "store").stdout.count("\n") == 1  # nothing left


def test_init_db_reports_a_storage_folder_it_cannot_upgrade(tmp_path):
    objects = tmp_path / "store" / "objects"
    object_id = "abcd" + "0" * 60
    (objects / "ab" / "cd").mkdir(parents=True)
    (objects / "ab" / "cd" / object_id).write_bytes(b"x")
    (objects / "ab" / object_id / "in the way").mkdir(parents=True)  # a folder, not a file

    result = _init_db(tmp_path, tmp_path / "store")

    assert result.returncode == 1
    assert result.stderr.startswith("error: [Errno 21] Is a directory")
    assert (objects / "ab" / "cd" / object_id).read_bytes() == b"x"  # left where it was
    assert not (objects / "LAYOUT").exists()
