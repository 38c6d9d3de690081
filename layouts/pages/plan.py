"""Grid planning (/plan): communities against the household band."""

from __future__ import annotations

import dash
from dash import Input, Output, dcc, html

from geo import queries
from geo.errors import GridAtlasError
from layouts import ids
from layouts.auth import current_principal
from layouts.components import data_table, page_header
from layouts.secure import secure_callback
from layouts.i18n import current_lang, t

dash.register_page(__name__, path="/plan", title="GridAtlas · 网格规划", name="plan")


def layout(**_query: str) -> html.Div:
    return html.Div(
        className="ga-page",
        children=[
            dcc.Store(id=ids.PLAN_BOOT, data=0),
            page_header("plan.title", "plan.intro"),
            html.Div(id=ids.PLAN_ERROR, className="ga-error", role="alert"),
            html.Div(id=ids.PLAN_TABLE),
        ],
    )


@secure_callback(
    "view.plan",
    Output(ids.PLAN_TABLE, "children"),
    Output(ids.PLAN_ERROR, "children"),
    Input(ids.PLAN_BOOT, "data"),
)
def load_communities(_boot: int):
    en = current_lang() == "en"
    try:
        rows = queries.community_summary(current_principal().scope_code)
    except GridAtlasError as exc:
        return None, f"{t('error.db')}: {exc.user_msg}"
    columns = [
        ("col.code", "code"),
        ("col.community", lambda r: (r["name_en"] if en and r["name_en"] else r["name"])),
        ("col.street", lambda r: (r["street_en"] if en and r["street_en"] else r["street"])),
        ("col.households", lambda r: f"{r['households']:,}"),
        ("col.grids", "grids"),
        ("col.in_band", lambda r: f"{r['in_band']}/{r['grids']}"),
        ("col.version", "version_no"),
    ]
    return data_table(rows, columns, table_id="plan-communities"), None
