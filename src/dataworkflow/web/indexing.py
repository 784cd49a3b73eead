"""Keeping the search index up to date after writes, off the request's critical path.

A write request (a commit, an upload, a merge, a ref move) moves refs; the content
index follows by ``services.search.catch_up``, which reads the ref log. Running it in
the request would make every commit wait for text extraction, so each worker process
keeps one background thread that runs it when poked; pokes that arrive while it runs
coalesce into one more pass. Nothing is lost if the process dies: the ref log is the
queue, and the next catch-up (any worker's, or ``dw search --reindex``) resumes from it.
Under ``app.testing`` the catch-up runs inline, so tests see their writes indexed.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, g, request
from flask.wrappers import Response

from dataworkflow.metadata.engine import Database
from dataworkflow.services.search import catch_up
from dataworkflow.storage.base import ObjectStorage
from dataworkflow.web.context import Backend

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERIOD = 60.0
"""Seconds between catch-ups when no write pokes the worker."""


class IndexWorker:
    """One thread per process that runs ``catch_up`` whenever it is poked."""

    def __init__(self, db: Database, storage: ObjectStorage, max_file_bytes: int) -> None:
        self.db = db
        self.storage = storage
        self.max_file_bytes = max_file_bytes
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Ask for a catch-up soon; starts the thread on first use."""
        self._wanted.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="dataworkflow-search-index", daemon=True
                )
                self._thread.start()

    def run_once(self) -> None:
        """Catch up now, in this thread; failures are logged, never raised to a request."""
        try:
            catch_up(self.db, self.storage, max_file_bytes=self.max_file_bytes)
        except Exception:
            log.exception("search index catch-up failed; the next write retries it")

    def _run(self) -> None:
        while True:
            # Also now and then without a poke: writes made by `dw` on the same
            # database, or by another worker that died before its catch-up.
            self._wanted.wait(timeout=PERIOD)
            self._wanted.clear()
            self.run_once()


def register_indexing(app: Flask, *, max_file_bytes: int) -> None:
    """Poke the index worker after every successful write request on a repository.

    The thread starts with the first write, so a read-only process never starts it.
    """
    backend: Backend = app.extensions["dataworkflow"]
    worker = IndexWorker(backend.db, backend.storage, max_file_bytes)
    app.extensions["dataworkflow-index"] = worker

    @app.after_request
    def index_after_write(response: Response) -> Response:
        if (
            request.method not in SAFE_METHODS
            and response.status_code < 400
            and g.get("repository_info") is not None
            and app.config.get("SEARCH_INDEXING", True)
        ):
            if app.testing:
                worker.run_once()
            else:
                worker.poke()
        return response
