"""The administrators' storage page: what is stored, what gc could reclaim, past runs."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from dataworkflow.services.gc import collect_garbage, last_runs
from dataworkflow.services.installation import storage_totals
from dataworkflow.web.auth import access
from dataworkflow.web.context import get_backend
from dataworkflow.web.ui import bp

ESTIMATE_GRACE = timedelta(hours=24)
"""The grace period of the estimate: the default of ``dw gc``."""


@bp.get("/admin/storage")
@access("site-admin")
def storage() -> ResponseReturnValue:
    """Storage used, the last estimate of reclaimable bytes, and the last gc runs."""
    db = get_backend().db
    objects, size = storage_totals(db)
    runs = last_runs(db, limit=20)
    estimate = next((run for run in runs if run.dry_run and run.status == "finished"), None)
    last_real = next((run for run in runs if not run.dry_run), None)
    return render_template(
        "ui/admin_storage.html",
        objects=objects,
        size=size,
        runs=runs,
        estimate=estimate,
        last_real=last_real,
    )


@bp.post("/admin/storage/estimate")
@access("site-admin")
def estimate_garbage() -> ResponseReturnValue:
    """Run a dry gc (it deletes nothing and takes no lock) to measure what is reclaimable."""
    backend = get_backend()
    retention = timedelta(days=current_app.config["REFLOG_RETENTION_DAYS"])
    report = collect_garbage(
        backend.db, backend.storage, grace=ESTIMATE_GRACE, dry_run=True, retention=retention
    )
    flash(
        f"{report.objects_deleted} stored objects ({report.bytes_reclaimed} bytes) and "
        f"{report.rows_deleted} metadata rows could be reclaimed. Run `dw gc` to reclaim them.",
        "success",
    )
    return redirect(url_for("ui.storage"), 303)
