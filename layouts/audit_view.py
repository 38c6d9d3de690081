"""The audit log's table: action and role names in the page's language, a readable summary of
what changed, and the raw record one click away (a ``details`` element)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dash import html

import layouts.strings_audit as sa
import layouts.strings_audit_values  # noqa: F401  (registers the value names)
from geo.access import audit
from layouts.i18n import STRINGS, fmt_datetime, t


def action_label(action: str | None, lang: str) -> str:
    """An action's name for people; an action with no label shows its key."""
    key = f"audit.act.{action}"
    return t(key, lang) if key in STRINGS else str(action or "")


def value_label(kind: str, value: Any, lang: str) -> str:
    """An enumerated value (``kind`` of :data:`layouts.strings_audit_values.VALUE_LABELS`) in
    the page's language; a value with no label shows as given."""
    key = f"audit.v.{kind}.{value}"
    return t(key, lang) if key in STRINGS else str(value)


def role_label(role: str | None, lang: str) -> str:
    if not role:
        return t("audit.system", lang)  # the loaders write no role
    return value_label("role", role, lang)


def action_options(lang: str) -> list[dict]:
    """Filter options: every known action by its label (the value is the action key)."""
    return [{"label": action_label(k, lang), "value": k} for k in sa.ACTION_LABELS]


# detail fields holding an enumerated value, by the kind of value
_ENUM_FIELDS = {"triage": "triage", "severity": "severity", "level": "level", "from_state": "state",
                "to_state": "state", "kind": "kind", "party_kind": "party_kind", "grade": "grade",
                "role": "role"}


# detail fields holding a time (written as ISO text)
_TIME_FIELDS = {"due_at", "until", "ended_at", "at"}


def _kind_of(field: str, action: str | None) -> str | None:
    """The kind of value ``field`` holds in an entry of ``action`` (some names depend on it)."""
    action = action or ""
    if field == "role" and action.startswith("grid_roles."):
        return "slot"  # a grid's role slot, not a user's role
    if field == "reason" and action == "patrol.end":
        return "patrol_reason"
    if field in ("before", "after") and action == "incident.triage":
        return "triage"
    return _ENUM_FIELDS.get(field)


def _value(field: str, v: Any, lang: str, action: str | None = None) -> str:
    if v is None or v == "" or v == []:
        return t("audit.none", lang)
    if isinstance(v, bool):
        return t("audit.yes" if v else "audit.no", lang)
    kind = _kind_of(field, action)
    if kind and isinstance(v, (str, int)):
        return value_label(kind, v, lang)
    if field in _TIME_FIELDS and isinstance(v, str):
        try:
            return fmt_datetime(datetime.fromisoformat(v), lang)
        except ValueError:
            return v
    if field == "ids" or isinstance(v, list) and len(v) > 5:
        n = len(v) if isinstance(v, (list, dict)) else 1
        return t("audit.items", lang).format(n=n)
    if isinstance(v, list):
        if kind:
            v = [value_label(kind, x, lang) for x in v]
        return "、".join(str(x) for x in v) if lang == "zh" else ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return t("audit.items", lang).format(n=len(v))
    return str(v)


def _field(field: str, lang: str) -> str:
    if field == "ids":
        return t("col.target", lang)
    key = f"audit.f.{field}"
    return t(key, lang) if key in STRINGS else t("col.detail", lang)


def _nested_changes(entry: dict) -> tuple[dict, list[tuple[str, Any, Any]]]:
    """A detail field written as ``{"before": x, "after": y}`` (a transition's triage change) is
    a change of that field; the entry without those fields, and the changes."""
    detail = entry.get("detail")
    if not isinstance(detail, dict):
        return entry, []
    nested = {k: v for k, v in detail.items()
              if isinstance(v, dict) and set(v) == {"before", "after"} and k in _ENUM_FIELDS}
    if not nested:
        return entry, []
    rest = {k: v for k, v in detail.items() if k not in nested}
    return {**entry, "detail": rest}, [(k, v["before"], v["after"]) for k, v in nested.items()]


def summary(entry: dict, lang: str) -> html.Div:
    """Before → after lines and the other facts of one entry, the raw JSON folded below;
    enumerated values (states, triage, severity, levels, kinds, roles...) by their names."""
    action = entry.get("action")
    plain, nested = _nested_changes(entry)
    s = audit.summary(plain)
    lines = []
    colon = "：" if lang == "zh" else ": "
    for field, before, after in s["changes"] + nested:
        kind = _kind_of(field, action)
        if field == "from_state":
            name = ""
        elif field in ("before", "after") and kind:
            name = _field(kind, lang) + colon  # e.g. the triage of incident.triage
        else:
            name = _field(field, lang) + colon
        lines.append(html.Div([name, html.Span(_value(field, before, lang, action), className="audit-before"),
                               " → ", html.Span(_value(field, after, lang, action), className="audit-after")],
                              className="audit-change"))
    # only the fields with a name for people; the rest are counted and left to the raw record
    known = [(k, v) for k, v in s["facts"] if f"audit.f.{k}" in STRINGS]
    more = s["more"] + len(s["facts"]) - len(known)
    facts = [f"{_field(k, lang)}{colon}{_value(k, v, lang, action)}" for k, v in known]
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
