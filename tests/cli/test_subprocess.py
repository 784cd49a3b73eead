"""The installed `dw` script, run as a real process."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cli.conftest import (
    DW_SCRIPT,
    base_env,
    filesystem_env,
    generated_files,
    s3_env,
    snapshot,
    write_tree,
)


@pytest.fixture
def env(database_url, tmp_path):
    return {**base_env(database_url, tmp_path), **filesystem_env(tmp_path)}


def test_round_trip_and_no_op_reimport(run_dw, env, tmp_path):
    folder = write_tree(tmp_path / "src", generated_files(count=8), executable={"bin/run.sh"})
    assert run_dw("repo", "create", "data", env=env).returncode == 0
    first = run_dw("import", str(folder), "data", "-m", "one", env=env)
    assert first.returncode == 0, first.stderr
    commit_id = first.stdout.strip()
    again = run_dw("import", str(folder), "data", "-m", "two", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] is False
    assert json.loads(again.stdout)["commit"] == commit_id
    out = run_dw("export", "data", "main", str(tmp_path / "out"), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # not a terminal: no progress, the summary on stderr
    assert out.stderr.startswith("exported ")
    assert snapshot(tmp_path / "out") == snapshot(folder)
    log = run_dw("log", "data", "--json", env=env)
    assert [c["id"] for c in json.loads(log.stdout)] == [commit_id]


@pytest.mark.s3
def test_round_trip_on_s3(run_dw, tmp_path, s3_bucket, moto_server):
    env = {
        **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        **s3_env(s3_bucket, moto_server),
    }
    folder = write_tree(tmp_path / "src", generated_files(count=4))
    assert run_dw("init", env=env).returncode == 0
    assert run_dw("repo", "create", "data", env=env).returncode == 0
    assert run_dw("import", str(folder), "data", "-m", "one", env=env).returncode == 0
    assert run_dw("export", "data", "main", str(tmp_path / "out"), env=env).returncode == 0
    assert snapshot(tmp_path / "out") == snapshot(folder)


def test_cat_writes_binary_to_stdout(run_dw, env, tmp_path):
    data = bytes(range(256)) * 1000
    folder = write_tree(tmp_path / "src", {"blob.bin": data})
    run_dw("repo", "create", "data", env=env)
    run_dw("import", str(folder), "data", "-m", "one", env=env)
    result = subprocess.run(
        [str(DW_SCRIPT), "cat", "data", "main", "blob.bin"],
        env={**env, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path / "cwd",
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == data


def test_errors_are_one_line_without_traceback(run_dw, env):
    result = run_dw("ls", "missing", "main", env=env)
    assert result.returncode == 1
    assert result.stderr == "error: repository 'missing' not found\n"
    unreachable = {**env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    result = run_dw("repo", "list", env=unreachable)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database ")
    assert len(result.stderr.splitlines()) == 1


def test_closed_stdout_exits_quietly(env, tmp_path, run_dw):
    folder = write_tree(tmp_path / "src", {"big.bin": b"x" * (8 * 1024 * 1024)})
    run_dw("repo", "create", "data", env=env)
    run_dw("import", str(folder), "data", "-m", "one", env=env)
    process = subprocess.Popen(
        [str(DW_SCRIPT), "cat", "data", "main", "big.bin"],
        env={**env, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path / "cwd",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10) == b"x" * 10
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert b"Traceback" not in stderr and stderr == b""


def test_dotenv_in_the_current_folder_is_read(run_dw, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(
        f"DATABASE_URL=sqlite:///{project / 'from-dotenv.db'}\n"
        f"STORAGE_PATH={project / 'objects'}\n"
        f"DW_CACHE_DIR={project / 'cache'}\n"
    )
    result = run_dw("repo", "create", "r", env={}, cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "from-dotenv.db").exists()
    overridden = run_dw(
        "repo", "list", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}, cwd=project
    )
    assert overridden.returncode == 0 and overridden.stdout == ""  # the environment wins
