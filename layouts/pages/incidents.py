"""Incidents (/incidents): every role works its cases here.

The list is paged and sorted on the server over the whole table
(:func:`geo.incidents.listing.list_cases`, the actor's scope first, a department its own
cases); the URL keeps the filters, the page, the inbox view and the open case. A row opens
the case: its facts, a small map, the timeline and exactly the actions this user may take
now (:func:`geo.incidents.desk.available_actions`), each a form checked before it is sent to
the incident service, whose refusals are shown in the user's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import dash
from dash import ALL, MATCH, Input, Output, State, clientside_callback, ctx, dcc, html

from geo.errors import GridAtlasError
from geo.incidents import desk, export, listing, service
from geo.repository import wall
from geo.repository.scope import Scope
from layouts import ids
from layouts.auth import current_principal
from layouts.components import page_header
from layouts.i18n import current_lang, t
from layouts.incidents_case import case_view
from layouts.incidents_forms import FIELDS, check, submit
from layouts.incidents_table import export_hrefs, filter_bar, last_page, query_of, status_text, table
from layouts.incidents_text import user_text
from layouts.secure import secure_callback

dash.register_page(__name__, path="/incidents", title="GridAtlas · 事件", name="incidents")

QUERY_KEYS = (*export.QUERY_KEYS, "view", "case")


def _actor() -> service.Actor:
    return service.actor_for(current_principal())


def _menus(actor: service.Actor) -> dict:
    opts = wall.filter_options(Scope.of(actor.principal))
    return {"categories": desk.categories(actor), "streets": opts["streets"],
            "communities": opts["communities"], "departments": desk.departments(actor)}


def _names(menus: dict) -> dict:
    return {
        "communities": {r["code"]: r["name"] for r in menus["communities"]},
        "departments": {r["code"]: r["name"] for r in menus["departments"]},
        "departments_en": {r["code"]: r.get("name_en") or r["code"] for r in menus["departments"]},
        "categories_en": {r["code"]: r.get("name_en") or r["code"] for r in menus["categories"]},
    }


def layout(**query: str) -> html.Div:
    lang = current_lang()
    query = {k: str(v)[:100] for k, v in query.items() if k in QUERY_KEYS and v}
    error = None
    try:
        if current_principal() is None:  # Dash's validation layout, built with no one signed in
            raise GridAtlasError("")
        actor = _actor()
        menus = _menus(actor)
        dept = desk.department_code(actor) if actor.role == "department" else None
    except GridAtlasError as exc:
        menus = {"categories": [], "streets": [], "communities": [], "departments": []}
        dept, error = None, user_text(exc, lang) or None
    if dept:
        query["department"] = dept
    try:
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        page = 1
    return html.Div(className="ga-page inc-page", children=[
        dcc.Store(id=ids.INC_PAGE, data=page),
        dcc.Store(id=ids.INC_SELECTED, data=query.get("case")),
        dcc.Store(id=ids.INC_REFRESH, data=0),
        dcc.Store(id=ids.INC_CASE_VER),
        dcc.Store(id=ids.INC_URL_SINK),
        html.Span(id=ids.INC_URL_DONE, hidden=True),
        page_header("inc.title", "inc.intro"),
        html.Div(className="inc-toolbar", children=[
            dcc.RadioItems(id=ids.INC_VIEW, value=query.get("view") or "all", inline=True,
                           className="inc-view",
                           options=[{"label": t("inc.view.all", lang), "value": "all"},
                                    {"label": t("inc.view.inbox", lang), "value": "inbox"}]),
            html.A(t("inc.export.xlsx", lang), id=ids.INC_EXPORT_XLSX, className="ga-btn", href="#"),
            html.A(t("inc.export.csv", lang), id=ids.INC_EXPORT_CSV, className="ga-btn", href="#"),
        ]),
        filter_bar(query, menus, lang, dept_locked=bool(dept)),
        html.Div(id=ids.INC_ERROR, className="ga-error", role="alert", children=error),
        html.Div(className="inc-body", children=[
            html.Div(className="inc-list", children=[
                html.Div(className="inc-pager", children=[
                    html.Span(id=ids.INC_STATUS, className="inc-status"),
                    html.Button(t("inc.prev", lang), id=ids.INC_PREV, className="ga-btn ga-btn-small"),
                    html.Button(t("inc.next", lang), id=ids.INC_NEXT, className="ga-btn ga-btn-small"),
                ]),
                dcc.Loading(html.Div(id=ids.INC_TABLE), type="dot", delay_show=400),
            ]),
            html.Aside(className="inc-case", children=[
                html.Div(id=ids.INC_ACT_MSG, className="inc-act-msg", role="status"),
                html.Div(id=ids.INC_CASE, children=html.P(t("inc.case.none", lang), className="ga-empty")),
            ]),
        ]),
    ])


_FILTERS = [
    Input(ids.INC_F_STATE, "value"), Input(ids.INC_F_SEVERITY, "value"),
    Input(ids.INC_F_CATEGORY, "value"), Input(ids.INC_F_STREET, "value"),
    Input(ids.INC_F_COMMUNITY, "value"), Input(ids.INC_F_GRID, "value"),
    Input(ids.INC_F_DEPARTMENT, "value"), Input(ids.INC_F_OVERDUE, "value"),
    Input(ids.INC_F_DATES, "start_date"), Input(ids.INC_F_DATES, "end_date"),
    Input(ids.INC_F_TEXT, "value"), Input(ids.INC_F_SORT, "value"), Input(ids.INC_VIEW, "value"),
]
_FILTER_IDS = [ids.INC_F_STATE, ids.INC_F_SEVERITY, ids.INC_F_CATEGORY, ids.INC_F_STREET,
               ids.INC_F_COMMUNITY, ids.INC_F_GRID, ids.INC_F_DEPARTMENT, ids.INC_F_OVERDUE,
               ids.INC_F_TEXT]


@secure_callback(
    "view.incidents",
    [Output(i, "value") for i in _FILTER_IDS]
    + [Output(ids.INC_F_DATES, "start_date"), Output(ids.INC_F_DATES, "end_date")],
    Input(ids.INC_RESET, "n_clicks"),
    State(ids.INC_F_DEPARTMENT, "value"), State(ids.INC_F_DEPARTMENT, "disabled"),
    prevent_initial_call=True,
)
def reset_filters(_n, dept, locked):
    return [[], [], None, None, None, "", dept if locked else None, [], "", None, None]


@secure_callback(
    "view.incidents",
    Output(ids.INC_TABLE, "children"), Output(ids.INC_STATUS, "children"),
    Output(ids.INC_EXPORT_XLSX, "href"), Output(ids.INC_EXPORT_CSV, "href"),
    Output(ids.INC_URL_SINK, "data"), Output(ids.INC_ERROR, "children"),
    Output(ids.INC_PAGE, "data"), Output(ids.INC_PREV, "disabled"), Output(ids.INC_NEXT, "disabled"),
    *_FILTERS,
    Input(ids.INC_PREV, "n_clicks"), Input(ids.INC_NEXT, "n_clicks"), Input(ids.INC_REFRESH, "data"),
    Input(ids.INC_SELECTED, "data"),
    State(ids.INC_PAGE, "data"),
)
def load_list(state, severity, category, street, community, grid, department, overdue, d0, d1,
              text, sort, view, _prev, _next, _refresh, selected, page):
    lang = current_lang()
    trig = ctx.triggered_id
    page = page if isinstance(page, int) and page > 0 else 1
    if trig == ids.INC_PREV:
        page = max(1, page - 1)
    elif trig == ids.INC_NEXT:
        page += 1
    elif trig not in (None, ids.INC_REFRESH, ids.INC_SELECTED):
        page = 1
    # a control's value as the browser may send it; a value of another type counts as unset
    state = [str(x) for x in state] if isinstance(state, list) else None
    severity = [str(x) for x in severity] if isinstance(severity, list) else None
    grid = grid if isinstance(grid, str) else ""
    d0 = d0 if isinstance(d0, str) else ""
    d1 = d1 if isinstance(d1, str) else ""
    text = text if isinstance(text, str) else ""
    values = {"state": state, "severity": severity, "category": category, "street": street,
              "community": community, "grid": grid.strip(), "department": department,
              "overdue": overdue, "from": d0[:10], "to": d1[:10],
              "q": text.strip(), "sort": sort, "page": page, "view": view,
              "case": selected if isinstance(selected, str) else None}
    query = query_of(values)
    search = ("?" + urlencode(query)) if query else ""
    xlsx, csv = export_hrefs({k: v for k, v in query.items() if k != "view"})
    none = (dash.no_update,) * 2
    try:
        actor = _actor()
        flt = desk.scoped_filter(actor, export.filter_from_query(query))
        if view == "inbox":
            flt = desk.inbox_filter(actor, flt)
            if flt is None:
                return (html.P(t("inc.inbox.none", lang), className="ga-empty"), "", xlsx, csv,
                        search, None, 1, True, True)
        now = datetime.now(UTC)
        result = listing.list_cases(actor, flt, now=now)
        names = _names(_menus(actor))
    except GridAtlasError as exc:
        return (None, "", xlsx, csv, search, user_text(exc, lang), page, *none)
    return (table(result, names, now, lang, values["case"]), status_text(result, lang), xlsx, csv,
            search, None, page, page <= 1, last_page(result))


clientside_callback(
    dash.ClientsideFunction(namespace="incidents", function_name="syncUrl"),
    Output(ids.INC_URL_DONE, "title"),
    Input(ids.INC_URL_SINK, "data"),
)


@secure_callback(
    "view.incidents",
    Output(ids.INC_SELECTED, "data"),
    Input({"type": ids.INC_ROW, "index": ALL}, "n_clicks"),
    Input({"type": ids.INC_CASE_CLOSE, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def open_case(rows, closes):
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        return dash.no_update  # a table or case redrawn, nothing clicked
    if trig.get("type") == ids.INC_CASE_CLOSE:
        return None
    return str(trig.get("index"))[:64]


@secure_callback(
    "view.incidents",
    Output(ids.INC_CASE, "children"), Output(ids.INC_CASE_VER, "data"),
    Input(ids.INC_SELECTED, "data"), Input(ids.INC_REFRESH, "data"),
)
def show_case(code, _refresh):
    lang = current_lang()
    if not isinstance(code, str) or not code:
        return html.P(t("inc.case.none", lang), className="ga-empty"), None
    try:
        actor = _actor()
        case = service.show(actor, code)
        if actor.role == "department" and case.get("department_id") != actor.department_id \
                and not any(d["code"] == desk.department_code(actor)
                            for w in case.get("whistles") or [] for d in w["departments"]):
            raise service.NotFound("case", f"没有事件 {code}（或不属于本部门）",
                                   f"no case {code} for your department")
        menus = _menus(actor)
        actions = desk.available_actions(actor, case)
        outline = desk.grid_outline(actor, case.get("grid_code"))
    except GridAtlasError as exc:
        return html.P(user_text(exc, lang), className="ga-error"), None
    view = case_view(case, actions, outline, menus["departments"], _names(menus), lang,
                     readonly=actor.role == "leader")
    return view, {"code": case["code"], "version": case["version"]}


@secure_callback(
    "incident.transition",
    Output(ids.INC_ACT_MSG, "children"), Output(ids.INC_REFRESH, "data"),
    Input({"type": ids.INC_ACT, "index": ALL}, "n_clicks"),
    State({"type": ids.INC_FIELD, "index": ALL}, "value"),
    State({"type": ids.INC_PHOTO, "index": ALL}, "contents"),
    State(ids.INC_CASE_VER, "data"), State(ids.INC_REFRESH, "data"),
    prevent_initial_call=True,
)
def act(clicks, _values, _photos, seen, refresh):
    lang = current_lang()
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        return dash.no_update, dash.no_update
    action = str(trig.get("index"))
    if action not in FIELDS or not isinstance(seen, dict) or not seen.get("code"):
        return html.Span(t("inc.case.no_actions", lang), className="ga-bad"), dash.no_update
    values = {}
    for item in ctx.states_list[0]:
        owner, _, name = str(item["id"]["index"]).partition(":")
        if owner == action:
            values[name] = item.get("value")
    photo = next((p.get("value") for p in ctx.states_list[1] if p["id"]["index"] == action), None)
    missing = check(action, values, lang)
    if missing:
        return html.Span(missing, className="ga-bad"), dash.no_update
    try:
        case = submit(_actor(), action, {"code": seen["code"], "version": seen.get("version")},
                      values, photo, lang)
    except GridAtlasError as exc:
        return html.Span(user_text(exc, lang), className="ga-bad"), (refresh or 0) + 1
    done = t("inc.done", lang).format(what=t(f"act.{action}", lang))
    return html.Span(f"{done}（{case['code']}）" if lang == "zh" else f"{done} ({case['code']})",
                     className="ga-ok"), (refresh or 0) + 1


@secure_callback(
    "view.incidents",
    Output({"type": ids.INC_PHOTO_NAME, "index": MATCH}, "children"),
    Input({"type": ids.INC_PHOTO, "index": MATCH}, "filename"),
    prevent_initial_call=True,
)
def photo_chosen(name):
    return t("inc.field.photo_chosen", current_lang()).format(n=str(name or "")[:80]) if name else ""

