"""Dispatch routing (/routes): an admin overrides a category's department in one street.

The overrides are read and written by the incident service (``list_routes``,
``set_route``: admins only, audited); the dispatch form proposes the routed department.
"""

from __future__ import annotations

from datetime import datetime

import dash
from dash import Input, Output, State, dcc, html

from geo.errors import GridAtlasError
from geo.incidents import desk, service
from geo.repository import wall
from geo.repository.scope import Scope
from layouts import ids
from layouts.auth import current_principal
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, dropdown, fmt_datetime, t
from layouts.incidents_text import user_text
from layouts.secure import secure_callback

dash.register_page(__name__, path="/routes", title="GridAtlas · 派遣路由", name="routes")


def _opts(rows, lang, with_code=True):
    return [{"label": (f"{r['code']} " if with_code else "")
             + ((r.get("name_en") if lang == "en" else r.get("name")) or ""), "value": r["code"]}
            for r in rows]


def layout(**_query: str) -> html.Div:
    lang = current_lang()
    try:
        if current_principal() is None:  # Dash's validation layout, built with no one signed in
            raise GridAtlasError("")
        actor = service.actor_for(current_principal())
        cats = desk.categories(actor)
        deps = desk.departments(actor)
        streets = wall.filter_options(Scope.of(actor.principal))["streets"]
        error = None
    except GridAtlasError as exc:
        cats, deps, streets, error = [], [], [], user_text(exc, lang) or None
    return html.Div(className="ga-page inc-page", children=[
        dcc.Store(id=ids.ROUTES_BOOT, data=0),
        page_header("routes.title", "routes.intro"),
        html.Div(className="inc-filters routes-form", children=[
            dropdown(id=ids.ROUTES_CATEGORY, options=_opts(cats, lang), className="inc-f inc-f-wide",
                         placeholder=t("routes.category", lang)),
            dropdown(id=ids.ROUTES_STREET, options=_opts(streets, lang), className="inc-f inc-f-wide",
                         placeholder=t("routes.street", lang)),
            dropdown(id=ids.ROUTES_DEPARTMENT, options=_opts(deps, lang), className="inc-f inc-f-wide",
                         placeholder=t("routes.department", lang)),
            html.Button(t("routes.save", lang), id=ids.ROUTES_SAVE, className="ga-btn ga-btn-primary"),
        ]),
        html.Div(id=ids.ROUTES_MSG, role="status", className="inc-act-msg", children=error),
        html.Div(id=ids.ROUTES_TABLE),
    ])


def _table(actor, lang):
    rows = service.list_routes(actor)
    columns = [("routes.category", "category"), ("routes.street", "street"),
               ("inc.col.department", "department"), ("routes.col.by", "updated_by"),
               ("routes.col.at", lambda r: fmt_datetime(datetime.fromisoformat(r["updated_at"]), lang)
                if r.get("updated_at") else "")]
    return data_table(rows, columns, table_id="routes-list")


@secure_callback(
    "incident.route",
    Output(ids.ROUTES_TABLE, "children"), Output(ids.ROUTES_MSG, "children", allow_duplicate=True),
    Input(ids.ROUTES_BOOT, "data"),
    prevent_initial_call="initial_duplicate",
)
def load_routes(_boot):
    lang = current_lang()
    try:
        return _table(service.actor_for(current_principal()), lang), dash.no_update
    except GridAtlasError as exc:
        return None, html.Span(user_text(exc, lang), className="ga-bad")


@secure_callback(
    "incident.route",
    Output(ids.ROUTES_MSG, "children"), Output(ids.ROUTES_TABLE, "children", allow_duplicate=True),
    Input(ids.ROUTES_SAVE, "n_clicks"),
    State(ids.ROUTES_CATEGORY, "value"), State(ids.ROUTES_STREET, "value"),
    State(ids.ROUTES_DEPARTMENT, "value"),
    prevent_initial_call=True,
)
def save_route(_n, category, street, department):
    lang = current_lang()
    if not category or not street:
        return html.Span(t("routes.need", lang), className="ga-bad"), dash.no_update
    try:
        actor = service.actor_for(current_principal())
        out = service.set_route(actor, category=str(category), street=str(street),
                                department=str(department) if department else None)
        table = _table(actor, lang)
    except GridAtlasError as exc:
        return html.Span(user_text(exc, lang), className="ga-bad"), dash.no_update
    msg = (t("routes.saved", lang).format(c=out["category"], s=out["street"], d=out["department"])
           if out["department"] else t("routes.removed", lang).format(c=out["category"], s=out["street"]))
    return html.Span(msg, className="ga-ok"), table
