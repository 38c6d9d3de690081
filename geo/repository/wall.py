"""Queries behind the command-centre wall: boundaries by zoom, live KPIs, points and panels.

Every function takes a :class:`~geo.repository.scope.Scope` first (the principal's scope,
possibly narrowed by the page's street/community filter) and, for incidents, an
:class:`IncidentFilter`. Places are matched by the scope's validated code, never by a
pattern from the request. Counts and aggregates are computed in PostGIS; GeoJSON is built
there with 6 decimals (~0.1 m).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from geo import db
from geo.access.permissions import allowed
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.repository.memo import Memo
from geo.repository.scope import Scope, place_sql
from geo.settings import get_settings

# Zoom thresholds (web-map zoom levels).
GRID_MIN_ZOOM = 13  # grids drawn from here in
POINTS_MIN_ZOOM = 15  # single points (in view) from here in; per-grid counts below
COUNTS_GRID_ZOOM = 13  # per-grid counts from here to POINTS_MIN_ZOOM; per-community below
BUILDINGS_MIN_ZOOM = 16  # building footprints (in view) from here in
MAX_POINTS = 5000  # client clustering only up to this many points in view
MAX_BUILDINGS = 6000

OPEN_STATES = ("reported", "escalated", "filed", "dispatched", "accepted", "handled",
               "verified", "returned", "deferred")
SEVERITIES = ("ordinary", "major", "complex")


class BadRequest(GridAtlasError):
    """A request parameter that is malformed (the message names it)."""


@dataclass(frozen=True)
class IncidentFilter:
    """Incident category (itself or its parent) and severity; ``None`` means any."""

    category: str | None = None
    severity: str | None = None

    def __post_init__(self) -> None:
        if self.category is not None and not (
                isinstance(self.category, str) and 0 < len(self.category) <= 64):
            raise BadRequest(f"类别无效 / unknown category {str(self.category)[:40]!r}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise BadRequest(f"严重程度无效 / unknown severity {str(self.severity)[:40]!r}")

    def params(self) -> dict[str, Any]:
        return {"category": self.category, "severity": self.severity}


ANY = IncidentFilter()


def view_of(principal: Principal | None, stored: Any) -> tuple[Scope, IncidentFilter]:
    """The wall's filters (a dict from the page) applied to the principal's scope.

    The community (else the street, else the district: a city's wall) narrows the scope and
    must lie inside it; category and severity filter incidents. A filter that is not an
    object, a code that is not a place code or lies outside the scope is refused with
    :class:`GridAtlasError`.
    """
    scope = Scope.of(principal)
    if stored is None:
        return scope, ANY
    if not isinstance(stored, dict):
        raise BadRequest("筛选条件格式无效 / the wall's filters must be an object")
    district = stored.get("district")
    if district not in (None, "") and not (isinstance(district, str) and len(district) == 6):
        raise BadRequest("区代码无效（应为 6 位数字）/ not a district code (6 digits)")
    by_district = scope.narrow(district)  # each is checked against the scope
    by_street = scope.narrow(stored.get("street"))
    by_community = scope.narrow(stored.get("community"))
    place = (by_community if stored.get("community") else
             by_street if stored.get("street") else by_district)
    return place, IncidentFilter(stored.get("category") or None,
                                               stored.get("severity") or None)


def bbox_of(bounds: Any) -> list[float] | None:
    """Map bounds ``[[south, west], [north, east]]`` as ``[west, south, east, north]``.

    ``None`` stays ``None``; anything else that is not two finite corners in range is
    refused with :class:`BadRequest`.
    """
    if bounds is None:
        return None
    try:
        (s, w), (n, e) = bounds
        s, w, n, e = (float(v) for v in (s, w, n, e))
    except (TypeError, ValueError):
        raise BadRequest("地图范围无效 / malformed map bounds") from None
    if not all(math.isfinite(v) for v in (s, w, n, e)) or not (
            -90 <= s <= n <= 90 and -540 <= w <= e <= 540):
        raise BadRequest("地图范围无效 / map bounds out of range")
    return [w, s, e, n]


def zoom_of(zoom: Any) -> float | None:
    """A map zoom as a number (``None`` stays ``None``); :class:`BadRequest` otherwise."""
    if zoom is None:
        return None
    if isinstance(zoom, bool) or not isinstance(zoom, int | float) or not math.isfinite(zoom):
        raise BadRequest("缩放级别无效 / malformed map zoom")
    return float(zoom)


def tolerance_for_zoom(zoom: float | None) -> int | None:
    """Coarse copy to draw at a zoom (metres), or None for full precision."""
    if zoom is None or zoom < 12:
        return 30
    if zoom < 15:
        return 8
    return None


# ----------------------------------------------------------------------------- boundaries

_LEVEL_TABLE = {"district": "districts", "street": "streets", "community": "communities"}


def boundaries(scope: Scope, level: str, zoom: float | None) -> dict:
    """Boundaries of one level as GeoJSON, coarse at low zoom, within the scope's place.

    Places inside the place and its ancestors are returned. Features carry ``code``,
    ``name``, ``name_en``, ``level``; grids also ``households``, ``kind``, ``seq``.
    """
    tol = tolerance_for_zoom(zoom)
    where = place_sql("p.code", ancestors=True)
    if level == "grid":
        geom = ("coalesce(gc.geom, p.geom)" if tol else "p.geom")
        join = ("LEFT JOIN grid_coarse gc ON gc.grid_id = p.id AND gc.tolerance_m = %(tol)s"
                if tol else "")
        query = f"""
            SELECT p.code, coalesce(p.name, p.code) AS name, p.name AS name_en, p.households,
                   p.kind, p.seq, c.min_households AS lo, c.max_households AS hi,
                   ST_AsGeoJSON({geom}, 6) AS gj
              FROM grids p
              JOIN grid_versions v ON v.id = p.version_id AND v.is_current
              JOIN communities c ON c.id = p.community_id
              {join}
             WHERE {where}
             ORDER BY p.code"""
    else:
        table = _LEVEL_TABLE[level]
        geom = "coalesce(pc.geom, p.geom)" if tol else "p.geom"
        join = ("LEFT JOIN place_coarse pc ON pc.level = %(level)s AND pc.code = p.code"
                " AND pc.tolerance_m = %(tol)s" if tol else "")
        query = f"""
            SELECT p.code, p.name, p.name_en, ST_AsGeoJSON({geom}, 6) AS gj
              FROM {table} p {join}
             WHERE {where}
             ORDER BY p.code"""
    rows = db.fetch_all(query, {**scope.params(), "tol": tol, "level": level})
    return _collection(rows, level)


def labels(scope: Scope, levels=("street", "community", "grid")) -> dict:
    """Label points of streets, communities and grids (the page shows them by zoom)."""
    rows = db.fetch_all(
        f"""
        SELECT * FROM (
            SELECT 'street' AS level, code, name, name_en, NULL::int AS seq,
                   ST_AsGeoJSON(label_pt, 6) AS gj FROM streets
            UNION ALL
            SELECT 'community', code, name, name_en, NULL, ST_AsGeoJSON(label_pt, 6)
              FROM communities
            UNION ALL
            SELECT 'grid', g.code, g.code, g.code, g.seq, ST_AsGeoJSON(g.label_pt, 6)
              FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
        ) p
        WHERE p.gj IS NOT NULL AND p.level = ANY(%(levels)s)
          AND {place_sql("p.code", ancestors=True)}""",
        {**scope.params(), "levels": list(levels)},
    )
    return _collection(rows, None)


def extent(scope: Scope) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the scope's place (all districts when None; a
    city's districts for a 4-digit city code)."""
    row = db.fetch_one(
        """SELECT ST_YMin(e) AS s, ST_XMin(e) AS w, ST_YMax(e) AS n, ST_XMax(e) AS e FROM (
             SELECT ST_Extent(geom)::geometry AS e FROM (
               SELECT geom FROM districts
                WHERE %(place)s::text IS NULL OR left(code, %(plen)s) = %(place)s
               UNION ALL SELECT geom FROM streets WHERE code = %(place)s
               UNION ALL SELECT geom FROM communities WHERE code = %(place)s
               UNION ALL SELECT g.geom FROM grids g
                 JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                WHERE g.code = %(place)s) p) x""",
        scope.params(),
    )
    if not row or row["s"] is None:
        return None
    return [[row["s"], row["w"]], [row["n"], row["e"]]]


def _collection(rows: list[dict], level: str | None) -> dict:
    features = []
    for row in rows:
        props = {k: v for k, v in row.items() if k != "gj"}
        if level:
            props["level"] = level
        features.append({"type": "Feature", "geometry": json.loads(row["gj"]),
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


# ----------------------------------------------------------------------------- incidents

# Shared WHERE for incidents: place via the grid/community/street/district codes, category
# (itself or its parent), severity.
_INCIDENT_FILTER = place_sql("coalesce(g.code, c.code, s.code, d.code)") + """
    AND (%(category)s::text IS NULL OR ic.code = %(category)s OR icp.code = %(category)s)
    AND (%(severity)s::text IS NULL OR i.severity = %(severity)s)"""

# column and table by the length of a (validated) place code
_PLACE_COLUMN = {6: ("district_id", "districts"), 9: ("street_id", "streets"),
                 12: ("community_id", "communities"), 15: ("grid_id", "grids")}


def _incident_where(scope: Scope) -> str:
    """The place/category/severity filter on the incident's own columns (no joins)."""
    if scope.place is None:
        where = "TRUE"
    elif len(scope.place) == 4:  # a city: its districts (the code prefix, never a pattern)
        where = "i.district_id IN (SELECT id FROM districts WHERE left(code, 4) = %(place)s)"
    else:
        col, table = _PLACE_COLUMN[len(scope.place)]
        where = f"i.{col} IN (SELECT id FROM {table} WHERE code = %(place)s)"
    return where + """
    AND (%(category)s::text IS NULL OR i.category_id IN (
         SELECT x.id FROM incident_categories x LEFT JOIN incident_categories xp
             ON xp.id = x.parent_id
          WHERE x.code = %(category)s OR xp.code = %(category)s))
    AND (%(severity)s::text IS NULL OR i.severity = %(severity)s)"""


def _params(scope: Scope, flt: IncidentFilter, **more: Any) -> dict[str, Any]:
    if not isinstance(scope, Scope):
        raise TypeError("reads take a geo.repository.scope.Scope first")
    return {**scope.params(), **flt.params(), **more}


_INCIDENT_FROM = """
    incidents i
    JOIN districts d ON d.id = i.district_id
    LEFT JOIN streets s ON s.id = i.street_id
    LEFT JOIN communities c ON c.id = i.community_id
    LEFT JOIN grids g ON g.id = i.grid_id
    JOIN incident_categories ic ON ic.id = i.category_id
    LEFT JOIN incident_categories icp ON icp.id = ic.parent_id"""

# Urgency class of an open incident at %(now)s.
_URGENCY = """
    CASE WHEN i.state = 'deferred' THEN 'deferred'
         WHEN i.dispatched_at IS NULL OR i.due_at IS NULL THEN 'awaiting'
         WHEN %(now)s > i.due_at THEN 'overdue'
         WHEN (i.due_at - %(now)s) < 0.25 * (i.due_at - i.dispatched_at) THEN 'due_soon'
         ELSE 'on_time' END"""


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(get_settings().timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def kpis(scope: Scope, now: datetime, flt: IncidentFilter = ANY,
         cameras: tuple[int, int] | None = None) -> dict[str, Any]:
    """The KPI strip: open, overdue, dispatched today, closed today, on-time closure rate
    for the last 7 days and the 7 before, cameras online (of all)."""
    today = _day_start(now)
    params = _params(scope, flt, now=now, today=today, w1=now - timedelta(days=7),
                     w2=now - timedelta(days=14))
    row = db.fetch_one(
        f"""
        SELECT
          count(*) FILTER (WHERE i.closed_at IS NULL) AS open,
          count(*) FILTER (WHERE i.closed_at IS NULL AND i.state <> 'deferred'
                           AND i.due_at < %(now)s) AS overdue,
          count(*) FILTER (WHERE i.dispatched_at >= %(today)s) AS dispatched_today,
          count(*) FILTER (WHERE i.closed_at >= %(today)s) AS closed_today,
          count(*) FILTER (WHERE i.due_at >= %(w1)s AND i.due_at < %(now)s
                           AND i.state <> 'deferred') AS due_w1,
          count(*) FILTER (WHERE i.due_at >= %(w1)s AND i.due_at < %(now)s
                           AND i.closed_at <= i.due_at) AS ontime_w1,
          count(*) FILTER (WHERE i.due_at >= %(w2)s AND i.due_at < %(w1)s
                           AND i.state <> 'deferred') AS due_w2,
          count(*) FILTER (WHERE i.due_at >= %(w2)s AND i.due_at < %(w1)s
                           AND i.closed_at <= i.due_at) AS ontime_w2
        FROM incidents i
        WHERE {_incident_where(scope)}
          AND (i.closed_at IS NULL OR i.closed_at >= %(w2)s OR i.due_at >= %(w2)s)""",
        params,
    )
    cams = {"online": cameras[0], "total": cameras[1]} if cameras is not None else db.fetch_one(
        f"""SELECT count(*) FILTER (WHERE cam.status = 'online') AS online, count(*) AS total
             FROM cameras cam
            WHERE %(place)s::text IS NULL
               OR cam.grid_id IN (SELECT id FROM grids g WHERE {place_sql("g.code")})""",
        params,
    )

    def rate(ok: int, due: int) -> float | None:
        return round(ok / due, 4) if due else None

    return {
        "open": row["open"], "overdue": row["overdue"],
        "dispatched_today": row["dispatched_today"], "closed_today": row["closed_today"],
        "ontime_rate_7d": rate(row["ontime_w1"], row["due_w1"]),
        "ontime_rate_prev_7d": rate(row["ontime_w2"], row["due_w2"]),
        "cameras_online": cams["online"], "cameras_total": cams["total"],
    }


def open_by_street(scope: Scope, now: datetime, flt: IncidentFilter = ANY) -> list[dict]:
    """Open and overdue incidents per street (for the bar chart), most open first."""
    return db.fetch_all(
        f"""
        SELECT s.code, s.name, s.name_en, t.open, t.overdue FROM (
          SELECT i.street_id, count(*) AS open,
                 count(*) FILTER (WHERE i.state <> 'deferred' AND i.due_at < %(now)s) AS overdue
            FROM incidents i
           WHERE i.closed_at IS NULL AND i.street_id IS NOT NULL
             AND {_incident_where(scope)}
           GROUP BY i.street_id) t JOIN streets s ON s.id = t.street_id
         ORDER BY t.open DESC, s.code""",
        _params(scope, flt, now=now),
    )


def ticker(scope: Scope, flt: IncidentFilter = ANY, limit: int = 10) -> list[dict]:
    """The latest incident events within the scope and filter."""
    return db.fetch_all(
        f"""
        SELECT e.at, e.to_state, e.level, i.code, i.title, i.severity,
               ic.name AS category, ic.name_en AS category_en,
               c.name AS community, c.name_en AS community_en
          FROM incident_events e
          JOIN incidents i ON i.id = e.incident_id AND {_incident_where(scope)}
          JOIN incident_categories ic ON ic.id = i.category_id
          LEFT JOIN communities c ON c.id = i.community_id
         ORDER BY e.at DESC, e.id DESC
         LIMIT %(limit)s""",
        _params(scope, flt, limit=int(limit)),
    )


def incidents_in_view(scope: Scope, bbox: list[float], now: datetime,
                      flt: IncidentFilter = ANY, limit: int = MAX_POINTS) -> dict:
    """Open incidents inside ``bbox`` [west, south, east, north] as GeoJSON points with
    their urgency class and age in hours."""
    rows = db.fetch_all(
        f"""
        SELECT i.code, i.severity, i.state, {_URGENCY} AS urgency,
               round(extract(epoch FROM %(now)s - i.reported_at) / 3600.0)::int AS age_h,
               ic.name AS category, ic.name_en AS category_en,
               ST_AsGeoJSON(i.geom, 6) AS gj
          FROM {_INCIDENT_FROM}
         WHERE i.closed_at IS NULL
           AND i.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
           AND {_INCIDENT_FILTER}
         ORDER BY i.reported_at DESC
         LIMIT %(limit)s""",
        _params(scope, flt, now=now, w=bbox[0], s=bbox[1], e=bbox[2], n=bbox[3], limit=limit),
    )
    return _collection(rows, None)


def incident_counts(scope: Scope, now: datetime, level: str = "grid",
                    flt: IncidentFilter = ANY) -> dict:
    """Open and overdue incident counts per grid or per community, at its label point
    (``code`` is the grid's or community's code)."""
    table = {"grid": "grids", "community": "communities"}[level]
    rows = db.fetch_all(
        f"""
        SELECT p.code, t.n, t.overdue, ST_AsGeoJSON(p.label_pt, 6) AS gj FROM (
          SELECT i.{level}_id AS pid, count(*) AS n,
                 count(*) FILTER (WHERE i.state <> 'deferred' AND i.due_at < %(now)s) AS overdue
            FROM incidents i
           WHERE i.closed_at IS NULL AND i.{level}_id IS NOT NULL
             AND {_incident_where(scope)}
           GROUP BY 1) t
          JOIN {table} p ON p.id = t.pid""",
        _params(scope, flt, now=now),
    )
    return _collection(rows, None)


def incident_density(scope: Scope, now: datetime, flt: IncidentFilter = ANY,
                     size_m: int = 250) -> dict:
    """Incidents reported in the last 7 days counted per hexagon (``size_m`` circumradius).

    Points are projected to Web Mercator in PostGIS and binned with numpy: one indexed
    query and no hexagon-by-point join.
    """
    import numpy as np
    from pyproj import Transformer

    from geo.hexbin import hex_counts, hex_ring

    rows = db.fetch_all(
        f"""
        SELECT ST_X(ST_Transform(i.geom, 3857)) AS x, ST_Y(ST_Transform(i.geom, 3857)) AS y,
               ST_Y(i.geom) AS lat
          FROM {_INCIDENT_FROM}
         WHERE i.reported_at >= %(since)s AND {_INCIDENT_FILTER}""",
        _params(scope, flt, since=now - timedelta(days=7)),
    )
    if not rows:
        return {"type": "FeatureCollection", "features": []}
    x = np.array([r["x"] for r in rows])
    y = np.array([r["y"] for r in rows])
    # Web Mercator stretches distances by 1/cos(latitude): keep hexagons size_m on the ground.
    scale = 1 / np.cos(np.deg2rad(float(np.mean([r["lat"] for r in rows]))))
    centres, counts = hex_counts(x, y, size_m * scale)
    to_wgs = Transformer.from_crs(3857, 4326, always_xy=True)
    features = []
    for (cx, cy), n in zip(centres, counts, strict=True):
        ring = hex_ring(cx, cy, size_m * scale)
        lon, lat = to_wgs.transform([p[0] for p in ring], [p[1] for p in ring])
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[
                [round(a, 6), round(b, 6)] for a, b in zip(lon, lat, strict=True)]]},
            "properties": {"n": int(n)},
        })
    return {"type": "FeatureCollection", "features": features}


# ----------------------------------------------------------------------------- cameras etc.

# A camera belongs to the scope through its grid (a camera outside every grid: admins only).
_CAMERA_FILTER = place_sql("g.code")


_tick_memo: Memo | None = None


def _memo() -> Memo:
    global _tick_memo
    ttl = get_settings().wall_cache_seconds
    if _tick_memo is None or _tick_memo.ttl != ttl:
        _tick_memo = Memo(ttl)
    return _tick_memo


def tick(scope: Scope, flt: IncidentFilter, box: list[float] | None, zoom: float | None,
         now: datetime, *, density: bool = False) -> dict:
    """Everything one refresh of the wall shows, read in one snapshot (the replica's when
    configured): incidents and cameras (points in ``box`` when zoomed in to
    :data:`POINTS_MIN_ZOOM`, else counts per grid or community), the KPIs, open cases by
    street, the ticker and, with ``density``, the density layer.

    Walls of the same scope and filter share the result for ``WALL_CACHE_SECONDS`` (one
    read for all of them; :class:`~geo.repository.memo.Memo`): the key is the scope's base
    and place, the filter, the level or box and the layers, so nothing crosses scopes.
    Returns a dict with ``mode`` (``points``, ``grid`` or ``community``), ``incidents``,
    ``cameras``, ``kpis``, ``by_street``, ``events``, ``density`` (or None) and ``at`` (the
    time the figures were read).
    """
    from geo.repository import session

    detailed = zoom is not None and zoom >= POINTS_MIN_ZOOM and box is not None
    mode = "points" if detailed else ("grid" if (zoom or 0) >= COUNTS_GRID_ZOOM else "community")
    key = ("tick", scope.base, scope.place, flt.category, flt.severity, mode,
           tuple(box) if detailed else None, bool(density))

    def read() -> dict:
        with session.read_session():  # one pooled connection and transaction per tick
            totals = None
            if detailed:
                incidents = incidents_in_view(scope, box, now, flt)
                cameras = cameras_in_view(scope, box)
            else:
                incidents = incident_counts(scope, now, mode, flt)
                cameras = camera_counts(scope, mode)
                n = sum(ft["properties"]["n"] for ft in cameras["features"])
                down = sum(ft["properties"]["down"] for ft in cameras["features"])
                totals = (n - down, n)
            return {"mode": mode, "incidents": incidents, "cameras": cameras,
                    "kpis": kpis(scope, now, flt, totals),
                    "by_street": open_by_street(scope, now, flt),
                    "events": ticker(scope, flt, 10),
                    "density": incident_density(scope, now, flt) if density else None,
                    "at": now}

    return _memo().get(key, read)


def cameras_in_view(scope: Scope, bbox: list[float], limit: int = MAX_POINTS) -> dict:
    rows = db.fetch_all(
        f"""
        SELECT cam.code, cam.status, cam.type, ST_AsGeoJSON(cam.geom, 6) AS gj
          FROM cameras cam LEFT JOIN grids g ON g.id = cam.grid_id
         WHERE cam.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
           AND {_CAMERA_FILTER}
         LIMIT %(limit)s""",
        _params(scope, ANY, w=bbox[0], s=bbox[1], e=bbox[2], n=bbox[3], limit=limit),
    )
    return _collection(rows, None)


def camera_counts(scope: Scope, level: str = "grid") -> dict:
    """Camera counts (and how many are down) per grid or per community."""
    pid = {"grid": "g.id", "community": "g.community_id"}[level]
    table = {"grid": "grids", "community": "communities"}[level]
    rows = db.fetch_all(
        f"""
        WITH t AS (
          SELECT cam.grid_id, count(*) AS n,
                 count(*) FILTER (WHERE cam.status <> 'online') AS down
            FROM cameras cam
           WHERE cam.grid_id IS NOT NULL AND (%(place)s::text IS NULL OR cam.grid_id IN (
                 SELECT id FROM grids g WHERE {place_sql("g.code")}))
           GROUP BY cam.grid_id), u AS (
          SELECT {pid} AS pid, sum(t.n)::int AS n, sum(t.down)::int AS down
            FROM t JOIN grids g ON g.id = t.grid_id GROUP BY 1)
        SELECT p.code, u.n, u.down, ST_AsGeoJSON(p.label_pt, 6) AS gj
          FROM u JOIN {table} p ON p.id = u.pid""",
        _params(scope, ANY),
    )
    return _collection(rows, None)


def police_rooms(scope: Scope) -> dict:
    rows = db.fetch_all(
        f"""
        SELECT pr.code, pr.name, pr.name_en, pr.phone, pr.address,
               ST_AsGeoJSON(pr.geom, 6) AS gj
          FROM police_rooms pr LEFT JOIN communities c ON c.id = pr.community_id
         WHERE {place_sql("c.code", ancestors=True)}""",
        _params(scope, ANY),
    )
    return _collection(rows, None)


def buildings_in_view(scope: Scope, bbox: list[float], limit: int = MAX_BUILDINGS) -> dict:
    rows = db.fetch_all(
        f"""
        SELECT b.code, b.households, b.floors, ST_AsGeoJSON(b.geom, 6) AS gj
          FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id
         WHERE b.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
           AND {place_sql("g.code")}
         LIMIT %(limit)s""",
        _params(scope, ANY, w=bbox[0], s=bbox[1], e=bbox[2], n=bbox[3], limit=limit),
    )
    return _collection(rows, None)


# ----------------------------------------------------------------------------- panels


def grid_detail(scope: Scope, code: Any) -> dict | None:
    """Everything the grid panel shows, or None when the grid is unknown or out of scope."""
    if not (isinstance(code, str) and len(code) == 15 and scope.covers(code)
            and code.startswith(scope.place or "")):
        return None
    return db.fetch_one(
        """
        SELECT g.id, g.code, g.kind, g.households, c.code AS community_code,
               c.name AS community, c.name_en AS community_en,
               c.min_households AS lo, c.max_households AS hi,
               s.name AS street, s.name_en AS street_en,
               (SELECT count(*) FROM buildings b WHERE b.grid_id = g.id) AS buildings,
               (SELECT count(*) FROM cameras cam WHERE cam.grid_id = g.id) AS cameras,
               (SELECT count(*) FROM cameras cam WHERE cam.grid_id = g.id
                  AND cam.status = 'online') AS cameras_online,
               (SELECT count(*) FROM incidents i WHERE i.grid_id = g.id
                  AND i.closed_at IS NULL) AS open_incidents,
               w.name AS worker, w.phone AS worker_phone,
               ST_YMin(g.geom) AS s, ST_XMin(g.geom) AS w, ST_YMax(g.geom) AS n,
               ST_XMax(g.geom) AS e
          FROM grids g
          JOIN grid_versions v ON v.id = g.version_id AND v.is_current
          JOIN communities c ON c.id = g.community_id
          JOIN streets s ON s.id = c.street_id
          LEFT JOIN grid_workers w ON w.grid_id = g.id AND w.active
         WHERE g.code = %(code)s""",
        {"code": code},
    )


def may_see_streams(principal: Principal | None) -> bool:
    """True when the principal may see camera stream addresses (``view.camera_stream``);
    never the anonymous wall screen."""
    return (principal is not None and not principal.anonymous_wall
            and allowed(principal.role, "view.camera_stream"))


def camera_detail(scope: Scope, code: Any) -> dict | None:
    """The camera panel; ``stream_url`` is ``None`` unless the principal may see streams."""
    if not isinstance(code, str):
        return None
    row = db.fetch_one(
        f"""
        SELECT cam.code, cam.name, cam.type, cam.status, cam.owner, cam.last_heartbeat,
               cam.stream_url, g.code AS grid_code, ST_Y(cam.geom) AS lat, ST_X(cam.geom) AS lng
          FROM cameras cam LEFT JOIN grids g ON g.id = cam.grid_id
         WHERE cam.code = %(code)s AND {_CAMERA_FILTER}""",
        _params(scope, ANY, code=code),
    )
    if row is not None and not may_see_streams(scope.principal):
        row["stream_url"] = None
    return row


def incident_timeline(scope: Scope, code: Any, now: datetime) -> dict | None:
    if not isinstance(code, str):
        return None
    head = db.fetch_one(
        f"""
        SELECT i.id, i.code, i.title, i.description, i.severity, i.state, i.level,
               i.version, i.reported_at, i.dispatched_at, i.due_at, i.closed_at, i.closed_level,
               {_URGENCY} AS urgency, i.reporter_name, i.reporter_phone,
               ic.name AS category, ic.name_en AS category_en, g.code AS grid_code,
               c.name AS community, c.name_en AS community_en, dep.name AS department,
               dep.name_en AS department_en
          FROM {_INCIDENT_FROM}
          LEFT JOIN departments dep ON dep.id = i.department_id
         WHERE i.code = %(code)s AND {_INCIDENT_FILTER}""",
        _params(scope, ANY, code=code, now=now),
    )
    if not head:
        return None
    head["events"] = db.fetch_all(
        """SELECT at, kind, from_state, to_state, level, actor, note FROM incident_events
            WHERE incident_id = %s ORDER BY at, id""",
        (head["id"],),
    )
    return head


def _like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped: typed ``%`` or ``_`` match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(scope: Scope, text: Any, limit: int = 8) -> list[dict]:
    """Find grids by code, communities and streets by name or pinyin initials, and
    buildings by address or name, inside the scope. Returns label, kind and a bounding
    box to fly to."""
    from geo.search import initials_match

    if not isinstance(text, str):
        raise BadRequest("搜索内容无效 / the search text must be text")
    text = text.strip()[:100]
    if not text:
        return []
    lit = _like_literal(text)
    params = _params(scope, ANY, like=f"%{lit}%", prefix=lit + "%", suffix="%" + lit,
                     limit=limit)
    places = db.fetch_all(
        f"""
        SELECT * FROM (
          SELECT 'grid' AS kind, g.code, g.code AS label, NULL AS label_en, g.geom
            FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
           WHERE g.code LIKE %(prefix)s OR g.code LIKE %(suffix)s
          UNION ALL
          SELECT 'community', code, name, name_en, geom FROM communities
          UNION ALL
          SELECT 'street', code, name, name_en, geom FROM streets
        ) p
        WHERE {place_sql("p.code")}""",
        params,
    )
    hits = []
    for p in places:
        if p["kind"] == "grid" or text.lower() in (p["label"] or "").lower() \
                or text.lower() in (p["label_en"] or "").lower() \
                or initials_match(text, p["label"]):
            hits.append(p)
    hits = hits[:limit]
    boxes = _boxes([(h["kind"], h["code"]) for h in hits])
    out = [{"kind": h["kind"], "code": h["code"], "label": h["label"],
            "label_en": h["label_en"], "bounds": boxes.get((h["kind"], h["code"]))}
           for h in hits]
    if len(out) < limit:
        for b in db.fetch_all(
            f"""SELECT b.code, coalesce(b.address, b.name) AS label,
                      ST_YMin(b.geom) AS s, ST_XMin(b.geom) AS w, ST_YMax(b.geom) AS n,
                      ST_XMax(b.geom) AS e
                 FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id
                WHERE (b.address ILIKE %(like)s OR b.name ILIKE %(like)s)
                  AND {place_sql("g.code")}
                ORDER BY b.address LIMIT %(limit)s""",
            params,
        )[: limit - len(out)]:
            out.append({"kind": "building", "code": b["code"], "label": b["label"],
                        "label_en": b["label"],
                        "bounds": [[b["s"], b["w"]], [b["n"], b["e"]]]})
    return out


def _boxes(keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[list[float]]]:
    if not keys:
        return {}
    rows = db.fetch_all(
        """
        SELECT k.kind, k.code, ST_YMin(x.geom) AS s, ST_XMin(x.geom) AS w,
               ST_YMax(x.geom) AS n, ST_XMax(x.geom) AS e
          FROM unnest(%(kinds)s::text[], %(codes)s::text[]) AS k(kind, code)
          JOIN LATERAL (
            SELECT geom FROM communities WHERE k.kind = 'community' AND code = k.code
            UNION ALL SELECT geom FROM streets WHERE k.kind = 'street' AND code = k.code
            UNION ALL SELECT g.geom FROM grids g
              JOIN grid_versions v ON v.id = g.version_id AND v.is_current
             WHERE k.kind = 'grid' AND g.code = k.code
          ) x ON true""",
        {"kinds": [k for k, _ in keys], "codes": [c for _, c in keys]},
    )
    return {(r["kind"], r["code"]): [[r["s"], r["w"]], [r["n"], r["e"]]] for r in rows}


def filter_options(scope: Scope) -> dict[str, list[dict]]:
    """Districts, streets, communities and top-level categories for the filter menus (the
    principal's whole scope and its ancestors, whatever the current narrowing)."""
    whole = Scope.of(scope.principal)
    districts = db.fetch_all(
        f"""SELECT code, name, name_en FROM districts
            WHERE {place_sql("code", ancestors=True)} ORDER BY code""", whole.params())
    streets = db.fetch_all(
        f"""SELECT code, name, name_en FROM streets
            WHERE {place_sql("code", ancestors=True)} ORDER BY code""", whole.params())
    communities = db.fetch_all(
        f"""SELECT code, name, name_en FROM communities
            WHERE {place_sql("code", ancestors=True)} ORDER BY code""", whole.params())
    categories = db.fetch_all(
        """SELECT code, name, name_en FROM incident_categories WHERE parent_id IS NULL
            ORDER BY code""")
    return {"districts": districts, "streets": streets, "communities": communities,
            "categories": categories}


# ----------------------------------------------------------------------------- alerts

ALERT_WINDOW = timedelta(hours=24)  # alerts older than this are no longer raised
MAX_ALERTS = 20


def alerts(principal: Principal | None, now: datetime, scope: Scope | None = None,
           limit: int = MAX_ALERTS) -> list[dict]:
    """Alerts the principal has not acknowledged: open cases newly overdue (the tick's
    ``overdue`` events) and new major cases (their ``reported`` event), within the scope,
    of the last :data:`ALERT_WINDOW`, newest first.

    Parameters
    ----------
    principal:
        The signed-in reader; acknowledgements are per user name. Nobody sees nothing.
    now:
        The reader's now (alerts of the last day before it).
    scope:
        The page's scope (the principal's, possibly narrowed by a filter); default the
        principal's own.

    Returns
    -------
    list of dict
        ``event_id``, ``kind`` (``overdue`` or ``major``), ``at``, ``code``, ``title``,
        ``severity``, ``community``, ``community_en``, ``due_at``.
    """
    if principal is None:
        return []
    scope = scope if isinstance(scope, Scope) else Scope.of(principal)
    return db.fetch_all(
        f"""
        SELECT e.id AS event_id, CASE WHEN e.kind = 'overdue' THEN 'overdue' ELSE 'major' END
                   AS kind, e.at, i.code, i.title, i.severity, i.due_at,
               c.name AS community, c.name_en AS community_en
          FROM incident_events e
          JOIN incidents i ON i.id = e.incident_id
          LEFT JOIN communities c ON c.id = i.community_id
         WHERE e.at > %(since)s AND e.at <= %(now)s
           AND (e.kind = 'overdue' OR (e.kind = 'transition' AND e.from_state IS NULL))
           AND (e.kind = 'overdue' OR i.severity = 'major')
           AND i.closed_at IS NULL
           AND {_incident_where(scope)}
           AND NOT EXISTS (SELECT 1 FROM wall_alert_acks a
                            WHERE a.username = %(user)s AND a.event_id = e.id)
         ORDER BY e.at DESC, e.id DESC
         LIMIT %(limit)s""",
        _params(scope, ANY, now=now, since=now - ALERT_WINDOW, user=principal.username,
                limit=limit),
    )


def acknowledge_alerts(principal: Principal | None, event_ids: Any) -> int:
    """Record that the principal has seen these alerts (action ``wall.alert_ack``).

    Only events of the alert kinds on cases inside the principal's scope are recorded;
    others are ignored (their existence is not confirmed). Returns how many were new.
    """
    from geo.access import permissions

    permissions.check(principal, "wall.alert_ack")
    if not isinstance(event_ids, list | tuple) or not event_ids or len(event_ids) > 200 or not all(
            isinstance(x, int) and not isinstance(x, bool) and 0 < x < 2**62 for x in event_ids):
        raise BadRequest("提醒编号无效 / malformed alert ids")
    scope = Scope.of(principal)
    with db.transaction() as cur:
        cur.execute(
            f"""INSERT INTO wall_alert_acks (username, event_id)
                SELECT %(user)s, e.id FROM incident_events e JOIN incidents i ON i.id = e.incident_id
                 WHERE e.id = ANY(%(ids)s)
                   AND (e.kind = 'overdue' OR (e.kind = 'transition' AND e.from_state IS NULL))
                   AND {_incident_where(scope)}
                ON CONFLICT DO NOTHING""",
            _params(scope, ANY, user=principal.username, ids=list(event_ids)))
        return cur.rowcount
