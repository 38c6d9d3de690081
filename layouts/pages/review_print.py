"""Print view of the leaders' review (/review/print): one A4 landscape page of a street or
community (the area of the review's address), to print from the browser or download as PDF.

The page shows the report's own HTML (:mod:`geo.reports.report`, the very document the PDF
is rendered from) in a frame; its PDF is the review's background job
(:mod:`layouts.review_pdf_job`'s check and work in a :class:`layouts.pdf_job.PdfJob`: steps,
Cancel, the file as a download), so no web worker waits on headless Chromium.
"""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

import layouts.strings_review  # noqa: F401  (registers the strings)
from geo.errors import GridAtlasError
from geo.reports import report
from geo.repository import review as rv
from geo.repository import session
from geo.repository.scope import Scope
from layouts import review_ids as rid
from layouts import review_pdf_job, review_scorecard
from layouts import review_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.pdf_job import PdfJob, strings_of

dash.register_page(__name__, path="/review/print", title="GridAtlas · 打印报告", name="review-print")


def _report(args: dict) -> dict:
    scope = Scope.of(current_principal())
    area = args.get("area") or scope.base
    if not area:
        raise rv.ReviewError("请先在审阅页选择区、街道或社区 / choose a district, street or community first")
    period = rv.period_of(args.get("period") or "month", args.get("from"), args.get("to"))
    with session.replica_session():  # the read replica when DATABASE_READ_URL is set
        return report.build(scope, area, period, lang=current_lang())


def layout(area=None, period=None, **query) -> html.Div:
    args = {"area": area, "period": period, "from": query.get("from"), "to": query.get("to")}
    args = {k: v for k, v in args.items() if isinstance(v, str)}
    lang = current_lang()
    try:
        doc, err = report.render_html(_report(args)), None
    except GridAtlasError as exc:
        doc, err = None, view.message(exc, lang)
    # a refused area (outside the scope, unknown): its reason once, a way back, and none of
    # the buttons and sheets that could only be refused again (they stay in the layout,
    # hidden, for the page's callbacks)
    return html.Div(className="ga-page rvp-page" + (" rvp-refused" if err else ""), children=[
        dcc.Store(id=rid.P_ARGS, data=args),
        html.Div(className="rvp-toolbar", hidden=bool(err), children=[
            html.Button(t("rv.print.do"), id=rid.P_PRINT, className="ga-btn"),
            *PDF.buttons(lang),  # the PDF report, a background job
        ]),
        PDF.panel(lang),
        html.Div(err, id=rid.P_ERROR, className="ga-error", role="alert"),
        html.A(t("rv.print.back"), href="/review", id=rid.P_BACK, className="ga-link rvp-back") if err else None,
        html.Iframe(id=rid.P_FRAME, srcDoc=doc, className="rvp-frame",
                    title=t("rv.print")) if doc else None,
        review_scorecard.print_section(args, lang, refused=bool(err)),  # the departments' ranking sheet
    ])


def _check(principal, args) -> dict:
    """The print view's arguments as the report job's, checked at the click."""
    a = strings_of(args)
    return review_pdf_job.report_args(principal, a.get("area"), a.get("period") or "month", a.get("from"), a.get("to"))


PDF = PdfJob("rvp-pdf", rid.P_PDF, action="view.review", strings="rvpdf", label="rv.pdf",
             states=[State(rid.P_ARGS, "data")], check=_check, make=review_pdf_job.make_report,
             button_class="ga-btn ga-btn-primary", panel_class="rv-pdf-panel rvp-pdf-panel")


dash.clientside_callback(
    "function (n) { var f = document.getElementById('rvp-frame'); "
    "if (n && f && f.contentWindow) { f.contentWindow.print(); } return ''; }",
    Output(rid.P_PRINT, "title"),
    Input(rid.P_PRINT, "n_clicks"),
    prevent_initial_call=True,
)
