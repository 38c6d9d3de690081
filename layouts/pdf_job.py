"""One flow for every PDF button: a background job (Celery workers with ``REDIS_URL``, a
process of this machine without) with its steps, a Cancel button and the file as a download,
so no web worker waits on headless Chromium.

A :class:`PdfJob` registers three callbacks for one button, all under the same action:

* ``submit``, in the request: the click's page state goes through ``check`` with the
  signed-in user (a refusal shows at once, in the page) and comes out as the job's
  arguments, stored with that user signed into a token (``layouts.plan_store.sign``, fresh
  at every click);
* ``run``, the background job: it acts as the token's user only and calls ``make`` with
  that principal, which checks the right, the scope and the arguments again on the worker
  and returns the file (``geo.reports.service``); its steps ("read", "render") show in a
  progress bar, the button is disabled and Cancel shown while it runs; a job lost with its
  worker, Redis down or no worker end with :func:`layouts.jobs.report_failure`'s message;
* ``cancelled``: Cancel ends the job (Dash) and the page says no file was made.

Nothing is kept anywhere but the file the browser downloads. The component ids are the
button's page-prefixed ``prefix`` followed by ``-job``, ``-cancel``, ``-busy``, ``-progress``,
``-progress-text``, ``-status`` and ``-download``. The strings are ``<strings>.cancel``,
``.busy``, ``.queued``, ``.step.read``, ``.step.render``, ``.step.done``, ``.done`` (with
``{name}`` and ``{kb}``), ``.cancelled`` and ``.again``, registered by the caller's strings
module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.repository import session
from layouts import plan_store
from layouts import review_view as view
from layouts.auth import current_principal, secret_key
from layouts.i18n import current_lang, t
from layouts.jobs import hold, report_failure
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

#: The click's check: ``(principal, *state values) -> the job's arguments`` (JSON-able),
#: raising ``GridAtlasError`` to refuse in the page.
Check = Callable[..., dict]
#: The job's work on the worker: ``(principal, arguments, lang, progress) -> (bytes, file
#: name)``, checking everything again; ``progress`` takes "read" and "render".
Make = Callable[[Principal, dict, str, Callable[[str], None]], tuple[bytes, str]]

#: A step's value in the progress bar (of 3: reading, laying out, done).
_STEPS = {"read": "1", "render": "2"}


def strings_of(value: Any) -> dict[str, str]:
    """The string-valued items of a job's arguments (they come back from the browser: a
    forged store holds anything, and ``make`` checks what is left)."""
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(value, dict) else {}


def _bad(text: str) -> html.Span:
    return html.Span(text, className="ga-bad", role="alert")


class PdfJob:
    """The callbacks and components of one PDF button as a background job.

    Parameters
    ----------
    prefix:
        The page-prefixed stem of the job's component ids (``rv-pdf`` gives ``rv-pdf-job``...).
    button:
        The id of the PDF button (made by :meth:`buttons`).
    action:
        The action of the three callbacks (``geo.access.permissions``).
    strings:
        The stem of the job's string keys (``rvpdf`` gives ``rvpdf.cancel``...).
    label:
        The string key of the button's text.
    states:
        The page state the click reads, given to ``check`` after the principal.
    check, make:
        See :data:`Check` and :data:`Make`.
    button_class:
        The button's CSS classes.
    panel_class:
        The CSS classes of :meth:`panel` (``assets/review_pdf.css``).
    """

    def __init__(self, prefix: str, button: str, *, action: str, strings: str, label: str,
                 states: list[State], check: Check, make: Make, button_class: str = "ga-btn",
                 panel_class: str = "rv-pdf-panel") -> None:
        self.button, self.strings, self.label, self.button_class = button, strings, label, button_class
        self.panel_class = panel_class
        self.job, self.cancel, self.busy = f"{prefix}-job", f"{prefix}-cancel", f"{prefix}-busy"
        self.progress, self.progress_text = f"{prefix}-progress", f"{prefix}-progress-text"
        self.status, self.download = f"{prefix}-status", f"{prefix}-download"
        self._check, self._make = check, make
        self._register(action, states)

    def _t(self, key: str, lang: str | None = None) -> str:
        return t(f"{self.strings}.{key}", lang)

    # ------------------------------------------------------------------ components

    def buttons(self, lang: str) -> list:
        """The PDF button and the job's Cancel (shown while a job runs)."""
        return [html.Button(t(self.label, lang), id=self.button, className=self.button_class),
                html.Button(self._t("cancel", lang), id=self.cancel, className="ga-btn", hidden=True)]

    def panel(self, lang: str) -> html.Div:
        """The job's steps while it runs, then its outcome; the job's store and download."""
        return html.Div(className=self.panel_class, children=[
            dcc.Store(id=self.job),
            dcc.Download(id=self.download),
            html.Div(id=self.busy, hidden=True, role="status", **{"aria-label": self._t("busy", lang)}, children=[
                html.Progress(id=self.progress, value="0", max="3", className="ga-progress"),
                html.Div(id=self.progress_text, className="ga-hint"),
            ]),
            html.Div(id=self.status, className="ga-status", **{"aria-live": "polite"}),
        ])

    # ------------------------------------------------------------------ callbacks

    def submit(self, n, *values) -> tuple:
        """The job's arguments with the signed-in user, signed now; a refusal on the page."""
        lang = current_lang()
        nu = dash.no_update
        if not n:
            return nu, nu, nu, nu
        principal = current_principal()
        try:  # refused at once when it would be refused on the worker (checked there again)
            args = self._check(principal, *values)
        except GridAtlasError as exc:
            return nu, _bad(view.message(exc, lang)), nu, nu
        job = {"token": plan_store.sign(principal, secret_key()), "args": args, "lang": lang, "n": n}
        return job, None, "0", self._t("queued", lang)

    def run(self, set_progress, job) -> tuple:
        """The file as the user who asked, in the page's language (a worker has no request)."""
        session.after_fork()  # never use the web process's connections from a worker
        if not isinstance(job, dict):
            return dash.no_update, dash.no_update
        lang = job.get("lang") if job.get("lang") in ("zh", "en") else "zh"

        def progress(step: str) -> None:
            set_progress((_STEPS[step], self._t(f"step.{step}", lang)))
            if step == "render":
                hold("pdf")  # a test hook, off unless GRIDATLAS_TEST_JOB_HOLD_FILE is set

        try:
            principal = plan_store.principal_from(job.get("token"), secret_key())
            content, name = self._make(principal, strings_of(job.get("args")), lang, progress)
        except GridAtlasError as exc:
            return dash.no_update, _bad(view.message(exc, lang))
        set_progress(("3", self._t("step.done", lang)))
        done = self._t("done", lang).format(name=name, kb=max(1, round(len(content) / 1024)))
        return dcc.send_bytes(content, name), html.Span(done, className="ga-ok")

    def on_error(self, exc: Exception) -> list:
        """:func:`layouts.jobs.report_failure`'s message, and how to make the file again."""
        values = report_failure(2, 1)(exc)
        values[1] = html.Span([values[1].children, " ", self._t("again")], className="ga-bad", role="alert")
        return values

    def cancelled(self, n):
        """Cancel ends the job in silence (Dash): say so."""
        return html.Span(self._t("cancelled", current_lang()), className="ga-hint") if n else dash.no_update

    def _register(self, action: str, states: list[State]) -> None:
        # each registration wraps its own function: Dash hashes a background callback's
        # source with its output ids, and the gate reads the action recorded on it
        def submit(n, *values):
            return self.submit(n, *values)

        def run(set_progress, job):
            return self.run(set_progress, job)

        def cancelled(n):
            return self.cancelled(n)

        secure_callback(
            action,
            Output(self.job, "data"),
            Output(self.status, "children", allow_duplicate=True),
            Output(self.progress, "value", allow_duplicate=True),
            Output(self.progress_text, "children", allow_duplicate=True),
            Input(self.button, "n_clicks"),
            *states,
            prevent_initial_call=True,
        )(submit)
        secure_callback(
            action,
            Output(self.download, "data"),
            Output(self.status, "children"),
            Input(self.job, "data"),
            background=True,
            running=[(Output(self.button, "disabled"), True, False),
                     (Output(self.cancel, "hidden"), False, True),
                     (Output(self.busy, "hidden"), False, True)],
            cancel=[Input(self.cancel, "n_clicks")],
            progress=[Output(self.progress, "value"), Output(self.progress_text, "children")],
            on_error=self.on_error,  # a job lost with its worker, Redis down, no worker
            prevent_initial_call=True,
        )(run)
        secure_callback(
            action,
            Output(self.status, "children", allow_duplicate=True),
            Input(self.cancel, "n_clicks"),
            prevent_initial_call=True,
        )(cancelled)
