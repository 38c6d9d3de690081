"""The audit log's table: action and role names in the page's language, a readable summary of
what changed, and the raw record one click away (a ``details`` element)."""

from __future__ import annotations

import json
from typing import Any

from dash import html

import layouts.strings_audit as sa
from geo.access import audit
from geo.access.roles import ROLE_NAMES
from layouts.i18n import STRINGS, fmt_datetime, t


def action_label(action: str | None, lang: str) -> str:
    """An action's name for people; an action with no label shows its key."""
    key = f"audit.act.{action}"
    return t(key, lang) if key in STRINGS else str(action or "")


def role_label(role: str | None, lang: str) -> str:
    if not role:
        return t("audit.system", lang)  # the loaders write no role
    names = ROLE_NAMES.get(role)
    if not names:
        return str(role)
    return names[1] if lang == "en" else names[0]


def action_options(lang: str) -> list[dict]:
    """Filter options: every known action by its label (the value is the action key)."""
    return [{"label": action_label(k, lang), "value": k} for k in sa.ACTION_LABELS]


def _value(field: str, v: Any, lang: str) -> str:
    if v is None or v == "" or v == []:
        return t("audit.none", lang)
    if isinstance(v, bool):
        return t("audit.yes" if v else "audit.no", lang)
    if field in ("from_state", "to_state") and f"state.{v}" in STRINGS:
        return t(f"state.{v}", lang)
    if field == "level" and f"audit.lv.{v}" in STRINGS:
        return t(f"audit.lv.{v}", lang)
    if field == "role":
        return role_label(str(v), lang)
    if field == "ids" or isinstance(v, list) and len(v) > 5:
        n = len(v) if isinstance(v, (list, dict)) else 1
        return t("audit.items", lang).format(n=n)
    if isinstance(v, list):
        return "、".join(str(x) for x in v) if lang == "zh" else ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return t("audit.items", lang).format(n=len(v))
    return str(v)


def _field(field: str, lang: str) -> str:
    if field == "ids":
        return t("col.target", lang)
    key = f"audit.f.{field}"
    return t(key, lang) if key in STRINGS else t("col.detail", lang)


def summary(entry: dict, lang: str) -> html.Div:
    """Before → after lines and the other facts of one entry, the raw JSON folded below."""
    s = audit.summary(entry)
    lines = []
    for field, before, after in s["changes"]:
        name = "" if field == "from_state" else _field(field, lang) + "："
        lines.append(html.Div([name, html.Span(_value(field, before, lang), className="audit-before"),
                               " → ", html.Span(_value(field, after, lang), className="audit-after")],
                              className="audit-change"))
    # only the fields with a name for people; the rest are counted and left to the raw record
    known = [(k, v) for k, v in s["facts"] if f"audit.f.{k}" in STRINGS]
    more = s["more"] + len(s["facts"]) - len(known)
    facts = [f"{_field(k, lang)}：{_value(k, v, lang)}" for k, v in known]
    if facts:
        lines.append(html.Div(("；" if lang == "zh" else "; ").join(facts), className="audit-facts"))
    if more:
        lines.append(html.Div(t("audit.more", lang).format(n=more), className="audit-more"))
    raw = {"action": entry.get("action"),
           **{k: entry.get(k) for k in ("before_ids", "after_ids", "detail") if entry.get(k) is not None}}
    lines.append(html.Details([html.Summary(t("audit.raw", lang)),
                               html.Pre(json.dumps(raw, ensure_ascii=False, indent=1, default=str),
                                        className="audit-raw")], className="audit-details"))
    return html.Div(lines, className="audit-summary")


def entries_table(rows: list[dict], lang: str):
    """The entries as a table (newest first, as read)."""
    if not rows:
        return html.P(t("table.empty", lang), className="ga-empty")
    heads = ["col.at", "audit.actor", "col.role", "audit.action", "col.scope", "col.target",
             "audit.col.summary"]
    body = [html.Tr([
        html.Td(fmt_datetime(r["at"], lang)), html.Td(r["actor"]), html.Td(role_label(r["role"], lang)),
        html.Td(action_label(r["action"], lang), className="audit-act"), html.Td(r["scope_code"]),
        html.Td(r["target"]), html.Td(summary(r, lang))]) for r in rows]
    return html.Table([html.Thead(html.Tr([html.Th(t(h, lang)) for h in heads])), html.Tbody(body)],
                      id="audit-entries", className="ga-table")
