"""Wall alerts: new major cases and cases newly overdue, until the operator acknowledges.

The list is read on the refresh tick (:func:`geo.repository.wall.alerts`, the reader's
scope, their own acknowledgements excluded); acknowledging writes per user in the database
(:func:`geo.repository.wall.acknowledge_alerts`), so an acknowledged alert stays gone after
a reload and on every web process. Only roles that may acknowledge (``wall.alert_ack``) are
shown alerts. A short tone on a new alert when ``WALL_ALERT_SOUND=1`` (off by default).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dash
from dash import ALL, Input, Output, State, clientside_callback, ctx, dcc, html

from geo.access.permissions import allowed
from geo.errors import GridAtlasError
from geo.repository import wall
from geo.settings import get_settings
from layouts import ids, strings_wall  # noqa: F401  (strings_wall registers the strings)
from layouts.auth import current_principal
from layouts.i18n import current_lang, fmt_datetime, t
from layouts.secure import secure_callback
from layouts.wall_common import filters

log = logging.getLogger(__name__)


def alerts_box(lang: str) -> html.Div:
    """The alert box (hidden while empty) and its stores."""
    return html.Div(
        className="ga-alerts-wrap",
        children=[
            dcc.Store(id=ids.CMD_ALERT_IDS),
            dcc.Store(id=ids.CMD_ALERT_SOUND, data=bool(get_settings().wall_alert_sound)),
            html.Span(id=ids.CMD_ALERT_BEEP, hidden=True),
            html.Div(className="ga-alerts-head", children=[
                html.Span(t("wall.alerts.title", lang), className="ga-alerts-title"),
                html.Button(t("wall.alerts.ack_all", lang), id=ids.CMD_ALERT_ACK_ALL,
                            className="ga-btn-wall ga-alert-ack-all"),
            ]),
            html.Ul(id=ids.CMD_ALERTS, className="ga-alerts", role="alert"),
        ],
    )


def _may_ack(principal) -> bool:
    return (principal is not None and not principal.anonymous_wall
            and allowed(principal.role, "wall.alert_ack"))


def _items(rows: list[dict], lang: str) -> list:
    en = lang == "en"
    out = []
    for r in rows:
        kind = r["kind"]
        out.append(html.Li(className=f"ga-alert ga-alert-{kind}", children=[
            html.Span(t(f"wall.alerts.{kind}", lang), className="ga-alert-kind"),
            html.Span(fmt_datetime(r["at"], lang)[-5:], className="ga-alert-time"),
            html.Span(r["code"], className="ga-code"),
            html.Span(r["title"], className="ga-alert-title"),
            html.Span((r["community_en"] if en and r["community_en"] else r["community"]) or "",
                      className="ga-alert-place"),
            html.Button(t("wall.alerts.ack", lang), className="ga-btn-wall ga-alert-ack",
                        id={"type": ids.CMD_ALERT_ACK, "index": int(r["event_id"])}),
        ]))
    return out


def _current(stored, lang: str):
    principal = current_principal()
    if not _may_ack(principal):
        return [], []
    scope, _flt = filters(stored)
    rows = wall.alerts(principal, datetime.now(UTC), scope)
    return _items(rows, lang), [int(r["event_id"]) for r in rows]


@secure_callback(
    "view.command",
    Output(ids.CMD_ALERTS, "children"),
    Output(ids.CMD_ALERT_IDS, "data"),
    Input(ids.CMD_TRIGGER, "data"),
    Input(ids.CMD_FILTERS, "data"),
    State(ids.CMD_ALERT_IDS, "data"),
)
def load_alerts(_trigger, stored, shown):
    """The reader's unacknowledged alerts, on the tick (resent only when they change)."""
    lang = current_lang()
    try:
        items, event_ids = _current(stored, lang)
    except GridAtlasError as exc:
        log.warning("alerts unavailable: %s", exc.user_msg)
        return dash.no_update, dash.no_update
    if event_ids == shown:
        return dash.no_update, dash.no_update
    return items, event_ids


@secure_callback(
    "wall.alert_ack",
    Output(ids.CMD_ALERTS, "children", allow_duplicate=True),
    Output(ids.CMD_ALERT_IDS, "data", allow_duplicate=True),
    Input({"type": ids.CMD_ALERT_ACK, "index": ALL}, "n_clicks"),
    Input(ids.CMD_ALERT_ACK_ALL, "n_clicks"),
    State(ids.CMD_ALERT_IDS, "data"),
    State(ids.CMD_FILTERS, "data"),
    prevent_initial_call=True,
)
def acknowledge(clicks, _all, shown, stored):
    """Acknowledge one alert (its button) or all those shown."""
    lang = current_lang()
    trig = ctx.triggered_id
    if trig == ids.CMD_ALERT_ACK_ALL:
        chosen = shown if isinstance(shown, list) else []
    elif isinstance(trig, dict) and isinstance(clicks, list) and any(clicks):
        chosen = [trig.get("index")]
    else:
        return dash.no_update, dash.no_update
    try:
        if chosen:
            wall.acknowledge_alerts(current_principal(), chosen)
        return _current(stored, lang)
    except GridAtlasError as exc:
        return [html.Li(exc.user_msg, className="ga-alert ga-error")], dash.no_update


clientside_callback(
    dash.ClientsideFunction(namespace="wall", function_name="alertSound"),
    Output(ids.CMD_ALERT_BEEP, "title"),
    Input(ids.CMD_ALERT_IDS, "data"),
    State(ids.CMD_ALERT_SOUND, "data"),
)
