"""Search: commits, paths at a revision, file content at branch heads, a path's history.

What each search reads, and why nothing scans blobs at query time:

- ``search_commits`` reads the commit documents that database triggers write as commits
  are written (FTS5 on SQLite, tsvector and trigram GIN indexes on PostgreSQL).
- ``search_content`` reads the content index: the text files at each branch head, kept
  by ``catch_up`` from the ref log (it diffs the indexed commit against the new head,
  so the work is proportional to what changed). The interfaces call it after writes.
- ``find_paths`` and ``path_history`` walk trees and history at a revision, pruning
  folders a pattern cannot match and skipping unchanged subtrees by id.

Every search over several repositories takes ``repository_ids``, the repositories the
caller may read (None: all); the SQL filters on it, so nothing else can leak into a page.
Query text is split into words (runs of letters and digits, lowercased) before it
reaches the database, and only ever as bound parameters: quotes, ``*``, ``NEAR``,
``%`` or ``-`` are separators, never syntax.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import time
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.names import BRANCH_PREFIX, normalize_path
from dataworkflow.core.objects import Commit, Tree, TreeEntry
from dataworkflow.errors import Conflict, InvalidInput, ObjectNotFound, PathNotFound
from dataworkflow.metadata import commits as commit_queries
from dataworkflow.metadata import objects as object_queries
from dataworkflow.metadata import refs as ref_queries
from dataworkflow.metadata import search as index
from dataworkflow.metadata.engine import Database
from dataworkflow.services.diff import diff_trees
from dataworkflow.services.repository import ListedEntry, Repository
from dataworkflow.services.resolve import resolve_revision
from dataworkflow.services.shapes import commit_json, entry_json
from dataworkflow.storage.base import ObjectStorage

T = TypeVar("T")

MAX_QUERY_CHARS = 256
MAX_TERMS = 8
MAX_TERM_CHARS = 100
"""Longer words are not indexed (nor searchable): base64 runs, not words."""
MAX_PATTERN_CHARS = 1024
MAX_LIMIT = 100
MAX_OFFSET = 10_000
"""Ranked pages are found by offset; past this, refine the query instead."""
DEFAULT_MAX_FILE_BYTES = 1_048_576
"""Same default as ``Settings.search_max_file_bytes``."""
TERMS_BUDGET = 512 * 1024
"""Bytes of distinct words kept per file: a PostgreSQL tsvector holds at most 1 MB."""
MATCH_LINES = 5
LINE_CHARS = 300
LOOKBACK_SECONDS = 300
"""Ref-log entries this recent are re-checked (see ``catch_up``)."""
LOG_BATCH = 500
READ_BATCH_BYTES = 32 * 1024 * 1024
READ_WORKERS = 8

_WORD = re.compile(r"[^\W_]+")


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPage(Generic[T]):
    """One page of ranked results; pass ``next_offset`` back for the next one."""

    items: list[T]
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class CommitHit:
    """A commit whose message, author or metadata matched."""

    repository: str
    repository_id: int
    id: ObjectId
    commit: Commit
    score: int
    """Per query word: 3 whole word, 2 word prefix, 1 inside a word."""


@dataclass(frozen=True, slots=True)
class ContentLine:
    """A line of a file shown in a result: a matching line or one of its context."""

    number: int
    text: str
    match: bool


@dataclass(frozen=True, slots=True)
class ContentHit:
    """A text file at a branch head whose content matched, with the matching lines."""

    repository: str
    repository_id: int
    branch: str
    commit_id: ObjectId
    """The head the index holds for the branch: link to the file at this commit."""
    path: str
    blob_id: ObjectId
    score: int
    """Per query word: 2 whole word, 1 word prefix."""
    lines: tuple[ContentLine, ...]


@dataclass(frozen=True, slots=True)
class FoundPaths:
    """Files matching a glob at one commit, in path order."""

    commit_id: ObjectId
    entries: list[ListedEntry]
    truncated: bool
    """True when more files may match than ``limit`` allowed."""


@dataclass(frozen=True, slots=True)
class PathChange:
    """A commit that changed the file, and how."""

    id: ObjectId
    commit: Commit
    path: str
    """The file's path at this commit (it differs from the asked path after a rename)."""
    kind: str
    """added, modified, deleted, mode or renamed."""
    old_path: str | None = None
    """Where a renamed file came from."""


@dataclass(frozen=True, slots=True)
class PathHistory:
    """A page of a path's history, newest first; pass ``next_cursor`` for more."""

    changes: list[PathChange]
    next_cursor: str | None


# --- queries -------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The words of ``text`` as the indexes see them: letter/digit runs, lowercased."""
    return [word.lower() for word in _WORD.findall(text)]


def parse_query(query: str) -> tuple[str, ...]:
    """The distinct words of a search query, in order.

    Raises:
        InvalidInput: if the query is empty, too long, or has no letters or digits.
    """
    if not isinstance(query, str):
        raise InvalidInput("a search query must be text")
    if not query.strip():
        raise InvalidInput("the search query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the search query is longer than {MAX_QUERY_CHARS} characters")
    terms = tuple(dict.fromkeys(words(query)))
    if not terms:
        raise InvalidInput("the search query has no letters or digits to look for")
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"the search query has more than {MAX_TERMS} words")
    if any(len(term) > MAX_TERM_CHARS for term in terms):
        raise InvalidInput(f"a search word is longer than {MAX_TERM_CHARS} characters")
    return terms


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")


def search_commits(
    db: Database,
    query: str,
    *,
    repository_ids: Collection[int] | None,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage[CommitHit]:
    """Commits by message, author name or email, and metadata values, best match first.

    Every word must match; a whole word ranks above a word prefix, which ranks above a
    match inside a word (words of 3+ characters); then newer commits first.

    Raises:
        InvalidInput: for a bad query, limit or offset.
    """
    terms = parse_query(query)
    _check_page(limit, offset)
    if repository_ids is not None and not repository_ids:
        return SearchPage([], None)
    with db.reading() as session:
        matches = index.search_commit_docs(session, terms, repository_ids, limit + 1, offset)
        wanted: dict[int, list[str]] = {}
        for match in matches[:limit]:
            wanted.setdefault(match.repository_id, []).append(match.commit_id)
        commits = {
            (repository_id, commit_id): stored.commit
            for repository_id, ids in wanted.items()
            for commit_id, stored in commit_queries.get_commits(session, repository_id, ids).items()
        }
    hits = [
        CommitHit(
            m.repository,
            m.repository_id,
            ObjectId(m.commit_id),
            commits[(m.repository_id, m.commit_id)],
            m.score,
        )
        for m in matches[:limit]
        if (m.repository_id, m.commit_id) in commits
    ]
    return SearchPage(hits, offset + limit if len(matches) > limit else None)


def search_content(
    db: Database,
    query: str,
    *,
    repository_ids: Collection[int] | None,
    branch: str | None = None,
    limit: int = 20,
    offset: int = 0,
    context: int = 1,
) -> SearchPage[ContentHit]:
    """Text files at branch heads holding every word (as a word or a word prefix).

    Results come from the content index, so they reflect each branch as of the last
    ``catch_up``. A file where the words are whole words ranks first; then by
    repository, branch and path. Each hit carries up to five matching lines (lines with
    every word, else with any) and ``context`` lines around each.

    Raises:
        InvalidInput: for a bad query, limit, offset or context.
    """
    terms = parse_query(query)
    _check_page(limit, offset)
    if not 0 <= context <= 5:
        raise InvalidInput("context must be between 0 and 5 lines")
    if repository_ids is not None and not repository_ids:
        return SearchPage([], None)
    with db.reading() as session:
        matches = index.search_blob_texts(session, terms, repository_ids, branch, limit + 1, offset)
        texts = index.blob_texts(session, [(m.repository_id, m.blob_id) for m in matches[:limit]])
    hits = [
        ContentHit(
            m.repository,
            m.repository_id,
            m.branch,
            ObjectId(m.commit_id),
            m.path,
            ObjectId(m.blob_id),
            m.score,
            matching_lines(texts.get((m.repository_id, m.blob_id), ""), terms, context),
        )
        for m in matches[:limit]
    ]
    return SearchPage(hits, offset + limit if len(matches) > limit else None)


def matching_lines(
    text: str, terms: Sequence[str], context: int = 1, limit: int = MATCH_LINES
) -> tuple[ContentLine, ...]:
    """The first ``limit`` lines holding every term (else any term), with context lines.

    A term matches a word of the line that starts with it, the rule the index used.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    every: list[int] = []
    some: list[int] = []
    for number, line in enumerate(lines):
        lowered = line.lower()
        if not any(term in lowered for term in terms):  # cheap test before splitting words
            continue
        present = set(words(line))
        found = sum(1 for term in terms if any(word.startswith(term) for word in present))
        if found == len(terms):
            every.append(number)
            if len(every) == limit:
                break
        elif found and len(some) < limit:
            some.append(number)
    chosen = set(every or some)
    shown: dict[int, bool] = {}
    for number in sorted(chosen):
        for near in range(max(0, number - context), min(len(lines), number + context + 1)):
            shown[near] = shown.get(near, False) or near in chosen
    return tuple(
        ContentLine(number + 1, _clip(lines[number].rstrip("\r"), terms), match)
        for number, match in sorted(shown.items())
    )


def _clip(line: str, terms: Sequence[str]) -> str:
    """A long line cut to a window around its first match."""
    if len(line) <= LINE_CHARS:
        return line
    lowered = line.lower()
    first = min((i for i in (lowered.find(t) for t in terms) if i >= 0), default=0)
    start = max(0, min(first - LINE_CHARS // 3, len(line) - LINE_CHARS))
    end = start + LINE_CHARS
    return ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")


# --- paths by glob --------------------------------------------------------------------------


class PathGlob:
    """A gitignore-style glob over paths, matched one component at a time.

    ``*`` and ``?`` stay within a component, ``**`` spans any number of them, and a
    pattern without a ``/`` (other than a trailing one) matches the file name at any
    depth. Matching runs as a small automaton over component positions, so a folder is
    entered only if some position can still lead to a match.
    """

    def __init__(self, parts: Sequence[str]) -> None:
        self.parts = tuple(parts)
        self._size = len(self.parts)
        self._regex = [
            None if part == "**" else re.compile(fnmatch.translate(part)) for part in self.parts
        ]
        self._literal = [part != "**" and not set(part) & set("*?[") for part in self.parts]
        self.start = self._closure({0})

    def _closure(self, states: Collection[int]) -> frozenset[int]:
        """Add the positions after each ``**``, which may match no component at all."""
        out: set[int] = set()
        stack = list(states)
        while stack:
            state = stack.pop()
            if state in out:
                continue
            out.add(state)
            if state < self._size and self.parts[state] == "**":
                stack.append(state + 1)
        return frozenset(out)

    def step(self, states: frozenset[int], name: str) -> frozenset[int]:
        """The positions reached after matching one more component, ``name``."""
        reached: set[int] = set()
        for state in states:
            if state >= self._size:
                continue
            if self.parts[state] == "**":
                reached.add(state)
            elif self._literal[state]:
                if name == self.parts[state]:
                    reached.add(state + 1)
            elif self._regex[state].match(name):  # type: ignore[union-attr]
                reached.add(state + 1)
        return self._closure(reached)

    def accepts(self, states: frozenset[int]) -> bool:
        """Whether a file reached with these positions matches the whole pattern."""
        return self._size in states

    def alive(self, states: frozenset[int]) -> bool:
        """Whether anything below a folder reached with these positions can match."""
        return any(state < self._size for state in states)

    def wanted(self, states: frozenset[int]) -> tuple[set[str], bool, bool]:
        """What a folder must be read for: literal names, any name, and its subfolders."""
        names: set[str] = set()
        any_name = globstar = False
        for state in states:
            if state >= self._size:
                continue
            if self.parts[state] == "**":
                globstar = True
            elif self._literal[state]:
                names.add(self.parts[state])
            else:
                any_name = True
        return names, any_name, globstar


def compile_glob(pattern: str) -> PathGlob:
    """Parse a path glob (see :class:`PathGlob`); a leading ``/`` anchors it at the root.

    Raises:
        InvalidInput: if it is empty, too long, holds NUL, an empty, ``.`` or ``..``
            component, or an unclosed ``[``.
    """
    if not isinstance(pattern, str) or not pattern.strip("/ "):
        raise InvalidInput("the path pattern is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidInput(f"the path pattern is longer than {MAX_PATTERN_CHARS} characters")
    if "\0" in pattern:
        raise InvalidInput("the path pattern contains a NUL character")
    body = pattern.removeprefix("/")
    folder = body.endswith("/")
    body = body.removesuffix("/")
    parts: list[str] = []
    for part in body.split("/"):
        if part in ("", ".", ".."):
            raise InvalidInput(f"bad path pattern {pattern!r}: empty, '.' or '..' component")
        if part != "**":
            part = re.sub(r"\*{2,}", "*", part)  # as in gitignore: a plain '*' inside a name
            _check_brackets(part, pattern)
        if not (part == "**" and parts and parts[-1] == "**"):
            parts.append(part)
    if not pattern.startswith("/") and len(parts) == 1:
        parts.insert(0, "**")  # no '/': the name at any depth
    if folder:
        parts.append("**")
    if parts[-1] == "**":
        parts.append("*")  # 'data/**' is everything inside data, not data itself
    return PathGlob(parts)


def _check_brackets(part: str, pattern: str) -> None:
    i = 0
    while i < len(part):
        if part[i] == "[":
            j = i + 1
            if j < len(part) and part[j] in "!^":
                j += 1
            if j < len(part) and part[j] == "]":
                j += 1
            close = part.find("]", j)
            if close < 0:
                raise InvalidInput(f"bad path pattern {pattern!r}: '[' is not closed")
            i = close
        i += 1


def find_paths(repo: Repository, rev: str | None, pattern: str, limit: int = 100) -> FoundPaths:
    """Files matching a glob at a revision (default: the default branch).

    The walk goes level by level, reading the folders of a level in batched queries,
    and only folders the pattern can still match; a literal component (``data/``) is
    looked up by name. It stops after the level where ``limit`` files were found, so the
    files returned are the shallowest ones, in path order.

    Raises:
        InvalidInput: for a bad pattern or limit.
        RevisionNotFound: if ``rev`` names nothing.
    """
    glob = compile_glob(pattern)
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000")
    with repo.db.reading() as session:
        commit_id = resolve_revision(
            session, repo.id, rev or repo.default_branch, repo.default_branch
        )
        stored = commit_queries.get_commit(session, repo.id, commit_id)
        assert stored is not None
        frontier: list[tuple[str, str, frozenset[int]]] = [("", stored.commit.tree, glob.start)]
        found: list[ListedEntry] = []
        while frontier and len(found) < limit:
            children = _read_folders(session, repo.id, glob, frontier)
            deeper: list[tuple[str, str, frozenset[int]]] = []
            for prefix, tree_id, states in frontier:
                for entry in children.get(tree_id, []):
                    reached = glob.step(states, entry.name)
                    path = prefix + entry.name
                    if entry.kind == "tree":
                        if glob.alive(reached):
                            deeper.append((path + "/", entry.id, reached))
                    elif glob.accepts(reached):
                        found.append(ListedEntry(path, entry, None))
            frontier = deeper
        truncated = len(found) > limit or bool(frontier)
        found = sorted(found, key=lambda e: _path_key(e.path))[:limit]
        sizes = object_queries.blob_sizes(session, repo.id, (e.entry.id for e in found))
    return FoundPaths(
        commit_id, [ListedEntry(e.path, e.entry, sizes.get(e.entry.id)) for e in found], truncated
    )


def _read_folders(
    session: Session,
    repository_id: int,
    glob: PathGlob,
    frontier: Sequence[tuple[str, str, frozenset[int]]],
) -> dict[str, list[TreeEntry]]:
    """The entries of the frontier's folders that the pattern may need, by tree id."""
    whole: set[str] = set()
    named: dict[bool, tuple[set[str], set[str]]] = {False: (set(), set()), True: (set(), set())}
    for _, tree_id, states in frontier:
        names, any_name, globstar = glob.wanted(states)
        if any_name:
            whole.add(tree_id)
        else:
            trees, wanted = named[globstar]
            trees.add(tree_id)
            wanted.update(names)
    rows = index.tree_entries(session, repository_id, whole)
    for subtrees, (trees, wanted) in named.items():
        trees -= whole
        if trees:
            rows += index.tree_entries(
                session, repository_id, trees, names=wanted, subtrees=subtrees
            )
    children: dict[str, list[TreeEntry]] = {}
    for tree_id, entry in rows:
        children.setdefault(tree_id, []).append(entry)
    for entries in children.values():
        entries.sort(key=lambda e: e.name.encode("utf-8"))
    return children


def _path_key(path: str) -> tuple[bytes, ...]:
    return tuple(name.encode("utf-8") for name in path.split("/"))


# --- history of a path ----------------------------------------------------------------------


def path_history(
    repo: Repository,
    path: str,
    rev: str | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> PathHistory:
    """Every commit that changed a file, newest first, following it through renames.

    A rename is a commit that adds the path with exactly the blob another path of the
    same commit lost (identical content); the walk then goes on from the parent with the
    old path, as ``git log --follow`` does.

    Raises:
        InvalidInput: for a bad path, limit or cursor.
        RevisionNotFound: if ``rev`` names nothing.
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    log_cursor: str | None
    if cursor is not None:
        current, log_cursor = _decode_history_cursor(cursor)
    else:
        current = normalize_path(path)
        if not current:
            raise InvalidInput("give the path of a file")
        log_cursor = repo.resolve(rev)
    changes: list[PathChange] = []
    while log_cursor is not None and len(changes) < limit:
        page = repo.log(path=current, limit=limit - len(changes), cursor=log_cursor)
        log_cursor = page.next_cursor
        for entry in page.commits:
            change = _classify(repo, entry.id, entry.commit, current)
            changes.append(change)
            if change.kind == "renamed" and change.old_path is not None:
                # Older commits of this path are another file's: follow the old name.
                current, log_cursor = change.old_path, entry.commit.parents[0]
                break
    next_cursor = _encode_history_cursor(current, log_cursor) if log_cursor else None
    return PathHistory(changes, next_cursor)


def _entry_or_none(repo: Repository, commit_id: str, path: str) -> TreeEntry | None:
    try:
        return repo.stat(commit_id, path).entry
    except PathNotFound:
        return None


def _classify(repo: Repository, commit_id: ObjectId, commit: Commit, path: str) -> PathChange:
    mine = _entry_or_none(repo, commit_id, path)
    parent = commit.parents[0] if commit.parents else None
    before = _entry_or_none(repo, parent, path) if parent else None
    if mine is None:
        return PathChange(commit_id, commit, path, "deleted")
    if before is not None:
        kind = "modified" if before.id != mine.id else "mode"
        return PathChange(commit_id, commit, path, kind)
    if parent is not None and mine.kind == "blob":
        for change in repo.diff(parent, commit_id):
            if change.kind == "renamed" and change.path == path:
                return PathChange(commit_id, commit, path, "renamed", change.old_path)
    return PathChange(commit_id, commit, path, "added")


def _encode_history_cursor(path: str, log_cursor: str) -> str:
    raw = json.dumps([path, log_cursor]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_history_cursor(cursor: str) -> tuple[str, str]:
    try:
        path, log_cursor = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(path, str) or not isinstance(log_cursor, str):
            raise ValueError(cursor)
        return normalize_path(path), log_cursor
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidInput("invalid history cursor") from None


# --- the content index ----------------------------------------------------------------------


def text_of(data: bytes, max_bytes: int) -> str | None:
    """The text of a file, or None if it is empty, too large or binary (NUL, not UTF-8)."""
    if not data or len(data) > max_bytes or b"\0" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def index_terms(text: str) -> str:
    """The distinct words of a text, space-separated, within ``TERMS_BUDGET`` bytes."""
    # Distinct raw words first, lowercased in one call: the same as lowering each word
    # (words are joined by spaces, so a final sigma stays final), at C speed.
    distinct = list(dict.fromkeys(" ".join(dict.fromkeys(_WORD.findall(text))).lower().split()))
    if distinct and max(map(len, distinct)) > MAX_TERM_CHARS:
        distinct = [word for word in distinct if len(word) <= MAX_TERM_CHARS]
    joined = " ".join(distinct)
    if len(joined.encode("utf-8")) + 8 * len(distinct) <= TERMS_BUDGET:
        return joined
    kept: list[str] = []
    budget = TERMS_BUDGET
    for word in distinct:
        budget -= len(word.encode("utf-8")) + 8  # a tsvector entry's overhead, roughly
        if budget < 0:
            break
        kept.append(word)
    return " ".join(kept)


@dataclass
class _Plan:
    """What bringing one branch's index to its head takes, worked out without locks."""

    repository_id: int
    branch: str
    head: str | None
    expected: str | None
    """The indexed commit the plan starts from; the apply step checks it is unchanged."""
    copy_from: tuple[str, str] | None = None
    """A new branch starts as a copy of the default branch's rows: ``(branch, commit)``."""
    reset: bool = False
    """The indexed commit is gone (collected): drop the branch's rows and start over."""
    remove: list[str] = field(default_factory=list)
    add: dict[str, str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    unread: list[str] = field(default_factory=list)


class _BranchIndexer:
    """Brings branches' content index to their heads; counts the branches it changed."""

    def __init__(
        self, db: Database, storage: ObjectStorage, max_file_bytes: int, limit: int | None
    ) -> None:
        self.db = db
        self.storage = storage
        self.max_file_bytes = max_file_bytes
        self.limit = limit
        self.changed = 0

    @property
    def spent(self) -> bool:
        """Whether the caller's ``limit`` of changed branches is reached."""
        return self.limit is not None and self.changed >= self.limit

    def sync(self, repository_id: int, branch: str) -> None:
        """Index a branch at its current head (or drop it if it is gone).

        Raises:
            Conflict: if other indexers kept changing the same rows.
        """
        for _ in range(5):
            plan = self._plan(repository_id, branch)
            if plan is None:
                return
            stored = self._store_texts(plan)
            if self._apply(plan, stored):
                self.changed += 1
                return
        raise Conflict(f"the search index of branch {branch!r} kept changing; try again")

    def _plan(self, repository_id: int, branch: str) -> _Plan | None:
        with self.db.reading() as session:
            head = ref_queries.get_ref(session, repository_id, BRANCH_PREFIX + branch)
            indexed = index.indexed_commit(session, repository_id, branch)
            if head == indexed:
                return None
            plan = _Plan(repository_id, branch, head, indexed)
            if head is None:
                return plan
            base = indexed
            if indexed is None:
                default = index.default_branch(session, repository_id)
                source = (
                    index.indexed_commit(session, repository_id, default)
                    if default and default != branch
                    else None
                )
                if default and source:
                    plan.copy_from, base = (default, source), source
            old_tree = _commit_tree(session, repository_id, base) if base else None
            if base is not None and old_tree is None:
                plan.copy_from, plan.reset = None, indexed is not None
            new_tree = _commit_tree(session, repository_id, head)
            if new_tree is None:
                return None  # the ref names a commit we cannot read: leave it be

            def load(tree_id: ObjectId) -> Tree:
                tree = object_queries.get_tree(session, repository_id, tree_id)
                if tree is None:
                    raise ObjectNotFound(tree_id, kind="tree")
                return tree

            for change in diff_trees(load, old_tree, new_tree):
                if change.old is not None and change.kind != "mode":
                    plan.remove.append(change.path)
                if change.new is not None and change.kind != "mode":
                    plan.add[change.path] = change.new.id
            blob_ids = set(plan.add.values())
            plan.known = index.text_blob_ids(session, repository_id, blob_ids)
            sizes = object_queries.blob_sizes(session, repository_id, blob_ids - plan.known)
            plan.unread = sorted(
                blob_id for blob_id, size in sizes.items() if 0 < size <= self.max_file_bytes
            )
        return plan

    def _store_texts(self, plan: _Plan) -> set[str]:
        """Read the plan's unindexed blobs and store the text ones, batch by batch.

        Storage is read outside any transaction (S3 reads must not hold SQLite's write
        lock); memory stays bounded by ``READ_BATCH_BYTES``.
        """
        stored: set[str] = set()
        batch: list[tuple[str, str, str]] = []
        held = 0
        for blob_id, text in self._read_texts(plan.unread):
            batch.append((blob_id, text, index_terms(text)))
            held += len(text)
            if held >= READ_BATCH_BYTES:
                self._insert_texts(plan.repository_id, batch)
                stored.update(b for b, _, _ in batch)
                batch, held = [], 0
        if batch:
            self._insert_texts(plan.repository_id, batch)
            stored.update(b for b, _, _ in batch)
        return stored

    def _read_texts(self, blob_ids: Sequence[str]) -> Iterator[tuple[str, str]]:
        def read(blob_id: str) -> tuple[str, str | None]:
            try:
                with self.storage.open(ObjectId(blob_id)) as stream:
                    data = stream.read(self.max_file_bytes + 1)
            except ObjectNotFound:  # fsck's business; the file is just not searchable
                return blob_id, None
            return blob_id, text_of(data, self.max_file_bytes)

        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            for blob_id, text in pool.map(read, blob_ids):
                if text is not None:
                    yield blob_id, text

    def _insert_texts(self, repository_id: int, batch: list[tuple[str, str, str]]) -> None:
        with self.db.transaction() as session:
            index.lock_repository_index(session, repository_id)
            index.add_blob_texts(session, repository_id, batch)

    def _apply(self, plan: _Plan, stored: set[str]) -> bool:
        """Write the plan in one transaction; False if another indexer got there first."""
        repository_id, branch = plan.repository_id, plan.branch
        with self.db.transaction() as session:
            index.lock_repository_index(session, repository_id)
            if index.indexed_commit(session, repository_id, branch) != plan.expected:
                return False
            if plan.head is None:
                released = index.drop_branch(session, repository_id, branch)
                index.drop_unreferenced_texts(session, repository_id, released)
                return True
            texty = plan.known | stored
            present = index.text_blob_ids(session, repository_id, texty)
            if present != texty:
                return False  # texts dropped meanwhile as unreferenced: plan again
            released = set()
            expected = plan.expected
            if plan.reset:
                released |= index.drop_branch(session, repository_id, branch)
                expected = None
            if plan.copy_from is not None:
                source, source_commit = plan.copy_from
                if index.indexed_commit(session, repository_id, source) != source_commit:
                    return False
            if not index.move_indexed_branch(session, repository_id, branch, expected, plan.head):
                return False
            if plan.copy_from is not None:
                index.copy_branch_paths(session, repository_id, plan.copy_from[0], branch)
            # Added paths are cleared too: a row left by any past inconsistency must not
            # turn every later catch_up into a duplicate-key failure.
            removed = [*plan.remove, *plan.add]
            released |= index.remove_paths(session, repository_id, branch, removed)
            index.add_paths(
                session,
                repository_id,
                branch,
                ((path, blob_id) for path, blob_id in plan.add.items() if blob_id in present),
            )
            index.drop_unreferenced_texts(session, repository_id, released - present)
        return True


def _commit_tree(session: Session, repository_id: int, commit_id: str) -> ObjectId | None:
    stored = commit_queries.get_commit(session, repository_id, commit_id)
    return stored.commit.tree if stored is not None else None


def catch_up(
    db: Database,
    storage: ObjectStorage,
    *,
    repository_id: int | None = None,
    limit: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    full: bool = False,
) -> int:
    """Bring the content index up to date with the branches; return how many changed.

    Reads the ref log from where the last call stopped (per repository) and indexes each
    branch that moved at its current head, diffing the indexed commit against it: only
    changed paths are read. A deleted branch drops out; a new branch starts from the
    default branch's rows. A repository the index has never seen (or every one, with
    ``full``) is reconciled branch by branch instead. Ref-log entries of the last few
    minutes are checked again, because on PostgreSQL a transaction may commit its
    entry after a later id is already visible.

    Safe to run from several processes at once: writes are serialized per repository
    and each branch moves by compare-and-swap. With ``limit``, stop after that many
    branches changed; call again until it returns 0.

    Raises:
        InvalidInput: for a limit below 1.
        Conflict: if other indexers kept changing the same branch.
    """
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1")
    indexer = _BranchIndexer(db, storage, max_file_bytes, limit)
    with db.reading() as session:
        unseen = index.repositories_to_reconcile(session, repository_id, every=full)
    for repo_id, newest in unseen:
        with db.reading() as session:
            branches = index.branch_names(session, repo_id)
        for branch in branches:
            indexer.sync(repo_id, branch)
            if indexer.spent:
                return indexer.changed
        with db.transaction() as session:
            index.lock_repository_index(session, repo_id)
            if full:  # texts an interrupted indexer stored but never referenced
                index.drop_unreferenced_texts(session, repo_id, None)
            index.set_watermark(session, repo_id, newest)
    while not indexer.spent:
        with db.reading() as session:
            moves = index.ref_moves_after_watermark(session, repository_id, LOG_BATCH)
        if not moves:
            break
        read: dict[int, int] = {}
        done: set[tuple[int, str]] = set()
        for move in moves:
            # Every entry of the batch was committed before this sync reads the head.
            key = (move.repository_id, move.ref.removeprefix(BRANCH_PREFIX))
            if move.ref.startswith(BRANCH_PREFIX) and key not in done:
                done.add(key)
                indexer.sync(*key)
            read[move.repository_id] = move.id
            if indexer.spent:
                break
        with db.transaction() as session:
            for repo_id, mark in read.items():
                index.set_watermark(session, repo_id, mark)
    if not indexer.spent:
        since = int(time.time()) - LOOKBACK_SECONDS
        with db.reading() as session:
            recent = index.recently_moved_branches(session, repository_id, since)
        for repo_id, branch in recent:
            indexer.sync(repo_id, branch)
            if indexer.spent:
                break
    return indexer.changed


def rebuild_index(
    db: Database,
    storage: ObjectStorage,
    *,
    repository_id: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> int:
    """Drop the content index (of one repository, or all) and build it again.

    For ``dw search --reindex``: after changing ``SEARCH_MAX_FILE_BYTES``, or to repair.
    Returns the number of branches indexed.
    """
    with db.transaction() as session:
        index.drop_content_index(session, repository_id)
    return catch_up(db, storage, repository_id=repository_id, max_file_bytes=max_file_bytes)


# --- JSON shapes (shared by dw --json and the API) ------------------------------------------


def commit_hit_json(hit: CommitHit) -> dict[str, Any]:
    """A commit search result: the repository and score, then the commit's fields."""
    return {"repository": hit.repository, "score": hit.score, **commit_json(hit.id, hit.commit)}


def content_hit_json(hit: ContentHit) -> dict[str, Any]:
    """A content search result, its lines as ``{"number", "text", "match"}``."""
    return {
        "repository": hit.repository,
        "branch": hit.branch,
        "commit": hit.commit_id,
        "path": hit.path,
        "blob": hit.blob_id,
        "score": hit.score,
        "lines": [{"number": ln.number, "text": ln.text, "match": ln.match} for ln in hit.lines],
    }


def found_path_json(repository: str, commit_id: str, item: ListedEntry) -> dict[str, Any]:
    """A file found by glob: the repository and commit, then the entry's fields."""
    return {"repository": repository, "commit": commit_id, **entry_json(item)}


def path_change_json(change: PathChange) -> dict[str, Any]:
    """A commit of a path's history: how the file changed, then the commit's fields."""
    return {
        "change": change.kind,
        "path": change.path,
        "old_path": change.old_path,
        **commit_json(change.id, change.commit),
    }
