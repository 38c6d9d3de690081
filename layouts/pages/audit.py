"""Audit log (/audit): leaders and admins browse and filter who did what."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, dcc, html

from geo.access import audit
from geo.errors import GridAtlasError
from geo.settings import get_settings
from layouts import ids
from layouts.auth import current_principal
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback

dash.register_page(__name__, path="/audit", title="GridAtlas · 审计日志", name="audit")


def layout(**_query: str) -> html.Div:
    lang = current_lang()
    return html.Div(
        className="ga-page",
        children=[
            page_header("audit.title", "audit.intro"),
            html.Div(
                className="ga-filters",
                children=[
                    dcc.Input(id=ids.AUDIT_ACTOR, placeholder=t("audit.actor", lang),
                              debounce=True, type="text"),
                    dcc.Input(id=ids.AUDIT_ACTION, placeholder=t("audit.action", lang),
                              debounce=True, type="text"),
                    dcc.DatePickerRange(id=ids.AUDIT_DATES, display_format="YYYY-MM-DD"),
                ],
            ),
            html.Div(id=ids.AUDIT_ERROR, className="ga-error", role="alert"),
            html.Div(id=ids.AUDIT_TABLE),
        ],
    )


def _day_start(value) -> datetime | None:
    """Midnight (local time) of a ``YYYY-MM-DD`` date; GridAtlasError for anything else."""
    if not value:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        d = date.fromisoformat(value[:10])
    except ValueError:
        raise GridAtlasError(
            f"日期无效：{str(value)[:20]}（应为 YYYY-MM-DD）/ not a date: {str(value)[:20]!r} "
            "(use YYYY-MM-DD)") from None
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(get_settings().timezone))


def _text(value, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise GridAtlasError(f"{what}无效 / {what}: not a text")
    return value


@secure_callback(
    "view.audit",
    Output(ids.AUDIT_TABLE, "children"),
    Output(ids.AUDIT_ERROR, "children"),
    Input(ids.AUDIT_ACTOR, "value"),
    Input(ids.AUDIT_ACTION, "value"),
    Input(ids.AUDIT_DATES, "start_date"),
    Input(ids.AUDIT_DATES, "end_date"),
)
def load_entries(actor, action, start, end):
    lang = current_lang()
    try:
        since, until = _day_start(start), _day_start(end)
        actor, action = _text(actor, "用户 actor"), _text(action, "操作 action")
    except GridAtlasError as exc:
        return None, exc.user_msg
    try:
        rows = audit.browse(
            current_principal(), actor=actor, action=action,
            since=since, until=until + timedelta(days=1) if until else None,
        )
    except GridAtlasError as exc:
        return None, f"{t('error.db', lang)}: {exc.user_msg}"
    columns = [
        ("col.at", lambda r: fmt_datetime(r["at"], lang)),
        ("audit.actor", "actor"),
        ("col.role", "role"),
        ("audit.action", "action"),
        ("col.scope", "scope_code"),
        ("col.target", "target"),
        ("col.detail", lambda r: json.dumps(
            {k: r[k] for k in ("before_ids", "after_ids", "detail") if r[k] is not None},
            ensure_ascii=False)),
    ]
    return data_table(rows, columns, table_id="audit-entries"), None
