"""The wall's map layers: panes (drawing order), overlays, and the callbacks that fill them.

Drawing order, bottom to top: roads (a quiet basemap), boundaries and density, road and
network labels, cameras and police rooms, patrols, then incidents: an incident is never
drawn under another symbol. Boundaries of the upper levels go down once; grids once per zoom
band; buildings, roads and department networks only when the view changes (never on a
refresh tick); patrols on the tick, and only while their layer is on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, clientside_callback, ctx, html

from geo.access.permissions import allowed
from geo.access.privacy import mask_name
from geo.errors import GridAtlasError
from geo.networks import view as networks_view
from geo.patrols import service as patrols
from geo.repository import roads, summary, wall
from layouts import ids, strings_wall  # noqa: F401  (strings_wall registers the strings)
from layouts.auth import current_principal
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback
from layouts.wall_common import MAP_NS, WALL_NS, bbox, filters, shift, shift_bounds

log = logging.getLogger(__name__)

#: Leaflet panes above the default ones (tiles 200, overlays 400, markers 600, tooltips 650).
PANES = {"ga-roads": 250, "ga-road-labels": 450, "ga-patrols": 620, "ga-incidents": 640}


def panes() -> list:
    return [dl.Pane(name=name, style={"zIndex": z}) for name, z in PANES.items()]


def legend(lang: str) -> html.Div:
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


def overlays(lang: str, zoom) -> list:
    """The main layer control's entries (the patrol layer only for those who may see it)."""
    principal = current_principal()

    def boundary(layer_id):
        return dl.GeoJSON(id=layer_id, data=None, style=MAP_NS("boundaryStyle"),
                          onEachFeature=MAP_NS("boundaryTooltip"),
                          hideout={"min": 300, "max": 500, "selected": None})

    out = [
        dl.Overlay(dl.GeoJSON(id=ids.CMD_ROADS, data=None, style=WALL_NS("roadStyle"),
                              interactive=False, pane="ga-roads"),
                   name=t("wall.layer.roads", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_ROAD_LABELS, data=None, pointToLayer=WALL_NS("roadLabel"),
                              interactive=False),
                   name=t("wall.layer.road_labels", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_DENSITY, data=None, style=WALL_NS("densityStyle"),
                              hideout={"max": 10}, interactive=False),
                   name=t("layer.density", lang), checked=False),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_BUILDINGS, data=None, style=WALL_NS("buildingStyle"),
                              interactive=False),
                   name=t("layer.buildings", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_GRIDS), name=t("layer.grid", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_COMMUNITIES), name=t("layer.community", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_STREETS), name=t("layer.street", lang), checked=True),
        dl.Overlay(boundary(ids.CMD_DISTRICTS), name=t("layer.district", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_LABELS, data=None, pointToLayer=WALL_NS("labelPoint"),
                              filter=WALL_NS("labelFilter"), hideout={"zoom": zoom or 12}),
                   name=t("layer.labels", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_CAMERAS, data=None, pointToLayer=WALL_NS("symbolPoint"),
                              hideout={"kind": "cam"}),
                   name=t("layer.cameras", lang), checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.CMD_POLICE, data=None, pointToLayer=WALL_NS("policePoint")),
                   name=t("layer.police", lang), checked=True),
    ]
    if may_see_patrols(principal):
        out.append(dl.Overlay(
            dl.GeoJSON(id=ids.CMD_PATROLS, data=None, pointToLayer=WALL_NS("patrolPoint"),
                       hideout={"pane": "ga-patrols"}),
            name=t("wall.layer.patrols", lang), checked=False))
    out.append(dl.Overlay(
        dl.GeoJSON(id=ids.CMD_INCIDENTS, data=None, pointToLayer=WALL_NS("symbolPoint"),
                   hideout={"kind": "inc", "pane": "ga-incidents"}),
        name=t("layer.incidents", lang), checked=True))
    return out


def may_see_patrols(principal) -> bool:
    return (principal is not None and allowed(principal.role, "patrols.view")
            and not principal.anonymous_wall)


def hidden_layers() -> list:
    """The patrol layer without a control entry, for those who may not see patrols (its
    callback then always answers nothing)."""
    return [] if may_see_patrols(current_principal()) else [dl.GeoJSON(id=ids.CMD_PATROLS)]


def network_control() -> dl.LayersControl:
    """A second layer control, one entry per department network, filled at boot."""
    return dl.LayersControl([], id=ids.CMD_NET_LAYERS, collapsed=False, overlays=[],
                            position="topright")


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
    Output(ids.CMD_F_DISTRICT, "options"),
    Output(ids.CMD_F_DISTRICT, "value"),
    Output(ids.CMD_F_DISTRICT, "style"),
    Output(ids.CMD_F_BAR, "style"),
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
        scope, _flt = filters(stored)
        # fitting: the coarsest copies (the fitted view is the widest); a URL view: its zoom
        view = boot.get("view")
        if view is not None and not (isinstance(view, list) and len(view) == 3):
            raise wall.BadRequest("地图视图无效 / malformed map view")
        zoom = wall.zoom_of(view[2]) if view else None
        upper = [shift(wall.boundaries(scope, level, zoom)) for level in
                 ("district", "street", "community")]
        labels = shift(wall.labels(scope, ("street", "community")))
        police = shift(wall.police_rooms(scope))
        bounds = shift_bounds(wall.extent(scope))
        options = wall.filter_options(scope)
        osm = summary.has_osm_data(scope)
        synthetic = summary.has_synthetic_data(scope)
    except GridAtlasError as exc:
        log.warning("command centre data unavailable: %s", exc.user_msg)
        # the message already says what failed (e.g. 无法连接数据库): no prefix of our own
        return (*([dash.no_update] * 18), exc.user_msg)

    def opts(rows):
        return [{"label": (r["name_en"] if en and r.get("name_en") else r["name"]),
                 "value": r["code"]} for r in rows]

    notice = []
    if not bounds:
        notice.append(html.Span(t("map.empty", lang), className="ga-empty"))
    if synthetic:
        notice.append(html.Span(t("wall.demo_data", lang), className="ga-demo"))
    if not ctx.triggered:  # first load: fit unless the URL gave a view
        fit = (boot or {}).get("fit", True)
    else:  # a filter changed: fit to the chosen street or community
        fit = bool((stored or {}).get("street") or (stored or {}).get("community")
                   or (stored or {}).get("district"))
    if bounds and fit:
        viewport = {"bounds": bounds, "transition": "fitBounds", "options": {"padding": [20, 20]}}
    elif not ctx.triggered and (boot or {}).get("view"):
        lat, lng, z = boot["view"]
        viewport = {"center": [lat, lng], "zoom": z, "transition": "setView"}
    else:
        viewport = dash.no_update
    # the URL's filters, once their options exist (first load only)
    values = ([(stored or {}).get(k) for k in ("street", "community", "category", "district")]
              if not ctx.triggered else [dash.no_update] * 4)
    # a city's wall (or an administrator's) spans districts: offer them as a filter
    many = len(options["districts"]) > 1
    return (*upper, labels, police, viewport, notice, t("wall.osm", lang) if osm else None,
            opts(options["streets"]), opts(options["communities"]),
            opts(options["categories"]), *values[:3], opts(options["districts"]), values[3],
            None if many else {"display": "none"},
            {"gridTemplateColumns": "repeat(5, minmax(0, 1fr))"} if many else None, None)


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
        scope, _flt = filters(stored)
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
        labels = (shift(wall.labels(scope, ("street", "community", "grid") if fine
                                    else ("street", "community")))
                  if fine != was_fine or (fine and (band or {}).get("f") != stored)
                  else dash.no_update)
        if not show:
            return None, new_band, labels
        data = shift(wall.boundaries(scope, "grid", zoom))
    except GridAtlasError:
        return dash.no_update, dash.no_update, dash.no_update
    return data, new_band, labels


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
        box = bbox(bounds)
        zoom = wall.zoom_of(zoom)
        if zoom is None or zoom < wall.BUILDINGS_MIN_ZOOM or box is None:
            return None
        scope, _flt = filters(stored)
        return shift(wall.buildings_in_view(scope, box))
    except GridAtlasError:
        return dash.no_update


# ----------------------------------------------------------------------------- roads


def _on(overlays, key: str, lang: str) -> bool:
    return isinstance(overlays, list) and t(key, lang) in overlays


@secure_callback(
    "view.command",
    Output(ids.CMD_ROADS, "data"),
    Output(ids.CMD_ROADS_VIEW, "data"),
    Input(ids.CMD_MAP, "bounds"),
    Input(ids.CMD_LAYERS, "overlays"),
    State(ids.CMD_MAP, "zoom"),
    State(ids.CMD_FILTERS, "data"),
    State(ids.CMD_ROADS_VIEW, "data"),
)
def load_roads(bounds, overlays, zoom, stored, last):
    """The roads of the view (classes and labels by zoom), when the view changes only."""
    lang = current_lang()
    if not _on(overlays, "wall.layer.roads", lang):
        return (None, None) if last else (dash.no_update, dash.no_update)
    try:
        box = bbox(bounds)
        zoom = wall.zoom_of(zoom)
        if box is None or zoom is None:
            return dash.no_update, dash.no_update
        key = [round(v, 5) for v in box] + [round(zoom, 2)]
        if key == last:
            return dash.no_update, dash.no_update
        scope, _flt = filters(stored)
        return shift(roads.roads_in_view(scope, box, zoom)), key
    except GridAtlasError:
        return dash.no_update, dash.no_update


clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="roadLabels"),
    Output(ids.CMD_ROAD_LABELS, "data"),
    Input(ids.CMD_ROADS, "data"),
)


# ----------------------------------------------------------------------------- networks


@secure_callback(
    "view.command",
    Output(ids.CMD_NET_LAYERS, "children"),
    Output(ids.CMD_NET_LIST, "data"),
    Input(ids.CMD_BOOT, "data"),
)
def load_network_list(_boot):
    """One layer-control entry per imported network the reader may see (off at first)."""
    try:
        nets = networks_view.network_layers(current_principal())
    except GridAtlasError:
        return dash.no_update, dash.no_update
    entries = [
        dl.Overlay(dl.GeoJSON(id={"type": ids.CMD_NET, "index": n["id"]}, data=None,
                              style=WALL_NS("networkStyle"), pointToLayer=WALL_NS("networkLabel"),
                              onEachFeature=WALL_NS("networkTooltip"),
                              hideout={"color": n["color"], "network": n["name"]}),
                   name=n["name"], checked=False)
        for n in nets]
    return entries, [{"id": n["id"], "name": n["name"]} for n in nets]


@secure_callback(
    "view.command",
    Output({"type": ids.CMD_NET, "index": ALL}, "data"),
    Input(ids.CMD_MAP, "bounds"),
    Input(ids.CMD_NET_LAYERS, "overlays"),
    State(ids.CMD_MAP, "zoom"),
    State(ids.CMD_NET_LIST, "data"),
    State({"type": ids.CMD_NET, "index": ALL}, "id"),
)
def load_networks(bounds, shown, zoom, nets, layer_ids):
    """The checked networks' outlines in the view; unchecked ones are emptied."""
    layer_ids = layer_ids if isinstance(layer_ids, list) else []
    if not layer_ids:
        return []
    shown = shown if isinstance(shown, list) else []
    names = {n.get("id"): n.get("name") for n in (nets if isinstance(nets, list) else [])
             if isinstance(n, dict)}
    principal = current_principal()
    out = []
    try:
        box = bbox(bounds)
        zoom = wall.zoom_of(zoom)
        for lid in layer_ids:
            index = lid.get("index") if isinstance(lid, dict) else None
            if names.get(index) not in shown or box is None or zoom is None:
                out.append(None)
                continue
            out.append(shift(networks_view.network_in_view(principal, index, box, zoom)))
    except GridAtlasError:
        return [dash.no_update] * len(layer_ids)
    return out


# ----------------------------------------------------------------------------- patrols


def patrol_features(lang: str) -> dict:
    """Grid workers on patrol now (the principal's scope), at their last check-in."""
    principal = current_principal()
    rows = patrols.on_patrol_now(principal, now=datetime.now(UTC))
    feats = []
    for r in rows:
        if r.get("lon") is None or r.get("lat") is None:
            continue
        last = r.get("last_at")
        last_dt = datetime.fromisoformat(last) if isinstance(last, str) else last
        name = mask_name(r.get("display_name") or r.get("worker"), principal)
        tip = t("wall.patrol.tooltip", lang).format(
            name=name, grid=r.get("grid_code") or "–",
            at=fmt_datetime(last_dt, lang) or "–", n=r.get("checkins") or 0)
        feats.append({"type": "Feature",
                      "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                      "properties": {"tip": tip, "flagged": bool(r.get("flagged"))}})
    return {"type": "FeatureCollection", "features": feats}


@secure_callback(
    "view.command",  # patrols.view is checked by the read (the layer is offered only then)
    Output(ids.CMD_PATROLS, "data"),
    Input(ids.CMD_TRIGGER, "data"),
    Input(ids.CMD_LAYERS, "overlays"),
)
def load_patrols(_trigger, overlays):
    """Workers on patrol now, on the tick, only while the layer is on."""
    lang = current_lang()
    if not _on(overlays, "wall.layer.patrols", lang):
        return None
    try:
        return shift(patrol_features(lang))
    except GridAtlasError:
        return dash.no_update
