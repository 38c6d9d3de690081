"""The incident list: principal first, filtered, sorted and paged over the whole table.

One read for the incident pages and the benchmark (``bench/incidents.py``): the actor's
scope is applied before any filter (a grid worker sees their grid, a street operator their
street), then the filters the page offers, then one page of rows in a stable order. The
total is counted up to :data:`COUNT_CAP` (a page shows "10,000+" beyond it) so a broad
filter never counts the whole city. Reporter names and phones are not part of a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg2 import sql

from geo import db
from geo.access.roles import scope_level
from geo.incidents import service
from geo.incidents import states as sm

COUNT_CAP = 10_000
MAX_PAGE_SIZE = 200
SORTS = {
    "reported_desc": "i.reported_at DESC, i.id DESC",
    "reported_asc": "i.reported_at, i.id",
    "due_asc": "i.due_at NULLS LAST, i.id",
}
SUMMONED = (None, "any", "pending")
_SUMMONS = """EXISTS (SELECT 1 FROM incident_whistles w
                        JOIN incident_whistle_departments wd ON wd.whistle_id = w.id
                       WHERE w.incident_id = i.id AND wd.department_id = %(dep)s{pending})"""
_PLACE_COLUMN = {"district": "district_id", "street": "street_id", "community": "community_id",
                 "grid": "grid_id"}


@dataclass(frozen=True)
class CaseFilter:
    """What the list shows; every field is optional (empty: no filter).

    ``levels`` keeps cases at those levels (grid ... district);
    ``category`` includes its sub-categories; ``start``/``end`` bound ``reported_at``
    (end excluded); ``text`` matches the code, title or description (case-insensitive);
    ``overdue`` keeps open, dispatched cases past their deadline and not deferred.
    ``summoned`` (with ``department``) adds the cases a whistle summoned that department to
    (吹哨报到): ``"any"`` every such case; ``"pending"`` the open ones still waiting for its
    report-in, whatever their state (``states`` then applies to its own cases only).
    """

    states: Sequence[str] = ()
    levels: Sequence[str] = ()
    severities: Sequence[str] = ()
    category: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    department: str | None = None
    summoned: str | None = None
    overdue: bool = False
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    sort: str = "reported_desc"
    page: int = 1
    page_size: int = 50


def _bad(what: str, value: Any) -> service.Refused:
    return service.Refused(f"filter.{what}", f"筛选条件无效：{what} = {value!r}",
                           f"invalid filter {what} = {value!r}")


def list_cases(actor: service.Actor, flt: CaseFilter = CaseFilter(), *,
               now: datetime | None = None) -> dict:
    """One page of the cases the actor may see that match ``flt``.

    Returns
    -------
    dict
        ``rows`` (code, state, level, severity, title, category, department, place codes,
        times, ``overdue``), ``total`` (at most :data:`COUNT_CAP`), ``total_capped``,
        ``page`` and ``page_size``.

    Raises
    ------
    geo.incidents.service.Refused
        An unknown state, severity, sort or code, a bad page, or a period that ends before
        it starts; :class:`~geo.incidents.service.Denied` without ``view.incidents``.
    """
    service._permit(actor, "view.incidents")
    now = now or datetime.now(UTC)
    if set(flt.states) - set(sm.STATES):
        raise _bad("state", list(flt.states))
    if set(flt.levels) - set(sm.LEVELS):
        raise _bad("level", list(flt.levels))
    if set(flt.severities) - set(sm.SEVERITIES):
        raise _bad("severity", list(flt.severities))
    if flt.sort not in SORTS:
        raise _bad("sort", flt.sort)
    if flt.summoned not in SUMMONED or (flt.summoned and not flt.department):
        raise _bad("summoned", flt.summoned)
    if not (1 <= int(flt.page) <= 100_000 and 1 <= int(flt.page_size) <= MAX_PAGE_SIZE):
        raise _bad("page", (flt.page, flt.page_size))
    if flt.start and flt.end and flt.start >= flt.end:
        raise _bad("period", (flt.start, flt.end))
    text = (flt.text or "").strip()
    if len(text) > 100:
        raise _bad("text", text[:20] + "...")
    where: list[str] = []
    args: dict[str, Any] = {"now": now, "limit": int(flt.page_size),
                            "offset": (int(flt.page) - 1) * int(flt.page_size)}
    with db.transaction(readonly=True) as cur:

        def place_id(level: str, code: str | None) -> int | None:
            if not code:
                return None
            table = {"district": "districts", "street": "streets", "community": "communities",
                     "grid": "grids"}[level]
            cur.execute(sql.SQL("SELECT id FROM {} WHERE code = %s ORDER BY id DESC LIMIT 1").format(
                sql.Identifier(table)), (str(code),))
            row = cur.fetchone()
            if row is None:
                raise _bad(level, code)
            return int(row["id"])

        scope = actor.principal.scope_code
        if scope:  # the principal first: nothing outside the scope is ever read
            level = scope_level(scope)
            if level == "city":  # a city: its districts, by the code's prefix (no pattern)
                where.append("i.district_id IN (SELECT id FROM districts"
                             " WHERE left(code, 4) = %(scope_code)s)")
                args["scope_code"] = scope
            else:
                where.append(f"i.{_PLACE_COLUMN[level]} = %(scope_id)s")
                args["scope_id"] = place_id(level, scope)
        for level, code in (("street", flt.street), ("community", flt.community),
                            ("grid", flt.grid)):
            if code:
                if not actor.principal.sees(code):
                    raise service.Denied("scope", f"{code} 不在您的管辖范围内",
                                         f"{code} lies outside your scope {scope}")
                where.append(f"i.{_PLACE_COLUMN[level]} = %({level})s")
                args[level] = place_id(level, code)
        if flt.category:
            cur.execute("""SELECT array_agg(c.id) AS ids FROM incident_categories c
                            WHERE c.code = %(c)s OR c.parent_id = (
                                  SELECT id FROM incident_categories WHERE code = %(c)s)""",
                        {"c": str(flt.category)})
            ids = cur.fetchone()["ids"]
            if not ids:
                raise _bad("category", flt.category)
            where.append("i.category_id = ANY(%(cats)s)")
            args["cats"] = ids
        if flt.department:
            cur.execute("SELECT id FROM departments WHERE code = %s", (str(flt.department),))
            row = cur.fetchone()
            if row is None:
                raise _bad("department", flt.department)
            args["dep"] = row["id"]
            if flt.summoned == "any":
                where.append(f"(i.department_id = %(dep)s OR {_SUMMONS.format(pending='')})")
            elif flt.summoned == "pending":
                own = "i.state = ANY(%(states)s)" if flt.states else "TRUE"
                waiting = _SUMMONS.format(pending=" AND wd.reported_at IS NULL")
                where.append(f"((i.department_id = %(dep)s AND {own})"
                             f" OR (i.closed_at IS NULL AND {waiting}))")
            else:
                where.append("i.department_id = %(dep)s")
        if flt.states:
            args["states"] = list(flt.states)
            if not (flt.department and flt.summoned == "pending"):
                where.append("i.state = ANY(%(states)s)")
        if flt.levels:
            where.append("i.level = ANY(%(levels)s)")
            args["levels"] = list(flt.levels)
        if flt.severities:
            where.append("i.severity = ANY(%(sev)s)")
            args["sev"] = list(flt.severities)
        if flt.overdue:
            where.append("i.closed_at IS NULL AND i.due_at < %(now)s AND i.state <> 'deferred'")
        if flt.start:
            where.append("i.reported_at >= %(start)s")
            args["start"] = flt.start
        if flt.end:
            where.append("i.reported_at < %(end)s")
            args["end"] = flt.end
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(i.code ILIKE %(q)s OR i.title ILIKE %(q)s OR i.description ILIKE %(q)s)")
            args["q"] = like
        cond = " AND ".join(where) or "TRUE"
        cur.execute(
            f"""SELECT i.code, i.state, i.level, i.severity, i.title, i.reported_at,
                       i.dispatched_at, i.due_at, i.closed_at, ic.code AS category,
                       ic.name AS category_name, dep.code AS department,
                       dep.name AS department_name, s.code AS street, c.code AS community,
                       g.code AS grid,
                       (i.closed_at IS NULL AND i.due_at < %(now)s AND i.state <> 'deferred')
                           AS overdue
                  FROM (SELECT i.* FROM incidents i WHERE {cond}
                         ORDER BY {SORTS[flt.sort]} LIMIT %(limit)s OFFSET %(offset)s) i
                  JOIN incident_categories ic ON ic.id = i.category_id
                  LEFT JOIN departments dep ON dep.id = i.department_id
                  LEFT JOIN streets s ON s.id = i.street_id
                  LEFT JOIN communities c ON c.id = i.community_id
                  LEFT JOIN grids g ON g.id = i.grid_id
                 ORDER BY {SORTS[flt.sort]}""",  # noqa: S608 (fixed fragments only)
            args)
        rows = [service._jsonable(dict(r)) for r in cur.fetchall()]
        cur.execute(f"SELECT count(*) AS n FROM (SELECT 1 FROM incidents i WHERE {cond}"  # noqa: S608
                    " LIMIT %(cap)s) x", {**args, "cap": COUNT_CAP + 1})
        total = int(cur.fetchone()["n"])
    return {"rows": rows, "total": min(total, COUNT_CAP), "total_capped": total > COUNT_CAP,
            "page": int(flt.page), "page_size": int(flt.page_size)}
