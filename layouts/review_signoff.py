"""The redraw sign-off sheet on /review: a community and two of its grid versions, their maps
side by side on the same view, the per-grid table (households, signed deviation from the
target, compactness, churn) and the grid workload under each version.

The figures come from :mod:`geo.repository.signoff` (the planner's comparison and workload
replay); ``view.plan`` is checked there, so a role without it sees the refusal in the page.
"""

from __future__ import annotations

import dash
import dash_leaflet as dl
from dash import Input, Output, html
from dash_extensions.javascript import Namespace

import layouts.strings_review  # noqa: F401  (registers the strings)
from geo.errors import GridAtlasError
from geo.repository import session, signoff
from layouts import review_ids as rid
from layouts import review_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, dropdown, t
from layouts.secure import secure_callback

_ns = Namespace("gridatlas", "review")


def _map(map_id: str, layer_id: str, title_id: str) -> html.Div:
    return html.Div(className="rv-so-side", children=[
        html.H3(id=title_id, className="rv-so-vtitle"),
        dl.Map(id=map_id, center=[39.9, 116.4], zoom=14, className="rv-so-map", zoomSnap=0.25,
               attributionControl=False, zoomControl=False, children=[
                   dl.GeoJSON(id=layer_id, data=None, style=_ns("soStyle"), onEachFeature=_ns("soTip")),
                   dl.ScaleControl(imperial=False, position="bottomleft"),
               ]),
    ])


def section(lang: str, hidden: bool = False) -> html.Section:
    """The sheet's controls and (empty) outputs; the callbacks below fill them."""
    return html.Section(className="rv-signoff", id="rv-signoff", hidden=hidden, children=[
        html.H2(t("rv.so.title", lang)),
        html.P(t("rv.so.intro", lang), className="ga-intro"),
        html.Div(className="rv-so-controls", children=[
            html.Label([t("rv.so.community", lang), dropdown(
                id=rid.SO_COMMUNITY, options=[], placeholder=t("rv.so.pick", lang))],
                className="rv-so-pick rv-so-pick-community"),
            html.Label([t("rv.so.a", lang), dropdown(id=rid.SO_A, options=[], searchable=False,
                                                          placeholder=t("rv.so.pick", lang))],
                       className="rv-so-pick"),
            html.Label([t("rv.so.b", lang), dropdown(id=rid.SO_B, options=[], searchable=False,
                                                          placeholder=t("rv.so.pick", lang))],
                       className="rv-so-pick"),
        ]),
        html.Div(id=rid.SO_ERROR, className="ga-error", role="alert"),
        html.P(id=rid.SO_SUMMARY, className="rv-so-summary"),
        html.Div(className="rv-so-maps", children=[_map(rid.SO_MAP_A, rid.SO_GRIDS_A, rid.SO_TITLE_A),
                                                   _map(rid.SO_MAP_B, rid.SO_GRIDS_B, rid.SO_TITLE_B)]),
        html.Div(id=rid.SO_TABLE, className="rv-so-tables"),
        html.Div(id=rid.SO_WORK, className="rv-so-work"),
    ])


def _name(row: dict, lang: str) -> str:
    return (row.get("name_en") or row["name"]) if lang == "en" else row["name"]


def _vlabel(v: dict, lang: str) -> str:
    return t("rv.so.version", lang).format(n=v["version_no"]) + (t("rv.so.current", lang) if v.get("is_current")
                                                                 else "")


@secure_callback(
    "view.review",
    Output(rid.SO_COMMUNITY, "options"),
    Output(rid.SO_ERROR, "children"),
    Input(rid.SO_COMMUNITY, "id"),
)
def community_options(_id):
    """The communities the user may plan in (``view.plan``: else the refusal in the page)."""
    lang = current_lang()
    try:
        with session.replica_session():
            rows = signoff.communities(current_principal())
    except GridAtlasError as exc:
        return [], view.message(exc, lang)
    return [{"label": f"{_name(r, lang)} {r['code']}", "value": r["code"]} for r in rows], None


@secure_callback(
    "view.review",
    Output(rid.SO_A, "options"),
    Output(rid.SO_A, "value"),
    Output(rid.SO_B, "options"),
    Output(rid.SO_B, "value"),
    Output(rid.SO_ERROR, "children", allow_duplicate=True),
    Input(rid.SO_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def version_options(community):
    """The community's versions; the current one as B and the one before it as A."""
    lang = current_lang()
    if not community:
        return [], None, [], None, None
    try:
        with session.replica_session():
            rows = signoff.versions(current_principal(), community)
    except GridAtlasError as exc:
        return [], None, [], None, view.message(exc, lang)
    opts = [{"label": _vlabel(v, lang), "value": int(v["id"])} for v in rows]
    cur = next((i for i, v in enumerate(rows) if v["is_current"]), 0) if rows else None
    b = int(rows[cur]["id"]) if rows else None
    a = int(rows[cur + 1]["id"]) if rows and cur + 1 < len(rows) else None
    return opts, a, opts, b, None


def _grid_table(side: dict, lang: str, table_id: str) -> html.Table:
    heads = ["rv.so.col.grid", "rv.so.col.households", "rv.so.col.deviation", "rv.so.col.compactness",
             "rv.so.col.churn"]
    body = [html.Tr([html.Td(g["code"]), html.Td(f"{g['households']:,}"),
                     html.Td(f"{g['deviation']:+.1%}".replace("-", "−") if g["deviation"] is not None else "—",
                             className="rv-neg" if (g["deviation"] or 0) < 0 else None),
                     html.Td(f"{g['compactness']:.2f}"), html.Td(f"{g['churn']:,}")])
            for g in side["grids"]]
    return html.Table([html.Thead(html.Tr([html.Th(t(h, lang)) for h in heads])), html.Tbody(body)],
                      id=table_id, className="ga-table rv-so-table")


def _work_table(side: dict, lang: str, table_id: str) -> html.Table:
    heads = ["rv.so.col.grid", "rv.so.col.households", "rv.so.col.incidents", "rv.so.col.open"]
    body = [html.Tr([html.Td(g["code"]), html.Td(f"{g['households']:,}"), html.Td(f"{g['incidents']:,}"),
                     html.Td(f"{g['open_incidents']:,}")]) for g in side["grids"]]
    return html.Table([html.Thead(html.Tr([html.Th(t(h, lang)) for h in heads])), html.Tbody(body)],
                      id=table_id, className="ga-table rv-so-table")


@secure_callback(
    "view.review",
    Output(rid.SO_GRIDS_A, "data"),
    Output(rid.SO_GRIDS_B, "data"),
    Output(rid.SO_MAP_A, "viewport"),
    Output(rid.SO_MAP_B, "viewport"),
    Output(rid.SO_TITLE_A, "children"),
    Output(rid.SO_TITLE_B, "children"),
    Output(rid.SO_SUMMARY, "children"),
    Output(rid.SO_TABLE, "children"),
    Output(rid.SO_WORK, "children"),
    Output(rid.SO_ERROR, "children", allow_duplicate=True),
    Input(rid.SO_COMMUNITY, "value"),
    Input(rid.SO_A, "value"),
    Input(rid.SO_B, "value"),
    prevent_initial_call=True,
)
def load_sheet(community, a, b):
    """Both versions' grids on maps fitted to the same view, the tables, the workload."""
    lang = current_lang()
    empty = (None, None, dash.no_update, dash.no_update, None, None, None, None, None)
    if not community or a is None or b is None or a == b:
        return empty + (t("rv.so.nopick", lang) if community else None,)
    try:
        with session.replica_session():  # the planner's comparison opens its own (primary)
            s = signoff.sheet(current_principal(), community, a, b)
    except GridAtlasError as exc:
        return empty + (view.message(exc, lang),)
    fit = {"bounds": s["bounds"], "transition": "fitBounds", "options": {"animate": False}}
    c = s["community"]
    summary = t("rv.so.summary", lang).format(
        target=c["target"], lo=c["min"], hi=c["max"], hh=s["households_moved"], bld=s["buildings_moved"],
        added=len(s["added"]), removed=len(s["removed"]))
    la, lb = _vlabel(s["a"], lang), _vlabel(s["b"], lang)
    tables = [html.Div([html.H4(la), _grid_table(s["a"], lang, "rv-so-table-a")], className="rv-so-col"),
              html.Div([html.H4(lb), _grid_table(s["b"], lang, "rv-so-table-b")], className="rv-so-col")]
    work = [html.H3(t("rv.so.work", lang)),
            html.Div([html.Div([html.H4(la), html.P(t("rv.so.work_sum", lang).format(
                          v=la, n=s["a"]["incidents"], mx=s["a"]["max_incidents"], mn=s["a"]["min_incidents"],
                          out=s["a"]["outside"])), _work_table(s["a"], lang, "rv-so-work-a")],
                               className="rv-so-col"),
                      html.Div([html.H4(lb), html.P(t("rv.so.work_sum", lang).format(
                          v=lb, n=s["b"]["incidents"], mx=s["b"]["max_incidents"], mn=s["b"]["min_incidents"],
                          out=s["b"]["outside"])), _work_table(s["b"], lang, "rv-so-work-b")],
                               className="rv-so-col")], className="rv-so-tables")]
    return (s["a"]["geojson"], s["b"]["geojson"], fit, fit, la, lb, summary, tables, work, None)
