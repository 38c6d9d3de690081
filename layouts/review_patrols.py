"""Patrol coverage by grid on /review: for the review's area and period, the share of each
grid's buildings within ``PATROL_COVERAGE_M`` of a check-in track, least covered first, with
a bar in the share column (the table is the choropleth's column: a grid-level map of the same
shares would repeat the review's map at a cost).

The figures are :func:`geo.patrols.service.coverage_by_grid` (one set-based query for all the
grids of the area); it checks ``patrols.view`` and the scope. The section is hidden from roles
without ``patrols.view`` (a courtesy: the check is in geo).
"""

from __future__ import annotations

import html as html_lib

import dash
from dash import Input, Output, State, dcc, html

import layouts.strings_scorecard  # noqa: F401  (registers the strings)
from geo.access import permissions
from geo.errors import GridAtlasError
from geo.patrols import service as patrols
from geo.repository import review as rv
from geo.repository.scope import Scope
from geo.settings import get_settings
from layouts import review_ids as rid
from layouts import review_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.review_scorecard import _area, at_top
from layouts.secure import secure_callback

SECTION = "rv-pc"
TABLE = "rv-pc-table"
SUMMARY = "rv-pc-summary"
ERROR = "rv-pc-error"
INTRO = "rv-pc-intro"
# the table lists the least covered grids first and stops here (a city holds thousands of
# grids: a page of that many rows freezes a browser); the summary counts them all
MAX_ROWS = 100


def may_see() -> bool:
    p = current_principal()
    return p is not None and permissions.allowed(p.role, "patrols.view")


def _pct(share) -> str:
    return "—" if share is None else f"{100 * float(share):.1f}%"


def _share_cell(share) -> str:
    if share is None:
        return f'<td class="rv-pc-share rv-pc-na">{html_lib.escape(t("pc.none"))}</td>'
    pct = max(0.0, min(100.0, 100 * float(share)))
    # five classes, light = well covered, dark = needs patrols (the review's palette reversed)
    cls = min(4, int((100 - pct) // 20))
    return (f'<td class="rv-pc-share"><span class="rv-pc-bar"><span class="rv-pc-fill rv-pc-c{cls}" '
            f'style="width: {pct:.1f}%"></span></span><span class="rv-pc-num">{_pct(share)}</span></td>')


def table(rows: list[dict]) -> dcc.Markdown:
    """The least covered grids as one HTML table in one component.

    Built as markup (every text escaped; codes and numbers only) rather than as ~8 Dash
    components a row: every component on the page is visited on each of its updates, and 800
    of them made each metric change of the review's map about three times slower."""
    e = html_lib.escape
    rows = sorted(rows, key=lambda r: (r["share"] is None, r["share"] or 0, r["grid"]))[:MAX_ROWS]
    head = "".join(f"<th>{e(t(k))}</th>" for k in ("pc.grid", "pc.buildings", "pc.covered", "pc.share"))
    body = "".join(
        f'<tr data-grid="{e(str(r["grid"]))}"><td class="rv-pc-code">{e(str(r["grid"]))}</td>'
        f"<td>{r['buildings']:,}</td><td>{r['covered']:,}</td>{_share_cell(r['share'])}</tr>"
        for r in rows)
    markup = (f'<table class="rv-pc-tbl" id="{TABLE}-tbl"><thead><tr>{head}</tr></thead>'
              f"<tbody>{body}</tbody></table>")
    return dcc.Markdown(markup, dangerously_allow_html=True, className="rv-pc-md")


def summary(rows: list[dict], lang: str) -> str:
    b = sum(r["buildings"] for r in rows)
    c = sum(r["covered"] for r in rows)
    zero = sum(1 for r in rows if r["buildings"] and not r["covered"])
    text = t("pc.summary", lang).format(n=len(rows), b=f"{b:,}", c=f"{c:,}", s=_pct(c / b if b else None),
                                        z=zero)
    if len(rows) > MAX_ROWS:
        text += t("pc.shown", lang).format(k=MAX_ROWS)
    return text


def section(lang: str, hidden: bool = False) -> html.Section:
    m = get_settings().patrol_coverage_m
    return html.Section(className="rv-pc", id=SECTION, hidden=hidden, children=[
        html.H2(t("pc.title", lang)),
        html.P(t("pc.intro", lang).format(m=f"{m:g}"), className="ga-intro", id=INTRO),
        html.Div(id=ERROR, className="ga-error", role="alert"),
        html.P(id=SUMMARY, className="rv-pc-summary"),
        html.Div(id=TABLE, className="rv-pc-wrap"),
    ])


@secure_callback(
    "view.review",
    Output(TABLE, "children"),
    Output(SUMMARY, "children"),
    Output(ERROR, "children"),
    # after the review's own view (its area name is set by each load): the map comes first
    Input(rid.AREA_NAME, "children"),
    State(rid.STATE, "data"),
    State(rid.PERIOD, "value"),
    State(rid.FROM, "value"),
    State(rid.TO, "value"),
)
def load(_name, state, kind, date_from, date_to):
    """Coverage of every current grid of the review's area over its period."""
    lang = current_lang()
    if not isinstance(state, dict) or not state.get("level") or not may_see():
        return dash.no_update, dash.no_update, dash.no_update
    try:
        scope = Scope.of(current_principal())
        if at_top(state, scope):
            return html.P(t("sc.pick", lang), className="ga-empty"), None, None
        area = _area(state, scope)
        period = rv.period_of(kind, date_from, date_to)
        rows = patrols.coverage_by_grid(current_principal(), area, period.start, period.end)
    except GridAtlasError as exc:
        return None, None, view.message(exc, lang)
    if not rows:
        return html.P(t("pc.empty", lang), className="ga-empty"), None, None
    return table(rows), summary(rows, lang), None
