import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataworkflow.core.hashing import HashingReader, hash_bytes, hash_stream
from dataworkflow.core.ids import parse_object_id
from dataworkflow.core.objects import (
    EMPTY_TREE_ID,
    Commit,
    FileMode,
    Signature,
    Tree,
    TreeEntry,
    parse_mode,
)
from dataworkflow.errors import InvalidInput, InvalidName, InvalidObjectId

ID_A = hash_bytes(b"a")
ID_B = hash_bytes(b"b")
ADA = Signature("Ada", "ada@example.com", 1_700_000_000, 60)


def entry(name: str, object_id: str = ID_A, mode: str = "100644") -> TreeEntry:
    return TreeEntry.make(name, mode, object_id)


def test_blob_id_is_sha256_of_the_bytes():
    data = b"hello\n"
    assert hash_bytes(data) == hashlib.sha256(data).hexdigest()


def test_hashing_reader_hashes_what_passes_through():
    import io

    reader = HashingReader(io.BytesIO(b"x" * 3_000_000))
    assert sum(len(c) for c in reader.chunks(1 << 20)) == 3_000_000
    assert reader.object_id == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert hash_stream(io.BytesIO(b"abc")) == (hashlib.sha256(b"abc").hexdigest(), 3)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, " " + "0" * 63, "../" + "0" * 61],
)
def test_malformed_object_ids_are_rejected(text):
    with pytest.raises(InvalidObjectId):
        parse_object_id(text)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "a/b", "/", "a\0b", "é" * 128, "\udcff"],
    ids=[
        "empty",
        "dot",
        "dotdot",
        "slash",
        "only-slash",
        "nul",
        "over-255-bytes",
        "lone-surrogate",
    ],
)
def test_invalid_entry_names_are_rejected(name):
    with pytest.raises(InvalidName):
        entry(name)


def test_names_up_to_255_bytes_are_accepted():
    assert entry("é" * 127 + "x").name.encode().__len__() == 255


def test_duplicate_names_are_rejected():
    with pytest.raises(InvalidName, match="duplicate"):
        Tree([entry("a"), entry("a", ID_B)])


def test_type_must_match_mode():
    with pytest.raises(InvalidInput):
        TreeEntry.make("a", "100644", ID_A, kind="tree")
    assert TreeEntry.make("d", "40000", ID_A).kind == "tree"


@pytest.mark.parametrize("mode", ["100600", "120000", "160000", "", "abc", 0o777])
def test_unsupported_modes_are_rejected(mode):
    with pytest.raises(InvalidInput):
        parse_mode(mode)


def test_tree_ids_do_not_depend_on_entry_order():
    entries = [entry("b"), entry("a", ID_B), entry("c", mode="100755")]
    assert Tree(entries).id == Tree(reversed(entries)).id


def test_entries_sort_by_utf8_bytes_not_code_points_or_locale():
    tree = Tree([entry("\uff61"), entry("\U0001f600"), entry("Z"), entry("a")])
    assert [e.name for e in tree.entries] == ["Z", "a", "\uff61", "\U0001f600"]


def test_tree_id_changes_with_any_field():
    base = Tree([entry("a")]).id
    assert Tree([entry("b")]).id != base
    assert Tree([entry("a", ID_B)]).id != base
    assert Tree([entry("a", mode="100755")]).id != base


def test_empty_tree_has_a_fixed_id():
    assert EMPTY_TREE_ID == hashlib.sha256(b"dataworkflow tree 1\n").hexdigest()


names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=20
).filter(lambda n: n not in (".", ".."))


@given(st.dictionaries(names, st.sampled_from([ID_A, ID_B]), min_size=0, max_size=12), st.randoms())
def test_property_any_permutation_gives_the_same_id(mapping, rnd):
    entries = [entry(n, i) for n, i in mapping.items()]
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert Tree(entries).id == Tree(shuffled).id
    assert Tree(entries).canonical_bytes() == Tree(shuffled).canonical_bytes()


@given(st.lists(names, min_size=2, max_size=6, unique=True))
def test_property_different_name_sets_give_different_ids(name_list):
    assert Tree([entry(n) for n in name_list]).id != Tree([entry(n) for n in name_list[:-1]]).id


def test_names_with_separators_cannot_collide():
    # Length prefixes: a name containing what looks like another entry stays one entry.
    tricky = f"a\n100644 blob {ID_B} 1:b"
    assert Tree([entry(tricky)]).id != Tree([entry("a"), entry("b", ID_B)]).id


def commit(**overrides) -> Commit:
    values = {
        "tree": EMPTY_TREE_ID,
        "parents": (),
        "author": ADA,
        "committer": ADA,
        "message": "m",
        "metadata": (),
    }
    values.update(overrides)
    return Commit(**values)


def test_commit_id_covers_every_field():
    base = commit().id
    other = Signature("Ada", "ada@example.com", 1_700_000_000, 120)
    variants = [
        commit(tree=ID_A),
        commit(parents=(ID_A,)),
        commit(author=other),
        commit(committer=other),
        commit(message="m\n"),
        commit(metadata=(("k", "v"),)),
    ]
    assert len({base, *(c.id for c in variants)}) == len(variants) + 1


def test_parent_order_matters_and_metadata_order_does_not():
    assert commit(parents=(ID_A, ID_B)).id != commit(parents=(ID_B, ID_A)).id
    assert commit(metadata={"a": "1", "b": "2"}).id == commit(metadata=(("b", "2"), ("a", "1"))).id


@pytest.mark.parametrize(
    "overrides",
    [
        {"tree": "nope"},
        {"parents": ("x",)},
        {"parents": (ID_A, ID_A)},
        {"metadata": (("", "v"),)},
        {"metadata": (("k", "v"), ("k", "w"))},
        {"message": "\udcff"},
    ],
)
def test_malformed_commits_are_rejected(overrides):
    with pytest.raises(InvalidInput):
        commit(**overrides)


def test_signature_keeps_the_utc_offset():
    when = datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    sig = Signature.from_datetime("A", "a@x", when)
    assert sig.offset_minutes == -330
    assert sig.format_offset() == "-0530"
    assert sig.when == when
    assert b" -0530" in sig.canonical_bytes()


@pytest.mark.parametrize("bad", [{"name": "a\nb"}, {"email": "a\0"}, {"offset_minutes": 24 * 60}])
def test_malformed_signatures_are_rejected(bad):
    values = {"name": "A", "email": "a@x", "timestamp": 0, "offset_minutes": 0, **bad}
    with pytest.raises(InvalidInput):
        Signature(**values)


def test_commit_title_is_first_line():
    assert commit(message="Title\n\nBody").title == "Title"
    assert FileMode.EXECUTABLE.kind == "blob"
