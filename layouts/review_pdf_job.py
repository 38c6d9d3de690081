"""The review's PDF report as a background job (Celery workers with ``REDIS_URL``, a process
of this machine without), with its steps, a Cancel button and the file as a download.

A click on "下载 PDF" is answered at once by :func:`submit`, in the request: it captures the
signed-in user in a signed token (``layouts.plan_store.sign``, fresh at every click) with the
area and period the page shows. That store starts :func:`run_pdf`, the job, which acts as
the token's user only: :func:`geo.reports.service.report_pdf` checks the right, the scope
and the period again on the worker. A job lost with its worker, Redis down or no worker end
with :func:`layouts.jobs.report_failure`'s message; nothing is kept anywhere but the file the
browser downloads. Imported by the page module.
"""

from __future__ import annotations

import logging

import dash
from dash import Input, Output, State, dcc, html

from geo.errors import GridAtlasError
from geo.reports import service
from geo.repository import session
from layouts import (
    plan_store,
    strings_review_pdf,  # noqa: F401  (registers the strings)
)
from layouts import review_ids as rid
from layouts import review_view as view
from layouts.auth import current_principal, secret_key
from layouts.i18n import current_lang, t
from layouts.jobs import hold, report_failure
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

# this part's component ids (page-prefixed, like layouts/review_ids.py)
JOB = "rv-pdf-job"  # the submitted job's arguments and signed user
CANCEL = "rv-pdf-cancel"
BUSY = "rv-pdf-busy"
PROGRESS = "rv-pdf-progress"
PROGRESS_TEXT = "rv-pdf-progress-text"
STATUS = "rv-pdf-status"
DOWNLOAD = "rv-pdf-download"

_STEPS = {"read": ("1", "rvpdf.step.read"), "render": ("2", "rvpdf.step.render")}


def buttons(lang: str) -> list:
    """The PDF button and the job's Cancel (shown while a job runs), for the page's actions."""
    return [html.Button(t("rv.pdf", lang), id=rid.PDF, className="ga-btn"),
            html.Button(t("rvpdf.cancel", lang), id=CANCEL, className="ga-btn", hidden=True)]


def panel(lang: str) -> html.Div:
    """The job's steps while it runs, then its outcome; the job's store and download."""
    return html.Div(className="rv-pdf-panel", children=[
        dcc.Store(id=JOB),
        dcc.Download(id=DOWNLOAD),
        html.Div(id=BUSY, hidden=True, role="status", **{"aria-label": t("rvpdf.busy", lang)}, children=[
            html.Progress(id=PROGRESS, value="0", max="3", className="ga-progress"),
            html.Div(id=PROGRESS_TEXT, className="ga-hint"),
        ]),
        html.Div(id=STATUS, className="ga-status", **{"aria-live": "polite"}),
    ])


@secure_callback(
    "view.review",
    Output(JOB, "data"),
    Output(STATUS, "children", allow_duplicate=True),
    Output(PROGRESS, "value", allow_duplicate=True),
    Output(PROGRESS_TEXT, "children", allow_duplicate=True),
    Input(rid.PDF, "n_clicks"),
    State(rid.STATE, "data"),
    State(rid.PERIOD, "value"),
    State(rid.FROM, "value"),
    State(rid.TO, "value"),
    prevent_initial_call=True,
)
def submit(n, state, kind, date_from, date_to):
    """The job's arguments with the signed-in user, signed now; a refusal on the page."""
    lang = current_lang()
    nu = dash.no_update
    if not n:
        return nu, nu, nu, nu
    area = state.get("area") if isinstance(state, dict) else None
    principal = current_principal()
    try:  # refused at once when it would be refused on the worker (checked there again)
        _scope, area, _period = service.checked(principal, area, kind, date_from, date_to)
    except GridAtlasError as exc:
        return nu, _bad(view.message(exc, lang)), nu, nu
    job = {"token": plan_store.sign(principal, secret_key()), "area": area, "period": kind,
           "from": date_from, "to": date_to, "lang": lang, "n": n}
    return job, None, "0", t("rvpdf.queued", lang)


def _bad(text: str) -> html.Span:
    return html.Span(text, className="ga-bad", role="alert")


_failed = report_failure(2, 1)


def _on_error(exc: Exception) -> list:
    """:func:`layouts.jobs.report_failure`'s message, and how to make the file again."""
    values = _failed(exc)
    values[1] = html.Span([values[1].children, " ", t("rvpdf.again")], className="ga-bad", role="alert")
    return values


@secure_callback(
    "view.review",
    Output(DOWNLOAD, "data"),
    Output(STATUS, "children"),
    Input(JOB, "data"),
    background=True,
    running=[(Output(rid.PDF, "disabled"), True, False),
             (Output(CANCEL, "hidden"), False, True),
             (Output(BUSY, "hidden"), False, True)],
    cancel=[Input(CANCEL, "n_clicks")],
    progress=[Output(PROGRESS, "value"), Output(PROGRESS_TEXT, "children")],
    on_error=_on_error,  # a job lost with its worker, Redis down, no worker
    prevent_initial_call=True,
)
def run_pdf(set_progress, job):
    """The report as the user who asked, in the page's language (a worker has no request)."""
    session.after_fork()  # never use the web process's connections from a worker
    if not isinstance(job, dict):
        return dash.no_update, dash.no_update
    lang = job.get("lang") if job.get("lang") in ("zh", "en") else "zh"

    def progress(step: str) -> None:
        value, key = _STEPS[step]
        set_progress((value, t(key, lang)))
        if step == "render":
            hold("pdf")  # a test hook, off unless GRIDATLAS_TEST_JOB_HOLD_FILE is set

    try:
        principal = plan_store.principal_from(job.get("token"), secret_key())
        content, name = service.report_pdf(principal, job.get("area"), job.get("period"), job.get("from"),
                                           job.get("to"), lang=lang, progress=progress)
    except GridAtlasError as exc:
        return dash.no_update, _bad(view.message(exc, lang))
    set_progress(("3", t("rvpdf.step.done", lang)))
    done = t("rvpdf.done", lang).format(name=name, kb=max(1, round(len(content) / 1024)))
    return dcc.send_bytes(content, name), html.Span(done, className="ga-ok")


@secure_callback(
    "view.review",
    Output(STATUS, "children", allow_duplicate=True),
    Input(CANCEL, "n_clicks"),
    prevent_initial_call=True,
)
def cancelled(n):
    """Cancel ends the job in silence (Dash): say so."""
    return html.Span(t("rvpdf.cancelled", current_lang()), className="ga-hint") if n else dash.no_update
