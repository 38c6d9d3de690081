"""The review's PDF report as a background job (:class:`layouts.pdf_job.PdfJob`: steps, a
Cancel button, the file as a download), and the report's check and work that /review/print's
PDF button shares.

A click on "下载 PDF" is answered at once in the request: :func:`report_args` checks the
right, the area against the signed-in user's scope and the period (a refusal shows in the
page) and the job gets them with that user signed into a token. On the worker,
:func:`make_report` acts as the token's user only: :func:`geo.reports.service.report_pdf`
checks the right, the scope and the period again. Imported by the page module.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import State

from geo.access.roles import Principal
from geo.reports import service
from layouts import review_ids as rid
from layouts import (
    strings_review_pdf,  # noqa: F401  (registers the strings)
)
from layouts.pdf_job import PdfJob, strings_of


def report_args(principal: Principal | None, area, kind, date_from=None, date_to=None) -> dict:
    """The report job's arguments, checked now (``service.checked``: the right, the area,
    else the user's own scope, inside the scope, the period)."""
    _scope, code, _period = service.checked(principal, area, kind, date_from, date_to)
    return {"area": code, "period": kind, "from": date_from, "to": date_to}


def make_report(principal: Principal, args: dict, lang: str, progress: Callable[[str], None]) -> tuple[bytes, str]:
    """The report as PDF on the worker, everything checked again for ``principal``."""
    a = strings_of(args)
    return service.report_pdf(principal, a.get("area"), a.get("period"), a.get("from"), a.get("to"),
                              lang=lang, progress=progress)


def _review_args(principal, state, kind, date_from, date_to) -> dict:
    area = state.get("area") if isinstance(state, dict) else None
    return report_args(principal, area, kind, date_from, date_to)


JOB = PdfJob("rv-pdf", rid.PDF, action="view.review", strings="rvpdf", label="rv.pdf",
             states=[State(rid.STATE, "data"), State(rid.PERIOD, "value"), State(rid.FROM, "value"),
                     State(rid.TO, "value")],
             check=_review_args, make=make_report)
buttons = JOB.buttons
panel = JOB.panel
