"""Command centre (/): the dark wall map with live KPIs, chart, ticker and panels.

Heavy map data goes down once per zoom band; what changes every tick (KPIs, incident and
camera symbols) travels in small responses, and restyling goes through ``hideout``.
URL: ``/?lat=&lng=&z=&street=&community=&category=&severity=&kiosk=1``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, clientside_callback, ctx, dcc, html
from dash_extensions.javascript import Namespace

from geo.access.privacy import mask_name, mask_phone
from geo.errors import GridAtlasError
from geo.gcj02 import gcj02_to_wgs84, transform_geojson, wgs84_to_gcj02
from geo.repository import session, summary, wall
from geo.repository.scope import Scope
from geo.settings import get_settings
from layouts import ids
from layouts.auth import current_principal
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/", title="GridAtlas · 指挥中心", name="command")

_map = Namespace("gridatlas", "map")
_wall = Namespace("gridatlas", "wall")
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
_DEFAULT_CENTER = (35.0, 105.0)  # the whole of China until the data says otherwise


# ----------------------------------------------------------------------------- layout


def _float(value, lo, hi):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if lo <= v <= hi else None


def _in_scope(code):
    """A place code from the URL, kept only when it lies inside the viewer's scope."""
    principal = current_principal()
    return code if principal is not None and Scope.of(principal).covers(code) else None


def _kpi(key_id: str, label_key: str, lang: str) -> html.Div:
    return html.Div(
        className="ga-kpi",
        children=[
            html.Div("–", id=f"cmd-kpi-{key_id}", className="ga-kpi-value"),
            html.Div(t(label_key, lang), className="ga-kpi-label"),
            html.Div(id=f"cmd-kpi-{key_id}-sub", className="ga-kpi-sub"),
        ],
    )


def _legend(lang: str) -> html.Div:
    def item(cls: str, key: str) -> html.Div:
        return html.Div([html.Span(className=f"ga-sym {cls}"), html.Span(t(key, lang))],
                        className="ga-legend-item")

    return html.Div(
        className="ga-legend",
        children=[
            html.Div(t("layer.incidents", lang), className="ga-legend-title"),
            item("sym-awaiting", "legend.awaiting"),
            item("sym-on-time", "legend.on_time"),
            item("sym-due-soon", "legend.due_soon"),
            item("sym-overdue", "legend.overdue"),
            item("sym-deferred", "legend.deferred"),
            html.Div(t("layer.cameras", lang), className="ga-legend-title"),
            item("sym-cam-online", "legend.cam_online"),
            item("sym-cam-offline", "legend.cam_offline"),
            item("sym-cam-fault", "legend.cam_fault"),
            item("sym-police", "legend.police"),
        ],
    )


def _select(id_: str, placeholder_key: str, lang: str) -> dcc.Dropdown:
    # No value yet: a value outside the (still empty) options would be dropped; the URL's
    # filters are set once the options arrive (see load_places).
    return dcc.Dropdown(id=id_, placeholder=t(placeholder_key, lang),
                        className="ga-filter", clearable=True, searchable=True)


def layout(lat=None, lng=None, z=None, street=None, community=None, category=None,
           severity=None, kiosk=None, **_other) -> html.Div:
    """The wall page; no database here: data arrives through the callbacks below."""
    lang = current_lang()
    settings = get_settings()
    kiosk_on = kiosk == "1"
    lat_v, lng_v, z_v = _float(lat, -90, 90), _float(lng, -180, 180), _float(z, 1, 20)
    view_from_url = None not in (lat_v, lng_v, z_v)
    base = []
    if settings.basemap_url:
        base.append(dl.TileLayer(url=settings.basemap_url, attribution=""))

    def boundary(layer_id):
        return dl.GeoJSON(id=layer_id, data=None, style=_map("boundaryStyle"),
                          onEachFeature=_map("boundaryTooltip"),
                          hideout={"min": 300, "max": 500, "selected": None})

    overlays = [
        dl.Overlay(dl.GeoJSON(id=ids.CMD_DENSITY, data=None, style=_wall("densityStyle"),
                              hideout={"max": 10}, interactive=False),
                   name=t("layer.density", lang), checked=False),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_BUILDINGS, data=None, style=_wall("buildingStyle"),
                              interactive=False),
                   name=t("layer.buildings", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_GRIDS), name=t("layer.grid", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_COMMUNITIES), name=t("layer.community", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_STREETS), name=t("layer.street", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_DISTRICTS), name=t("layer.district", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_LABELS, data=None, pointToLayer=_wall("labelPoint"),
                              filter=_wall("labelFilter"), hideout={"zoom": z_v or 12}),
                   name=t("layer.labels", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_CAMERAS, data=None, pointToLayer=_wall("cameraPoint"),
                              hideout={"kind": "cam"}),
                   name=t("layer.cameras", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_POLICE, data=None, pointToLayer=_wall("policePoint")),
                   name=t("layer.police", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_INCIDENTS, data=None,
                              pointToLayer=_wall("incidentPoint"), hideout={"kind": "inc"}),
                   name=t("layer.incidents", lang), checked=True),
    ]
    filters = {"street": _in_scope(street), "community": _in_scope(community),
               "category": category if isinstance(category, str) else None,
               "severity": severity if severity in wall.SEVERITIES else None}
    return html.Div(
        className="ga-command" + (" ga-kiosk" if kiosk_on else ""),
        children=[
            dcc.Store(id=ids.CMD_BOOT, data={"fit": not view_from_url,
                                             "view": [lat_v, lng_v, z_v] if view_from_url else None}),
            dcc.Store(id=ids.CMD_FILTERS, data=filters),
            dcc.Store(id=ids.CMD_ZOOM_BAND),
            dcc.Store(id=ids.CMD_KICK),
            dcc.Store(id=ids.CMD_TRIGGER),
            dcc.Store(id=ids.CMD_DONE),
            dcc.Store(id=ids.CMD_PERIOD, data=settings.refresh_seconds * 1000),
            dcc.Store(id=ids.CMD_URL_SINK),
            dcc.Interval(id=ids.CMD_TICK, interval=settings.refresh_seconds * 1000),
            html.Div(
                className="ga-wall-head",
                children=[
                    html.Div(t("wall.title", lang), id=ids.CMD_TITLE, className="ga-wall-title"),
                    html.Div(
                        className="ga-kpis",
                        id=ids.CMD_KPIS,
                        children=[
                            _kpi("open", "kpi.open", lang),
                            _kpi("overdue", "kpi.overdue", lang),
                            _kpi("dispatched", "kpi.dispatched_today", lang),
                            _kpi("closed", "kpi.closed_today", lang),
                            _kpi("ontime", "kpi.ontime", lang),
                            _kpi("cameras", "kpi.cameras", lang),
                        ],
                    ),
                    html.Div(id=ids.CMD_UPDATED, className="ga-updated"),
                ],
            ),
            html.Div(t("stale", lang), id=ids.CMD_STALE, className="ga-stale", role="alert"),
            html.Div(
                className="ga-wall-body",
                children=[
                    html.Div(
                        className="ga-map-wrap",
                        children=[
                            dl.Map(
                                id=ids.CMD_MAP,
                                # the real view is set by the first callback (fit or URL),
                                # which makes the map report its bounds
                                center=_DEFAULT_CENTER,
                                zoom=4,
                                className="ga-map",
                                attributionControl=False,
                                trackViewport=True,
                                zoomControl=not kiosk_on,
                                children=[
                                    *base,
                                    dl.LayersControl(
                                        overlays, id=ids.CMD_LAYERS, collapsed=False,
                                        # given up front: the control's own bookkeeping
                                        # starts from it (else unchecking throws)
                                        overlays=[o.name for o in overlays if o.checked]),
                                    dl.ScaleControl(imperial=False, position="bottomright"),
                                    *([] if kiosk_on else [dl.FullScreenControl()]),
                                ],
                            ),
                            html.Div(
                                className="ga-map-tools",
                                children=[
                                    dcc.Input(id=ids.CMD_SEARCH, type="search", debounce=True,
                                              placeholder=t("search.placeholder", lang),
                                              className="ga-search", autoComplete="off"),
                                    html.Div(id=ids.CMD_SEARCH_RESULTS,
                                             className="ga-search-results"),
                                    html.Div(
                                        className="ga-filters-bar",
                                        children=[
                                            _select(ids.CMD_F_STREET, "filter.street",
                                                    lang),
                                            _select(ids.CMD_F_COMMUNITY, "filter.community",
                                                    lang),
                                            _select(ids.CMD_F_CATEGORY, "filter.category",
                                                    lang),
                                            dcc.Dropdown(
                                                id=ids.CMD_F_SEVERITY, value=severity or None,
                                                placeholder=t("filter.severity", lang),
                                                className="ga-filter",
                                                options=[{"label": t(f"severity.{s}", lang),
                                                          "value": s}
                                                         for s in ("ordinary", "major",
                                                                   "complex")]),
                                        ],
                                    ),
                                ],
                            ),
                            html.Div(id=ids.CMD_NOTICE, className="ga-map-notice"),
                            _legend(lang),
                            html.Div(id=ids.CMD_ATTRIBUTION, className="ga-attribution"),
                            html.Div(id=ids.CMD_ERROR, className="ga-error", role="alert"),
                            html.Div(
                                className="ga-panel-wrap",
                                children=[
                                    html.Button("×", id=ids.CMD_PANEL_CLOSE,
                                                className="ga-panel-close", title="close"),
                                    html.Div(id=ids.CMD_PANEL, className="ga-panel"),
                                ],
                            ),
                        ],
                    ),
                    html.Aside(
                        className="ga-side",
                        children=[
                            html.H2(t("chart.title", lang)),
                            html.Div(id=ids.CMD_CHART, className="ga-bars"),
                            html.H2(t("ticker.title", lang)),
                            html.Ul(id=ids.CMD_TICKER, className="ga-ticker"),
                        ],
                    ),
                ],
            ),
        ],
    )


# ----------------------------------------------------------------------------- helpers


def _filters(stored):
    """(scope, incident filter) of the page's filters; GridAtlasError for a bad filter."""
    return wall.view_of(current_principal(), stored)


def _shift(fc):
    """Overlays follow a GCJ-02 basemap when one is configured (no shift outside China)."""
    if fc is None or not get_settings().basemap_gcj02:
        return fc
    return transform_geojson(fc, wgs84_to_gcj02)


def _shift_bounds(b):
    if b is None or not get_settings().basemap_gcj02:
        return b
    (s, w), (n, e) = b
    w2, s2 = wgs84_to_gcj02(w, s)
    e2, n2 = wgs84_to_gcj02(e, n)
    return [[s2, w2], [n2, e2]]


def _bbox(bounds) -> list[float] | None:
    """Map bounds [[s, w], [n, e]] (basemap datum) -> WGS-84 [w, s, e, n] for queries;
    GridAtlasError for malformed bounds."""
    if not bounds:
        return None
    w, s, e, n = wall.bbox_of(bounds)
    if get_settings().basemap_gcj02:
        w, s = gcj02_to_wgs84(w, s)
        e, n = gcj02_to_wgs84(e, n)
    return [w, s, e, n]


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- boot


@secure_callback(
    "view.command",
    Output(ids.CMD_DISTRICTS, "data"),
    Output(ids.CMD_STREETS, "data"),
    Output(ids.CMD_COMMUNITIES, "data"),
    Output(ids.CMD_LABELS, "data"),
    Output(ids.CMD_POLICE, "data"),
    Output(ids.CMD_MAP, "viewport"),
    Output(ids.CMD_NOTICE, "children"),
    Output(ids.CMD_ATTRIBUTION, "children"),
    Output(ids.CMD_F_STREET, "options"),
    Output(ids.CMD_F_COMMUNITY, "options"),
    Output(ids.CMD_F_CATEGORY, "options"),
    Output(ids.CMD_F_STREET, "value"),
    Output(ids.CMD_F_COMMUNITY, "value"),
    Output(ids.CMD_F_CATEGORY, "value"),
    Output(ids.CMD_ERROR, "children"),
    Input(ids.CMD_FILTERS, "data"),
    State(ids.CMD_BOOT, "data"),
)
def load_places(stored, boot):
    """Boundaries of the upper levels, labels, police rooms and the filter menus."""
    lang = current_lang()
    en = lang == "en"
    boot = boot if isinstance(boot, dict) else {}
    try:
        scope, _flt = _filters(stored)
        # fitting: the coarsest copies (the fitted view is the widest); a URL view: its zoom
        view = boot.get("view")
        if view is not None and not (isinstance(view, list) and len(view) == 3):
            raise wall.BadRequest("地图视图无效 / malformed map view")
        zoom = wall.zoom_of(view[2]) if view else None
        upper = [_shift(wall.boundaries(scope, level, zoom)) for level in
                 ("district", "street", "community")]
        labels = _shift(wall.labels(scope, ("street", "community")))
        police = _shift(wall.police_rooms(scope))
        bounds = _shift_bounds(wall.extent(scope))
        options = wall.filter_options(scope)
        osm = summary.has_osm_data(scope)
        synthetic = summary.has_synthetic_data(scope)
    except GridAtlasError as exc:
        log.warning("command centre data unavailable: %s", exc.user_msg)
        return (*([dash.no_update] * 14), f"{t('error.db', lang)}: {exc.user_msg}")

    def opts(rows):
        return [{"label": (r["name_en"] if en and r.get("name_en") else r["name"]),
                 "value": r["code"]} for r in rows]

    notice = []
    if not bounds:
        notice.append(html.Span(t("map.empty", lang), className="ga-empty"))
    if synthetic:
        notice.append(html.Span("演示数据 / demo data", className="ga-demo"))
    if not ctx.triggered:  # first load: fit unless the URL gave a view
        fit = (boot or {}).get("fit", True)
    else:  # a filter changed: fit to the chosen street or community
        fit = bool((stored or {}).get("street") or (stored or {}).get("community"))
    if bounds and fit:
        viewport = {"bounds": bounds, "transition": "fitBounds", "options": {"padding": [20, 20]}}
    elif not ctx.triggered and (boot or {}).get("view"):
        lat, lng, z = boot["view"]
        viewport = {"center": [lat, lng], "zoom": z, "transition": "setView"}
    else:
        viewport = dash.no_update
    # the URL's filters, once their options exist (first load only)
    values = ([(stored or {}).get(k) for k in ("street", "community", "category")]
              if not ctx.triggered else [dash.no_update] * 3)
    return (*upper, labels, police, viewport, notice, OSM_ATTRIBUTION if osm else None,
            opts(options["streets"]), opts(options["communities"]),
            opts(options["categories"]), *values, None)


@secure_callback(
    "view.command",
    Output(ids.CMD_GRIDS, "data"),
    Output(ids.CMD_ZOOM_BAND, "data"),
    Output(ids.CMD_LABELS, "data", allow_duplicate=True),
    Input(ids.CMD_MAP, "zoom"),
    Input(ids.CMD_FILTERS, "data"),
    State(ids.CMD_ZOOM_BAND, "data"),
    prevent_initial_call="initial_duplicate",
)
def load_grids(zoom, stored, band):
    """Grids from zoom 13 in, coarse or full by zoom band; resent only when the band or
    the filters change (panning and zooming within a band send nothing). Grid labels
    (shown from zoom 16) travel only in the full-precision band."""
    try:
        zoom = wall.zoom_of(zoom)
        scope, _flt = _filters(stored)
    except GridAtlasError:
        return dash.no_update, dash.no_update, dash.no_update
    if zoom is None:
        return dash.no_update, dash.no_update, dash.no_update
    band = band if isinstance(band, dict) else None
    show = zoom >= wall.GRID_MIN_ZOOM
    new_band = {"show": show, "tol": wall.tolerance_for_zoom(zoom), "f": stored}
    if new_band == band:
        return dash.no_update, dash.no_update, dash.no_update
    fine, was_fine = new_band["tol"] is None, bool(band) and band.get("tol") is None
    try:
        labels = (_shift(wall.labels(scope, ("street", "community", "grid") if fine
                                     else ("street", "community")))
                  if fine != was_fine or (fine and (band or {}).get("f") != stored)
                  else dash.no_update)
        if not show:
            return None, new_band, labels
        data = _shift(wall.boundaries(scope, "grid", zoom))
    except GridAtlasError:
        return dash.no_update, dash.no_update, dash.no_update
    return data, new_band, labels


# ----------------------------------------------------------------------------- refresh


clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="gate"),
    Output(ids.CMD_TRIGGER, "data"),
    Input(ids.CMD_TICK, "n_intervals"),
    Input(ids.CMD_KICK, "data"),
    State(ids.CMD_PERIOD, "data"),
)
clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="done"),
    Output(ids.CMD_UPDATED, "children"),
    Input(ids.CMD_DONE, "data"),
)
clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="labelZoom"),
    Output(ids.CMD_LABELS, "hideout"),
    Input(ids.CMD_MAP, "zoom"),
    State(ids.CMD_LABELS, "hideout"),
)
clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="syncUrl"),
    Output(ids.CMD_URL_SINK, "data"),
    Input(ids.CMD_MAP, "viewport"),
    Input(ids.CMD_MAP, "center"),
    Input(ids.CMD_MAP, "zoom"),
    Input(ids.CMD_F_STREET, "value"),
    Input(ids.CMD_F_COMMUNITY, "value"),
    Input(ids.CMD_F_CATEGORY, "value"),
    Input(ids.CMD_F_SEVERITY, "value"),
)


@secure_callback(
    "view.command",
    Output(ids.CMD_FILTERS, "data"),
    Input(ids.CMD_F_STREET, "value"),
    Input(ids.CMD_F_COMMUNITY, "value"),
    Input(ids.CMD_F_CATEGORY, "value"),
    Input(ids.CMD_F_SEVERITY, "value"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def set_filters(street, community, category, severity, stored):
    new = {"street": street, "community": community, "category": category,
           "severity": severity}
    return dash.no_update if new == stored else new


_KPI_IDS = ("open", "overdue", "dispatched", "closed", "ontime", "cameras")


@secure_callback(
    "view.command",
    Output(ids.CMD_INCIDENTS, "data"),
    Output(ids.CMD_INCIDENTS, "pointToLayer"),
    Output(ids.CMD_CAMERAS, "data"),
    Output(ids.CMD_CAMERAS, "pointToLayer"),
    Output(ids.CMD_DENSITY, "data"),
    Output(ids.CMD_DENSITY, "hideout"),
    *[Output(f"cmd-kpi-{k}", "children") for k in _KPI_IDS],
    Output("cmd-kpi-ontime-sub", "children"),
    Output("cmd-kpi-cameras-sub", "children"),
    Output(ids.CMD_CHART, "children"),
    Output(ids.CMD_TICKER, "children"),
    Output(ids.CMD_DONE, "data"),
    Input(ids.CMD_TRIGGER, "data"),
    Input(ids.CMD_MAP, "bounds"),
    Input(ids.CMD_FILTERS, "data"),
    State(ids.CMD_MAP, "zoom"),
    State(ids.CMD_INCIDENTS, "hideout"),
    State(ids.CMD_DONE, "data"),
    Input(ids.CMD_LAYERS, "overlays"),  # turning the density layer on fills it at once
)
def refresh(_trigger, bounds, stored, zoom, _inc_hideout, last, overlays):
    """Every tick (and on pan/zoom/filter): KPIs, chart, ticker and the point layers.

    Point layers are resent only when their content changed (digest), so an unchanged
    map never redraws and a changed incident restyles on the next tick.
    """
    lang = current_lang()
    now = datetime.now(UTC)
    n_out = 11 + len(_KPI_IDS)  # every Output of this callback
    density_on = isinstance(overlays, list) and t("layer.density", lang) in overlays
    last = last if isinstance(last, dict) else None  # the page's own store: may be forged
    try:
        scope, flt = _filters(stored)
        bbox = _bbox(bounds)
        zoom = wall.zoom_of(zoom)
        with session.read_session():  # one pooled connection and transaction per tick
            detailed = zoom is not None and zoom >= wall.POINTS_MIN_ZOOM and bbox is not None
            totals = None
            if detailed:
                incidents = wall.incidents_in_view(scope, bbox, now, flt)
                cameras = wall.cameras_in_view(scope, bbox)
            else:
                level = "grid" if (zoom or 0) >= wall.COUNTS_GRID_ZOOM else "community"
                incidents = wall.incident_counts(scope, now, level, flt)
                cameras = wall.camera_counts(scope, level)
                n = sum(ft["properties"]["n"] for ft in cameras["features"])
                down = sum(ft["properties"]["down"] for ft in cameras["features"])
                totals = (n - down, n)
            k = wall.kpis(scope, now, flt, totals)
            by_street = wall.open_by_street(scope, now, flt)
            events = wall.ticker(scope, flt, 10)
            density = wall.incident_density(scope, now, flt) if density_on else None
    except GridAtlasError as exc:
        log.warning("refresh failed: %s", exc.user_msg)
        return (*([dash.no_update] * (n_out - 1)),
                {"stale": True, "at": now.isoformat(), "message": exc.user_msg})
    mode = "points" if detailed else level
    digests = {"inc": _digest(incidents), "cam": _digest(cameras),
               "den": _digest(density) if density_on else prev_den(last),
               "mode": mode, "bars": _digest(by_street), "tick": _digest(events)}
    prev = (last or {}).get("digests") or {}
    prev = prev if isinstance(prev, dict) else {}
    same_mode = prev.get("mode") == mode

    def changed(key, value):
        return _shift(value) if prev.get(key) != digests[key] or not same_mode else dash.no_update

    inc_fn = _wall("incidentPoint") if detailed else _wall("countPoint")
    cam_fn = _wall("cameraPoint") if detailed else _wall("countPoint")
    max_density = max([ft["properties"]["n"] for ft in (density or {"features": []})["features"]]
                      or [1])
    ontime = k["ontime_rate_7d"]
    prev_rate = k["ontime_rate_prev_7d"]
    cams = f"{k['cameras_online']:,}"
    return (
        changed("inc", incidents),
        inc_fn if not same_mode else dash.no_update,
        changed("cam", cameras),
        cam_fn if not same_mode else dash.no_update,
        changed("den", density) if density_on else dash.no_update,
        {"max": max_density} if density_on else dash.no_update,
        f"{k['open']:,}",
        f"{k['overdue']:,}",
        f"{k['dispatched_today']:,}",
        f"{k['closed_today']:,}",
        "–" if ontime is None else f"{ontime * 100:.1f}%",
        cams,
        f"{t('kpi.prev', lang)} " + ("–" if prev_rate is None else f"{prev_rate * 100:.1f}%"),
        f"/ {k['cameras_total']:,}",
        _bars(by_street, lang) if prev.get("bars") != digests["bars"] else dash.no_update,
        _ticker_items(events, lang) if prev.get("tick") != digests["tick"] else dash.no_update,
        {"stale": False, "at": now.isoformat(), "digests": digests},
    )


def prev_den(last):
    return ((last or {}).get("digests") or {}).get("den")


def _bars(rows: list[dict], lang: str) -> list:
    if not rows:
        return [html.P(t("table.empty", lang), className="ga-empty")]
    top = max(r["open"] for r in rows) or 1
    en = lang == "en"
    out = [html.Div(className="ga-bars-legend", children=[
        html.Span(className="ga-sw ga-sw-open"), t("chart.open", lang),
        html.Span(className="ga-sw ga-sw-overdue"), t("chart.overdue", lang)])]
    for r in rows:
        out.append(html.Div(className="ga-bar-row", children=[
            html.Div(r["name_en"] if en and r["name_en"] else r["name"], className="ga-bar-name"),
            html.Div(className="ga-bar-track", children=[
                html.Div(className="ga-bar ga-bar-open",
                         style={"width": f"{100 * r['open'] / top:.1f}%"}),
                html.Div(className="ga-bar ga-bar-overdue",
                         style={"width": f"{100 * r['overdue'] / top:.1f}%"}),
            ]),
            html.Div(f"{r['open']} / {r['overdue']}", className="ga-bar-value"),
        ]))
    return out


def _ticker_items(events: list[dict], lang: str) -> list:
    en = lang == "en"
    items = []
    for e in events:
        local = fmt_datetime(e["at"], lang)[-5:] if e["at"] else ""
        items.append(html.Li(className=f"ga-tick sev-{e['severity']}", children=[
            html.Span(local, className="ga-tick-time"),
            html.Span(t(f"state.{e['to_state']}", lang), className=f"ga-state st-{e['to_state']}"),
            html.Span(e["title"], className="ga-tick-title"),
            html.Span((e["community_en"] if en else e["community"]) or "",
                      className="ga-tick-place"),
        ]))
    return items


# ----------------------------------------------------------------------------- buildings


@secure_callback(
    "view.command",
    Output(ids.CMD_BUILDINGS, "data"),
    Input(ids.CMD_MAP, "bounds"),
    State(ids.CMD_MAP, "zoom"),
    State(ids.CMD_FILTERS, "data"),
)
def load_buildings(bounds, zoom, stored):
    """Footprints only when zoomed in, and only inside the visible bounds."""
    try:
        bbox = _bbox(bounds)
        zoom = wall.zoom_of(zoom)
        if zoom is None or zoom < wall.BUILDINGS_MIN_ZOOM or bbox is None:
            return None
        scope, _flt = _filters(stored)
        return _shift(wall.buildings_in_view(scope, bbox))
    except GridAtlasError:
        return dash.no_update


# ----------------------------------------------------------------------------- panels


def _row(label: str, value, cls: str = "") -> html.Div:
    return html.Div([html.Span(label, className="ga-k"), html.Span(value, className=f"ga-v {cls}")],
                    className="ga-row")


def _grid_panel(d: dict, lang: str) -> list:
    en = lang == "en"
    principal = current_principal()
    hh, lo, hi = d["households"], d["lo"], d["hi"]
    band = "panel.in_band" if lo <= hh <= hi else ("panel.below" if hh < lo else "panel.above")
    worker = d["worker"]
    worker_text = (f"{mask_name(worker, principal)} · {mask_phone(d['worker_phone'], principal)}"
                   if worker else t("panel.vacant", lang))
    return [
        html.H3([t("panel.grid", lang), " ", html.Span(d["code"], className="ga-code")]),
        _row(t("panel.community", lang), d["community_en"] if en else d["community"]),
        _row(t("panel.street", lang), d["street_en"] if en else d["street"]),
        _row(t("panel.worker", lang), worker_text),
        _row(t("panel.households", lang),
             f"{hh:,} ({t(band, lang)} {lo}–{hi})",
             "ga-ok" if band == "panel.in_band" else "ga-warn"),
        _row(t("panel.buildings", lang), f"{d['buildings']:,}"),
        _row(t("panel.cameras", lang), f"{d['cameras_online']} / {d['cameras']}"),
        _row(t("panel.open_incidents", lang), f"{d['open_incidents']}"),
    ]


def _camera_panel(d: dict, lang: str) -> list:
    status_key = {"online": "legend.cam_online", "offline": "legend.cam_offline",
                  "fault": "legend.cam_fault"}[d["status"]]
    return [
        html.H3([t("panel.camera", lang), " ", html.Span(d["code"], className="ga-code")]),
        _row(t("panel.type", lang), d["type"]),
        _row(t("panel.status", lang), t(status_key, lang), f"cam-{d['status']}"),
        _row(t("panel.owner", lang), d["owner"] or "–"),
        _row(t("panel.heartbeat", lang), fmt_datetime(d["last_heartbeat"], lang) or "–"),
        _row(t("panel.grid", lang), d["grid_code"] or "–"),
        _row(t("panel.stream", lang),
             html.A(d["stream_url"], href=d["stream_url"], target="_blank",
                    rel="noopener") if d["stream_url"] else "–"),
    ]


def _incident_panel(d: dict, lang: str) -> list:
    en = lang == "en"
    principal = current_principal()
    steps = [html.Li([
        html.Span(fmt_datetime(e["at"], lang), className="ga-tl-time"),
        html.Span(t(f"state.{e['to_state']}", lang), className=f"ga-state st-{e['to_state']}"),
        html.Span(f"{e['level']} · {e['actor'] or ''}", className="ga-tl-who"),
        html.Div(e["note"] or "", className="ga-tl-note"),
    ]) for e in d["events"]]
    return [
        html.H3([t("panel.incident", lang), " ", html.Span(d["code"], className="ga-code")]),
        html.Div(d["title"], className="ga-panel-title"),
        _row(t("col.category", lang), d["category_en"] if en else d["category"]),
        _row(t("col.severity", lang), t(f"severity.{d['severity']}", lang)),
        _row(t("col.state", lang), t(f"state.{d['state']}", lang), f"u-{d['urgency']}"),
        _row(t("panel.due", lang), fmt_datetime(d["due_at"], lang) or "–"),
        _row(t("panel.department", lang), (d["department_en"] if en else d["department"]) or "–"),
        _row(t("panel.reporter", lang),
             f"{mask_name(d['reporter_name'], principal) or '–'} "
             f"{mask_phone(d['reporter_phone'], principal) or ''}"),
        html.Ol(steps, className="ga-timeline"),
    ]


def _police_panel(p: dict, lang: str) -> list:
    en = lang == "en"
    return [
        html.H3([t("panel.police", lang), " ", html.Span(p.get("code", ""), className="ga-code")]),
        html.Div(p["name_en"] if en and p.get("name_en") else p.get("name"),
                 className="ga-panel-title"),
        _row(t("panel.phone", lang), p.get("phone") or "–"),
        _row(t("panel.address", lang), p.get("address") or "–"),
    ]


@secure_callback(
    "view.command",
    Output(ids.CMD_PANEL, "children"),
    Output(ids.CMD_GRIDS, "hideout"),
    Output(ids.CMD_MAP, "viewport", allow_duplicate=True),
    Input(ids.CMD_GRIDS, "clickData"),
    Input(ids.CMD_CAMERAS, "clickData"),
    Input(ids.CMD_INCIDENTS, "clickData"),
    Input(ids.CMD_POLICE, "clickData"),
    Input(ids.CMD_PANEL_CLOSE, "n_clicks"),
    State(ids.CMD_FILTERS, "data"),
    State(ids.CMD_GRIDS, "hideout"),
    prevent_initial_call=True,
)
def show_panel(grid_click, cam_click, inc_click, police_click, _close, stored, hideout):
    """Click a grid, camera, incident or police room: its panel (and zoom to a grid)."""
    lang = current_lang()
    hideout = dict(hideout) if isinstance(hideout, dict) else {}
    trig = ctx.triggered_id
    if trig == ids.CMD_PANEL_CLOSE:
        hideout["selected"] = None
        return None, hideout, dash.no_update
    click = {ids.CMD_GRIDS: grid_click, ids.CMD_CAMERAS: cam_click,
             ids.CMD_INCIDENTS: inc_click, ids.CMD_POLICE: police_click}.get(trig)
    props = (click.get("properties") if isinstance(click, dict) else None) or {}
    props = props if isinstance(props, dict) else {}
    code = props.get("code")
    if not code or not isinstance(code, str):
        return dash.no_update, dash.no_update, dash.no_update
    if "n" in props:  # a count bubble: open its grid (community bubbles: nothing)
        if len(code) != 15:
            return dash.no_update, dash.no_update, dash.no_update
        trig = ids.CMD_GRIDS
    try:
        scope, _flt = _filters(stored)
        if trig == ids.CMD_GRIDS:
            d = wall.grid_detail(scope, code)
            if not d:
                return None, dash.no_update, dash.no_update
            hideout["selected"] = code
            bounds = _shift_bounds([[d["s"], d["w"]], [d["n"], d["e"]]])
            return (_grid_panel(d, lang), hideout,
                    {"bounds": bounds, "transition": "fitBounds",
                     "options": {"padding": [60, 60], "animate": False}})
        if trig == ids.CMD_CAMERAS:
            d = wall.camera_detail(scope, code)
            return (_camera_panel(d, lang) if d else None), dash.no_update, dash.no_update
        if trig == ids.CMD_INCIDENTS:
            d = wall.incident_timeline(scope, code, datetime.now(UTC))
            return (_incident_panel(d, lang) if d else None), dash.no_update, dash.no_update
        rooms = wall.police_rooms(scope)["features"]
        room = next((r["properties"] for r in rooms if r["properties"]["code"] == code), None)
        return (_police_panel(room, lang) if room else None), dash.no_update, dash.no_update
    except GridAtlasError as exc:
        return html.Div(exc.user_msg, className="ga-error"), dash.no_update, dash.no_update


# ----------------------------------------------------------------------------- search


@secure_callback(
    "view.command",
    Output(ids.CMD_SEARCH_RESULTS, "children"),
    Input(ids.CMD_SEARCH, "value"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def search(text, stored):
    lang = current_lang()
    if not text or not isinstance(text, str) or not text.strip():
        return None
    try:
        scope, _flt = _filters(stored)
        hits = wall.search(scope, text)
    except GridAtlasError as exc:
        return html.Div(exc.user_msg, className="ga-error")
    if not hits:
        return html.Div(t("search.none", lang), className="ga-search-none")
    kinds = {"grid": "panel.grid", "community": "panel.community", "street": "panel.street",
             "building": "panel.buildings"}
    return [
        html.Button(
            [html.Span(t(kinds[h["kind"]], lang), className="ga-hit-kind"),
             html.Span((h["label_en"] if lang == "en" and h["label_en"] else h["label"]) or h["code"]),
             html.Span(h["code"], className="ga-hit-code")],
            id={"type": ids.CMD_SEARCH_HIT, "index": i},
            className="ga-hit",
            **{"data-bounds": json.dumps(_shift_bounds(h["bounds"]))},
        )
        for i, h in enumerate(hits)
    ]


@secure_callback(
    "view.command",
    Output(ids.CMD_MAP, "viewport", allow_duplicate=True),
    Output(ids.CMD_SEARCH_RESULTS, "children", allow_duplicate=True),
    Input({"type": ids.CMD_SEARCH_HIT, "index": ALL}, "n_clicks"),
    State(ids.CMD_SEARCH, "value"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def fly_to_hit(clicks, text, stored):
    """Fly to the chosen search result."""
    if not isinstance(clicks, list) or not any(clicks):
        return dash.no_update, dash.no_update
    index = (ctx.triggered_id or {}).get("index") if isinstance(ctx.triggered_id, dict) else None
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return dash.no_update, None
    try:
        scope, _flt = _filters(stored)
        hits = wall.search(scope, text or "")
    except GridAtlasError as exc:
        return dash.no_update, html.Div(exc.user_msg, className="ga-error")
    if index >= len(hits) or not hits[index]["bounds"]:
        return dash.no_update, None
    # fitBounds, not an animated flight: a flight is cut short when the map's props update
    return ({"bounds": _shift_bounds(hits[index]["bounds"]), "transition": "fitBounds",
             "options": {"padding": [60, 60], "animate": False}}, None)
