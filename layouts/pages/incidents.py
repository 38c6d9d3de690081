"""Incidents (/incidents): the latest cases with their state."""

from __future__ import annotations

import dash
from dash import Input, Output, dcc, html

from geo.errors import GridAtlasError
from geo.repository import summary
from geo.repository.scope import Scope
from layouts import ids
from layouts.auth import current_principal
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback

dash.register_page(__name__, path="/incidents", title="GridAtlas · 事件", name="incidents")


def layout(**_query: str) -> html.Div:
    return html.Div(
        className="ga-page",
        children=[
            dcc.Store(id=ids.INC_BOOT, data=0),
            page_header("incidents.title", "incidents.intro"),
            html.Div(id=ids.INC_ERROR, className="ga-error", role="alert"),
            html.Div(id=ids.INC_TABLE),
        ],
    )


@secure_callback(
    "view.incidents",
    Output(ids.INC_TABLE, "children"),
    Output(ids.INC_ERROR, "children"),
    Input(ids.INC_BOOT, "data"),
)
def load_incidents(_boot: int):
    lang = current_lang()
    en = lang == "en"
    try:
        rows = summary.recent_incidents(Scope.of(current_principal()), 200)
    except GridAtlasError as exc:
        return None, f"{t('error.db')}: {exc.user_msg}"
    columns = [
        ("col.code", "code"),
        ("col.title", "title"),
        ("col.category", lambda r: r["category_en"] if en else r["category"]),
        ("col.severity", lambda r: t(f"severity.{r['severity']}", lang)),
        ("col.state", lambda r: t(f"state.{r['state']}", lang)),
        ("col.community", lambda r: (r["community_en"] if en else r["community"]) or ""),
        ("col.grid", "grid_code"),
        ("col.reported", lambda r: fmt_datetime(r["reported_at"], lang)),
    ]
    return data_table(
        rows, columns, table_id="incident-list",
        row_class=lambda r: f"sev-{r['severity']} state-{r['state']}",
    ), None
