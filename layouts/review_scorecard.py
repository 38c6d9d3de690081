"""The department scorecard on /review (a ranked table a street leader reads) and in the print
view /review/print (the same ranking as its own printable A4 sheet, printed from the browser
or downloaded as PDF: a background job, :class:`layouts.pdf_job.PdfJob`, so no web worker
waits on headless Chromium; the job checks the right and the scope again on the worker as
the user who clicked).

The figures are :func:`geo.incidents.scorecard.scorecard` for the review's area and period
(the ``departments scorecard`` command's function); it checks ``departments.scorecard`` and
the area against the user's scope, so a role without it sees the refusal in the page. The
section is hidden from such roles (a courtesy: the check is in geo).
"""

from __future__ import annotations

import html as html_lib
from typing import Any

import dash
from dash import Input, Output, State, html

import layouts.strings_review  # noqa: F401  (registers the strings)
import layouts.strings_scorecard  # noqa: F401  (registers the strings)
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.incidents import scorecard as sc
from geo.reports import service
from geo.repository import review as rv
from geo.repository.scope import Scope
from layouts import review_ids as rid
from layouts import review_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.pdf_job import PdfJob, strings_of
from layouts.secure import secure_callback

SECTION = "rv-sc"
TABLE = "rv-sc-table"
ERROR = "rv-sc-error"
PRINT = "rv-sc-print"
P_SHEET = "rvp-sc-sheet"
P_FRAME = "rvp-sc-frame"
P_PRINT = "rvp-sc-print"
P_PDF = "rvp-sc-pdf"  # its job's ids are "rvp-sc-pdf-job" ... (layouts/pdf_job.py)
P_ERROR = "rvp-sc-error"

# (row key, string key, kind): kind "rate" is a 0-1 share shown in per cent
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "sc.rank", "int"),
    ("department", "sc.department", "text"),
    ("whistles", "sc.whistles", "int"),
    ("reported_on_time", "sc.reported_on_time", "int"),
    ("median_minutes_to_report", "sc.median", "minutes"),
    ("due", "sc.due", "int"),
    ("on_time_rate", "sc.on_time_rate", "rate"),
    ("rework", "sc.rework", "int"),
    ("satisfaction", "sc.satisfaction", "rate"),
)


def may_see() -> bool:
    """The scorecard is shown to roles with ``departments.scorecard``."""
    p = current_principal()
    return p is not None and permissions.allowed(p.role, "departments.scorecard")


def cell(row: dict, key: str, kind: str, lang: str) -> str:
    """One cell for people: per cent with one decimal, minutes with one, '—' for none."""
    v: Any = row.get(key)
    if key == "department":
        name = (row.get("name_en") or row.get("name")) if lang == "en" else row.get("name")
        return f"{row.get('department', '')} {name or ''}".strip()
    if v is None:
        return "—"
    if kind == "rate":
        return f"{100 * float(v):.1f}%"
    if kind == "minutes":
        return f"{float(v):,.1f}"
    if key == "reported_on_time":
        return t("sc.of", lang).format(n=int(v), d=int(row.get("whistles") or 0))
    return f"{int(v):,}"


def table(rows: list[dict], lang: str) -> html.Table:
    """The ranking as a plain table (it reads and prints the same)."""
    head = html.Tr([html.Th(t(label, lang), className=f"rv-sc-{kind}") for _, label, kind in COLUMNS])
    body = [html.Tr([html.Td(cell(r, key, kind, lang), className=f"rv-sc-{kind}") for key, _, kind in COLUMNS],
                    **{"data-department": str(r.get("department", ""))}) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className="rv-sc-tbl", id=TABLE + "-tbl")


def section(lang: str, hidden: bool = False) -> html.Section:
    """The section on /review; :func:`load` fills it."""
    return html.Section(className="rv-sc", id=SECTION, hidden=hidden, children=[
        html.Div(className="rv-sc-head", children=[
            html.H2(t("sc.title", lang)),
            html.A(t("sc.print", lang), id=PRINT, className="ga-btn", href="/review/print", target="_blank"),
        ]),
        html.P(t("sc.intro", lang), className="ga-intro"),
        html.Div(id=ERROR, className="ga-error", role="alert"),
        html.Div(id=TABLE, className="rv-sc-wrap"),
    ])


def _area(state: Any, scope: Scope) -> str:
    area = state.get("area") if isinstance(state, dict) else None
    area = area if isinstance(area, str) and area else scope.base
    if not area:
        raise rv.ReviewError(t("sc.pick", "zh") + " / " + t("sc.pick", "en"))
    rv.check_view(scope, area, "grid")  # a place code inside the scope, else refused
    return area


def at_top(state: Any, scope: Scope) -> bool:
    """The whole city (an account scoped everywhere, no area chosen): nothing to rank yet."""
    area = state.get("area") if isinstance(state, dict) else None
    return not (isinstance(area, str) and area) and not scope.base


def print_href(area: str, kind: Any, date_from: Any, date_to: Any) -> str:
    """The print view of the same area and period, at the ranking sheet."""
    from urllib.parse import urlencode

    q = {"area": area, "period": kind if kind in rv.PERIODS else "month"}
    if q["period"] == "range":
        q.update({"from": str(date_from or ""), "to": str(date_to or "")})
    return "/review/print?" + urlencode(q) + "#" + P_SHEET


@secure_callback(
    "view.review",
    Output(TABLE, "children"),
    Output(ERROR, "children"),
    Output(PRINT, "href"),
    # after the review's own view (its area name is set by each load): the map comes first
    Input(rid.AREA_NAME, "children"),
    State(rid.STATE, "data"),
    State(rid.PERIOD, "value"),
    State(rid.FROM, "value"),
    State(rid.TO, "value"),
)
def load(_name, state, kind, date_from, date_to):
    """The ranking of the review's area and period."""
    lang = current_lang()
    if not isinstance(state, dict) or not state.get("level"):
        return dash.no_update, dash.no_update, dash.no_update
    try:
        scope = Scope.of(current_principal())
        if at_top(state, scope):
            return html.P(t("sc.pick", lang), className="ga-empty"), None, dash.no_update
        area = _area(state, scope)
        period = rv.period_of(kind, date_from, date_to)
        rows = sc.scorecard(current_principal(), area, period.start, period.end)
    except GridAtlasError as exc:
        return None, view.message(exc, lang), dash.no_update
    body = table(rows, lang) if rows else html.P(t("sc.empty", lang), className="ga-empty")
    return body, None, print_href(area, kind, date_from, date_to)


# --- the print view ---------------------------------------------------------------------------

_SHEET_CSS = """
@page { size: A4 landscape; margin: 12mm 12mm 14mm; }
html, body { margin: 0; background: #fff; color: #111827;
  font-family: 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif; }
.sheet { padding: 0; }
.internal { float: right; border: 1px solid #b91c1c; color: #b91c1c; padding: 1mm 3mm; font-size: 10pt; }
h1 { font-size: 18pt; margin: 0 0 2mm; }
.meta { font-size: 10.5pt; color: #374151; margin-bottom: 4mm; }
table { width: 100%; border-collapse: collapse; font-size: 10.5pt; table-layout: fixed; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 0.3mm solid #9ca3af; padding: 1.6mm 2mm; text-align: right;
  font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
th { background: #eef2f7; font-weight: 600; text-align: center; }
th.text, td.text { text-align: left; }
col.rank { width: 8%; } col.text { width: 24%; }
tbody tr:nth-child(-n+3) td.int:first-child { font-weight: 700; }
.note { font-size: 9pt; color: #4b5563; margin-top: 3mm; }
.empty { font-size: 12pt; margin: 10mm 0; }
@media screen { body { padding: 10mm 12mm; } }
"""


def sheet_html(rows: list[dict], name: str, period: rv.Period, lang: str) -> str:
    """The ranking as one complete HTML document (CSS inlined, no scripts, no network),
    A4 landscape; a long ranking flows onto more pages with its header repeated."""
    e = html_lib.escape
    cols = "".join(f"<col class='{'rank' if k == 'rank' else kind}'>" for k, _, kind in COLUMNS)
    head = "".join(f"<th class='{kind}'>{e(t(label, lang))}</th>" for _, label, kind in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td class='{kind}'>{e(cell(r, k, kind, lang))}</td>"
                                    for k, _, kind in COLUMNS) + "</tr>" for r in rows)
    tbl = (f"<table><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
           if rows else f"<p class='empty'>{e(t('sc.empty', lang))}</p>")
    title = t("sc.sheet.title", lang).format(name=name)
    meta = " · ".join((t("sc.sheet.period", lang).format(a=period.start.isoformat(), b=period.end.isoformat()),
                       t("sc.sheet.date", lang).format(d=rv.today().isoformat())))
    return (f'<!DOCTYPE html><html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title><style>{_SHEET_CSS}</style></head><body><div class='sheet'>"
            f"<div class='internal'>{e(t('sc.sheet.internal', lang))}</div><h1>{e(title)}</h1>"
            f"<div class='meta'>{e(meta)}</div>{tbl}<p class='note'>{e(t('sc.sheet.note', lang))}</p>"
            f"</div></body></html>")


def _sheet(principal: Principal | None, args: dict, lang: str) -> tuple[str, str]:
    """The sheet's HTML and a file name for the print view's arguments, read as ``principal``
    (``sc.scorecard`` checks ``departments.scorecard`` and the area against the scope)."""
    scope = Scope.of(principal)
    area = _area(args, scope)
    period = rv.period_of(args.get("period") or "month", args.get("from"), args.get("to"))
    rows = sc.scorecard(principal, area, period.start, period.end)
    crumbs = rv.breadcrumb(scope, area)
    name = view.name_of(crumbs[-1], lang) if crumbs else area
    return sheet_html(rows, name, period, lang), f"scorecard-{area}-{period.start.isoformat()}.pdf"


def print_section(args: dict, lang: str, refused: bool = False) -> html.Section:
    """The ranking sheet under the print view's report, computed here as the report above it
    is; always in the layout (the app's validation layout is built from it), hidden and empty
    for roles without the scorecard and where the report above was refused (its reason
    shows there, once)."""
    doc = err = None
    shown = may_see() and not refused
    if shown:
        try:
            doc = _sheet(current_principal(), args, lang)[0]
        except GridAtlasError as exc:
            err = view.message(exc, lang)
    return html.Section(id=P_SHEET, className="rvp-sc", hidden=not shown, children=[
        html.Div(className="rvp-toolbar", children=[
            html.Button(t("sc.print", lang), id=P_PRINT, className="ga-btn"),
            *PDF.buttons(lang),  # the ranking as PDF, a background job
        ]),
        PDF.panel(lang),
        html.Div(err, id=P_ERROR, className="ga-error", role="alert"),
        html.Iframe(id=P_FRAME, srcDoc=doc, className="rvp-sc-frame", title=t("sc.title", lang)) if doc else None,
    ])


def sheet_args(principal: Principal | None, args) -> dict:
    """The print view's arguments as the ranking job's, checked at the click as they are on
    the worker: the scorecard's right, the area inside the scope, the period."""
    a = strings_of(args)
    permissions.check(principal, "departments.scorecard")
    _area(a, Scope.of(principal))
    rv.period_of(a.get("period") or "month", a.get("from"), a.get("to"))
    return a


def sheet_pdf(principal: Principal, args: dict, lang: str, progress) -> tuple[bytes, str]:
    """The ranking as PDF (A4 landscape) on the worker, read as the job's user."""
    return service.render_pdf(principal, "view.review", lambda: _sheet(principal, strings_of(args), lang),
                              progress=progress)


PDF = PdfJob(P_PDF, P_PDF, action="view.review", strings="scpdf", label="sc.pdf",
             states=[State(rid.P_ARGS, "data")], check=sheet_args, make=sheet_pdf,
             button_class="ga-btn ga-btn-primary", panel_class="rv-pdf-panel rvp-pdf-panel")


dash.clientside_callback(
    "function (n) { var f = document.getElementById('rvp-sc-frame'); "
    "if (n && f && f.contentWindow) { f.contentWindow.print(); } return ''; }",
    Output(P_PRINT, "title"),
    Input(P_PRINT, "n_clicks"),
    prevent_initial_call=True,
)
