import pytest

from dataworkflow.core.names import (
    branch_ref,
    check_ref_format,
    normalize_path,
    split_path,
    tag_ref,
    validate_repository_name,
)
from dataworkflow.core.revisions import RevSpec, parse_revision
from dataworkflow.errors import InvalidName, InvalidRevision

VALID_REFS = ["main", "feature/x", "release/2026.01", "a-b_c", "v1.0", "refs/heads/main", "ünï"]
INVALID_REFS = [
    "",
    "@",
    "a..b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "/a",
    "a/",
    "a//b",
    "a.",
    ".a",
    "a/.b",
    "a.lock",
    "a/b.lock",
    "a@{1}",
    "a\x01",
    "a\x7f",
]


@pytest.mark.parametrize("name", VALID_REFS)
def test_valid_ref_names(name):
    assert check_ref_format(name) == name


@pytest.mark.parametrize("name", INVALID_REFS)
def test_invalid_ref_names_follow_git_check_ref_format(name):
    with pytest.raises(InvalidName):
        check_ref_format(name)


def test_ref_names_are_completed():
    assert branch_ref("feature/x") == "refs/heads/feature/x"
    assert branch_ref("refs/heads/main") == "refs/heads/main"
    assert tag_ref("v1") == "refs/tags/v1"
    with pytest.raises(InvalidName):
        branch_ref("bad..name")


@pytest.mark.parametrize(
    ("path", "parts"),
    [("", ()), ("/", ()), ("a", ("a",)), ("a/b/c.csv", ("a", "b", "c.csv")), ("/a/b/", ("a", "b"))],
)
def test_split_path(path, parts):
    assert split_path(path) == parts


@pytest.mark.parametrize("path", ["a//b", "a/../b", "./a", "a/\0", "//"])
def test_bad_paths_are_rejected(path):
    with pytest.raises(InvalidName):
        split_path(path)


def test_normalize_path():
    assert normalize_path("/data/x.csv") == "data/x.csv"


@pytest.mark.parametrize("name", ["example", "My-Data_2", "a.b"])
def test_valid_repository_names(name):
    assert validate_repository_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a b", "x.git", "é", "a" * 101, "x."])
def test_invalid_repository_names(name):
    with pytest.raises(InvalidName):
        validate_repository_name(name)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("main", RevSpec("main")),
        ("main~", RevSpec("main", (("~", 1),))),
        ("main~3", RevSpec("main", (("~", 3),))),
        ("v1.0^2~1", RevSpec("v1.0", (("^", 2), ("~", 1)))),
        ("feature/x^0", RevSpec("feature/x", (("^", 0),))),
    ],
)
def test_parse_revision(text, spec):
    assert parse_revision(text) == spec


@pytest.mark.parametrize("text", ["", "~1", "^", "main~x", "main~1a", "main~9999999"])
def test_malformed_revisions(text):
    with pytest.raises(InvalidRevision):
        parse_revision(text)
