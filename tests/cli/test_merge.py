"""`dw merge`, `dw revert`, `dw cherry-pick`: results, conflicts and their exit codes."""

import pytest


@pytest.fixture
def forked(dw, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "shared.csv").write_text("a\n")
    dw.ok("repo", "create", "r")
    dw.ok("import", str(folder), "r", "-m", "base")
    dw.ok("branch", "create", "r", "feature")
    (folder / "feature.csv").write_text("f\n")
    dw.ok("import", str(folder), "r", "--branch", "feature", "-m", "feature work")
    return folder


def test_fast_forward_then_up_to_date(dw, forked):
    result = dw.json("merge", "r", "feature", "--into", "main")
    assert result["status"] == "fast-forward"
    assert "already up to date" in dw.ok("merge", "r", "feature", "--into", "main").stdout


def test_merge_commit_with_no_ff(dw, forked):
    result = dw.json("merge", "r", "feature", "--into", "main", "--no-ff", "-m", "Merge it")
    assert result["status"] == "merged"
    shown = dw.json("show", "r", "main")
    assert len(shown["parents"]) == 2 and shown["message"] == "Merge it"


def test_conflicts_stop_the_merge_with_a_one_line_error(dw, forked, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "shared.csv").write_text("main side\n")
    dw.ok("import", str(other), "r", "-m", "main edit")
    (forked / "shared.csv").write_text("feature side\n")
    dw.ok("import", str(forked), "r", "--branch", "feature", "-m", "feature edit")
    head = dw.json("show", "r", "main")["id"]
    result = dw.fails("merge", "r", "feature", "--into", "main", message="1 conflict(s)")
    assert "CONFLICT (modify/modify): shared.csv" in result.stdout
    assert dw.json("show", "r", "main")["id"] == head
    assert (
        dw.json("merge", "r", "feature", "--into", "main", "--strategy", "theirs")["status"]
        == "merged"
    )
    assert dw.ok("cat", "r", "main", "shared.csv").stdout == "feature side\n"


def test_revert_and_cherry_pick(dw, forked):
    picked = dw.json("cherry-pick", "r", "feature", "--onto", "main")
    assert picked["status"] == "merged"
    assert dw.ok("cat", "r", "main", "feature.csv").stdout == "f\n"
    reverted = dw.json("revert", "r", "main")
    assert reverted["status"] == "merged"
    assert "feature.csv" not in dw.ok("ls", "r", "main").stdout
    dw.fails("revert", "r", "nope", message="not found")
    dw.fails("cherry-pick", "r", "feature", "--onto", "missing-branch", message="not found")
    dw.fails("merge", "r", "feature", message="--into", code=2)
