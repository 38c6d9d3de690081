"""The frame around every page: top bar with navigation, language switch and clock."""

from __future__ import annotations

import dash
from dash import Input, Output, clientside_callback, dcc, html

from geo.access.permissions import allowed, page_action
from geo.access.roles import Principal, role_name
from geo.settings import get_settings
from layouts import ids, strings_import  # noqa: F401  (nav.import)
from layouts.auth import current_principal
from layouts.i18n import current_lang, t

NAV = (
    ("/", "nav.command"),
    ("/plan", "nav.plan"),
    ("/review", "nav.review"),
    ("/incidents", "nav.incidents"),
    ("/field", "nav.field"),  # the phone page of the field (layouts/pages/field.py)
    ("/audit", "nav.audit"),
    ("/routes", "nav.routes"),
    ("/import", "nav.import"),  # uploading a data file (layouts/pages/import_page.py)
)


def _nav_items(principal: Principal | None) -> list[tuple[str, str]]:
    """Pages this principal may open (the server refuses the others anyway)."""
    if principal is None:
        return []
    return [
        (path, key) for path, key in NAV
        if allowed(principal.role, page_action(path) or "")
    ]


def _user_badge(principal: Principal | None, lang: str):
    if principal is None or principal.anonymous_wall:
        return None
    zh, en = role_name(principal.role, principal.scope_code)
    return html.Span(
        className="ga-user",
        children=[
            html.Span(principal.display_name or principal.username, className="ga-user-name"),
            html.Span(zh if lang == "zh" else en, className="ga-user-role"),
            html.A(t("nav.password", lang), href="/account/password", className="ga-logout ga-account"),
            html.A(t("nav.logout", lang), href="/logout", className="ga-logout"),
        ],
    )


def layout() -> html.Div:
    """Built per request (so the language follows the visitor's cookie); no database."""
    lang = current_lang()
    principal = current_principal()
    return html.Div(
        className=f"ga-app lang-{lang}",
        lang="zh-CN" if lang == "zh" else "en",
        **{"data-tz": get_settings().timezone},
        children=[
            dcc.Location(id=ids.URL, refresh="callback-nav"),
            html.Header(
                className="ga-topbar",
                children=[
                    html.Div(
                        className="ga-brand",
                        children=[
                            html.Span("GridAtlas", className="ga-brand-name"),
                            html.Span(t("app.subtitle", lang), className="ga-brand-sub"),
                        ],
                    ),
                    html.Nav(
                        className="ga-nav",
                        children=[
                            dcc.Link(t(key, lang), href=path, className="ga-nav-link")
                            for path, key in _nav_items(principal)
                        ],
                    ),
                    html.Div(
                        className="ga-topbar-right",
                        children=[
                            html.Span(id=ids.CLOCK, className="ga-clock"),
                            _user_badge(principal, lang),
                            html.Button(
                                t("lang.switch", lang),
                                id=ids.LANG_SWITCH,
                                className="ga-lang",
                                **{"data-lang": "en" if lang == "zh" else "zh"},
                            ),
                        ],
                    ),
                ],
            ),
            html.Main(dash.page_container, className="ga-main"),
        ],
    )


# The language switch is pure UI: it runs in the browser. So does the clock, without a
# callback (assets/gridatlas.js writes the span's text each second).
clientside_callback(
    dash.ClientsideFunction(namespace="gridatlas", function_name="switchLang"),
    Output(ids.LANG_SWITCH, "title"),
    Input(ids.LANG_SWITCH, "n_clicks"),
    prevent_initial_call=True,
)
