"""The department scorecard: how each department answered the street's whistles and handled
its cases over a period (the street's evaluation of the departments; a printable ranking).

For a scope (district, street, community or grid code: the cases' place) and a period of
local dates (``TIMEZONE``, both ends included), per department:

* ``whistles``: summonses of the department by whistles **blown** in the period;
  ``reported``: those it reported in to; ``reported_on_time``: reported with
  ``reported_at <= due_at``; ``reported_on_time_rate`` = reported_on_time / whistles;
  ``median_minutes_to_report``: median minutes from the whistle to the report, over the
  summonses reported (``None`` without any);
* ``due``, ``deferred``, ``handled_on_time``, ``on_time_rate``: the KPI definitions of
  :mod:`geo.incidents.kpi` restricted to the cases dispatched to the department (deadline in
  the period; on_time_rate = handled_on_time / (due - deferred));
* ``rework``: ``returned`` steps in the period on its cases;
* ``evaluated``: its cases evaluated (graded) in the period; ``satisfaction`` = the **share graded 满意
  or 基本满意** (satisfied or basically satisfied) among them, the usual 满意率 of the
  12345 assessments (``None`` without evaluations).

Departments with nothing in any column are left out. The ranking (``rank`` 1..n) orders by
on_time_rate, then reported_on_time_rate, then satisfaction (each highest first, ``None``
last), then rework (fewest first), then the department code: the deadline met comes first,
the street's whistles next, the residents' word third.
"""

from __future__ import annotations

from datetime import date, datetime

from geo import db
from geo.access.roles import Principal
from geo.incidents.kpi import _SCOPE_SQL, _rate, _resolve_scope, district_filter, period_bounds
from geo.incidents.service import Actor, _now, _permit

_WHISTLES = """
SELECT wd.department_id AS dep, count(*) AS whistles,
       count(wd.reported_at) AS reported,
       count(*) FILTER (WHERE wd.reported_at <= w.due_at) AS reported_on_time,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM wd.reported_at - w.blown_at)) / 60.0 AS median_minutes
  FROM incident_whistle_departments wd
  JOIN incident_whistles w ON w.id = wd.whistle_id
  JOIN incidents i ON i.id = w.incident_id
 WHERE i.district_id = %(d)s AND w.blown_at >= %(start)s AND w.blown_at < %(end)s {scope}
 GROUP BY wd.department_id
"""

_DUE = """
SELECT x.dep, count(*) AS due, count(*) FILTER (WHERE x.deferred) AS deferred,
       count(*) FILTER (WHERE NOT x.deferred AND x.handled_at IS NOT NULL
                          AND x.handled_at <= x.due_at AND x.state <> 'returned') AS handled_on_time
  FROM (SELECT i.department_id AS dep, i.due_at, i.handled_at, i.state,
               coalesce((SELECT e.to_state = 'deferred' FROM incident_events e
                          WHERE e.incident_id = i.id AND e.kind = 'transition'
                            AND (e.to_state = 'deferred' OR e.from_state = 'deferred')
                            AND e.at < %(end)s
                          ORDER BY e.at DESC, e.id DESC LIMIT 1), false)
               OR (i.closed_at IS NOT NULL AND EXISTS (
                      SELECT 1 FROM incident_events e
                       WHERE e.incident_id = i.id AND e.kind = 'transition'
                         AND e.to_state = 'deferred')) AS deferred
          FROM incidents i
         WHERE i.district_id = %(d)s AND i.due_at >= %(start)s AND i.due_at < %(end)s
           AND i.department_id IS NOT NULL AND i.duplicate_of IS NULL {scope}) x
 GROUP BY x.dep
"""

_REWORK = """
SELECT i.department_id AS dep, count(*) AS rework
  FROM incident_events e JOIN incidents i ON i.id = e.incident_id
 WHERE e.kind = 'transition' AND e.to_state = 'returned'
   AND e.at >= %(start)s AND e.at < %(end)s
   AND i.district_id = %(d)s AND i.department_id IS NOT NULL AND i.duplicate_of IS NULL {scope}
 GROUP BY i.department_id
"""

_EVALUATED = """
SELECT i.department_id AS dep, count(*) AS evaluated,
       count(*) FILTER (WHERE i.evaluation IN ('satisfied', 'basically_satisfied')) AS satisfied
  FROM incident_events e JOIN incidents i ON i.id = e.incident_id
 WHERE e.kind = 'transition' AND e.to_state = 'evaluated'
   AND i.evaluation IS NOT NULL  -- a case marked evaluated without a grade says nothing of satisfaction
   AND e.at >= %(start)s AND e.at < %(end)s
   AND i.district_id = %(d)s AND i.department_id IS NOT NULL AND i.duplicate_of IS NULL {scope}
 GROUP BY i.department_id
"""


def _rank_key(row: dict) -> tuple:
    def high(v):  # highest first, None last
        return (v is None, -(v or 0))
    return (high(row["on_time_rate"]), high(row["reported_on_time_rate"]),
            high(row["satisfaction"]), row["rework"], row["department"])


def scorecard(actor: Actor | Principal, scope: str, date_from: date, date_to: date, *,
              now: datetime | None = None) -> list[dict]:
    """The ranked scorecard of the departments (see the module docstring).

    Parameters
    ----------
    actor:
        Needs ``departments.scorecard`` and ``scope`` inside their scope.
    scope:
        City, district, street, community or grid code: cases placed there count.
    date_from, date_to:
        Local dates, both included.

    Returns
    -------
    list of dict
        One per department, ranked: ``rank``, ``department`` (code), ``name``, ``name_en``, ``whistles``,
        ``reported``, ``reported_on_time``, ``reported_on_time_rate``,
        ``median_minutes_to_report``, ``due``, ``deferred``, ``handled_on_time``,
        ``on_time_rate``, ``rework``, ``evaluated``, ``satisfaction``.
    """
    actor = actor if isinstance(actor, Actor) else Actor(actor)
    _now(now)
    _permit(actor, "departments.scorecard", scope)
    start, end = period_bounds(date_from, date_to)
    rows: dict[int, dict] = {}

    def add(dep: int, **values) -> None:
        rows.setdefault(dep, {"whistles": 0, "reported": 0, "reported_on_time": 0,
                              "median_minutes": None, "due": 0, "deferred": 0,
                              "handled_on_time": 0, "rework": 0, "evaluated": 0,
                              "satisfied": 0}).update(values)

    with db.transaction(readonly=True) as cur:
        district_id, level, place = _resolve_scope(cur, scope)
        params = {"d": district_id, "place": place, "start": start, "end": end}
        for query in (_WHISTLES, _DUE, _REWORK, _EVALUATED):
            # the scope filter is one of kpi's fixed fragments; values stay bound
            cur.execute(district_filter(query.replace("{scope}", _SCOPE_SQL[level]), level), params)
            for r in cur.fetchall():
                add(r["dep"], **{k: v for k, v in r.items() if k != "dep"})
        cur.execute("SELECT id, code, name, name_en FROM departments WHERE id = ANY(%s)", (list(rows),))
        deps = {r["id"]: r for r in cur.fetchall()}
    out = []
    for dep_id, r in rows.items():
        due, deferred = int(r["due"]), int(r["deferred"])
        out.append({
            "department": deps[dep_id]["code"],
            "name": deps[dep_id]["name"],
            "name_en": deps[dep_id]["name_en"],
            "whistles": int(r["whistles"]),
            "reported": int(r["reported"]),
            "reported_on_time": int(r["reported_on_time"]),
            "reported_on_time_rate": _rate(int(r["reported_on_time"]), int(r["whistles"])),
            "median_minutes_to_report": (round(float(r["median_minutes"]), 3)
                                         if r["median_minutes"] is not None else None),
            "due": due,
            "deferred": deferred,
            "handled_on_time": int(r["handled_on_time"]),
            "on_time_rate": _rate(int(r["handled_on_time"]), due - deferred),
            "rework": int(r["rework"]),
            "evaluated": int(r["evaluated"]),
            "satisfaction": _rate(int(r["satisfied"]), int(r["evaluated"])),
        })
    out.sort(key=_rank_key)
    for i, row in enumerate(out, start=1):
        row["rank"] = i
    return out
