"""Reads behind the leaders' review (/review): figures per area, periods, rankings.

Every function takes a validated :class:`~geo.repository.scope.Scope` first; ``area`` codes
are checked against it (:meth:`Scope.require`), levels and metrics against fixed lists, and
SQL values are bound. The incident figures use the definitions of
:func:`geo.incidents.kpi.kpi` (due, deferred, on time, closed, closed at grid level, overdue
now, rework), computed for every area of a level in one grouped query; a test checks they
agree with ``kpi()`` area by area.

Areas are matched by code: place codes are hierarchical (4 + 2 + 3 + 3 + 3 digits: city,
district, street, community, grid), so the area at level ``L`` holding a place is
``left(code, len(L))``. A city is the top of a city-scoped reader's view, never a map level:
its districts are (the cities come from the districts' codes, their names from ``cities``).
"""

from __future__ import annotations

import calendar
import json
import math
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from geo import db
from geo.access import permissions
from geo.errors import GridAtlasError
from geo.repository.scope import Scope, valid_code
from geo.settings import get_settings

LEVELS = ("city", "district", "street", "community", "grid")
LEVEL_LEN = {"city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}
PERIODS = ("week", "month", "quarter", "year", "range")
# metric keys shown on the map (the page names them); "band" is categorical per grid
METRICS = ("band", "incidents_per_1000", "on_time_rate", "overdue_now", "grid_share", "rework",
           "hh_per_camera", "uncovered_buildings", "no_police_room")
# rates where higher is better (used by rankings and the red and black list)
HIGHER_BETTER = {"band": True, "on_time_rate": True, "grid_share": True,
                 "incidents_per_1000": False, "overdue_now": False, "rework": False,
                 "hh_per_camera": False, "uncovered_buildings": False, "no_police_room": False}
# the camera-coverage distance; migration 0014 keeps the buildings outside it (camera_gaps)
CAMERA_DISTANCE_M = 300
MIN_DUE_FOR_LIST = 10


class ReviewError(GridAtlasError):
    """A review request that cannot be answered (bad level, metric or period)."""


def _check(scope: Any) -> Scope:
    if not isinstance(scope, Scope):
        raise TypeError("reads take a geo.repository.scope.Scope first")
    permissions.check(scope.principal, "view.review")
    return scope


# ----------------------------------------------------------------------------- periods

@dataclass(frozen=True)
class Period:
    """A period of local dates (both ends included) and its two comparisons."""

    kind: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period just before (环比): the previous week/month/quarter/year, or the same
        number of days before a date range."""
        if self.kind == "week":
            return Period("week", self.start - timedelta(days=7), self.start - timedelta(days=1))
        if self.kind in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
            start = _add_months(self.start, -months)
            return Period(self.kind, start, self.start - timedelta(days=1))
        return Period("range", self.start - timedelta(days=self.days),
                      self.start - timedelta(days=1))

    def year_ago(self) -> Period:
        """The same period a year earlier (同比)."""
        return Period(self.kind, _add_months(self.start, -12), _add_months(self.end, -12, clamp=True))

    def bounds(self) -> tuple[datetime, datetime]:
        """``[start, end)`` instants in ``TIMEZONE``."""
        zone = zoneinfo.ZoneInfo(get_settings().timezone)
        return (datetime.combine(self.start, time(0), zone),
                datetime.combine(self.end + timedelta(days=1), time(0), zone))

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "from": self.start.isoformat(), "to": self.end.isoformat()}


def _add_months(d: date, months: int, *, clamp: bool = True) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    last = calendar.monthrange(y, m)[1]
    return date(y, m, min(d.day, last) if clamp else d.day)


def today() -> date:
    """Today's date in ``TIMEZONE``."""
    return datetime.now(zoneinfo.ZoneInfo(get_settings().timezone)).date()


def period_of(kind: Any, date_from: Any = None, date_to: Any = None, *,
              on: date | None = None) -> Period:
    """The period ``kind`` holding ``on`` (default today, in ``TIMEZONE``), or a date range.

    ``week`` starts on Monday; ``range`` takes ``date_from`` and ``date_to`` (ISO dates or
    :class:`date`), at most three years. Anything else is refused with :class:`ReviewError`.
    """
    if kind not in PERIODS:
        raise ReviewError("统计周期无效（周、月、季、年或日期范围）/ period must be week, month, "
                          "quarter, year or range")
    on = on or today()
    if kind == "week":
        start = on - timedelta(days=on.weekday())
        return Period(kind, start, start + timedelta(days=6))
    if kind == "month":
        return Period(kind, on.replace(day=1), on.replace(day=calendar.monthrange(on.year, on.month)[1]))
    if kind == "quarter":
        first = 3 * ((on.month - 1) // 3) + 1
        start = date(on.year, first, 1)
        return Period(kind, start, _add_months(start, 3) - timedelta(days=1))
    if kind == "year":
        return Period(kind, date(on.year, 1, 1), date(on.year, 12, 31))
    a, b = _as_date(date_from), _as_date(date_to)
    if a is None or b is None:
        raise ReviewError("请选择开始和结束日期 / choose both dates of the range")
    if b < a:
        raise ReviewError("结束日期早于开始日期 / the range ends before it starts")
    if (b - a).days > 3 * 366:
        raise ReviewError("统计周期不能超过三年 / a period is at most three years")
    return Period(kind, a, b)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ReviewError("日期无效（应为 YYYY-MM-DD）/ not a date (use YYYY-MM-DD)") from None


# ----------------------------------------------------------------------------- areas

def level_of(code: str) -> str:
    return {v: k for k, v in LEVEL_LEN.items()}[len(code)]


def child_level(level: str) -> str | None:
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def check_view(scope: Scope, area: Any, level: Any) -> tuple[str | None, str]:
    """Validate ``area`` (a code inside the scope, ``None``/"" for the whole scope) and
    ``level`` (a level strictly below the area's, or the grid level for a grid)."""
    _check(scope)
    if area in (None, ""):
        area = scope.base
    elif not valid_code(area):
        raise ReviewError("地点代码无效（应为 4/6/9/12/15 位数字）/ not a place code")
    else:
        scope.require(area)
    top = level_of(area) if area else None
    if level not in LEVELS[1:]:  # a city is a view's top, never its map level
        raise ReviewError("层级无效（区、街道、社区或网格）/ level must be district, street, "
                          "community or grid")
    if top is not None and LEVELS.index(level) <= LEVELS.index(top) and top != "grid":
        raise ReviewError("层级须低于所选地区 / the level must lie below the chosen area")
    if top == "grid":
        level = "grid"
    return area, level


def breadcrumb(scope: Scope, area: str | None) -> list[dict]:
    """The area and its ancestors within the scope, from the top down (code, name, name_en,
    level)."""
    _check(scope)
    if not area:
        return []
    codes = [area[:n] for n in LEVEL_LEN.values() if n <= len(area)]
    codes = [c for c in codes if scope.covers(c) or (scope.base and c == scope.base)]
    rows = db.fetch_all(
        """SELECT code, coalesce(name, '城市 ' || code) AS name,
                  coalesce(name_en, name, 'City ' || code) AS name_en
             FROM cities WHERE code = ANY(%(c)s)
           UNION ALL SELECT code, name, name_en FROM districts WHERE code = ANY(%(c)s)
           UNION ALL SELECT code, name, name_en FROM streets WHERE code = ANY(%(c)s)
           UNION ALL SELECT code, name, name_en FROM communities WHERE code = ANY(%(c)s)
           UNION ALL SELECT g.code, coalesce(g.name, g.code), g.name FROM grids g
             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
            WHERE g.code = ANY(%(c)s)""", {"c": codes})
    names = {r["code"]: r for r in rows}
    return [{"code": c, "level": level_of(c), "name": names[c]["name"] if c in names else c,
             "name_en": (names[c]["name_en"] or names[c]["name"]) if c in names else c}
            for c in codes]


# Area tables by level; each yields code, name, name_en and geometry of the areas at a level
# inside the place (only current grids).
_AREAS = {
    # cities are their districts' code prefixes; a city without a name is named by its code
    "city": """SELECT k.code, coalesce(c.name, '城市 ' || k.code) AS name,
                      coalesce(c.name_en, c.name, 'City ' || k.code) AS name_en,
                      NULL::geometry AS geom
                 FROM (SELECT DISTINCT left(code, 4) AS code FROM districts) k
                 LEFT JOIN cities c ON c.code = k.code""",
    "district": "SELECT d.code, d.name, d.name_en, {geom} AS geom FROM districts d {join}",
    "street": "SELECT d.code, d.name, d.name_en, {geom} AS geom FROM streets d {join}",
    "community": "SELECT d.code, d.name, d.name_en, {geom} AS geom FROM communities d {join}",
    "grid": """SELECT d.code, coalesce(d.name, d.code) AS name, d.name AS name_en, {geom} AS geom
                 FROM grids d JOIN grid_versions v ON v.id = d.version_id AND v.is_current {join}""",
}


# The coarse copy (geo/coarse.py keeps 8 m and 30 m ones) a map of a level's areas is drawn
# with: a level's areas fill the map of the area above them, so streets or districts span a
# district or a city (tens of metres a pixel: 30 m is under two pixels) and communities or
# grids a street or a community (a few metres a pixel).
MAP_TOLERANCE_M = {"district": 30, "street": 30, "community": 8, "grid": 8}


def _areas_sql(level: str, simplified: bool) -> str:
    if not simplified:
        return _AREAS[level].format(geom="d.geom", join="")
    tol = int(MAP_TOLERANCE_M.get(level, 8))
    if level == "grid":
        join = f"LEFT JOIN grid_coarse gc ON gc.grid_id = d.id AND gc.tolerance_m = {tol}"
        return _AREAS[level].format(geom="coalesce(gc.geom, d.geom)", join=join)
    join = (f"LEFT JOIN place_coarse pc ON pc.level = '{level}' AND pc.code = d.code"
            f" AND pc.tolerance_m = {tol}")
    return _AREAS[level].format(geom="coalesce(pc.geom, d.geom)", join=join)


def _place(area: str | None) -> dict[str, Any]:
    return {"place": area, "plen": len(area) if area else 0}


def map_areas(scope: Scope, area: str | None, level: str) -> dict:
    """The areas at ``level`` inside ``area`` as GeoJSON (code, name, name_en; coarse
    copies where they exist), and the extent ``bounds`` ([[s, w], [n, e]])."""
    area, level = check_view(scope, area, level)
    rows = db.fetch_all(
        # 5 decimals: about a metre, finer than the coarse copies' tolerance
        f"""SELECT a.code, a.name, a.name_en, ST_AsGeoJSON(a.geom, 5) AS gj,
                   ST_XMin(a.geom) AS w, ST_YMin(a.geom) AS s, ST_XMax(a.geom) AS e,
                   ST_YMax(a.geom) AS n
              FROM ({_areas_sql(level, True)}) a
             WHERE %(place)s::text IS NULL OR left(a.code, %(plen)s) = %(place)s
             ORDER BY a.code""", _place(area))
    feats = [{"type": "Feature", "geometry": json.loads(r["gj"]),
              "properties": {"code": r["code"], "name": r["name"], "name_en": r["name_en"] or r["name"],
                             "level": level}} for r in rows]
    bounds = None
    if rows:
        bounds = [[min(r["s"] for r in rows), min(r["w"] for r in rows)],
                  [max(r["n"] for r in rows), max(r["e"] for r in rows)]]
    return {"type": "FeatureCollection", "features": feats, "bounds": bounds}


# ----------------------------------------------------------------------------- figures

# Incident figures per area (kpi() definitions), grouped by the area code ``akey``.
_INC_KEY = {
    "city": ("JOIN districts k ON k.id = i.district_id", "left(k.code, 4)"),
    "district": ("JOIN districts k ON k.id = i.district_id", "k.code"),
    "street": ("JOIN streets k ON k.id = i.street_id", "k.code"),
    "community": ("JOIN communities k ON k.id = i.community_id", "k.code"),
    "grid": ("JOIN grids k ON k.id = i.grid_id", "k.code"),
}

_INCIDENTS = """
WITH dids AS (SELECT id FROM districts
               WHERE %(place)s::text IS NULL
                  OR left(code, least(%(plen)s, 6)) = left(%(place)s, 6)),
-- per incident that was ever deferred or taken out of deferral (a few of them): whether its
-- last such transition before the period's end deferred it, and whether it was ever deferred;
-- read once here instead of two correlated lookups per due case
dfr AS MATERIALIZED (
  SELECT e.incident_id,
         (array_agg(e.to_state = 'deferred' ORDER BY e.at DESC, e.id DESC)
            FILTER (WHERE e.at < %(end)s))[1] AS last_deferred,
         bool_or(e.to_state = 'deferred') AS ever_deferred
    FROM incident_events e
   WHERE e.kind = 'transition' AND (e.to_state = 'deferred' OR e.from_state = 'deferred')
   GROUP BY e.incident_id),
due AS (
  SELECT x.akey, count(*) AS due, count(*) FILTER (WHERE x.deferred) AS deferred,
         count(*) FILTER (WHERE NOT x.deferred AND x.handled_at IS NOT NULL
                            AND x.handled_at <= x.due_at AND x.state <> 'returned') AS closed_on_time
    FROM (SELECT {key} AS akey, i.due_at, i.handled_at, i.state,
                 coalesce(d.last_deferred, false)
                 OR (i.closed_at IS NOT NULL AND coalesce(d.ever_deferred, false)) AS deferred
            FROM incidents i {join} LEFT JOIN dfr d ON d.incident_id = i.id
           WHERE i.district_id IN (SELECT id FROM dids) AND i.due_at >= %(start)s
             AND i.due_at < %(end)s AND i.duplicate_of IS NULL {where}) x
   GROUP BY x.akey),
cl AS (
  SELECT {key} AS akey, count(*) AS closed,
         count(*) FILTER (WHERE i.closed_level = 'grid') AS at_grid,
         percentile_cont(0.5) WITHIN GROUP (
             ORDER BY extract(epoch FROM i.closed_at - i.reported_at)) / 3600.0 AS median_hours
    FROM incidents i {join}
   WHERE i.district_id IN (SELECT id FROM dids) AND i.closed_at >= %(start)s
     AND i.closed_at < %(end)s AND i.duplicate_of IS NULL {where}
   GROUP BY 1),
rep AS (
  SELECT {key} AS akey, count(*) AS reported
    FROM incidents i {join}
   WHERE i.district_id IN (SELECT id FROM dids) AND i.reported_at >= %(start)s
     AND i.reported_at < %(end)s AND i.duplicate_of IS NULL {where}
   GROUP BY 1),
op AS (
  SELECT {key} AS akey, count(*) AS open_any
    FROM incidents i {join}
   WHERE i.district_id IN (SELECT id FROM dids) AND i.reported_at < %(end)s
     AND (i.closed_at IS NULL OR i.closed_at >= %(start)s) AND i.duplicate_of IS NULL {where}
   GROUP BY 1),
ov AS (
  SELECT {key} AS akey, count(*) AS overdue_now
    FROM incidents i {join}
   WHERE i.district_id IN (SELECT id FROM dids) AND i.closed_at IS NULL
     AND i.due_at IS NOT NULL AND i.dispatched_at IS NOT NULL AND i.due_at < %(now)s
     AND i.state <> 'deferred' {where}
   GROUP BY 1),
rw AS (
  SELECT {key} AS akey, count(*) AS rework
    FROM incident_events e JOIN incidents i ON i.id = e.incident_id {join}
   WHERE e.kind = 'transition' AND e.to_state = 'returned' AND e.at >= %(start)s
     AND e.at < %(end)s AND i.district_id IN (SELECT id FROM dids)
     AND i.duplicate_of IS NULL {where}
   GROUP BY 1)
SELECT k.akey, coalesce(due.due, 0) AS due, coalesce(due.deferred, 0) AS deferred,
       coalesce(due.closed_on_time, 0) AS closed_on_time, coalesce(cl.closed, 0) AS closed,
       coalesce(cl.at_grid, 0) AS at_grid, cl.median_hours, coalesce(rep.reported, 0) AS reported,
       coalesce(op.open_any, 0) AS open_any, coalesce(ov.overdue_now, 0) AS overdue_now,
       coalesce(rw.rework, 0) AS rework
  FROM (SELECT akey FROM due UNION SELECT akey FROM cl UNION SELECT akey FROM rep
        UNION SELECT akey FROM op UNION SELECT akey FROM ov UNION SELECT akey FROM rw) k
  LEFT JOIN due ON due.akey = k.akey LEFT JOIN cl ON cl.akey = k.akey
  LEFT JOIN rep ON rep.akey = k.akey LEFT JOIN op ON op.akey = k.akey
  LEFT JOIN ov ON ov.akey = k.akey LEFT JOIN rw ON rw.akey = k.akey
"""


def _fetch(query: str, params: dict) -> list[dict]:
    """Rows of one of the figure queries. JIT compilation is off for them (as for ``kpi()``):
    their cost estimates cross the JIT threshold at city scale, and compiling took longer than
    the queries run (about 0.6 s a query)."""
    return db.fetch_all("SET LOCAL jit = off;\n" + query, params)


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def incident_figures(scope: Scope, area: str | None, level: str, period: Period, *,
                     now: datetime | None = None) -> dict[str, dict]:
    """Incident figures of every area at ``level`` inside ``area``, keyed by area code:
    ``due``, ``deferred``, ``closed_on_time``, ``on_time_rate``, ``closed``, ``closure_rate``,
    ``overdue_now``, ``rework``,
    ``grid_share`` (share closed at grid level), ``reported``, ``median_hours_to_close``."""
    _check(scope)
    if level not in LEVELS:
        raise ReviewError("层级无效 / unknown level")
    if area is not None:
        scope.require(area)
    join, key = _INC_KEY[level]
    where = f"AND (%(place)s::text IS NULL OR {key} LIKE %(place)s || '%%')"
    start, end = period.bounds()
    # the fragments are fixed strings chosen by level; values stay bound
    query = _INCIDENTS.replace("{key}", key).replace("{join}", join).replace("{where}", where)
    params = {**_place(area), "start": start, "end": end, "now": now or datetime.now(UTC)}
    out = {}
    for r in _fetch(query, params):
        due, deferred, closed = int(r["due"]), int(r["deferred"]), int(r["closed"])
        out[r["akey"]] = {
            "due": due, "deferred": deferred, "closed_on_time": int(r["closed_on_time"]),
            "on_time_rate": _rate(int(r["closed_on_time"]), due - deferred),
            "closed": closed, "open_in_period": int(r["open_any"]),
            "closure_rate": _rate(closed, int(r["open_any"])),
            "overdue_now": int(r["overdue_now"]), "rework": int(r["rework"]),
            "grid_share": _rate(int(r["at_grid"]), closed), "reported": int(r["reported"]),
            "median_hours_to_close": (round(float(r["median_hours"]), 3)
                                      if r["median_hours"] is not None else None),
        }
    return out


_ASSETS = """
WITH a AS ({areas}),
sel AS (SELECT * FROM a WHERE %(place)s::text IS NULL OR left(a.code, %(plen)s) = %(place)s),
g AS (SELECT g.id, g.code, g.households, c.min_households AS lo, c.max_households AS hi
        FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
        JOIN communities c ON c.id = g.community_id
       WHERE %(place)s::text IS NULL OR left(g.code, least(%(plen)s, 15)) = left(%(place)s, 15)),
hh AS MATERIALIZED (SELECT left(g.code, %(alen)s) AS akey, sum(g.households)::int AS households,
              count(*)::int AS grids,
              count(*) FILTER (WHERE g.households < g.lo)::int AS under,
              count(*) FILTER (WHERE g.households BETWEEN g.lo AND g.hi)::int AS in_band,
              count(*) FILTER (WHERE g.households > g.hi)::int AS over,
              min(g.lo) AS lo, max(g.hi) AS hi
         FROM g GROUP BY 1),
cg AS MATERIALIZED (SELECT c.grid_id, count(*)::int AS n FROM cameras c
         WHERE c.status = 'online' AND c.grid_id IS NOT NULL GROUP BY 1),
cam AS MATERIALIZED (SELECT left(g.code, %(alen)s) AS akey, sum(cg.n)::int AS cameras
          FROM cg JOIN g ON g.id = cg.grid_id
         GROUP BY 1),
gap AS MATERIALIZED (SELECT b.grid_id FROM {uncovered}),
unc AS MATERIALIZED (SELECT left(g.code, %(alen)s) AS akey, count(*)::int AS uncovered,
               count(DISTINCT g.code)::int AS uncovered_grids
          FROM gap JOIN g ON g.id = gap.grid_id
         GROUP BY 1),
pol AS MATERIALIZED (SELECT left(c.code, least(%(alen)s, 12)) AS akey, count(*)::int AS communities,
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM police_rooms p WHERE p.community_id = c.id))::int AS no_police
          FROM communities c
         WHERE %(place)s::text IS NULL OR left(c.code, least(%(plen)s, 12)) = left(%(place)s, 12)
         GROUP BY 1)
SELECT s.code, s.name, s.name_en, coalesce(hh.households, 0) AS households,
       coalesce(hh.grids, 0) AS grids, coalesce(hh.under, 0) AS under,
       coalesce(hh.in_band, 0) AS in_band, coalesce(hh.over, 0) AS over, hh.lo, hh.hi,
       coalesce(cam.cameras, 0) AS cameras, coalesce(unc.uncovered, 0) AS uncovered,
       coalesce(unc.uncovered_grids, 0) AS uncovered_grids,
       pol.communities, pol.no_police
  FROM sel s LEFT JOIN hh ON hh.akey = s.code LEFT JOIN cam ON cam.akey = s.code
  LEFT JOIN unc ON unc.akey = s.code LEFT JOIN pol ON pol.akey = left(s.code, 12)
 ORDER BY s.code
"""


# the buildings with no online camera within CAMERA_DISTANCE_M, as ``b`` (kept by triggers;
# read whole and then matched to the area's grids: they are the exceptions, a few thousand of
# a city's million buildings)
_GAPS = "camera_gaps x JOIN buildings b ON b.id = x.building_id"
# the same for any distance, computed on the spot (every building of the area)
_GAPS_LIVE = """(SELECT * FROM buildings b0
                  WHERE NOT EXISTS (SELECT 1 FROM cameras c
                                     WHERE c.status = 'online'
                                       AND c.geom && ST_Expand(b0.pt, %(mlon)s / cos(radians(ST_Y(b0.pt))),
                                                               %(mlat)s)
                                       AND ST_DWithin(c.geom::geography, b0.pt::geography, %(dist)s))) b"""


def asset_figures(scope: Scope, area: str | None, level: str, *,
                  distance_m: int = CAMERA_DISTANCE_M) -> dict[str, dict]:
    """Households, grids against their band, online cameras, buildings with no online camera
    within ``distance_m`` (and the grids holding them) and communities without a police room,
    per area at ``level`` inside ``area`` (a grid counts its community's police room).

    Everything is counted through the area's current grids: households and buildings by their
    grid, cameras by the grid they are assigned to (``cameras.grid_id``, kept by the importers
    and moved with each redraw; the wall counts them the same way), police rooms by community.
    """
    _check(scope)
    if not isinstance(distance_m, int) or not 10 <= distance_m <= 5000:
        raise ReviewError("距离应为 10 至 5000 米 / distance must be 10 to 5000 m")
    if area is not None:
        scope.require(area)
    # at the set distance the database keeps the uncovered buildings (camera_gaps, migration
    # 0014); another distance tests every building of the area: an index box a little larger
    # than the distance (degrees), then the exact test on the spheroid
    uncovered = _GAPS if distance_m == CAMERA_DISTANCE_M else _GAPS_LIVE
    mlon, mlat = 1.02 * distance_m / 111_320, 1.02 * distance_m / 110_574
    rows = _fetch(
        _ASSETS.replace("{areas}", _areas_sql(level, False)).replace("{uncovered}", uncovered),
        {**_place(area), "alen": LEVEL_LEN[level], "dist": distance_m, "mlon": mlon, "mlat": mlat})
    out = {}
    for r in rows:
        fig = {k: r[k] for k in ("name", "name_en", "households", "grids", "under", "in_band", "over",
                                 "lo", "hi", "cameras", "uncovered", "uncovered_grids",
                                 "communities", "no_police")}
        fig["name_en"] = fig["name_en"] or fig["name"]
        fig["hh_per_camera"] = round(r["households"] / r["cameras"], 1) if r["cameras"] else None
        fig["band_share"] = _rate(r["in_band"], r["grids"])
        out[r["code"]] = fig
    return out


def figures(scope: Scope, area: str | None, level: str, period: Period, *,
            now: datetime | None = None, distance_m: int = CAMERA_DISTANCE_M,
            assets: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every metric of every area at ``level`` inside ``area`` (asset and incident figures
    merged; ``incidents_per_1000`` = incidents reported in the period per 1,000 households).
    ``assets``: this level's :func:`asset_figures`, when the caller has them already."""
    area, level = check_view(scope, area, level)
    if assets is None:
        assets = asset_figures(scope, area, level, distance_m=distance_m)
    inc = incident_figures(scope, area, level, period, now=now)
    empty = {"due": 0, "deferred": 0, "closed_on_time": 0, "on_time_rate": None, "closed": 0,
             "open_in_period": 0, "closure_rate": None, "overdue_now": 0, "rework": 0,
             "grid_share": None, "reported": 0, "median_hours_to_close": None}
    out = {}
    for code, a in assets.items():
        f = {**a, **inc.get(code, empty), "code": code, "level": level}
        f["incidents_per_1000"] = (round(1000 * f["reported"] / f["households"], 2)
                                   if f["households"] else None)
        f["uncovered_buildings"] = f["uncovered"]
        f["no_police_room"] = f["no_police"]
        f["band"] = _band_value(f)
        out[code] = f
    return out


def _band_value(f: dict) -> float | None:
    """A grid's households (its class is under / in / over its band); for a larger area the
    share of its grids in band."""
    if f["level"] == "grid":
        return f["households"]
    return f["band_share"]


def band_class(f: dict) -> str | None:
    """``under``, ``in`` or ``over`` for a grid against its community's band."""
    if f.get("level") != "grid" or f.get("lo") is None:
        return None
    if f["households"] < f["lo"]:
        return "under"
    return "over" if f["households"] > f["hi"] else "in"


def area_figures(scope: Scope, code: str, period: Period, *, now: datetime | None = None,
                 assets: dict | None = None) -> dict:
    """The figures of one area (its own level) for ``period``, 环比 and 同比: ``{"now": {...},
    "prev": {...}, "year": {...}, "periods": {...}}``. ``assets``: the area's own
    :func:`asset_figures` entry, when the caller has it already."""
    _check(scope)
    scope.require(code)
    level = level_of(code)
    if assets is None:
        assets = asset_figures(scope, code, level).get(code, {})
    out: dict[str, Any] = {"periods": {}}
    for key, p in (("now", period), ("prev", period.previous()), ("year", period.year_ago())):
        inc = incident_figures(scope, code, level, p, now=now).get(code, {})
        f = {**assets, **inc, "level": level}
        f["incidents_per_1000"] = (round(1000 * f.get("reported", 0) / f["households"], 2)
                                   if f.get("households") else None)
        out[key] = f
        out["periods"][key] = p.as_dict()
    return out


# Asset figures that add up from communities to streets and the district: every one of them
# is counted by code (grids, buildings and cameras by their grid, police rooms by community).
_SUMMED = ("households", "grids", "under", "in_band", "over", "cameras", "uncovered",
           "uncovered_grids", "communities", "no_police")


def _roll_up(scope: Scope, area: str | None, level: str, communities: dict[str, dict]) -> dict[str, dict]:
    """Asset figures of every area at ``level`` (district or street) inside ``area``, added up
    from the communities' (:func:`asset_figures` at community level for the same ``area``)."""
    n = LEVEL_LEN[level]
    rows = db.fetch_all(
        f"""SELECT a.code, a.name, a.name_en FROM ({_AREAS[level].format(geom="NULL", join="")}) a
             WHERE %(place)s::text IS NULL OR a.code LIKE %(place)s || '%%'
             ORDER BY a.code""", _place(area))
    out: dict[str, dict] = {}
    for r in rows:
        kids = [f for c, f in communities.items() if c[:n] == r["code"]]
        fig: dict[str, Any] = {"name": r["name"], "name_en": r["name_en"] or r["name"]}
        for k in _SUMMED:
            fig[k] = sum(f[k] or 0 for f in kids)
        if not kids:
            fig["communities"] = fig["no_police"] = None
        los = [f["lo"] for f in kids if f["lo"] is not None]
        his = [f["hi"] for f in kids if f["hi"] is not None]
        fig["lo"], fig["hi"] = (min(los) if los else None), (max(his) if his else None)
        fig["hh_per_camera"] = round(fig["households"] / fig["cameras"], 1) if fig["cameras"] else None
        fig["band_share"] = _rate(fig["in_band"], fig["grids"])
        out[r["code"]] = fig
    return out


def view_figures(scope: Scope, area: str | None, level: str, period: Period, *,
                 now: datetime | None = None, rankings: bool = True) -> dict[str, Any]:
    """What the review shows for ``area`` at ``level``: ``figs`` (the map's areas), ``key``
    (:func:`area_figures` of the area, ``None`` for no area), ``streets`` and ``communities``
    (the rankings: a city's or district's streets, its or a street's communities; empty without
    ``rankings``).

    The asset figures are read once at community level and added up to streets and the
    district (they are counted by code, so the sums are exact); grids are read on their own.
    """
    area, level = check_view(scope, area, level)
    top = level_of(area) if area else None
    memo: dict[str, dict[str, dict]] = {}

    def assets_at(lv: str) -> dict[str, dict]:
        if lv not in memo:
            if lv in ("community", "grid"):
                memo[lv] = asset_figures(scope, area, lv)
            else:
                memo[lv] = _roll_up(scope, area, lv, assets_at("community"))
        return memo[lv]

    figs = figures(scope, area, level, period, now=now, assets=assets_at(level))
    key = None
    if area:
        key = area_figures(scope, area, period, now=now, assets=assets_at(top).get(area, {}))
    streets: dict[str, dict] = {}
    communities: dict[str, dict] = {}
    if rankings and area and len(area) <= 6:  # a district's or a city's streets
        streets = figs if level == "street" else figures(scope, area, "street", period, now=now,
                                                         assets=assets_at("street"))
    if rankings and area and len(area) <= 9:
        communities = figs if level == "community" else figures(scope, area, "community", period,
                                                                now=now, assets=assets_at("community"))
    return {"area": area, "level": level, "figs": figs, "key": key, "streets": streets,
            "communities": communities}


def ranking_figures(scope: Scope, area: str | None, period: Period, *,
                    now: datetime | None = None) -> dict[str, dict[str, dict]]:
    """The rankings of ``area`` on their own: ``streets`` and ``communities`` as in
    :func:`view_figures` (the page reads them after its map and key figures, so the first
    view does not wait for them). The communities' asset figures are read once and added up
    to the streets."""
    area, _ = check_view(scope, area, "grid")
    streets: dict[str, dict] = {}
    communities: dict[str, dict] = {}
    if area and len(area) <= 9:
        assets = asset_figures(scope, area, "community")
        if len(area) <= 6:
            streets = figures(scope, area, "street", period, now=now,
                              assets=_roll_up(scope, area, "street", assets))
        communities = figures(scope, area, "community", period, now=now, assets=assets)
    return {"area": area, "streets": streets, "communities": communities}


# ----------------------------------------------------------------------------- classes

def breaks(values: list[float], k: int = 5) -> list[float]:
    """Quantile class breaks (upper bounds of the first ``k - 1`` classes) of ``values``;
    fewer when values repeat."""
    vals = sorted(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
    if not vals:
        return []
    out: list[float] = []
    for i in range(1, k):
        q = vals[min(len(vals) - 1, math.ceil(i * len(vals) / k) - 1)]
        if (not out or q > out[-1]) and q < vals[-1]:
            out.append(q)
    return out


def classify(value: float | None, cuts: list[float]) -> int | None:
    """Class index of ``value`` against ``cuts`` (0..len(cuts)); ``None`` for no value."""
    if value is None:
        return None
    for i, c in enumerate(cuts):
        if value <= c:
            return i
    return len(cuts)


def rank_of(figs: dict[str, dict], code: str, metric: str) -> tuple[int, int] | None:
    """``(rank, of)`` of ``code`` among ``figs`` by ``metric`` (1 = best), ties sharing."""
    if metric not in METRICS or code not in figs or figs[code].get(metric) is None:
        return None
    vals = [f[metric] for f in figs.values() if f.get(metric) is not None]
    v = figs[code][metric]
    better = sum(1 for x in vals if (x > v if HIGHER_BETTER[metric] else x < v))
    return better + 1, len(vals)


def red_black(figs: dict[str, dict], n: int = 5, min_due: int = MIN_DUE_FOR_LIST) -> dict[str, list]:
    """The red list (top ``n``) and black list (bottom ``n``) by on-time closure rate among
    areas with at least ``min_due`` due cases; each row code, name, rate, due."""
    rows = [f for f in figs.values() if f.get("due", 0) >= min_due and f.get("on_time_rate") is not None]
    rows.sort(key=lambda f: (-f["on_time_rate"], -f["due"], f["code"]))
    red = rows[:n]
    black = sorted(rows, key=lambda f: (f["on_time_rate"], -f["due"], f["code"]))[:n]
    return {"red": red, "black": black, "eligible": len(rows)}
