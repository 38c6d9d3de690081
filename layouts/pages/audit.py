"""Audit log (/audit): leaders and admins browse and filter who did what."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, dcc, html

import layouts.strings_audit  # noqa: F401  (registers the strings)
from geo.access import audit
from geo.errors import GridAtlasError
from geo.settings import get_settings
from layouts import audit_view, ids
from layouts.auth import current_principal
from layouts.components import page_header
from layouts.i18n import current_lang, dropdown, t
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
                    dropdown(id=ids.AUDIT_ACTION, placeholder=t("audit.action_all", lang),
                                 options=audit_view.action_options(lang), className="audit-action"),
                    dcc.DatePickerRange(
                        id=ids.AUDIT_DATES, display_format="YYYY-MM-DD", first_day_of_week=1,
                        start_date_id="audit-from", end_date_id="audit-to",
                        month_format="YYYY年M月" if lang == "zh" else "MMMM YYYY", clearable=True,
                        start_date_placeholder_text=t("audit.from", lang),
                        end_date_placeholder_text=t("audit.to", lang)),
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
    return audit_view.entries_table(rows, lang), None
