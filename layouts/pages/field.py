"""The field page (/field): the grid worker's phone, and the local inbox of community staff
and street operators.

* 待办: the cases waiting at the user's level in their scope, each resolved on the spot or
  escalated (``incident.local``);
* 上报: tap the map or use the phone's location, category, severity, title, description and
  a photo; open cases of the same category within 50 m are shown first and the report may be
  added to one of them instead (``incident.create``);
* 巡查 (grid workers): start, check in (by button, and every few minutes while the page is
  open) and end a patrol with the phone's position (``patrol.run``).

Positions: the phone gives WGS-84 and is stored as such; a tap on a GCJ-02 basemap
(``BASEMAP_GCJ02``) is converted by the service. Every write goes through
:mod:`geo.incidents.service` or :mod:`geo.patrols.service`, which check role and scope again.
"""

from __future__ import annotations

import logging

import dash
from dash import ALL, Input, Output, State, clientside_callback, ctx, html

from geo.errors import GridAtlasError
from geo.gcj02 import transform_geojson, wgs84_to_gcj02
from geo.incidents import fieldwork, service
from geo.incidents import states as sm
from geo.patrols import service as patrols
from geo.repository import wall
from geo.repository.scope import Scope
from geo.settings import get_settings
from layouts import field_ids as fid
from layouts import field_input as inp
from layouts import field_view as view
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/field", title="GridAtlas · 现场处置", name="field")

nu = dash.no_update


def layout(**_query: str) -> html.Div:
    """Built per request from the principal (no database)."""
    principal = current_principal()
    settings = get_settings()
    return view.page(current_lang(), worker=principal is not None and principal.role == "grid_worker",
                     scope_code=principal.scope_code if principal else None,
                     gcj02=settings.basemap_gcj02, basemap_url=settings.basemap_url,
                     photo_max_bytes=settings.incident_photo_max_bytes)


def _actor() -> service.Actor:
    return service.actor_for(current_principal())


def _bad(text: str) -> html.Span:
    return html.Span(text, className="field-bad")


def _ok(text: str) -> html.Span:
    return html.Span(text, className="field-ok")


# ----------------------------------------------------------------------------- map


def _map_level(scope_code: str | None) -> str:
    """Grids for a grid or community scope, communities for a street, streets above."""
    return {15: "grid", 12: "grid", 9: "community"}.get(len(scope_code or ""), "street")


@secure_callback(
    "view.field",
    Output(fid.GRID, "data"),
    Output(fid.MAP, "viewport"),
    Output(fid.CATEGORY, "options"),
    Input(fid.CONFIG, "data"),
)
def load_map(_config):
    """The user's area on the map (in the basemap's datum) and the category menu."""
    lang = current_lang()
    try:
        scope = Scope.of(current_principal())
        fc = wall.boundaries(scope, _map_level(scope.base), None)
        box = wall.extent(scope)
        cats = fieldwork.categories(_actor())
    except GridAtlasError as exc:
        log.warning("field map: %s", exc.user_msg)
        return None, nu, []
    if get_settings().basemap_gcj02:
        fc = transform_geojson(fc, wgs84_to_gcj02)
        if box:
            (s, w), (n, e) = box
            w, s = wgs84_to_gcj02(w, s)
            e, n = wgs84_to_gcj02(e, n)
            box = [[s, w], [n, e]]
    viewport = ({"bounds": box, "transition": "fitBounds", "options": {"padding": [16, 16]}}
                if box else nu)
    options = [{"label": ("· " if c["parent"] else "")
                + ((c["name_en"] or c["name"]) if lang == "en" else c["name"]),
                "value": c["code"]} for c in cats]
    return fc, viewport, options


# ----------------------------------------------------------------------------- inbox


@secure_callback(
    "view.field",
    Output(fid.INBOX, "children"),
    Input(fid.INBOX_REV, "data"),
    Input(fid.INBOX_REFRESH, "n_clicks"),
)
def load_inbox(_rev, _refresh):
    lang = current_lang()
    try:
        actor = _actor()
        out = fieldwork.inbox(actor)
        names_en = ({c["code"]: c["name_en"] or c["name"] for c in fieldwork.categories(actor)}
                    if lang == "en" else {})
    except GridAtlasError as exc:
        return [_bad(inp.user_text(exc, lang))]
    return view.inbox(out["rows"], out["total"], names_en, lang)


@secure_callback(
    "incident.local",
    Output(fid.INBOX_MSG, "children"),
    Output(fid.INBOX_REV, "data"),
    Input({"type": fid.ACT, "index": ALL}, "n_clicks"),
    State(fid.INBOX_REV, "data"),
    prevent_initial_call=True,
)
def act(clicks, rev):
    """Resolve on the spot or escalate the case whose button was tapped."""
    lang = current_lang()
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(isinstance(c, int) and c > 0 for c in clicks or []):
        return None, nu
    try:
        code, to_state, shown = inp.act(trig.get("index"))
        service.transition(_actor(), code, to_state, expected_state=shown)
    except GridAtlasError as exc:
        return _bad(inp.user_text(exc, lang)), (rev or 0) + 1 if isinstance(rev, int) else 1
    done = "field.resolved" if to_state == "resolved" else "field.escalated"
    return _ok(t(done, lang).format(code=code)), (rev + 1 if isinstance(rev, int) else 1)


# ----------------------------------------------------------------------------- report


@secure_callback(
    "incident.create",
    Output(fid.REPORT_MSG, "children"),
    Output(fid.DUPS, "children"),
    Output(fid.FORCE, "className"),
    Output(fid.TITLE, "value"),
    Output(fid.DESC, "value"),
    Output(fid.PHOTO, "contents"),
    Output(fid.INBOX_REV, "data", allow_duplicate=True),
    Output(fid.PATROL_REV, "data", allow_duplicate=True),
    Input(fid.SUBMIT, "n_clicks"),
    Input(fid.FORCE, "n_clicks"),
    Input({"type": fid.ATTACH, "index": ALL}, "n_clicks"),
    State(fid.POINT, "data"),
    State(fid.CATEGORY, "value"),
    State(fid.SEVERITY, "value"),
    State(fid.TITLE, "value"),
    State(fid.DESC, "value"),
    State(fid.PHOTO, "contents"),
    State(fid.INBOX_REV, "data"),
    prevent_initial_call=True,
)
def report(submit, force, attach, point, category, severity, title, desc, photo, rev):
    """Submit: nearby open cases of the category first; "new case anyway" or "add to this
    case" then write through the incident service."""
    lang = current_lang()
    settings = get_settings()
    trig = ctx.triggered_id
    fired = ctx.triggered[0]["value"] if ctx.triggered else None
    if trig is None or not fired:
        return None, nu, nu, nu, nu, nu, nu, nu
    bump = (rev + 1) if isinstance(rev, int) else 1
    try:
        actor = _actor()
        data = inp.photo(photo, settings.incident_photo_max_bytes)
        title_v = (inp.text(title, 200) or "").strip()
        desc_v = (inp.text(desc, 2000) or "").strip() or None
        if isinstance(trig, dict) and trig.get("type") == fid.ATTACH:
            code = inp.case_code(trig.get("index"))
            service.show(actor, code)  # outside the scope: "no such case", nothing about it
            note = "\n".join(x for x in (title_v, desc_v) if x) or None
            service.attach_report(actor, code, note=note, photo=data)
            return (_ok(t("field.attached", lang).format(code=code)), None, view.FORCE_HIDDEN, "", "", None,
                    bump, nu)
        where = inp.point(point, settings.basemap_gcj02)
        if where is None:
            return _bad(t("field.need_point", lang)), nu, nu, nu, nu, nu, nu, nu
        cat = inp.text(category, 64)
        if not cat:
            return _bad(t("field.need_category", lang)), nu, nu, nu, nu, nu, nu, nu
        if not title_v:
            return _bad(t("field.need_title", lang)), nu, nu, nu, nu, nu, nu, nu
        sev = inp.choice(severity, sm.SEVERITIES) or "ordinary"
        lon, lat, crs = where
        if trig == fid.SUBMIT:
            near = service.duplicate_candidates(actor, lon=lon, lat=lat, category=cat, crs=crs)
            if near:
                return (None, view.duplicates(near, settings.incident_duplicate_radius_m, lang),
                        view.FORCE_SHOWN, nu, nu, nu, nu, nu)
        case = service.report(actor, lon=lon, lat=lat, crs=crs, category=cat, severity=sev,
                              title=title_v, description=desc_v, photo=data)
    except GridAtlasError as exc:
        return _bad(inp.user_text(exc, lang)), nu, nu, nu, nu, nu, nu, nu
    key = "field.reported_patrol" if case.get("patrol_id") else "field.reported"
    return (_ok(t(key, lang).format(code=case["code"])), None, view.FORCE_HIDDEN, "", "", None, bump,
            bump if case.get("patrol_id") else nu)


# ----------------------------------------------------------------------------- patrol


@secure_callback(
    "view.field",
    Output(fid.PATROL, "children"),
    Output(fid.PATROL_START, "className"),
    Output(fid.PATROL_CHECKIN, "className"),
    Output(fid.PATROL_END, "className"),
    Output(fid.PATROL_TICK, "disabled"),
    Input(fid.PATROL_REV, "data"),
)
def load_patrol(_rev):
    lang = current_lang()
    principal = current_principal()
    worker = principal is not None and principal.role == "grid_worker"
    btn, hidden = "field-btn field-btn-primary", "field-btn is-hidden"
    if not worker:
        return view.patrol(None, False, lang), hidden, hidden, hidden, True
    try:
        p = patrols.current(_actor())
    except GridAtlasError as exc:
        return [_bad(inp.user_text(exc, lang))], hidden, hidden, hidden, True
    if p is None:
        return view.patrol(None, True, lang), btn, hidden, hidden, True
    return view.patrol(p, True, lang), hidden, btn, "field-btn field-btn-danger", False


@secure_callback(
    "patrol.run",
    Output(fid.PATROL_MSG, "children"),
    Output(fid.PATROL_REV, "data"),
    Input(fid.PATROL_GPS, "data"),
    Input(fid.PATROL_END, "n_clicks"),
    State(fid.PATROL_REV, "data"),
    prevent_initial_call=True,
)
def patrol_do(gps, end_clicks, rev):
    """Start or check in at the phone's position, or end the patrol."""
    lang = current_lang()
    bump = (rev + 1) if isinstance(rev, int) else 1
    try:
        actor = _actor()
        if ctx.triggered_id == fid.PATROL_END:
            if not end_clicks:
                return None, nu
            p = patrols.end(actor)
            return _ok(t("field.patrol.ended", lang).format(n=len(p["checkins"]))), bump
        pos = inp.gps(gps)
        if pos is None:
            return None, nu
        do, lon, lat = pos
        if do == "start":
            patrols.start(actor, lon=lon, lat=lat)
            return _ok(t("field.patrol.started", lang)), bump
        patrols.checkin(actor, lon=lon, lat=lat)
        return _ok(t("field.patrol.checked", lang)), bump
    except GridAtlasError as exc:
        return _bad(inp.user_text(exc, lang)), bump


# ----------------------------------------------------------------------------- browser side

# tabs, taps, the phone's position and the marker run in the browser (assets/field.js)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="tab"),
    Output(fid.ROOT, "className"),
    Output({"type": fid.TAB, "index": ALL}, "className"),
    Input({"type": fid.TAB, "index": ALL}, "n_clicks"),
    Input(fid.MAP, "clickData"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="tapPoint"),
    Output(fid.POINT, "data"),
    Input(fid.MAP, "clickData"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="locate"),
    Output(fid.POINT, "data", allow_duplicate=True),
    Output(fid.GEO_MSG, "children"),
    Input(fid.LOCATE, "n_clicks"),
    State(fid.CONFIG, "data"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="showPoint"),
    Output(fid.MARKER_LAYER, "data"),
    Output(fid.POINT_TEXT, "children"),
    Output(fid.MAP, "viewport", allow_duplicate=True),
    Input(fid.POINT, "data"),
    State(fid.CONFIG, "data"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="patrolPosition"),
    Output(fid.PATROL_GPS, "data"),
    Output(fid.PATROL_MSG, "children", allow_duplicate=True),
    Input(fid.PATROL_START, "n_clicks"),
    Input(fid.PATROL_CHECKIN, "n_clicks"),
    Input(fid.PATROL_TICK, "n_intervals"),
    State(fid.CONFIG, "data"),
    prevent_initial_call=True,
)
clientside_callback(
    dash.ClientsideFunction(namespace="field", function_name="photoName"),
    Output(fid.PHOTO_NAME, "children"),
    Input(fid.PHOTO, "filename"),
    Input(fid.PHOTO, "contents"),
    State(fid.CONFIG, "data"),
    prevent_initial_call=True,
)
