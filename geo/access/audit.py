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
