"""Command centre (/): the dark wall map of boundaries."""

from __future__ import annotations

import logging

import dash
import dash_leaflet as dl
from dash import Input, Output, dcc, html
from dash_extensions.javascript import Namespace

from geo import queries
from geo.errors import GridAtlasError
from geo.settings import get_settings
from layouts import ids
from layouts.auth import current_principal
from layouts.secure import secure_callback
from layouts.i18n import current_lang, t

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/", title="GridAtlas · 指挥中心", name="command")

_ns = Namespace("gridatlas", "map")
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
# Until the database says where the data is, show the whole of China.
_DEFAULT_CENTER = (35.0, 105.0)
_LEVELS = (
    (ids.CMD_DISTRICTS, "layer.district"),
    (ids.CMD_STREETS, "layer.street"),
    (ids.CMD_COMMUNITIES, "layer.community"),
    (ids.CMD_GRIDS, "layer.grid"),
)


def _boundary_layer(layer_id: str) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=layer_id,
        data=None,
        style=_ns("boundaryStyle"),
        onEachFeature=_ns("boundaryTooltip"),
        hideout={"min": 300, "max": 500},
    )


def layout(**_query: str) -> html.Div:
    """The page frame; boundaries arrive through the callback below."""
    lang = current_lang()
    settings = get_settings()
    base = []
    if settings.basemap_url:
        base.append(dl.TileLayer(url=settings.basemap_url, attribution=""))
    # Grids first so that coarser, heavier outlines draw on top of them.
    overlays = [
        dl.Overlay(_boundary_layer(layer_id), name=t(key, lang), checked=True)
        for layer_id, key in reversed(_LEVELS)
    ]
    return html.Div(
        className="ga-command",
        children=[
            dcc.Store(id=ids.CMD_BOOT, data=0),
            dl.Map(
                id=ids.CMD_MAP,
                center=_DEFAULT_CENTER,
                zoom=4,
                className="ga-map",
                attributionControl=True,
                children=[
                    *base,
                    dl.LayersControl(overlays, id=ids.CMD_LAYERS, collapsed=False),
                    dl.ScaleControl(imperial=False, position="bottomleft"),
                ],
            ),
            html.Div(id=ids.CMD_NOTICE, className="ga-map-notice"),
            html.Div(id=ids.CMD_ERROR, className="ga-error", role="alert"),
        ],
    )


@secure_callback(
    "view.command",
    Output(ids.CMD_DISTRICTS, "data"),
    Output(ids.CMD_STREETS, "data"),
    Output(ids.CMD_COMMUNITIES, "data"),
    Output(ids.CMD_GRIDS, "data"),
    Output(ids.CMD_GRIDS, "attribution"),
    Output(ids.CMD_MAP, "viewport"),
    Output(ids.CMD_NOTICE, "children"),
    Output(ids.CMD_ERROR, "children"),
    Input(ids.CMD_BOOT, "data"),
)
def load_boundaries(_boot: int):
    """Send every boundary level once; restyling later travels through ``hideout``."""
    lang = current_lang()
    scope = current_principal().scope_code
    try:
        layers = [
            queries.boundaries(level, scope)
            for level in ("district", "street", "community", "grid")
        ]
        bounds = queries.extent(scope)
        osm = queries.has_osm_data()
        synthetic = queries.has_synthetic_data()
    except GridAtlasError as exc:
        log.warning("boundaries unavailable: %s", exc.user_msg)
        none = dash.no_update
        return none, none, none, none, none, none, none, f"{t('error.db', lang)}: {exc.user_msg}"
    notice = []
    if not bounds:
        notice.append(html.Span(t("map.empty", lang), className="ga-empty"))
    if synthetic:
        notice.append(html.Span("演示数据 / demo data", className="ga-demo"))
    return (
        *layers,
        OSM_ATTRIBUTION if osm else None,
        {"bounds": bounds, "transition": "fitBounds", "options": {"padding": [24, 24]}}
        if bounds else dash.no_update,
        notice,
        None,
    )
