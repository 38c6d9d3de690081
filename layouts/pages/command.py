"""Command centre (/): the dark wall map with live KPIs, chart, ticker and panels.

Heavy map data goes down once per zoom band; what changes every tick (KPIs, incident and
camera symbols) travels in small responses, and restyling goes through ``hideout``.
URL: ``/?lat=&lng=&z=&district=&street=&community=&category=&severity=&kiosk=1`` (the
district filter is offered when the viewer's scope spans districts: a city's wall).

The page is the layout; its callbacks live beside it in helper modules: layers and their
data (:mod:`layouts.wall_layers`), the refresh tick (:mod:`layouts.wall_refresh`), panels,
incident actions and search (:mod:`layouts.wall_panels`) and alerts
(:mod:`layouts.wall_alerts`).
"""

from __future__ import annotations

import dash
import dash_leaflet as dl
from dash import dcc, html

from geo.repository import wall
from geo.settings import get_settings
from layouts import ids, strings_city, strings_wall, wall_alerts, wall_layers, wall_panels, wall_refresh  # noqa: F401
from layouts.i18n import current_lang, dropdown, t
from layouts.wall_common import in_scope, to_float

dash.register_page(__name__, path="/", title="GridAtlas · 指挥中心", name="command")

_DEFAULT_CENTER = (35.0, 105.0)  # the whole of China until the data says otherwise


def _kpi(key_id: str, label_key: str, lang: str) -> html.Div:
    return html.Div(
        className="ga-kpi",
        children=[
            html.Div("–", id=f"cmd-kpi-{key_id}", className="ga-kpi-value"),
            html.Div(t(label_key, lang), className="ga-kpi-label"),
            html.Div(id=f"cmd-kpi-{key_id}-sub", className="ga-kpi-sub"),
        ],
    )


def _select(id_: str, placeholder_key: str, lang: str) -> dcc.Dropdown:
    # No value yet: a value outside the (still empty) options would be dropped; the URL's
    # filters are set once the options arrive (see wall_layers.load_places).
    return dropdown(id=id_, placeholder=t(placeholder_key, lang),
                        className="ga-filter", clearable=True, searchable=True)


def _tools(lang: str, severity) -> html.Div:
    return html.Div(
        className="ga-map-tools",
        children=[
            dcc.Input(id=ids.CMD_SEARCH, type="search", debounce=True,
                      placeholder=t("search.placeholder", lang),
                      className="ga-search", autoComplete="off"),
            html.Div(id=ids.CMD_SEARCH_RESULTS, className="ga-search-results"),
            html.Div(
                id=ids.CMD_F_BAR,
                className="ga-filters-bar",
                children=[
                    # hidden until the options show more than one district (wall_layers)
                    dropdown(id=ids.CMD_F_DISTRICT, placeholder=t("filter.district", lang),
                             className="ga-filter", clearable=True, searchable=True,
                             style={"display": "none"}),
                    _select(ids.CMD_F_STREET, "filter.street", lang),
                    _select(ids.CMD_F_COMMUNITY, "filter.community", lang),
                    _select(ids.CMD_F_CATEGORY, "filter.category", lang),
                    dropdown(
                        id=ids.CMD_F_SEVERITY, value=severity or None,
                        placeholder=t("filter.severity", lang), className="ga-filter",
                        options=[{"label": t(f"severity.{s}", lang), "value": s}
                                 for s in ("ordinary", "major", "complex")]),
                ],
            ),
        ],
    )


def layout(lat=None, lng=None, z=None, street=None, community=None, category=None,
           severity=None, kiosk=None, district=None, **_other) -> html.Div:
    """The wall page; no database here: data arrives through the callbacks."""
    lang = current_lang()
    settings = get_settings()
    kiosk_on = kiosk == "1"
    lat_v, lng_v, z_v = to_float(lat, -90, 90), to_float(lng, -180, 180), to_float(z, 1, 20)
    view_from_url = None not in (lat_v, lng_v, z_v)
    severity = severity if severity in wall.SEVERITIES else None
    base = []
    if settings.basemap_url:
        base.append(dl.TileLayer(url=settings.basemap_url, attribution=""))
    overlays = wall_layers.overlays(lang, z_v)
    filters = {"district": in_scope(district) if district and len(district) == 6 else None,
               "street": in_scope(street), "community": in_scope(community),
               "category": category if isinstance(category, str) else None,
               "severity": severity}
    return html.Div(
        className="ga-command" + (" ga-kiosk" if kiosk_on else ""),
        **{"data-zoom-in": t("wall.zoom_in", lang), "data-zoom-out": t("wall.zoom_out", lang)},
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
            dcc.Store(id=ids.CMD_INC_RAW),
            dcc.Store(id=ids.CMD_CAM_RAW),
            dcc.Store(id=ids.CMD_ROADS_VIEW),
            dcc.Store(id=ids.CMD_NET_LIST),
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
                                    *wall_layers.panes(),
                                    dl.LayersControl(
                                        overlays, id=ids.CMD_LAYERS, collapsed=False,
                                        # given up front: the control's own bookkeeping
                                        # starts from it (else unchecking throws)
                                        overlays=[o.name for o in overlays if o.checked]),
                                    wall_layers.network_control(),
                                    *wall_layers.hidden_layers(),
                                    dl.ScaleControl(imperial=False, position="bottomright"),
                                    *([] if kiosk_on else [dl.FullScreenControl(
                                        title=t("wall.fullscreen", lang),
                                        titleCancel=t("wall.fullscreen_exit", lang))]),
                                ],
                            ),
                            _tools(lang, severity),
                            html.Div(id=ids.CMD_NOTICE, className="ga-map-notice"),
                            wall_layers.legend(lang),
                            html.Div(id=ids.CMD_ATTRIBUTION, className="ga-attribution"),
                            html.Div(id=ids.CMD_ERROR, className="ga-error", role="alert"),
                            html.Div(
                                className="ga-panel-wrap",
                                children=[
                                    html.Button("×", id=ids.CMD_PANEL_CLOSE,
                                                className="ga-panel-close",
                                                title=t("wall.panel.close", lang)),
                                    html.Div(id=ids.CMD_PANEL, className="ga-panel"),
                                ],
                            ),
                        ],
                    ),
                    html.Aside(
                        className="ga-side",
                        children=[
                            wall_alerts.alerts_box(lang),  # beside the map, never over it
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
