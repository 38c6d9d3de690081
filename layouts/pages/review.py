"""Leaders' review (/review): read-only overview per street and community."""

from __future__ import annotations

from collections import defaultdict

import dash
from dash import Input, Output, dcc, html

from geo.errors import GridAtlasError
from geo.repository import summary
from geo.repository.scope import Scope
from layouts import ids
from layouts.auth import current_principal
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, t
from layouts.secure import secure_callback

dash.register_page(__name__, path="/review", title="GridAtlas · 领导审阅", name="review")


def layout(**_query: str) -> html.Div:
    return html.Div(
        className="ga-page",
        children=[
            dcc.Store(id=ids.REVIEW_BOOT, data=0),
            page_header("review.title", "review.intro"),
            html.Div(id=ids.REVIEW_ERROR, className="ga-error", role="alert"),
            html.Div(id=ids.REVIEW_TABLE),
        ],
    )


@secure_callback(
    "view.review",
    Output(ids.REVIEW_TABLE, "children"),
    Output(ids.REVIEW_ERROR, "children"),
    Input(ids.REVIEW_BOOT, "data"),
)
def load_streets(_boot: int):
    en = current_lang() == "en"
    try:
        rows = summary.community_summary(Scope.of(current_principal()))
    except GridAtlasError as exc:
        return None, f"{t('error.db')}: {exc.user_msg}"
    streets: dict[str, dict] = defaultdict(
        lambda: {"households": 0, "grids": 0, "in_band": 0, "communities": 0}
    )
    for r in rows:
        key = r["street_en"] if en and r["street_en"] else r["street"]
        s = streets[key]
        s["street"] = key
        s["households"] += r["households"]
        s["grids"] += r["grids"]
        s["in_band"] += r["in_band"]
        s["communities"] += 1
    columns = [
        ("col.street", "street"),
        ("col.community", "communities"),
        ("col.households", lambda r: f"{r['households']:,}"),
        ("col.grids", "grids"),
        ("col.in_band", lambda r: f"{r['in_band']}/{r['grids']}"),
    ]
    return data_table(list(streets.values()), columns, table_id="review-streets"), None
