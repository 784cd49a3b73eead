""".dwignore: gitignore syntax and semantics for imports."""

from __future__ import annotations

import pytest

from dataworkflow.errors import InvalidInput
from dataworkflow.services.ignore import ignore_rule_from_lines, leaving_out, load_ignore_rule

PATTERNS = [
    "# comment",
    "",
    "*.log",
    "!keep.log",
    "build/",
    "/top.tmp",
    "data/**/raw",
    "docs/*.pdf",
    "\\#literal",
]


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        pytest.param("debug.log", False, True, id="glob"),
        pytest.param("deep/down/debug.log", False, True, id="glob-anywhere"),
        pytest.param("keep.log", False, False, id="negation"),
        pytest.param("sub/keep.log", False, False, id="negation-anywhere"),
        pytest.param("build", True, True, id="folder-pattern"),
        pytest.param("src/build", True, True, id="folder-pattern-anywhere"),
        pytest.param("build", False, False, id="folder-pattern-not-a-file"),
        pytest.param("top.tmp", False, True, id="anchored"),
        pytest.param("sub/top.tmp", False, False, id="anchored-only-at-root"),
        pytest.param("data/a/b/raw", True, True, id="double-star"),
        pytest.param("data/raw", True, True, id="double-star-zero-folders"),
        pytest.param("docs/a.pdf", False, True, id="slash-anchors"),
        pytest.param("docs/x/a.pdf", False, False, id="star-stops-at-slash"),
        pytest.param("#literal", False, True, id="escaped-hash"),
        pytest.param("a.csv", False, False, id="not-matched"),
        pytest.param(".dwignore", False, False, id="ignore-file-kept"),
    ],
)
def test_gitignore_semantics(path, is_dir, ignored):
    assert ignore_rule_from_lines(PATTERNS)(path, is_dir) is ignored


def test_no_file_means_no_rule(tmp_path):
    assert load_ignore_rule(tmp_path) is None


def test_rule_from_the_folder(tmp_path):
    (tmp_path / ".dwignore").write_text("*.tmp\n")
    rule = load_ignore_rule(tmp_path)
    assert rule is not None
    assert rule("x.tmp", False) and not rule("x.csv", False)


def test_bad_ignore_files(tmp_path):
    (tmp_path / ".dwignore").write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        load_ignore_rule(tmp_path)
    (tmp_path / ".dwignore").unlink()
    (tmp_path / ".dwignore").mkdir()
    with pytest.raises(InvalidInput, match="is a folder"):
        load_ignore_rule(tmp_path)


def test_commit_folder_skips_ignored_files_and_folders(repo, tmp_path):
    root = tmp_path / "src"
    for relpath in ("a.csv", "x.log", "keep.log", "build/out.o", "sub/build/o", "sub/b.csv"):
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(relpath)
    (root / ".dwignore").write_text("*.log\n!keep.log\nbuild/\n")
    repo.commit_folder(root, "main", "one", ignore=load_ignore_rule(root))
    assert [e.path for e in repo.walk("main") if e.entry.kind == "blob"] == [
        ".dwignore",
        "a.csv",
        "keep.log",
        "sub/b.csv",
    ]


def test_leaving_out_adds_the_paths_inside_the_folder(tmp_path):
    folder = tmp_path / "data"
    (folder / "store").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    (tmp_path / "alias").symlink_to(folder)
    own = [folder / "store", folder / "meta.db", tmp_path / "data2", tmp_path / "elsewhere"]

    rule = leaving_out(ignore_rule_from_lines(["*.log"]), tmp_path / "alias", own)

    assert rule is not None
    assert rule("store", True) and rule("meta.db", False) and rule("x.log", False)
    assert not rule("store2", True) and not rule("sub/store", True) and not rule("a", False)
    assert leaving_out(None, folder, [tmp_path / "data2"]) is None
    for inside in (folder / "store", folder / "store" / "deeper"):
        with pytest.raises(InvalidInput, match="keeps its own data"):
            leaving_out(None, inside, own)
