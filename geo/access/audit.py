"""The audit log: who did what, when, where, and what changed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from geo import db
from geo.access.roles import Principal


def record(
    cur,
    principal: Principal,
    action: str,
    *,
    target: str | None = None,
    scope_code: str | None = None,
    before_ids: Any = None,
    after_ids: Any = None,
    detail: dict | None = None,
) -> int:
    """Append one entry inside the caller's transaction (so it commits with the change).

    Returns the entry id.
    """
    cur.execute(
        """INSERT INTO audit_log (actor, role, action, scope_code, target,
                                  before_ids, after_ids, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            principal.username,
            principal.role,
            action,
            scope_code if scope_code is not None else principal.scope_code,
            target,
            None if before_ids is None else json.dumps(before_ids, default=str),
            None if after_ids is None else json.dumps(after_ids, default=str),
            None if detail is None else json.dumps(detail, ensure_ascii=False, default=str),
        ),
    )
    row = cur.fetchone()
    return int(row["id"] if isinstance(row, dict) else row[0])


def browse(
    principal: Principal,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[dict]:
    """Entries newest first, filtered, limited to what the principal's scope covers."""
    clauses = ["TRUE"]
    params: list[Any] = []
    if principal.scope_code is not None:
        clauses.append("(scope_code IS NULL OR scope_code LIKE %s OR %s LIKE scope_code || '%%')")
        params += [principal.scope_code + "%", principal.scope_code]
    if actor:
        clauses.append("actor = %s")
        params.append(actor)
    if action:
        # a prefix of an action name (``incident.`` lists every incident action); the
        # user's text is escaped so that it is never a pattern
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("action LIKE %s ESCAPE '\\'")
        params.append(escaped + "%")
    if since:
        clauses.append("at >= %s")
        params.append(since)
    if until:
        clauses.append("at < %s")
        params.append(until)
    params.append(limit)
    return db.fetch_all(
        "SELECT id, at, actor, role, action, scope_code, target, before_ids, after_ids, detail"
        " FROM audit_log WHERE " + " AND ".join(clauses) + " ORDER BY at DESC, id DESC LIMIT %s",
        tuple(params),
    )


def actions_seen() -> list[str]:
    """Distinct action names in the log (for the filter list)."""
    return [r["action"] for r in db.fetch_all("SELECT DISTINCT action FROM audit_log ORDER BY 1")]


#: Detail keys that describe a change as a pair: ``(before key, after key)``.
_PAIRS = (("from_state", "to_state"), ("before", "after"))


def summary(entry: dict) -> dict[str, Any]:
    """A readable shape of one entry for people (the page puts words on it).

    Returns
    -------
    dict
        ``changes``: ``[(field, before, after)]`` (state moves, before/after values and the
        before/after id lists); ``facts``: ``[(field, value)]`` for the other detail fields
        with a scalar or short-list value; ``more``: how many detail fields are left to the
        raw record.
    """
    detail = entry.get("detail") or {}
    if not isinstance(detail, dict):
        detail = {"detail": detail}
    changes: list[tuple[str, Any, Any]] = []
    used: set[str] = set()
    for a, b in _PAIRS:
        if a in detail or b in detail:
            changes.append((a, detail.get(a), detail.get(b)))
            used |= {a, b}
    before, after = entry.get("before_ids"), entry.get("after_ids")
    if before is not None or after is not None:
        changes.append(("ids", before, after))
    facts: list[tuple[str, Any]] = []
    more = 0
    for key, value in detail.items():
        if key in used:
            continue
        if isinstance(value, (str, int, float, bool)) or value is None or (
                isinstance(value, list) and len(value) <= 5
                and all(isinstance(v, (str, int, float)) for v in value)):
            facts.append((key, value))
        else:
            more += 1
    return {"changes": changes, "facts": facts, "more": more}
