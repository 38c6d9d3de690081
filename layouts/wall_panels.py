"""The wall's detail panels (grid, camera, incident, police room), search, and the incident
actions an operator takes from the panel: dispatch to the routed department and urge
(督办), both through :mod:`geo.incidents.service`.

The panel sits above every map control (``wall.css``: a browser test checks that the
element at its centre is the panel).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html

from geo.access.permissions import allowed
from geo.access.privacy import mask_name, mask_phone
from geo.errors import GridAtlasError
from geo.incidents import service
from geo.repository import wall
from layouts import ids, strings_wall  # noqa: F401  (strings_wall registers the strings)
from layouts.auth import current_principal
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback
from layouts.wall_common import filters, shift_bounds

OPEN_STATES = frozenset(wall.OPEN_STATES)


def _row(label: str, value, cls: str = "") -> html.Div:
    return html.Div([html.Span(label, className="ga-k"), html.Span(value, className=f"ga-v {cls}")],
                    className="ga-row")


def duration(seconds: float, lang: str) -> str:
    """2天3小时 / 3小时5分钟 / 12分钟 (English: 2 d 3 h, 3 h 5 min, 12 min)."""
    minutes = max(0, int(seconds // 60))
    d, rem = divmod(minutes, 24 * 60)
    h, m = divmod(rem, 60)
    zh = lang != "en"
    if d:
        return f"{d}天{h}小时" if zh else f"{d} d {h} h"
    if h:
        return f"{h}小时{m}分钟" if zh else f"{h} h {m} min"
    return f"{m}分钟" if zh else f"{m} min"


def time_left(d: dict, now: datetime, lang: str) -> tuple[str, str]:
    """(text, css class) of the time left on an open case: 剩余 … or 已超时 …."""
    if d.get("closed_at") is not None or d["state"] not in OPEN_STATES:
        return "–", ""
    if d["state"] == "deferred":
        return t("wall.panel.deferred_clock", lang), "u-deferred"
    due = d.get("due_at")
    if due is None:
        return t("wall.panel.not_dispatched", lang), ""
    left = (due - now).total_seconds()
    if left >= 0:
        return f"{t('wall.panel.left', lang)} {duration(left, lang)}", f"u-{d.get('urgency')}"
    return f"{t('wall.panel.overdue_by', lang)} {duration(-left, lang)}", "u-overdue"


def grid_panel(d: dict, lang: str) -> list:
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


def camera_panel(d: dict, lang: str) -> list:
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


def _event_label(e: dict, lang: str) -> tuple[str, str]:
    kind = e.get("kind") or "transition"
    if kind == "transition":
        return t(f"state.{e['to_state']}", lang), f"st-{e['to_state']}"
    key = f"wall.event.{kind}"
    return (t(key, lang) if _known(key) else t("wall.event.other", lang)), f"ev-{kind}"


def _known(key: str) -> bool:
    from layouts.i18n import STRINGS

    return key in STRINGS


def _actions(d: dict, lang: str) -> list:
    """Dispatch (filed cases, to the routed department) and urge (open cases), for those
    whose role may; the service checks again when the button is pressed."""
    principal = current_principal()
    if principal is None or principal.anonymous_wall or d["state"] not in OPEN_STATES:
        return []
    out = []
    ref = f"{d['code']}@{d['version']}"
    if allowed(principal.role, "incident.dispatch") and d["state"] == "filed":
        dep = service.proposed_department(service.actor_for(principal), d["code"])
        if dep:
            out.append(html.Div(className="ga-action", children=[
                html.Span(f"{t('wall.panel.proposed', lang)}: {dep['name']}", className="ga-k"),
                html.Button(t("wall.panel.dispatch", lang), className="ga-btn-wall ga-btn-dispatch",
                            id={"type": ids.CMD_DISPATCH, "index": ref}),
            ]))
        else:
            out.append(html.Div(t("wall.panel.no_route", lang), className="ga-k"))
    if allowed(principal.role, "incident.urge"):
        out.append(html.Div(className="ga-action", children=[
            dcc.Input(id={"type": ids.CMD_URGE_NOTE, "index": ref}, type="text", maxLength=200,
                      placeholder=t("wall.panel.urge_note", lang), className="ga-urge-note"),
            html.Button(t("wall.panel.urge", lang), className="ga-btn-wall ga-btn-urge",
                        id={"type": ids.CMD_URGE, "index": ref}),
        ]))
    return out


def incident_panel(d: dict, lang: str, message=None) -> list:
    en = lang == "en"
    principal = current_principal()
    now = datetime.now(UTC)
    steps = []
    for e in d["events"]:
        label, cls = _event_label(e, lang)
        steps.append(html.Li([
            html.Span(fmt_datetime(e["at"], lang), className="ga-tl-time"),
            html.Span(label, className=f"ga-state {cls}"),
            html.Span(f"{t('wall.level.' + e['level'], lang)} · {e['actor'] or ''}",
                      className="ga-tl-who"),
            html.Div(e["note"] or "", className="ga-tl-note"),
        ]))
    left, left_cls = time_left(d, now, lang)
    return [
        html.H3([t("panel.incident", lang), " ", html.Span(d["code"], className="ga-code")]),
        html.Div(d["title"], className="ga-panel-title"),
        _row(t("col.category", lang), d["category_en"] if en else d["category"]),
        _row(t("col.severity", lang), t(f"severity.{d['severity']}", lang)),
        _row(t("col.state", lang), t(f"state.{d['state']}", lang), f"u-{d['urgency']}"),
        _row(t("panel.due", lang), fmt_datetime(d["due_at"], lang) or "–"),
        _row(t("wall.panel.time_left", lang), left, f"ga-left {left_cls}"),
        _row(t("panel.department", lang), (d["department_en"] if en else d["department"]) or "–"),
        _row(t("panel.reporter", lang),
             f"{mask_name(d['reporter_name'], principal) or '–'} "
             f"{mask_phone(d['reporter_phone'], principal) or ''}"),
        *_actions(d, lang),
        html.Div(message, id=ids.CMD_ACTION_MSG, className="ga-action-msg", role="status"),
        html.Ol(steps, className="ga-timeline"),
    ]


def police_panel(p: dict, lang: str) -> list:
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
        scope, _flt = filters(stored)
        if trig == ids.CMD_GRIDS:
            d = wall.grid_detail(scope, code)
            if not d:
                return None, dash.no_update, dash.no_update
            hideout["selected"] = code
            bounds = shift_bounds([[d["s"], d["w"]], [d["n"], d["e"]]])
            return (grid_panel(d, lang), hideout,
                    {"bounds": bounds, "transition": "fitBounds",
                     "options": {"padding": [60, 60], "animate": False}})
        if trig == ids.CMD_CAMERAS:
            d = wall.camera_detail(scope, code)
            return (camera_panel(d, lang) if d else None), dash.no_update, dash.no_update
        if trig == ids.CMD_INCIDENTS:
            d = wall.incident_timeline(scope, code, datetime.now(UTC))
            return (incident_panel(d, lang) if d else None), dash.no_update, dash.no_update
        rooms = wall.police_rooms(scope)["features"]
        room = next((r["properties"] for r in rooms if r["properties"]["code"] == code), None)
        return (police_panel(room, lang) if room else None), dash.no_update, dash.no_update
    except GridAtlasError as exc:
        return html.Div(exc.user_msg, className="ga-error"), dash.no_update, dash.no_update


# ----------------------------------------------------------------------------- actions


def _ref(triggered) -> tuple[str, int] | None:
    """(code, version) of a pressed action button's index ``CODE@VERSION``."""
    index = triggered.get("index") if isinstance(triggered, dict) else None
    if not isinstance(index, str) or index.count("@") != 1:
        return None
    code, version = index.split("@")
    if not code or len(code) > 40 or not version.isdigit() or len(version) > 9:
        return None
    return code, int(version)


def _after_action(scope, code: str, lang: str, message) -> list:
    d = wall.incident_timeline(scope, code, datetime.now(UTC))
    return incident_panel(d, lang, message) if d else None


@secure_callback(
    "incident.dispatch",
    Output(ids.CMD_PANEL, "children", allow_duplicate=True),
    Input({"type": ids.CMD_DISPATCH, "index": ALL}, "n_clicks"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def dispatch(clicks, stored):
    """Dispatch a filed case to its routed department (the version shown must be current)."""
    lang = current_lang()
    ref = _ref(ctx.triggered_id)
    if not isinstance(clicks, list) or not any(clicks) or ref is None:
        return dash.no_update
    code, version = ref
    try:
        scope, _flt = filters(stored)
        if wall.incident_timeline(scope, code, datetime.now(UTC)) is None:
            return dash.no_update
        actor = service.actor_for(current_principal())
        dep = service.proposed_department(actor, code)
        if not dep:
            return _after_action(scope, code, lang, html.Span(t("wall.panel.no_route", lang),
                                                              className="ga-bad"))
        service.transition(actor, code, "dispatched",
                           department=dep["code"], expected_version=version)
        msg = html.Span(t("wall.panel.dispatched_to", lang).format(dep=dep["name"]), className="ga-ok")
        return _after_action(scope, code, lang, msg)
    except GridAtlasError as exc:
        return _after_action_or_error(stored, code, lang, exc)


@secure_callback(
    "incident.urge",
    Output(ids.CMD_PANEL, "children", allow_duplicate=True),
    Input({"type": ids.CMD_URGE, "index": ALL}, "n_clicks"),
    State({"type": ids.CMD_URGE_NOTE, "index": ALL}, "value"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def urge(clicks, notes, stored):
    """督办: an urge event on the case (the note typed, else a standard one)."""
    lang = current_lang()
    ref = _ref(ctx.triggered_id)
    if not isinstance(clicks, list) or not any(clicks) or ref is None:
        return dash.no_update
    code, _version = ref
    note = next((n for n in (notes if isinstance(notes, list) else [])
                 if isinstance(n, str) and n.strip()), None) or t("wall.panel.urge_default", lang)
    try:
        scope, _flt = filters(stored)
        if wall.incident_timeline(scope, code, datetime.now(UTC)) is None:
            return dash.no_update
        service.urge(service.actor_for(current_principal()), code, note[:200])
        return _after_action(scope, code, lang, html.Span(t("wall.panel.urged", lang), className="ga-ok"))
    except GridAtlasError as exc:
        return _after_action_or_error(stored, code, lang, exc)


def _after_action_or_error(stored, code: str, lang: str, exc: GridAtlasError):
    msg = html.Span(exc.user_msg, className="ga-bad")
    try:
        scope, _flt = filters(stored)
        return _after_action(scope, code, lang, msg) or html.Div(msg, className="ga-error")
    except GridAtlasError:
        return html.Div(msg, className="ga-error")


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
        scope, _flt = filters(stored)
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
            **{"data-bounds": json.dumps(shift_bounds(h["bounds"]))},
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
        scope, _flt = filters(stored)
        hits = wall.search(scope, text or "")
    except GridAtlasError as exc:
        return dash.no_update, html.Div(exc.user_msg, className="ga-error")
    if index >= len(hits) or not hits[index]["bounds"]:
        return dash.no_update, None
    # fitBounds, not an animated flight: a flight is cut short when the map's props update
    return ({"bounds": shift_bounds(hits[index]["bounds"]), "transition": "fitBounds",
             "options": {"padding": [60, 60], "animate": False}}, None)
