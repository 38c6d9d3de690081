"""The /plan page's two maps and what is drawn on them (pure UI, no database).

Map 1 shows the proposal: its grids coloured by band state under the buildings, which sit
in their own pane above every grid layer so that a click on a building always reaches it
(the hand move), and the current grids as dashed outlines. Map 2 shows the current grids
coloured by households against the community's band, labelled with the code's tail and
the households. Department networks are drawn on both as outlines in their own colour.
"""

from __future__ import annotations

import dash_leaflet as dl
from dash import html
from dash_extensions.javascript import Namespace

from geo.planning.band import Band
from layouts import ids
from layouts.i18n import t

_ns = Namespace("gridatlas", "planmap")

#: Outline colour of the department networks drawn, by their slot (order shown).
NET_COLOURS = ("#7c3aed", "#0891b2", "#d97706", "#be123c")


def _label(code: str, households: int, lang: str) -> str:
    return f"{code[-3:]} · {households:,} {t('plan2.unit_hh', lang)}"


def with_states(collection: dict | None, band: Band | None, lang: str) -> dict | None:
    """Each grid feature given ``state`` (:meth:`Band.state`) and ``label`` properties."""
    if not collection:
        return collection
    feats = []
    for ft in collection.get("features", []):
        props = dict(ft.get("properties") or {})
        hh = int(props.get("households") or 0)
        props["state"] = band.state(hh) if band is not None else "ok"
        props["label"] = _label(str(props.get("code", "")), hh, lang)
        feats.append({**ft, "properties": props})
    return {**collection, "features": feats}


def network_layer(name: str, slot: int, collection: dict) -> dl.GeoJSON:
    """One network's outlines, labelled with its codes, in its own colour."""
    colour = NET_COLOURS[slot % len(NET_COLOURS)]
    feats = [{**ft, "properties": {**ft["properties"], "color": colour, "slot": slot % len(NET_COLOURS)}}
             for ft in collection.get("features", [])]
    return dl.GeoJSON(data={"type": "FeatureCollection", "features": feats},
                      style=_ns("netStyle"), onEachFeature=_ns("netLabel"),
                      pane="plan-nets")


def legend(band: Band | None, lang: str) -> html.Div:
    """Colour key of the band states (with the band's numbers)."""
    if band is None:
        return html.Div()
    items = [("#60a5fa", f"{t('plan2.state.under', lang)} (< {band.min:g})"),
             ("#4ade80", f"{t('plan2.state.ok', lang)} ({band.min:g}–{band.max:g})"),
             ("#fb923c", f"{t('plan2.state.over', lang)} (> {band.max:g})")]
    return html.Div([html.Span([html.I(style={"background": c}), text]) for c, text in items],
                    className="ga-plan-legend")


#: Fill of a community by the share of its current grids in band (first view of the page).
SHARE_COLOURS = (("#4ade80", "plan3.share.high"), ("#facc15", "plan3.share.mid"),
                 ("#fb923c", "plan3.share.low"), ("#e2e8f0", "plan3.share.none"))


def with_scope_labels(collection: dict | None, lang: str) -> dict | None:
    """Each community feature given a ``label`` (its name in the page's language) and a
    ``title`` (its grids in band)."""
    if not collection:
        return collection
    feats = []
    for ft in collection.get("features", []):
        p = dict(ft.get("properties") or {})
        name = (p.get("name_en") if lang == "en" else None) or p.get("name") or p.get("code")
        p["label"] = str(name)
        p["title"] = t("plan3.in_band", lang).format(n=p.get("in_band", 0), of=p.get("grids", 0))
        feats.append({**ft, "properties": p})
    return {**collection, "features": feats}


def scope_legend(lang: str) -> html.Div:
    """Colour key of the first view (share of grids in band) and how to choose."""
    items = [html.Span([html.I(style={"background": c}), t(key, lang)]) for c, key in SHARE_COLOURS]
    return html.Div([html.B(t("plan3.share", lang)), *items, html.Em(t("plan3.click", lang))],
                    className="ga-plan-legend")


def maps(lang: str) -> html.Div:
    """Both maps (map 2 shown in the current and side-by-side views)."""
    scale = dl.ScaleControl(imperial=False, position="bottomleft")
    return html.Div(className="ga-plan-maps view-proposal", id="plan-maps", children=[
        dl.Map(id=ids.PLAN_MAP, center=(35, 105), zoom=4, className="ga-plan-map", children=[
            # before a community is chosen: the scope's communities (a click chooses one)
            dl.Pane(name="plan-scope", style={"zIndex": 405}, children=[
                dl.GeoJSON(id=ids.PLAN_SCOPE, style=_ns("scopeStyle"), onEachFeature=_ns("scopeLabel")),
            ]),
            dl.Pane(name="plan-grids", style={"zIndex": 410}, children=[
                dl.GeoJSON(id=ids.PLAN_CURRENT, style=_ns("currentOutline")),
                dl.GeoJSON(id=ids.PLAN_PROPOSED, style=_ns("proposedStyle"),
                           onEachFeature=_ns("gridLabel")),
            ]),
            dl.Pane(name="plan-nets", style={"zIndex": 420, "pointerEvents": "none"}),
            dl.LayerGroup(id=ids.PLAN_NET_LAYER),
            # buildings above every grid layer: a click on a building reaches it
            dl.Pane(name="plan-bld", style={"zIndex": 450}, children=[
                dl.GeoJSON(id=ids.PLAN_BUILDINGS, style=_ns("buildingStyle"),
                           onEachFeature=_ns("buildingEach"),
                           hideout={"selected": None, "labels": {}}),
            ]),
            scale,
        ]),
        dl.Map(id=ids.PLAN_MAP2, center=(35, 105), zoom=4, className="ga-plan-map ga-plan-map2",
               children=[
                   dl.GeoJSON(id=ids.PLAN_CURRENT2, style=_ns("currentFill"),
                              onEachFeature=_ns("gridLabel")),
                   dl.ScaleControl(imperial=False, position="bottomleft"),
               ]),
    ])
