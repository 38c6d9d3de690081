"""Incident KPIs for a place and a period: one SQL query (definitions in docs/ARCHITECTURE.md).

For a scope (district, street, community or grid code) and a period of dates in
``TIMEZONE`` (both ends inclusive):

* ``due``: dispatched cases whose deadline (extended by time deferred) falls in the period;
* ``deferred``: those of them deferred at the period's end, or closed after a deferral;
* ``closed_on_time``: due cases, not deferred, handled at or before their deadline (rework
  keeps the deadline: a returned case counts when handled again in time);
* ``on_time_rate`` = closed_on_time / (due - deferred);
* ``closed``: cases closed in the period; ``closure_rate`` = closed / cases open at any
  time in the period;
* ``overdue_now``: open, dispatched, past the deadline, not deferred (at ``now``);
* ``rework``: returns (``returned`` steps) in the period;
* ``median_hours_to_close``: median hours from report to close of the cases closed in the
  period; ``closed_level``: their shares closed at grid, community, street, district.

Rates and shares are fractions (0-1), ``None`` when the denominator is 0. Cases closed as
duplicates are left out everywhere. Every part of the query filters by district first
(shard-friendly) and runs on the partial indexes of migrations 0006 and 0013, which
cover the columns the counts need (index-only scans). JIT compilation is off for the query:
its cost estimate crosses the JIT threshold, and compiling took longer than the query runs.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from geo import db
from geo.access.roles import Principal, scope_level
from geo.incidents.service import Actor, Refused, _permit
from geo.settings import get_settings

LEVEL_KEYS = ("grid", "community", "street", "district")

_QUERY = """
WITH dfr AS MATERIALIZED (  -- each case's last deferral step before the period's end
    SELECT DISTINCT ON (e.incident_id) e.incident_id, e.to_state = 'deferred' AS at_end
      FROM incident_events e
     WHERE e.kind = 'transition' AND (e.to_state = 'deferred' OR e.from_state = 'deferred')
       AND e.at < %(end)s
     ORDER BY e.incident_id, e.at DESC, e.id DESC),
     ever AS MATERIALIZED (  -- the cases ever deferred
    SELECT DISTINCT e.incident_id FROM incident_events e
     WHERE e.kind = 'transition' AND (e.to_state = 'deferred' OR e.from_state = 'deferred')
       AND e.to_state = 'deferred')
SELECT due.due, due.deferred, due.closed_on_time,
       cl.closed, cl.median_hours, cl.at_grid, cl.at_community, cl.at_street, cl.at_district,
       op.open_before + op.reported_in AS open_any, ov.overdue_now, rw.rework
  FROM (SELECT count(*) AS due,
               count(*) FILTER (WHERE x.deferred) AS deferred,
               count(*) FILTER (WHERE NOT x.deferred AND x.handled_at IS NOT NULL
                                  AND x.handled_at <= x.due_at
                                  AND x.state <> 'returned') AS closed_on_time
          FROM (SELECT i.due_at, i.handled_at, i.state,
                       coalesce(d.at_end, false)
                       OR (i.closed_at IS NOT NULL AND v.incident_id IS NOT NULL) AS deferred
                  FROM incidents i
                  LEFT JOIN dfr d ON d.incident_id = i.id
                  LEFT JOIN ever v ON v.incident_id = i.id
                 WHERE i.district_id = %(d)s AND i.due_at >= %(start)s AND i.due_at < %(end)s
                   AND i.due_at IS NOT NULL AND i.duplicate_of IS NULL {scope}) x) due,
       (SELECT count(*) AS closed,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM i.closed_at - i.reported_at)) / 3600.0
                   AS median_hours,
               count(*) FILTER (WHERE i.closed_level = 'grid') AS at_grid,
               count(*) FILTER (WHERE i.closed_level = 'community') AS at_community,
               count(*) FILTER (WHERE i.closed_level = 'street') AS at_street,
               count(*) FILTER (WHERE i.closed_level = 'district') AS at_district
          FROM incidents i
         WHERE i.district_id = %(d)s AND i.closed_at >= %(start)s AND i.closed_at < %(end)s
           AND i.closed_at IS NOT NULL AND i.duplicate_of IS NULL {scope}) cl,
       -- open at any time in the period = reported in it + open at its start (still open,
       -- or closed since); three index-only counts instead of one scan of the whole history
       (SELECT (SELECT count(*) FROM incidents i
                 WHERE i.district_id = %(d)s AND i.reported_at >= %(start)s AND i.reported_at < %(end)s
                   AND i.duplicate_of IS NULL {scope}) AS reported_in,
               (SELECT count(*) FROM incidents i
                 WHERE i.district_id = %(d)s AND i.closed_at IS NULL AND i.reported_at < %(start)s
                   AND i.duplicate_of IS NULL {scope})
             + (SELECT count(*) FROM incidents i
                 WHERE i.district_id = %(d)s AND i.closed_at >= %(start)s AND i.closed_at IS NOT NULL
                   AND i.reported_at < %(start)s AND i.duplicate_of IS NULL {scope}) AS open_before) op,
       (SELECT count(*) AS overdue_now FROM incidents i
         WHERE i.district_id = %(d)s AND i.closed_at IS NULL AND i.due_at IS NOT NULL
           AND i.dispatched_at IS NOT NULL AND i.due_at < %(now)s AND i.state <> 'deferred'
           {scope}) ov,
       (SELECT count(*) AS rework FROM incident_events e JOIN incidents i ON i.id = e.incident_id
         WHERE e.kind = 'transition' AND e.to_state = 'returned'
           AND e.at >= %(start)s AND e.at < %(end)s
           AND i.district_id = %(d)s AND i.duplicate_of IS NULL {scope}) rw
"""

_SCOPE_SQL = {
    "city": "",  # the city's districts: see district_filter
    "district": "",
    "street": "AND i.street_id = %(place)s",
    "community": "AND i.community_id = %(place)s",
    "grid": "AND i.grid_id = ANY(%(place)s)",
}


def period_bounds(date_from: date, date_to: date, tz: str | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of a period of local dates, the end date included."""
    if date_to < date_from:
        raise Refused("kpi.period", "结束日期早于开始日期",
                      f"the period ends ({date_to}) before it starts ({date_from})")
    if (date_to - date_from).days > 3 * 366:
        raise Refused("kpi.period", "统计周期不能超过三年", "a period is at most three years")
    zone = zoneinfo.ZoneInfo(tz or get_settings().timezone)
    start = datetime.combine(date_from, time(0), zone)
    end = datetime.combine(date_to + timedelta(days=1), time(0), zone)
    return start, end


def district_filter(query: str, level: str) -> str:
    """``query`` for a city: its ``i.district_id = %(d)s`` made ``= ANY(%(d)s)`` (``d`` is then
    the list of the city's district ids); other levels keep their one district."""
    return query.replace("i.district_id = %(d)s", "i.district_id = ANY(%(d)s)") if level == "city" else query


def _resolve_scope(cur, code: str) -> tuple[int | list[int], str, object]:
    try:
        level = scope_level(code)
    except ValueError as exc:
        raise Refused("kpi.scope", f"{code!r} 不是地点代码", str(exc)) from None
    if level == "city":  # its districts by the code's prefix (a list of ids)
        cur.execute("""SELECT array_agg(id ORDER BY id) AS d, NULL AS place FROM districts
                        WHERE left(code, 4) = %s HAVING count(*) > 0""", (code,))
    elif level == "district":
        cur.execute("SELECT id AS d, id AS place FROM districts WHERE code = %s", (code,))
    elif level == "street":
        cur.execute("SELECT district_id AS d, id AS place FROM streets WHERE code = %s", (code,))
    elif level == "community":
        cur.execute("SELECT district_id AS d, id AS place FROM communities WHERE code = %s", (code,))
    else:
        cur.execute("""SELECT c.district_id AS d, array_agg(g.id ORDER BY g.id) AS place
                         FROM grids g JOIN communities c ON c.id = g.community_id
                        WHERE g.code = %s GROUP BY c.district_id""", (code,))
    row = cur.fetchone()
    if row is None:
        raise Refused("kpi.scope", f"没有地点 {code}", f"no {level} {code}")
    return (list(row["d"]) if level == "city" else int(row["d"])), level, row["place"]


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def kpi(actor: Actor | Principal, scope: str, date_from: date, date_to: date, *,
        now: datetime | None = None, triage: str | None = None) -> dict:
    """The KPIs of ``scope`` over ``date_from``..``date_to`` (see the module docstring).

    Parameters
    ----------
    actor:
        Who asks: needs ``view.incidents`` and ``scope`` inside their own scope.
    scope:
        A city, district, street, community or grid code.
    date_from, date_to:
        Local dates (``TIMEZONE``), both included.
    now:
        The moment ``overdue_now`` is computed at (default: now).
    triage:
        Only cases of this triage (``public``, ``shared``, ``self``; 三事分流); all by default.

    Returns
    -------
    dict
        ``due``, ``deferred``, ``closed_on_time``, ``on_time_rate``, ``closed``,
        ``closure_rate``, ``open_in_period``, ``overdue_now``, ``rework``,
        ``median_hours_to_close``, ``closed_level`` and the period echoed.
    """
    actor = actor if isinstance(actor, Actor) else Actor(actor)
    at = now or datetime.now(UTC)
    _permit(actor, "view.incidents", scope)
    if triage is not None:
        from geo.incidents.triage import check

        check(triage, Refused)
    start, end = period_bounds(date_from, date_to)
    with db.transaction(readonly=True) as cur:
        district_id, level, place = _resolve_scope(cur, scope)
        cur.execute("SET LOCAL jit = off")
        # the scope filter is one of the fixed fragments above; values stay bound
        where = _SCOPE_SQL[level] + (" AND i.triage = %(triage)s" if triage else "")
        cur.execute(district_filter(_QUERY.replace("{scope}", where), level),
                    {"d": district_id, "place": place, "start": start, "end": end, "now": at,
                     "triage": triage})
        r = cur.fetchone()
    due, deferred, closed = int(r["due"]), int(r["deferred"]), int(r["closed"])
    shares = {k: _rate(int(r[f"at_{k}"]), closed) for k in LEVEL_KEYS}
    return {
        "scope": scope,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "timezone": get_settings().timezone,
        **({"triage": triage} if triage else {}),
        "due": due,
        "deferred": deferred,
        "closed_on_time": int(r["closed_on_time"]),
        "on_time_rate": _rate(int(r["closed_on_time"]), due - deferred),
        "closed": closed,
        "open_in_period": int(r["open_any"]),
        "closure_rate": _rate(closed, int(r["open_any"])),
        "overdue_now": int(r["overdue_now"]),
        "rework": int(r["rework"]),
        "median_hours_to_close": (round(float(r["median_hours"]), 3)
                                  if r["median_hours"] is not None else None),
        "closed_level": shares,
    }
