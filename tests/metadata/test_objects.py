"""Loading trees: one at a time and many at once, with the sizes of their blobs."""

from dataworkflow.core.objects import EMPTY_TREE_ID, FileMode, TreeEntry
from dataworkflow.metadata import objects
from dataworkflow.services.changes import Put


def test_get_tree_tells_the_empty_tree_from_a_missing_one(repo):
    repo.commit("main", [Put("a.txt", b"a")], "one")
    root = repo.stat("main", "").entry.id
    empty = repo.create_tree([])
    with repo.db.reading() as session:
        assert [e.name for e in objects.get_tree(session, repo.id, root).entries] == ["a.txt"]
        assert objects.get_tree(session, repo.id, empty).entries == ()
        assert empty == EMPTY_TREE_ID
        assert objects.get_tree(session, repo.id, "f" * 64) is None


def test_get_trees_with_sizes_gives_every_blobs_size(repo):
    repo.commit(
        "main",
        [Put("a.txt", b"aa"), Put("d/b.bin", b"bbbb", executable=True), Put("d/e/c", b"")],
        "one",
    )
    root = repo.stat("main", "").entry.id
    folder = repo.stat("main", "d").entry.id
    with repo.db.reading() as session:
        trees, sizes = objects.get_trees_with_sizes(session, repo.id, [root, folder, "0" * 64])
        plain, none = objects.get_trees_with_sizes(session, repo.id, [folder], sizes=False)
    assert set(trees) == {root, folder}
    entries = {e.name: e for tree in trees.values() for e in tree.entries}
    assert entries["b.bin"].mode is FileMode.EXECUTABLE and entries["e"].kind == "tree"
    assert sorted(sizes.values()) == [2, 4]  # the blobs of these two trees, not d/e's
    assert plain[folder] == trees[folder] and none == {}
    assert isinstance(entries["a.txt"], TreeEntry)
