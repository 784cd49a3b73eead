"""Merge bases, three-way tree merges (named cases + properties), merge/revert/cherry-pick."""

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataworkflow.core.objects import TreeEntry
from dataworkflow.errors import InvalidInput, RefConflict
from dataworkflow.services.changes import Delete, Put
from dataworkflow.services.merge import merge_bases, merge_trees
from dataworkflow.services.merging import cherry_pick, merge_branch, revert
from tests.factories import build_commit_graph

# --- helpers: trees from {"path": "content"} dicts --------------------------------------


def make_tree(repo, spec: dict[str, str] | None):
    """A tree id from {"a": "1", "d/x": "2"}; None stays None (no tree)."""
    if spec is None:
        return None
    nested: dict = {}
    for path, content in spec.items():
        node = nested
        *folders, name = path.split("/")
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = content

    def build(node: dict) -> str:
        entries = []
        for name, value in node.items():
            if isinstance(value, dict):
                entries.append({"name": name, "type": "tree", "hash": build(value)})
            else:
                mode = "100755" if value.startswith("x:") else "100644"
                entries.append(
                    {
                        "name": name,
                        "type": "blob",
                        "hash": repo.create_blob(value.removeprefix("x:").encode()),
                        "mode": mode,
                    }
                )
        return repo.create_tree(entries)

    return build(nested)


def flatten(repo, tree_id) -> dict[str, str]:
    out = {}
    with repo.db.reading() as session:

        def walk(tid, prefix):
            for entry in repo._load_tree(session, tid).entries:
                if entry.kind == "tree":
                    walk(entry.id, prefix + entry.name + "/")
                else:
                    with repo.storage.open(entry.id) as f:
                        out[prefix + entry.name] = f.read().decode()

        walk(tree_id, "")
    return out


def run_merge(repo, base, ours, theirs, **options):
    with repo.db.reading() as session:
        result = merge_trees(
            lambda tid: repo._load_tree(session, tid),
            make_tree(repo, base),
            make_tree(repo, ours),
            make_tree(repo, theirs),
            **options,
        )
    if result.tree is not None:
        with repo.db.transaction() as session:
            from dataworkflow.metadata.objects import insert_trees

            insert_trees(session, repo.id, [*result.built, result.tree])
    return result


def conflicts(*pairs):
    return {"conflicts": list(pairs)}


CASES = [
    pytest.param({"a": "1"}, {"a": "2"}, {"a": "1"}, {"a": "2"}, id="only-ours-changed"),
    pytest.param({"a": "1"}, {"a": "1"}, {"a": "3"}, {"a": "3"}, id="only-theirs-changed"),
    pytest.param({"a": "1"}, {"a": "2"}, {"a": "2"}, {"a": "2"}, id="same-change-both-sides"),
    pytest.param(
        {"a": "1"}, {"a": "2"}, {"a": "3"}, conflicts(("a", "modify/modify")), id="both-changed"
    ),
    pytest.param({}, {"n": "1"}, {"n": "2"}, conflicts(("n", "add/add")), id="add-add-different"),
    pytest.param({}, {"n": "1"}, {"n": "1"}, {"n": "1"}, id="add-add-same"),
    pytest.param({"a": "1"}, {}, {"a": "2"}, conflicts(("a", "delete/modify")), id="delete-modify"),
    pytest.param({"a": "1"}, {"a": "2"}, {}, conflicts(("a", "modify/delete")), id="modify-delete"),
    pytest.param({"a": "1"}, {}, {}, {}, id="both-deleted"),
    pytest.param({"a": "1", "b": "1"}, {"b": "1"}, {"a": "1"}, {}, id="each-deletes-one"),
    pytest.param(
        {"p": "1"},
        {"p/q": "2"},
        {"p": "1", "r": "3"},
        {"p/q": "2", "r": "3"},
        id="file-to-folder-one-side",
    ),
    pytest.param(
        {"p": "1"}, {"p/q": "2"}, {"p": "3"}, conflicts(("p", "file/folder")), id="file-vs-folder"
    ),
    pytest.param(
        {"d/e/x": "1", "d/y": "1"},
        {"d/e/x": "2", "d/y": "1"},
        {"d/e/x": "1", "d/y": "2", "d/e/z": "3"},
        {"d/e/x": "2", "d/y": "2", "d/e/z": "3"},
        id="nested-folders-merge",
    ),
    pytest.param(
        {"d/x": "1"},
        {"d/x": "2"},
        {"d/x": "3"},
        conflicts(("d/x", "modify/modify")),
        id="nested-conflict",
    ),
    pytest.param({"x": "1"}, {"x": "2"}, {"y": "1"}, {"y": "2"}, id="renamed-theirs-modified-ours"),
    pytest.param(
        {"d/x": "1", "k": "0"},
        {"e/x": "1", "k": "0"},
        {"d/x": "2", "k": "1"},
        {"e/x": "2", "k": "1"},
        id="renamed-ours-modified-theirs",
    ),
    pytest.param({"x": "1"}, {"x": "1"}, {"y": "1"}, {"y": "1"}, id="rename-one-side-only"),
    pytest.param({"x": "1"}, {"y": "1"}, {"y": "1"}, {"y": "1"}, id="same-rename-both-sides"),
    pytest.param(None, {"a": "1"}, {"b": "2"}, {"a": "1", "b": "2"}, id="no-base-disjoint"),
    pytest.param({}, {}, {}, {}, id="empty-trees"),
    pytest.param({"s": "1"}, {"s": "x:1"}, {"s": "2"}, {"s": "x:2"}, id="mode-ours-content-theirs"),
]


@pytest.mark.parametrize(("base", "ours", "theirs", "expected"), CASES)
def test_merge_trees(repo, base, ours, theirs, expected):
    result = run_merge(repo, base, ours, theirs)
    if "conflicts" in expected:
        assert result.tree is None
        assert [(c.path, c.kind) for c in result.conflicts] == expected["conflicts"]
    else:
        assert result.conflicts == []
        got = flatten(repo, result.tree.id)
        want = {k: v.removeprefix("x:") for k, v in expected.items()}
        assert got == want


def test_mode_and_content_changes_combine(repo):
    result = run_merge(repo, {"s": "1"}, {"s": "x:1"}, {"s": "2"})
    entry = result.tree.entries[0]
    assert entry.mode.value == "100755"


@pytest.mark.parametrize(
    ("strategy", "want"), [("ours", {"a": "2", "b": "x"}), ("theirs", {"a": "3", "b": "x"})]
)
def test_strategies_resolve_every_conflict(repo, strategy, want):
    result = run_merge(
        repo, {"a": "1"}, {"a": "2", "b": "x"}, {"a": "3", "b": "x"}, strategy=strategy
    )
    assert flatten(repo, result.tree.id) == want


def test_per_path_resolutions(repo):
    blob = repo.create_blob(b"resolved")
    result = run_merge(
        repo,
        {"a": "1", "b": "1", "c": "1"},
        {"a": "2", "b": "2", "c": "2"},
        {"a": "3", "b": "3", "c": "3"},
        resolutions={"a": "theirs", "b": TreeEntry.make("b", "100644", blob), "c": None},
    )
    assert flatten(repo, result.tree.id) == {"a": "3", "b": "resolved"}
    with pytest.raises(InvalidInput):
        run_merge(repo, {"a": "1"}, {"a": "2"}, {"a": "3"}, resolutions={"zzz": "ours"})


# --- properties --------------------------------------------------------------------------

paths = st.sampled_from(["a", "b", "d/x", "d/y", "e/f/g"])
trees = st.dictionaries(paths, st.sampled_from(["1", "2", "3"]), max_size=4).filter(
    lambda t: not ({"d/x", "d/y"} & set(t) and "d" in t)
)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(tree=trees)
def test_property_merging_with_itself_changes_nothing(repo, tree):
    result = run_merge(repo, tree, tree, tree)
    assert flatten(repo, result.tree.id) == tree


@SETTINGS
@given(base=trees, theirs=trees)
def test_property_base_equal_to_ours_gives_theirs(repo, base, theirs):
    result = run_merge(repo, base, base, theirs)
    assert result.conflicts == []
    assert flatten(repo, result.tree.id) == theirs


@SETTINGS
@given(base=trees, ours=trees, theirs=trees)
def test_property_conflicts_are_symmetric(repo, base, ours, theirs):
    one = run_merge(repo, base, ours, theirs)
    two = run_merge(repo, base, theirs, ours)
    assert sorted(c.path for c in one.conflicts) == sorted(c.path for c in two.conflicts)
    if one.tree is not None:
        assert flatten(repo, one.tree.id) == flatten(repo, two.tree.id)


@SETTINGS
@given(a=trees, b=trees)
def test_property_applying_a_diff_gives_the_target(repo, a, b):
    ta, tb = make_tree(repo, a), make_tree(repo, b)
    first = repo.commit(
        "prop",
        [Put(p, c.encode()) for p, c in a.items()] or [Put("keep", b"k")],
        "a",
        allow_empty=True,
    )
    changes = repo.diff(first.commit_id, first.commit_id)
    assert changes == []
    with repo.db.reading() as session:
        from dataworkflow.services.diff import diff_trees

        delta = list(diff_trees(lambda t: repo._load_tree(session, t), ta, tb))
    result = dict(a)
    for change in delta:
        if change.new is None:
            result.pop(change.path)
        else:
            with repo.storage.open(change.new.id) as f:
                result[change.path] = f.read().decode()
    assert result == b


# --- merge bases ------------------------------------------------------------------------


def test_merge_base_of_a_simple_fork(repo):
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 2], [4, 2], [5, 4]])
    with repo.db.reading() as session:
        assert merge_bases(session, repo.id, ids[3], ids[5]) == [ids[2]]
        assert merge_bases(session, repo.id, ids[5], ids[1]) == [ids[1]]
        assert merge_bases(session, repo.id, ids[4], ids[4]) == [ids[4]]


def test_merge_bases_of_a_criss_cross(repo):
    # 1 - 2 - 4 - 6
    #  \   \ /
    #   \   X
    #    \ / \
    #     3 - 5 - 7
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 1], [4, 2, 3], [5, 3, 2], [6, 4], [7, 5]])
    with repo.db.reading() as session:
        assert sorted(merge_bases(session, repo.id, ids[6], ids[7])) == sorted([ids[2], ids[3]])


def test_unrelated_histories_have_no_base(repo):
    ids = build_commit_graph(repo, [[1], [2]])
    with repo.db.reading() as session:
        assert merge_bases(session, repo.id, ids[1], ids[2]) == []


# --- merge / revert / cherry-pick on branches --------------------------------------------


@pytest.fixture
def forked(repo):
    repo.commit("main", [Put("shared.csv", b"a\n"), Put("keep.txt", b"k")], "base")
    repo.create_branch("feature")
    repo.commit("feature", [Put("feature.csv", b"f\n")], "feature work")
    return repo


def test_fast_forward(forked):
    outcome = merge_branch(forked, "feature", "main")
    assert outcome.status == "fast-forward"
    assert forked.resolve("main") == forked.resolve("feature")
    assert merge_branch(forked, "feature", "main").status == "up-to-date"


def test_three_way_merge_makes_a_two_parent_commit(forked):
    main_head = forked.commit("main", [Put("main.csv", b"m\n")], "main work").commit_id
    outcome = merge_branch(
        forked, "feature", "main", message="Merge feature", author="M", author_email="m@x"
    )
    assert outcome.status == "merged"
    merge_commit = forked.get_commit("main").commit
    assert merge_commit.parents == (main_head, forked.resolve("feature"))
    assert set(files(forked)) == {"shared.csv", "keep.txt", "feature.csv", "main.csv"}


def files(repo, rev="main"):
    return {e.path: repo.read_file(rev, e.path) for e in repo.walk(rev) if e.entry.kind == "blob"}


def test_conflicting_merge_changes_nothing_and_lists_conflicts(forked):
    forked.commit("main", [Put("shared.csv", b"main\n")], "main edit")
    forked.commit("feature", [Put("shared.csv", b"feature\n")], "feature edit")
    head = forked.resolve("main")
    outcome = merge_branch(forked, "feature", "main")
    assert outcome.status == "conflicts"
    assert [(c.path, c.kind) for c in outcome.conflicts] == [("shared.csv", "modify/modify")]
    assert forked.resolve("main") == head
    resolved = merge_branch(forked, "feature", "main", strategy="theirs")
    assert resolved.status == "merged"
    assert forked.read_file("main", "shared.csv") == b"feature\n"


def test_a_commit_landing_during_the_merge_makes_it_fail_cleanly(forked, monkeypatch):
    forked.commit("main", [Put("main.csv", b"m\n")], "main work")
    import dataworkflow.services.merging as merging

    original = merging.merge_trees
    landed = {}

    def merge_and_race(*args, **kwargs):
        result = original(*args, **kwargs)
        thread = threading.Thread(
            target=lambda: landed.setdefault(
                "id", forked.commit("main", [Put("late.txt", b"late")], "late").commit_id
            )
        )
        thread.start()
        thread.join()
        return result

    monkeypatch.setattr(merging, "merge_trees", merge_and_race)
    with pytest.raises(RefConflict):
        merge_branch(forked, "feature", "main")
    assert forked.resolve("main") == landed["id"]  # the concurrent commit is not lost


def test_revert_and_cherry_pick(forked):
    bad = forked.commit(
        "main", [Put("keep.txt", b"broken"), Put("new.txt", b"n")], "bad change"
    ).commit_id
    outcome = revert(forked, bad, "main")
    assert outcome.status == "merged"
    assert files(forked) == {"shared.csv": b"a\n", "keep.txt": b"k"}
    assert forked.get_commit("main").commit.title == 'Revert "bad change"'
    picked = cherry_pick(forked, "feature", "main")
    assert picked.status == "merged"
    assert forked.read_file("main", "feature.csv") == b"f\n"
    assert "cherry picked from commit" in forked.get_commit("main").commit.message
    assert cherry_pick(forked, "feature", "main").status == "up-to-date"


def test_revert_of_a_merge_needs_a_valid_mainline(forked):
    forked.commit("main", [Put("main.csv", b"m\n")], "main work")
    merge_branch(forked, "feature", "main")
    merged = forked.resolve("main")
    with pytest.raises(InvalidInput):
        revert(forked, merged, "main", mainline=3)
    outcome = revert(forked, merged, "main", mainline=1)
    assert outcome.status == "merged"
    assert "feature.csv" not in files(forked)


def test_revert_conflict_is_reported(forked):
    first = forked.commit("main", [Put("shared.csv", b"v2\n")], "v2").commit_id
    forked.commit("main", [Put("shared.csv", b"v3\n")], "v3")
    outcome = revert(forked, first, "main")
    assert outcome.status == "conflicts"
    assert [c.path for c in outcome.conflicts] == ["shared.csv"]
    forked.commit("main", [Delete("shared.csv")], "drop")
    assert revert(forked, "main~1", "main").status in ("merged", "conflicts")
