"""Folder listings at a revision: one level or recursive, keyset-paginated.

The response names the commit the revision resolved to; pass it back as ``ref`` with
``after=<next>`` so every page lists the same snapshot even if the branch moves.

A folder is a tree, and a tree's id is the hash of its entries, so a page of it never
changes: each worker keeps the pages it served, ready to encode, keyed by that id. A
request still resolves the revision and the path (one read), which is what can change.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from cachetools import LRUCache
from flask.typing import ResponseReturnValue

from dataworkflow.errors import NotAFile
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository
from dataworkflow.web.api.schemas import Query, entry_json
from dataworkflow.web.auth import access

TREE_LIMIT = 1000
TREE_MAX = 10_000
CACHED_ENTRIES = 50_000
"""How many listed entries a worker keeps at most (about 300 bytes each)."""


class _Page(NamedTuple):
    entries: list[dict[str, Any]]  # shared between requests: never modified
    next: str | None


class _Key(NamedTuple):
    tree_id: str
    path: str
    recursive: bool
    after: str | None
    limit: int


_pages: LRUCache[_Key, _Page] = LRUCache(CACHED_ENTRIES, getsizeof=lambda p: len(p.entries) + 1)
_pages_lock = threading.Lock()  # LRUCache is not thread-safe; gunicorn runs threads


@bp.get("/repos/<repo>/tree")
@access("read")
def list_tree(repo: str) -> ResponseReturnValue:
    """Entries of the folder at ``path`` in ``ref``, by name (depth first if recursive).

    ``after`` continues after the entry whose ``next`` key a previous page returned: an
    entry name, or for recursive listings a path relative to ``path``.
    """
    r = repository(repo)
    query = Query()
    ref = query.revision("ref")
    path = query.path("path")
    recursive = query.boolean("recursive")
    limit = query.integer("limit", TREE_LIMIT, minimum=1, maximum=TREE_MAX)
    after = (query.path("after") or None) if recursive else query.name("after")
    query.done()
    commit_id, folder = r.locate(ref, path)
    if folder.entry.kind != "tree":
        raise NotAFile(f"{folder.path!r} is a file, not a folder")
    key = _Key(folder.entry.id, folder.path, recursive, after, limit)
    with _pages_lock:
        page = _pages.get(key)
    if page is None:
        page = _list_page(repo, commit_id, key)
        if len(page.entries) <= TREE_MAX:  # LRUCache refuses items larger than itself
            with _pages_lock:
                _pages[key] = page
    return {"commit": commit_id, "path": path, "entries": page.entries, "next": page.next}


def _list_page(repo: str, commit_id: str, key: _Key) -> _Page:
    listed = repository(repo).list_tree(
        commit_id, key.path, recursive=key.recursive, after=key.after, limit=key.limit + 1
    )
    page = listed[: key.limit]
    next_key = None
    if len(listed) > key.limit:
        last = page[-1]
        if key.recursive:
            next_key = last.path[len(key.path) + 1 :] if key.path else last.path
        else:
            next_key = last.name
    return _Page([entry_json(item) for item in page], next_key)
