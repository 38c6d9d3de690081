"""The frame around every page: top bar with navigation, language switch and clock."""

from __future__ import annotations

import dash
from dash import Input, Output, clientside_callback, dcc, html

from geo.settings import get_settings
from layouts import ids
from layouts.i18n import current_lang, t

NAV = (
    ("/", "nav.command"),
    ("/plan", "nav.plan"),
    ("/review", "nav.review"),
    ("/incidents", "nav.incidents"),
)


def layout() -> html.Div:
    """Built per request (so the language follows the visitor's cookie); no database."""
    lang = current_lang()
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
                            for path, key in NAV
                        ],
                    ),
                    html.Div(
                        className="ga-topbar-right",
                        children=[
                            html.Span(id=ids.CLOCK, className="ga-clock"),
                            html.Button(
                                t("lang.switch", lang),
                                id=ids.LANG_SWITCH,
                                className="ga-lang",
                                **{"data-lang": "en" if lang == "zh" else "zh"},
                            ),
                        ],
                    ),
                    dcc.Interval(id=ids.CLOCK_TICK, interval=1000),
                ],
            ),
            html.Main(dash.page_container, className="ga-main"),
        ],
    )


# The clock and the language switch are pure UI: they run in the browser.
clientside_callback(
    dash.ClientsideFunction(namespace="gridatlas", function_name="clock"),
    Output(ids.CLOCK, "children"),
    Input(ids.CLOCK_TICK, "n_intervals"),
)
clientside_callback(
    dash.ClientsideFunction(namespace="gridatlas", function_name="switchLang"),
    Output(ids.LANG_SWITCH, "title"),
    Input(ids.LANG_SWITCH, "n_clicks"),
    prevent_initial_call=True,
)
