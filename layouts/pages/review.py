"""Leaders' review (/review): a choropleth of the leader's area with drill-down, the period's
figures against the previous period (环比) and a year earlier (同比), rankings and the red
and black list, downloads.

The URL keeps ``metric``, ``level``, ``area``, ``period`` (and ``from``/``to`` for a date
range); it is rewritten in place (``history.replaceState``) as the view changes, so reloading
or sharing the address shows the same view. Heavy map data goes down when the area, level or
period changes; a metric change only restyles, in the browser (``gridatlas_review.restyle`` in
``assets/review.js``: class breaks, colours, legend and rank from the figures the view holds; no
request to the server). The first view's state (area, level and its options) is worked out here
in the layout, so the view's one server callback (``load``) starts at once.
"""

from __future__ import annotations

import dash
import dash_leaflet as dl
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html
from dash_extensions.javascript import Namespace

import layouts.strings_review  # noqa: F401  (registers the strings)
from geo.access import permissions
from geo.errors import GridAtlasError
from geo.repository import review as rv
from geo.repository import session, summary
from geo.repository.scope import Scope
from layouts import review_export, review_patrols, review_pdf_job, review_scorecard, review_signoff
from layouts import review_ids as rid
from layouts import review_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, dropdown, t
from layouts.secure import secure_callback

dash.register_page(__name__, path="/review", title="GridAtlas · 领导审阅", name="review")

_ns = Namespace("gridatlas", "review")


def _choice(value, allowed, default):
    return value if value in allowed else default


def layout(metric=None, level=None, area=None, period=None, **query) -> html.Div:
    """The page; no database here: the figures arrive through ``load``, which starts as soon as
    the page is drawn (the page's state comes with it). Putting the first view into the layout
    was measured slower at city scale: the map's and dropdown's scripts then load only after
    the figures instead of while the server reads them."""
    lang = current_lang()
    metric = _choice(metric, rv.METRICS, "on_time_rate")
    period = _choice(period, rv.PERIODS, "month")
    state, level_options = _first_state(area, level, lang)
    return html.Div(className="ga-page rv-page", children=[
        dcc.Store(id=rid.STATE, data=state),
        dcc.Store(id=rid.STRINGS, data=view.restyle_strings(lang)),
        dcc.Store(id=rid.FIGS),
        dcc.Store(id=rid.ROWS),
        dcc.Store(id=rid.SELECTED),
        dcc.Download(id=rid.DOWNLOAD),
        html.Div(className="rv-head", children=[
            html.Div([html.H1(t("review.title", lang)), html.P(t("rv.intro", lang), className="ga-intro")]),
            html.Div(className="rv-pdf-side", children=[
                html.Div(className="rv-actions", children=[
                    html.A(t("rv.print", lang), id=rid.PRINT, className="ga-btn", href="/review/print",
                           target="_blank"),
                    *review_pdf_job.buttons(lang),  # the PDF report, a background job
                ]),
                review_pdf_job.panel(lang),
            ]),
        ]),
        html.Div(className="rv-controls", children=[
            html.Label([t("rv.metric", lang), dropdown(
                id=rid.METRIC, value=metric, clearable=False, searchable=False,
                options=[{"label": t(f"rv.m.{m}", lang), "value": m} for m in rv.METRICS])],
                className="rv-metric"),
            html.Label([t("rv.level", lang), dcc.RadioItems(
                id=rid.LEVEL, options=level_options, value=state["level"] if state else None,
                inline=True)]),
            html.Label([t("rv.period", lang), dcc.RadioItems(
                id=rid.PERIOD, value=period, inline=True,
                options=[{"label": t(f"rv.period.{p}", lang), "value": p} for p in rv.PERIODS])]),
            html.Div(className="rv-dates", id=rid.DATES, style=None if period == "range" else {"display": "none"},
                     children=[
                html.Label([t("rv.start", lang), dcc.Input(id=rid.FROM, type="date", debounce=True,
                                                           value=query.get("from"))]),
                html.Label([t("rv.end", lang), dcc.Input(id=rid.TO, type="date", debounce=True,
                                                         value=query.get("to"))]),
            ]),
        ]),
        html.Nav(id=rid.CRUMBS, className="rv-crumbs", **{"aria-label": t("rv.breadcrumb", lang)}),
        html.Div(id=rid.ERROR, className="ga-error", role="alert"),
        html.Div(className="rv-body", children=[
            html.Div(className="rv-map-wrap", children=[
                dl.Map(id=rid.MAP, center=[39.9, 116.4], zoom=11, className="rv-map", zoomSnap=0.25,
                       attributionControl=False, zoomControl=False, children=[
                           dl.GeoJSON(id=rid.AREAS, data=None, style=_ns("style"),
                                      onEachFeature=_ns("tip"), hideout={"colors": {}, "selected": None}),
                           dl.ScaleControl(imperial=False, position="bottomleft"),
                       ]),
                html.Div(id=rid.LEGEND, className="rv-legend-wrap"),
                html.Div(id=rid.ATTRIBUTION, className="rv-attribution"),
            ]),
            html.Div(className="rv-side", children=[
                html.H2(id=rid.AREA_NAME),
                html.Div(id=rid.PERIOD_TEXT, className="rv-period-text"),
                html.Div(id=rid.RANK, className="rv-rank"),
                html.Div(id=rid.CARDS),
            ]),
        ]),
        html.H2(t("rv.rankings", lang)),
        html.Div(className="rv-rankings", children=[
            html.Div([html.H3(t("rv.rank.streets", lang)), html.Div(id=rid.T_STREETS),
                      html.Button(t("rv.csv", lang), id={"type": rid.EXPORT, "index": "streets-csv"},
                                  className="ga-btn"),
                      html.Button(t("rv.xlsx", lang), id={"type": rid.EXPORT, "index": "streets-xlsx"},
                                  className="ga-btn")], className="rv-rank-col"),
            html.Div([html.H3(t("rv.rank.communities", lang)), html.Div(id=rid.T_COMMUNITIES),
                      html.Button(t("rv.csv", lang), id={"type": rid.EXPORT, "index": "communities-csv"},
                                  className="ga-btn"),
                      html.Button(t("rv.xlsx", lang),
                                  id={"type": rid.EXPORT, "index": "communities-xlsx"},
                                  className="ga-btn")], className="rv-rank-col"),
        ]),
        html.Div(className="rv-bottom", children=[
            html.Div(id=rid.CHART, className="rv-chart"),
            html.Div(id=rid.REDBLACK),
        ]),
        # the department scorecard and patrol coverage of the view's area and period (hidden
        # from roles without departments.scorecard / patrols.view; geo refuses them anyway)
        review_scorecard.section(lang, hidden=not review_scorecard.may_see()),
        review_patrols.section(lang, hidden=not review_patrols.may_see()),
        # always in the layout (the app's validation layout is built from it); hidden from
        # roles without view.plan, whose callbacks would be refused anyway
        review_signoff.section(lang, hidden=not _may_plan()),
    ])


def _may_plan() -> bool:
    """The sign-off sheet reads the planner's versions: shown to roles with ``view.plan``."""
    p = current_principal()
    return p is not None and permissions.allowed(p.role, "view.plan")


def _first_state(area, level, lang: str) -> tuple[dict | None, list[dict]]:
    """The view's state and level options from the address (what ``navigate`` would make of
    them), or ``None`` and no options for nobody signed in (``load`` then shows nothing)."""
    p = current_principal()
    try:
        scope = Scope.of(p)
    except GridAtlasError:  # nobody signed in, or a malformed stored scope: load refuses it
        return None, []
    area = area if isinstance(area, str) and scope.covers(area) else scope.base
    options = _levels(area, lang)
    values = [o["value"] for o in options]
    return {"area": area, "level": level if level in values else values[0]}, options


def _period(kind, a, b) -> rv.Period:
    return rv.period_of(kind, a, b)


def _levels(area: str | None, lang: str) -> list[dict]:
    top = rv.level_of(area) if area else "district"
    if top == "grid":
        return [{"label": t("rv.level.grid", lang), "value": "grid"}]
    below = rv.LEVELS[rv.LEVELS.index(top) + 1:] if area else rv.LEVELS[1:]
    return [{"label": t(f"rv.level.{lv}", lang), "value": lv} for lv in below]


@secure_callback(
    "view.review",
    Output(rid.STATE, "data"),
    Output(rid.LEVEL, "options"),
    Output(rid.LEVEL, "value"),
    Output(rid.SELECTED, "data"),
    Input(rid.AREAS, "clickData"),
    Input({"type": rid.CRUMB, "index": ALL}, "n_clicks"),
    Input(rid.LEVEL, "value"),
    State(rid.STATE, "data"),
    # the first view's state comes with the layout (_first_state)
    prevent_initial_call=True,
)
def navigate(click, _crumbs, level, state):
    """Drill down on a click, back up from the breadcrumb, or change the level."""
    lang = current_lang()
    state = dict(state) if isinstance(state, dict) else {}
    scope = Scope.of(current_principal())
    area = state.get("area") or scope.base
    try:
        if area:
            scope.require(area)
    except GridAtlasError:
        area = scope.base
    trig = ctx.triggered_id
    selected = dash.no_update
    if trig == rid.AREAS and isinstance(click, dict):
        code = (click.get("properties") or {}).get("code")
        if scope.covers(code) and len(code) < 15:
            area, level = code, None
        elif scope.covers(code):
            selected = code
            return dash.no_update, dash.no_update, dash.no_update, selected
    elif isinstance(trig, dict) and trig.get("type") == rid.CRUMB:
        code = trig.get("index")
        if scope.sees(code) and ctx.triggered and ctx.triggered[0].get("value"):
            area, level = (code if scope.covers(code) else scope.base), None
    options = _levels(area, lang)
    values = [o["value"] for o in options]
    if level not in values:
        level = state.get("level") if state.get("level") in values and trig is None else values[0]
    return {"area": area, "level": level}, options, level, None


@secure_callback(
    "view.review",
    Output(rid.AREAS, "data"),
    Output(rid.FIGS, "data"),
    Output(rid.CRUMBS, "children"),
    Output(rid.AREA_NAME, "children"),
    Output(rid.PERIOD_TEXT, "children"),
    Output(rid.CARDS, "children"),
    Output(rid.ATTRIBUTION, "children"),
    Output(rid.ERROR, "children"),
    Input(rid.STATE, "data"),
    Input(rid.PERIOD, "value"),
    Input(rid.FROM, "value"),
    Input(rid.TO, "value"),
)
def load(state, kind, date_from, date_to):
    """Areas, figures and the area's comparisons for the view in ``state`` (the rankings
    follow in :func:`rankings`, once this has arrived)."""
    lang = current_lang()
    none = (dash.no_update,) * 7
    if not isinstance(state, dict) or not state.get("level"):
        return none + (None,)
    scope = Scope.of(current_principal())
    try:
        period = _period(kind, date_from, date_to)
        # one read-only snapshot, on the read replica when DATABASE_READ_URL is set (a replica
        # behind REPLICA_MAX_LAG_SECONDS raises here: the page keeps its view and says so)
        with session.replica_session():
            area, level = rv.check_view(scope, state.get("area"), state["level"])
            geo_json = rv.map_areas(scope, area, level)
            v = rv.view_figures(scope, area, level, period, rankings=False)
            figs, key = v["figs"], v["key"]
            crumbs = rv.breadcrumb(scope, area)
            osm = summary.has_osm_data(scope)
    except GridAtlasError as exc:
        return none + (view.message(exc, lang),)
    drill = level != "grid"
    for feat in geo_json["features"]:
        f = figs.get(feat["properties"]["code"])
        if f:
            feat["properties"]["tip"] = view.tooltip(f, lang, drill)
    bounds = geo_json.pop("bounds")
    crumb_items = []
    for i, c in enumerate(crumbs):
        label = view.name_of(c, lang)
        if i < len(crumbs) - 1:
            crumb_items += [html.Button(label, id={"type": rid.CRUMB, "index": c["code"]},
                                        className="rv-crumb"), html.Span(" › ", className="rv-sep")]
        else:
            crumb_items.append(html.Span(label, className="rv-crumb-here", **{"aria-current": "page"}))
    name = view.name_of(crumbs[-1], lang) if crumbs else ""
    ptext = t("rv.print.period").format(a=period.start.isoformat(), b=period.end.isoformat())
    cards = view.key_figures(key, lang) if key else None
    # the map is fitted to "bounds" in the browser (gridatlas_review.fit), once it has its size
    return (geo_json, {"figs": figs, "level": level, "area": area, "bounds": bounds},
            crumb_items, name, ptext, cards, t("rv.print.osm") if osm else "", None)


@secure_callback(
    "view.review",
    Output(rid.ROWS, "data"),
    Output(rid.T_STREETS, "children"),
    Output(rid.T_COMMUNITIES, "children"),
    Output(rid.CHART, "children"),
    Output(rid.REDBLACK, "children"),
    Output(rid.ERROR, "children", allow_duplicate=True),
    # after the view's figures: the map and key figures do not wait for the rankings
    Input(rid.FIGS, "data"),
    State(rid.STATE, "data"),
    State(rid.PERIOD, "value"),
    State(rid.FROM, "value"),
    State(rid.TO, "value"),
    prevent_initial_call=True,
)
def rankings(data, state, kind, date_from, date_to):
    """The streets' and communities' rankings, the bar chart and the red and black list of the
    view that has just arrived (its area and period)."""
    lang = current_lang()
    if not isinstance(data, dict) or not isinstance(state, dict) or "figs" not in data:
        return (dash.no_update,) * 6
    scope = Scope.of(current_principal())
    try:
        period = _period(kind, date_from, date_to)
        with session.replica_session():
            r = rv.ranking_figures(scope, state.get("area"), period)
    except GridAtlasError as exc:
        return (dash.no_update,) * 5 + (view.message(exc, lang),)
    metric = "on_time_rate"
    st_rows = view.table_rows(r["streets"], metric, lang)
    co_rows = view.table_rows(r["communities"], metric, lang)
    chart = _chart(st_rows or co_rows, lang) if (st_rows or co_rows) else None
    lists = rv.red_black(r["communities"] or data["figs"])
    return ({"streets": st_rows, "communities": co_rows},
            view.ranking_table(rid.T_STREETS + "-table", st_rows) if st_rows else html.P(t("table.empty")),
            view.ranking_table(rid.T_COMMUNITIES + "-table", co_rows) if co_rows else html.P(t("table.empty")),
            chart, view.red_black(lists, lang), dash.no_update)


def _chart(rows: list[dict], lang: str):
    """A plotly bar chart of the on-time closure rate (plotly is loaded on this page only)."""
    import plotly.graph_objects as go

    rows = [r for r in rows if r.get("on_time_rate") is not None]
    if not rows:  # no area had due cases: no empty axes (and no plotly to load for them)
        return html.P(t("table.empty"))
    fig = go.Figure(go.Bar(x=[r["name"] for r in rows], y=[r["on_time_rate"] for r in rows],
                           text=[f"{r['on_time_rate']:.1f}%" for r in rows], textposition="outside",
                           marker_color="#2563eb", hovertemplate="%{x}: %{y:.1f}%<extra></extra>"))
    fig.update_layout(title=t("rv.chart"), margin={"l": 40, "r": 10, "t": 40, "b": 80}, height=320,
                      yaxis={"ticksuffix": "%", "range": [0, 110]}, separators=".,",
                      font={"family": "Noto Sans CJK SC, sans-serif"})
    return dcc.Graph(id=rid.CHART + "-graph", figure=fig,
                     config={"displayModeBar": False, "locale": "zh-CN" if lang == "zh" else "en"})


# a metric change (and the figures' arrival, and a grid picked at grid level) restyles in the
# browser: no request to the server (assets/review.js, gridatlas_review.restyle)
dash.clientside_callback(
    ClientsideFunction(namespace="gridatlas_review", function_name="restyle"),
    Output(rid.AREAS, "hideout"),
    Output(rid.LEGEND, "children"),
    Output(rid.RANK, "children"),
    Input(rid.METRIC, "value"),
    Input(rid.FIGS, "data"),
    Input(rid.SELECTED, "data"),
    State(rid.STRINGS, "data"),
)


@secure_callback(
    "view.review",
    Output(rid.DOWNLOAD, "data"),
    Input({"type": rid.EXPORT, "index": ALL}, "n_clicks"),
    State(rid.ROWS, "data"),
    prevent_initial_call=True,
)
def export(_clicks, data):
    """CSV (UTF-8 with BOM) or XLSX of a rankings table, headers in the page's language."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not isinstance(data, dict) or not any(_clicks or []):
        return dash.no_update
    which, _, fmt = str(trig.get("index", "")).partition("-")
    rows = data.get(which) if which in ("streets", "communities") else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows) or fmt not in ("csv", "xlsx"):
        return dash.no_update
    heads, body = view.export_table(rows)
    content, name = review_export.table_file(heads, body, fmt, f"review-{which}")
    return dcc.send_bytes(content, name)


dash.clientside_callback(
    ClientsideFunction(namespace="gridatlas_review", function_name="fit"),
    Output(rid.MAP, "viewport"),
    Input(rid.FIGS, "data"),
)


dash.clientside_callback(
    ClientsideFunction(namespace="gridatlas_review", function_name="syncUrl"),
    Output(rid.PRINT, "href"),
    Output(rid.DATES, "style"),
    Input(rid.METRIC, "value"),
    Input(rid.STATE, "data"),
    Input(rid.PERIOD, "value"),
    Input(rid.FROM, "value"),
    Input(rid.TO, "value"),
)
