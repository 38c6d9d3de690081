"""The /import page's background job: the upload imported as the user who submitted it.

The job runs through the app's job manager (``layouts.jobs``: a process of this machine, or
a Celery worker with ``REDIS_URL``). It acts as the principal of the signed token the page
got when it loaded (``layouts.plan_store.sign``), never as whoever runs the worker; the
bytes come from the database (``geo.importers.uploads``), so a worker on another machine
needs no shared disk. Cancel ends the job's process (or revokes its Celery task); a job
cancelled, killed or lost with its worker never commits, so nothing is written.
Imported by the page module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dash
from dash import Input, Output, State, html

from geo.errors import GridAtlasError
from geo.importers import uploads
from geo.repository import session
from layouts import import_ids as ids
from layouts import (
    plan_store,
    strings_import,  # noqa: F401  (registers the strings)
)
from layouts.auth import secret_key
from layouts.i18n import t
from layouts.import_text import say
from layouts.import_view import result_view
from layouts.jobs import failure_message, hold
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

_STAGES = ("read", "validated", "writing", "committing", "written")


def _lang(boot) -> str:
    return boot.get("lang") if isinstance(boot, dict) and boot.get("lang") in ("zh", "en") else "zh"


def _bad(text: str) -> html.Span:
    return html.Span(text, className="ga-bad", role="alert")


def import_failure() -> Callable[[Exception], list]:
    """The job's ``on_error``: lost with its worker, Redis down or no worker; nothing was
    written (the transaction never committed) and the page says so in its language, the
    progress cleared (the result, the upload kept, the progress bar and its text)."""
    def on_error(exc: Exception) -> list:
        message = failure_message(exc, "import.failed")
        return [html.Div(message, className="ga-import-problem ga-bad", role="alert"), dash.no_update, "0", None]

    return on_error


@secure_callback(
    "data.import",
    Output(ids.RESULT, "children"),
    Output(ids.UPLOAD, "data", allow_duplicate=True),
    Output(ids.PROGRESS, "value", allow_duplicate=True),
    Output(ids.PROGRESS_TEXT, "children", allow_duplicate=True),
    Input(ids.RUN, "n_clicks"),
    State(ids.TOKEN, "data"),
    State(ids.UPLOAD, "data"),
    State(ids.KIND, "value"),
    State(ids.FIELDS, "value"),
    State(ids.ENCODING, "value"),
    State(ids.CRS, "value"),
    State(ids.BOOT, "data"),
    background=True,
    running=[(Output(ids.RUN, "disabled"), True, False),
             (Output(ids.CANCEL, "disabled"), False, True),
             (Output(ids.FILE, "disabled"), True, False)],
    cancel=[Input(ids.CANCEL, "n_clicks")],
    progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "max"),
              Output(ids.PROGRESS_TEXT, "children")],
    on_error=import_failure(),
    prevent_initial_call=True,
)
def run_import(set_progress, _n, token, upload, kind, fields, encoding, crs, boot):
    """Import the upload as the signed user, reporting rows read, validated and written."""
    session.after_fork()  # never use the web process's connections from a worker
    lang = _lang(boot)
    if not upload:
        return _bad(t("import.need_file", lang)), dash.no_update, "0", None
    set_progress(("0", str(len(_STAGES)), t("import.stage.queued", lang)))

    def progress(stage: str, done: int, total: int) -> None:
        step = _STAGES.index(stage) + 1
        set_progress((str(step), str(len(_STAGES)), t(f"import.stage.{stage}", lang).format(done=done, total=total)))
        if stage == "committing":  # inside the open transaction: a kill here must write nothing
            hold("import")  # a test hook, off unless GRIDATLAS_TEST_JOB_HOLD_FILE is set

    try:
        principal = plan_store.principal_from(token, secret_key())
        report = uploads.run_import(principal, upload, kind, fields=field_lines(fields),
                                    encoding=encoding, crs=crs, progress=progress)
    except GridAtlasError as exc:
        log.info("import refused: %s", exc.user_msg[:500])
        gone = not _still_there(token, upload)
        refusal = html.Div([html.Strong(t("import.refused", lang)), say(exc.user_msg, lang)],
                           className="ga-import-problem ga-bad", role="alert")
        return refusal, None if gone else dash.no_update, "0", None
    result = result_view(report.kind, report.file, report.counts, report.notes, len(report.repaired), lang)
    return result, None, dash.no_update, dash.no_update


def _still_there(token, upload) -> bool:
    """True while the upload can still be imported (a scope refusal keeps it)."""
    try:
        uploads.get(plan_store.principal_from(token, secret_key()), upload)
    except GridAtlasError:
        return False
    return True


def field_lines(text) -> list[str] | None:
    """The options' field mappings: one ``field=COLUMN`` a line (or comma-separated)."""
    if text in (None, ""):
        return None
    if not isinstance(text, str) or len(text) > 4000:
        raise GridAtlasError("字段对应无效 / field mappings must be text")
    parts = [p.strip() for line in text.splitlines() for p in line.split(",")]
    return [p for p in parts if p] or None


@secure_callback(
    "data.import",
    Output(ids.RESULT, "children", allow_duplicate=True),
    Output(ids.PROGRESS, "value", allow_duplicate=True),
    Output(ids.PROGRESS_TEXT, "children", allow_duplicate=True),
    Input(ids.CANCEL, "n_clicks"),
    State(ids.BOOT, "data"),
    prevent_initial_call=True,
)
def cancelled(n, boot):
    """Cancel: the job ends without committing; say so."""
    if not n:
        return dash.no_update, dash.no_update, dash.no_update
    return html.Div(t("import.cancelled", _lang(boot)), className="ga-warn", role="status"), "0", None
