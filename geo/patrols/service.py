"""Patrols: start, check in, end (the grid worker's phone), who is on patrol now (the wall),
and patrol coverage by grid (the review). No Dash, no HTTP.

Rules
-----
* Only a grid worker patrols (``patrol.run``), in their own grid (their account's 15-digit
  scope, the current grid of that code). A worker has **at most one open patrol** (checked,
  and guaranteed by a partial unique index: of two starts at once one is refused).
* Each check-in records the phone's position (WGS-84, or GCJ-02 converted). A check-in
  farther than ``PATROL_GRID_TOLERANCE_M`` (100 m) outside the worker's grid is **kept and
  flagged** (``flagged``, ``outside_m``): phones jump, and a refusal would lose the walk; a
  flagged check-in is shown but breaks the track (it never counts for coverage).
* A patrol open longer than ``PATROL_MAX_HOURS`` (12) is ended by ``incidents tick`` with
  reason ``timeout`` at its **last check-in** (the last moment the worker was seen on patrol),
  so a forgotten phone never counts as a 30-hour walk; a stale open patrol is likewise ended
  when the worker starts a new one, and is refused for check-ins.
* Start and end are audited (``patrol.start``, ``patrol.end``); check-ins are data rows (a
  walk writes dozens), not audit entries.

Coverage
--------
A grid's coverage for a period is the share of its buildings (current grid) whose footprint
lies within ``PATROL_COVERAGE_M`` (50 m, on the spheroid) of a **track**: the polyline of
consecutive unflagged check-ins of one patrol inside the period (an isolated check-in counts
as a point). Tracks of any patrol count: a neighbour walking the shared street covers it too.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import psycopg2

from geo import db
from geo.access import audit, permissions
from geo.access.roles import Principal, scope_level
from geo.incidents import service as svc
from geo.incidents.kpi import period_bounds
from geo.settings import get_settings

log = logging.getLogger(__name__)

MAX_CHECKINS = 5000  # per patrol: one a minute for 12 hours is 720

Refused = svc.Refused


def _max_age() -> timedelta:
    return timedelta(hours=get_settings().patrol_max_hours)


def _worker_grid(cur, actor: svc.Actor) -> dict:
    code = actor.principal.scope_code
    cur.execute(
        """SELECT g.id, g.code FROM grids g
             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
            WHERE g.code = %s""", (code,))
    row = cur.fetchone()
    if row is None:
        raise Refused("patrol.grid", f"您的账号范围 {code} 不是现行网格",
                      f"your scope {code} is not a current grid: a patrol walks one grid")
    return dict(row)


def _open(cur, username: str, *, lock: bool) -> dict | None:
    cur.execute("SELECT id, username, grid_id, grid_code, started_at FROM patrols"
                " WHERE username = %s AND ended_at IS NULL" + (" FOR UPDATE" if lock else ""),
                (username,))
    row = cur.fetchone()
    return dict(row) if row else None


def _last_at(cur, patrol_id: int) -> datetime | None:
    cur.execute("SELECT max(at) AS at FROM patrol_checkins WHERE patrol_id = %s", (patrol_id,))
    return cur.fetchone()["at"]


def _end(cur, patrol: dict, at: datetime, reason: str, who: Principal) -> None:
    cur.execute("UPDATE patrols SET ended_at = %s, ended_reason = %s WHERE id = %s",
                (at, reason, patrol["id"]))
    audit.record(cur, who, "patrol.end", target=f"patrol:{patrol['id']}",
                 scope_code=patrol["grid_code"], after_ids=[patrol["id"]],
                 detail={"reason": reason, "ended_at": at, "worker": patrol["username"]})


def _timeout(cur, patrol: dict, who: Principal) -> datetime:
    """End a stale patrol at its last check-in; returns that time."""
    end = max(_last_at(cur, patrol["id"]) or patrol["started_at"], patrol["started_at"])
    _end(cur, patrol, end, "timeout", who)
    return end


def open_patrol_id(cur, username: str, at: datetime) -> int | None:
    """The worker's open, not stale, patrol at ``at`` (a report made now links to it)."""
    p = _open(cur, username, lock=False)
    if p is None or p["started_at"] > at or at - p["started_at"] > _max_age():
        return None
    return int(p["id"])


def _checkin(cur, patrol: dict, x: float, y: float, at: datetime) -> None:
    tol = float(get_settings().patrol_grid_tolerance_m)
    cur.execute(
        """INSERT INTO patrol_checkins (patrol_id, at, geom, flagged, outside_m)
           SELECT %(p)s, %(at)s, pt.g, d.m > %(tol)s, d.m
             FROM (SELECT ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326) AS g) pt,
                  LATERAL (SELECT round(ST_Distance(g.geom::geography, pt.g::geography)::numeric, 1)::float
                                  AS m FROM grids g WHERE g.id = %(grid)s) d""",
        {"p": patrol["id"], "at": at, "x": x, "y": y, "tol": tol, "grid": patrol["grid_id"]})


def _out(cur, patrol_id: int) -> dict:
    cur.execute("""SELECT p.id, p.username AS worker, u.display_name, p.grid_code, p.started_at,
                          p.ended_at, p.ended_reason
                     FROM patrols p LEFT JOIN users u ON u.username = p.username
                    WHERE p.id = %s""", (patrol_id,))
    out = dict(cur.fetchone())
    cur.execute("""SELECT at, ST_X(geom) AS lon, ST_Y(geom) AS lat, flagged, outside_m
                     FROM patrol_checkins WHERE patrol_id = %s ORDER BY at, id""", (patrol_id,))
    out["checkins"] = [dict(r) for r in cur.fetchall()]
    cur.execute("SELECT code FROM incidents WHERE patrol_id = %s ORDER BY reported_at, id", (patrol_id,))
    out["incidents"] = [r["code"] for r in cur.fetchall()]
    out["open"] = out["ended_at"] is None
    return svc._jsonable(out)


def start(actor: svc.Actor, *, lon: float, lat: float, crs: str = "wgs84",
          now: datetime | None = None) -> dict:
    """Start a patrol at the phone's position (its first check-in).

    Raises
    ------
    Refused
        ``patrol.open`` when the worker has an open patrol (a stale one is ended first, at its
        last check-in), ``patrol.grid`` when their scope is not a current grid.
    """
    at = svc._now(now)
    svc._permit(actor, "patrol.run")
    x, y = svc._point(lon, lat, crs)
    try:
        with db.transaction() as cur:
            grid = _worker_grid(cur, actor)
            svc._permit(actor, "patrol.run", grid["code"])
            old = _open(cur, actor.username, lock=True)
            if old is not None:
                if at - old["started_at"] <= _max_age():
                    raise Refused("patrol.open", f"您已有进行中的巡查（#{old['id']}），请先结束",
                                  f"you have an open patrol already (#{old['id']}): end it first")
                _timeout(cur, old, actor.principal)
            cur.execute(
                """INSERT INTO patrols (username, grid_id, grid_code, started_at)
                   VALUES (%s, %s, %s, %s) RETURNING id, username, grid_id, grid_code, started_at""",
                (actor.username, grid["id"], grid["code"], at))
            patrol = dict(cur.fetchone())
            _checkin(cur, patrol, x, y, at)
            audit.record(cur, actor.principal, "patrol.start", target=f"patrol:{patrol['id']}",
                         scope_code=grid["code"], after_ids=[patrol["id"]], detail={"at": at})
            return _out(cur, patrol["id"])
    except psycopg2.errors.UniqueViolation:  # another start won the race (patrols_one_open)
        raise Refused("patrol.open", "您已有进行中的巡查，请先结束",
                      "you have an open patrol already: end it first") from None


def _current(cur, actor: svc.Actor, at: datetime) -> dict:
    p = _open(cur, actor.username, lock=True)
    if p is None:
        raise Refused("patrol.none", "您没有进行中的巡查", "you have no open patrol: start one first")
    if at - p["started_at"] > _max_age():
        raise Refused("patrol.expired", f"巡查 #{p['id']} 已超过 {get_settings().patrol_max_hours} 小时，"
                      "请重新开始", f"patrol #{p['id']} is older than PATROL_MAX_HOURS: start a new one")
    last = _last_at(cur, p["id"])
    if at < p["started_at"] or (last is not None and at < last):
        raise Refused("patrol.time", "时间早于上一次签到", "a check-in cannot precede the previous one")
    return p


def checkin(actor: svc.Actor, *, lon: float, lat: float, crs: str = "wgs84",
            now: datetime | None = None) -> dict:
    """Record the phone's position on the worker's open patrol (flagged when outside the grid)."""
    at = svc._now(now)
    svc._permit(actor, "patrol.run")
    x, y = svc._point(lon, lat, crs)
    with db.transaction() as cur:
        p = _current(cur, actor, at)
        cur.execute("SELECT count(*) AS n FROM patrol_checkins WHERE patrol_id = %s", (p["id"],))
        if cur.fetchone()["n"] >= MAX_CHECKINS:
            raise Refused("patrol.full", f"一次巡查最多 {MAX_CHECKINS} 次签到",
                          f"a patrol holds at most {MAX_CHECKINS} check-ins")
        _checkin(cur, p, x, y, at)
        return _out(cur, p["id"])


def end(actor: svc.Actor, *, now: datetime | None = None) -> dict:
    """End the worker's open patrol now (a stale one ends at its last check-in, ``timeout``)."""
    at = svc._now(now)
    svc._permit(actor, "patrol.run")
    with db.transaction() as cur:
        p = _open(cur, actor.username, lock=True)
        if p is None:
            raise Refused("patrol.none", "您没有进行中的巡查", "you have no open patrol")
        if at - p["started_at"] > _max_age():
            _timeout(cur, p, actor.principal)
        else:
            if at < max(_last_at(cur, p["id"]) or p["started_at"], p["started_at"]):
                raise Refused("patrol.time", "结束时间早于上一次签到",
                              "a patrol cannot end before its last check-in")
            _end(cur, p, at, "worker", actor.principal)
        return _out(cur, p["id"])


def current(actor: svc.Actor, *, now: datetime | None = None) -> dict | None:
    """The worker's open patrol (for the phone layout), or ``None``."""
    at = svc._now(now)
    svc._permit(actor, "patrol.run")
    with db.transaction(readonly=True) as cur:
        pid = open_patrol_id(cur, actor.username, at)
        return _out(cur, pid) if pid else None


def show(actor: svc.Actor | Principal, patrol_id: int) -> dict:
    """One patrol: its worker, or someone with ``patrols.view`` whose scope holds the grid."""
    actor = actor if isinstance(actor, svc.Actor) else svc.Actor(actor)
    with db.transaction(readonly=True) as cur:
        cur.execute("SELECT id, username, grid_code FROM patrols WHERE id = %s", (int(patrol_id),))
        row = cur.fetchone()
        if row is None or (row["username"] != actor.username
                           and not (permissions.allowed(actor.role, "patrols.view")
                                    and actor.principal.covers(row["grid_code"]))):
            raise svc.NotFound("patrol", f"没有巡查 {patrol_id}", f"no patrol {patrol_id} within your scope")
        svc._permit(actor, "patrol.run" if row["username"] == actor.username else "patrols.view")
        return _out(cur, row["id"])


def end_stale(cur, now: datetime) -> list[int]:
    """End every patrol open longer than ``PATROL_MAX_HOURS`` (called by ``incidents tick``).

    Each ends at its last check-in with reason ``timeout``; locked rows are skipped (another
    tick has them). Returns the ids ended.
    """
    cur.execute(
        """SELECT id, username, grid_id, grid_code, started_at FROM patrols
            WHERE ended_at IS NULL AND started_at < %s
            ORDER BY id FOR UPDATE SKIP LOCKED""", (now - _max_age(),))
    rows = [dict(r) for r in cur.fetchall()]
    who = Principal("system:tick", "admin", None)
    for p in rows:
        _timeout(cur, p, who)
    return [int(p["id"]) for p in rows]


# ----------------------------------------------------------------------------- reads


def on_patrol_now(principal: Principal, *, now: datetime | None = None) -> list[dict]:
    """Grid workers on patrol now within the principal's scope, with their last position.

    For the wall. Needs ``patrols.view``; patrols older than ``PATROL_MAX_HOURS`` are not
    "now" even before the tick ends them.

    Returns
    -------
    list of dict
        ``patrol_id``, ``worker``, ``display_name``, ``grid_code``, ``started_at``,
        ``last_at``, ``lon``, ``lat`` (the last check-in), ``checkins``, ``flagged``; by grid.
    """
    permissions.check(principal, "patrols.view")
    at = svc._now(now)
    scope = principal.scope_code
    rows = db.fetch_all(
        """SELECT p.id AS patrol_id, p.username AS worker, u.display_name, p.grid_code,
                  p.started_at, l.at AS last_at, ST_X(l.geom) AS lon, ST_Y(l.geom) AS lat,
                  l.flagged, (SELECT count(*) FROM patrol_checkins k WHERE k.patrol_id = p.id)
                      AS checkins
             FROM patrols p
             LEFT JOIN users u ON u.username = p.username
             CROSS JOIN LATERAL (SELECT at, geom, flagged FROM patrol_checkins k
                                  WHERE k.patrol_id = p.id ORDER BY at DESC, id DESC LIMIT 1) l
            WHERE p.ended_at IS NULL AND p.started_at <= %(now)s AND p.started_at > %(since)s
              AND (%(scope)s::text IS NULL OR left(p.grid_code, length(%(scope)s)) = %(scope)s)
            ORDER BY p.grid_code, p.started_at""",
        {"now": at, "since": at - _max_age(), "scope": scope})
    return [svc._jsonable(dict(r)) for r in rows]


_COVERAGE = """
WITH g AS MATERIALIZED (
    SELECT g.id, g.code, g.geom FROM grids g
      JOIN grid_versions v ON v.id = g.version_id AND v.is_current
     WHERE left(g.code, %(n)s) = %(scope)s),
box AS MATERIALIZED (
    -- metres to degrees for the GiST box: a degree of longitude is shortest at the highest
    -- latitude of the scope, so the box is never too small
    SELECT ST_Expand(e.ext, %(m)s / (111320.0 * cos(radians(least(
               greatest(abs(ST_YMin(e.ext)), abs(ST_YMax(e.ext))) + 0.01, 85))))) AS geom,
           %(m)s / (111320.0 * cos(radians(least(
               greatest(abs(ST_YMin(e.ext)), abs(ST_YMax(e.ext))) + 0.01, 85)))) AS deg
      FROM (SELECT ST_Extent(geom)::geometry AS ext FROM g) e),
c AS MATERIALIZED (
    -- the check-ins in the period of every patrol seen in the box (whole tracks, so a track
    -- leaving the box keeps its piece near the edge); the array keeps the plan an index scan
    SELECT k.geom, k.flagged,
           lag(k.geom) OVER w AS prev_geom, lag(k.flagged) OVER w AS prev_flagged,
           lead(k.flagged) OVER w AS next_flagged
      FROM patrol_checkins k
     WHERE k.at >= %(start)s AND k.at < %(end)s
       AND k.patrol_id = ANY (ARRAY(SELECT DISTINCT k2.patrol_id FROM patrol_checkins k2, box
                                     WHERE k2.at >= %(start)s AND k2.at < %(end)s AND k2.geom && box.geom))
    WINDOW w AS (PARTITION BY k.patrol_id ORDER BY k.at, k.id)),
t AS MATERIALIZED (
    -- the pieces of track: each pair of consecutive unflagged check-ins, and a check-in with
    -- no unflagged neighbour as a point (any other point is the end of a piece already)
    SELECT ST_MakeLine(prev_geom, geom) AS geom FROM c
     WHERE prev_geom IS NOT NULL AND NOT flagged AND NOT prev_flagged
    UNION ALL
    SELECT geom FROM c
     WHERE NOT flagged AND coalesce(prev_flagged, true) AND coalesce(next_flagged, true)),
pairs AS (
    -- candidate (building, piece of track) pairs by the index; a pair closer than m / 111700
    -- degrees is surely within m metres (no degree of latitude or longitude is longer than
    -- 111.7 km), so the spheroid is asked only about buildings without such a pair
    SELECT b.id, b.geom AS bgeom, t.geom AS tgeom,
           bool_or(ST_DWithin(b.geom, t.geom, %(m)s / 111700.0)) OVER (PARTITION BY b.id) AS sure
      FROM t CROSS JOIN box JOIN buildings b ON ST_DWithin(b.geom, t.geom, box.deg)),
near AS (
    SELECT DISTINCT id FROM pairs
     WHERE sure OR ST_DWithin(bgeom::geography, tgeom::geography, %(m)s)),
cv AS (
    -- counted by grid through the key (a join of near to every building misplans: the CTEs'
    -- row estimates are guesses)
    SELECT b.grid_id, count(*) AS covered FROM near JOIN buildings b ON b.id = near.id GROUP BY b.grid_id)
SELECT g.code AS grid, nb.buildings, coalesce(cv.covered, 0) AS covered
  FROM g CROSS JOIN LATERAL (SELECT count(*) AS buildings FROM buildings b WHERE b.grid_id = g.id) nb
  LEFT JOIN cv ON cv.grid_id = g.id
 ORDER BY g.code
"""


def _coverage(principal: Principal, scope: str, date_from: date, date_to: date) -> list[dict]:
    try:
        scope_level(str(scope))
    except ValueError as exc:
        raise Refused("patrol.scope", f"{scope!r} 不是地点代码", str(exc)) from None
    permissions.check(principal, "patrols.view", scope)
    start, end = period_bounds(date_from, date_to)
    m = float(get_settings().patrol_coverage_m)
    rows = db.fetch_all(_COVERAGE, {"n": len(scope), "scope": scope, "start": start, "end": end,
                                    "m": m})
    return [{"grid": r["grid"], "from": date_from.isoformat(), "to": date_to.isoformat(),
             "buildings": int(r["buildings"]), "covered": int(r["covered"]),
             "share": round(r["covered"] / r["buildings"], 6) if r["buildings"] else None,
             "distance_m": m} for r in rows]


def coverage(principal: Principal, grid: str, date_from: date, date_to: date) -> dict:
    """Patrol coverage of one grid over a period (local dates, both included).

    Returns
    -------
    dict
        ``grid``, ``from``, ``to``, ``buildings``, ``covered``, ``share`` (0-1, ``None``
        without buildings) and ``distance_m``.
    """
    if not (isinstance(grid, str) and grid.isdigit() and len(grid) == 15):
        raise Refused("patrol.scope", f"{grid!r} 不是网格代码", f"{grid!r} is not a 15-digit grid code")
    rows = _coverage(principal, grid, date_from, date_to)
    if not rows:
        raise svc.NotFound("grid", f"没有现行网格 {grid}", f"no current grid {grid}")
    return rows[0]


def coverage_by_grid(principal: Principal, scope: str, date_from: date, date_to: date) -> list[dict]:
    """Patrol coverage of every current grid in ``scope`` (district, street, community or
    grid code) over a period, by grid code (the review's table)."""
    return _coverage(principal, scope, date_from, date_to)
