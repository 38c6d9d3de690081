"""The wall's refresh tick: KPIs, chart, ticker and the point layers.

The tick is gated in the browser (never stacked, paused while hidden). Incident and camera
symbols are read into stores and placed in the browser (``gridatlas.wall.place``): count
bubbles are merged until no two overlap at the current zoom, so a 4K wall at zoom 13 shows
readable bubbles instead of a heap.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dash
from dash import Input, Output, State, clientside_callback, html

from geo.errors import GridAtlasError
from geo.repository import wall
from layouts import ids, strings_wall  # noqa: F401  (strings_wall registers the strings)
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback
from layouts.wall_common import bbox, digest, filters, shift

log = logging.getLogger(__name__)

KPI_IDS = ("open", "overdue", "dispatched", "closed", "ontime", "cameras")


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
clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="place"),
    Output(ids.CMD_INCIDENTS, "data"),
    Output(ids.CMD_CAMERAS, "data"),
    Input(ids.CMD_INC_RAW, "data"),
    Input(ids.CMD_CAM_RAW, "data"),
    Input(ids.CMD_MAP, "zoom"),
)


@secure_callback(
    "view.command",
    Output(ids.CMD_FILTERS, "data"),
    Input(ids.CMD_F_STREET, "value"),
    Input(ids.CMD_F_COMMUNITY, "value"),
    Input(ids.CMD_F_CATEGORY, "value"),
    Input(ids.CMD_F_SEVERITY, "value"),
    Input(ids.CMD_F_DISTRICT, "value"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def set_filters(street, community, category, severity, district, stored):
    new = {"district": district, "street": street, "community": community,
           "category": category, "severity": severity}
    return dash.no_update if new == stored else new


@secure_callback(
    "view.command",
    Output(ids.CMD_INC_RAW, "data"),
    Output(ids.CMD_CAM_RAW, "data"),
    Output(ids.CMD_DENSITY, "data"),
    Output(ids.CMD_DENSITY, "hideout"),
    *[Output(f"cmd-kpi-{k}", "children") for k in KPI_IDS],
    Output("cmd-kpi-ontime-sub", "children"),
    Output("cmd-kpi-cameras-sub", "children"),
    Output(ids.CMD_CHART, "children"),
    Output(ids.CMD_TICKER, "children"),
    Output(ids.CMD_DONE, "data"),
    Input(ids.CMD_TRIGGER, "data"),
    Input(ids.CMD_MAP, "bounds"),
    Input(ids.CMD_FILTERS, "data"),
    State(ids.CMD_MAP, "zoom"),
    State(ids.CMD_DONE, "data"),
    Input(ids.CMD_LAYERS, "overlays"),  # turning the density layer on fills it at once
)
def refresh(_trigger, bounds, stored, zoom, last, overlays):
    """Every tick (and on pan/zoom/filter): KPIs, chart, ticker and the point layers.

    Point layers are resent only when their content changed (digest), so an unchanged
    map never redraws and a changed incident restyles on the next tick.
    """
    lang = current_lang()
    now = datetime.now(UTC)
    n_out = 9 + len(KPI_IDS)  # every Output of this callback
    density_on = isinstance(overlays, list) and t("layer.density", lang) in overlays
    last = last if isinstance(last, dict) else None  # the page's own store: may be forged
    try:
        scope, flt = filters(stored)
        box = bbox(bounds)
        zoom = wall.zoom_of(zoom)
        got = wall.tick(scope, flt, box, zoom, now, density=density_on)
        mode, incidents, cameras = got["mode"], got["incidents"], got["cameras"]
        k, by_street, events, density = got["kpis"], got["by_street"], got["events"], got["density"]
    except GridAtlasError as exc:
        log.warning("refresh failed: %s", exc.user_msg)
        return (*([dash.no_update] * (n_out - 1)),
                {"stale": True, "at": now.isoformat(), "message": exc.user_msg})
    digests = {"inc": digest(incidents), "cam": digest(cameras),
               "den": digest(density) if density_on else _prev_den(last),
               "mode": mode, "bars": digest(by_street), "tick": digest(events)}
    prev = (last or {}).get("digests") or {}
    prev = prev if isinstance(prev, dict) else {}
    same_mode = prev.get("mode") == mode

    def changed(key, value):
        return shift(value) if prev.get(key) != digests[key] or not same_mode else dash.no_update

    max_density = max([ft["properties"]["n"] for ft in (density or {"features": []})["features"]]
                      or [1])
    ontime = k["ontime_rate_7d"]
    prev_rate = k["ontime_rate_prev_7d"]
    cams = f"{k['cameras_online']:,}"
    return (
        changed("inc", incidents),
        changed("cam", cameras),
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
        {"stale": False, "at": got["at"].isoformat(), "digests": digests},
    )


def _prev_den(last):
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
