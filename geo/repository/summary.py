"""Read-side queries behind the ordinary pages: summary tables and per-community layers.

Each function takes a :class:`~geo.repository.scope.Scope` first. The wall's map layers
live in :mod:`geo.repository.wall`. GeoJSON is assembled inside PostGIS (``ST_AsGeoJSON``
with 6 decimals, ~0.1 m), so the web tier only passes it on.
"""

from __future__ import annotations

import json
from typing import Any

from geo import db
from geo.repository.scope import Scope, place_sql


def _check(scope: Any) -> Scope:
    if not isinstance(scope, Scope):
        raise TypeError("reads take a geo.repository.scope.Scope first")
    return scope


def has_osm_data(scope: Scope) -> bool:
    """True when anything shown derives from OpenStreetMap (attribution required)."""
    _check(scope)
    row = db.fetch_one(
        """SELECT EXISTS (SELECT 1 FROM buildings WHERE source = 'osm')
               OR EXISTS (SELECT 1 FROM districts WHERE source IN ('osm', 'derived')) AS osm"""
    )
    return bool(row and row["osm"])


def has_synthetic_data(scope: Scope) -> bool:
    """True when demo (synthetic) layers are present, which the map must say."""
    _check(scope)
    row = db.fetch_one(
        """SELECT EXISTS (SELECT 1 FROM cameras WHERE source = 'synthetic')
               OR EXISTS (SELECT 1 FROM incidents WHERE source = 'synthetic') AS syn"""
    )
    return bool(row and row["syn"])


def community_summary(scope: Scope) -> list[dict]:
    """Per community inside the scope (or holding it): street, households, current grids
    and how many are in band."""
    return db.fetch_all(
        f"""SELECT * FROM (
        SELECT c.code, c.name, c.name_en, s.name AS street, s.name_en AS street_en,
               c.min_households, c.max_households,
               coalesce(sum(g.households), 0)::int AS households,
               count(g.id)::int AS grids,
               count(g.id) FILTER (WHERE g.households BETWEEN c.min_households
                                                       AND c.max_households)::int AS in_band,
               max(v.version_no) AS version_no
          FROM communities c
          JOIN streets s ON s.id = c.street_id
          LEFT JOIN grid_versions v ON v.community_id = c.id AND v.is_current
          LEFT JOIN grids g ON g.version_id = v.id
         GROUP BY c.id, s.id) q
         WHERE {place_sql("q.code", ancestors=True)}
         ORDER BY q.code""",
        _check(scope).params(),
    )


def recent_incidents(scope: Scope, limit: int = 200) -> list[dict]:
    """The latest incidents inside the scope, with category, place and state."""
    return db.fetch_all(
        f"""
        SELECT i.code, i.title, i.severity, i.state, i.level, i.reported_at, i.due_at,
               i.closed_at, ic.name AS category, ic.name_en AS category_en,
               g.code AS grid_code, c.name AS community, c.name_en AS community_en
          FROM incidents i
          JOIN incident_categories ic ON ic.id = i.category_id
          LEFT JOIN grids g ON g.id = i.grid_id
          LEFT JOIN communities c ON c.id = i.community_id
          JOIN districts d ON d.id = i.district_id
          LEFT JOIN streets s ON s.id = i.street_id
         WHERE {place_sql("coalesce(g.code, c.code, s.code, d.code)")}
         ORDER BY i.reported_at DESC
         LIMIT %(limit)s""",
        {**_check(scope).params(), "limit": int(limit)},
    )


def community_buildings(scope: Scope, community_code: Any) -> dict:
    """Buildings of one community inside the scope as GeoJSON (id, code, households,
    current grid code); refuses a community outside the scope."""
    code = _check(scope).require_community(community_code)
    rows = db.fetch_all(
        """
        SELECT b.id, b.code, b.households, g.code AS grid, ST_AsGeoJSON(b.geom, 6) AS gj
          FROM buildings b
          JOIN communities c ON c.id = b.community_id
          LEFT JOIN grids g ON g.id = b.grid_id
         WHERE c.code = %(code)s
         ORDER BY b.id""",
        {"code": code},
    )
    features = [
        {"type": "Feature", "geometry": json.loads(r["gj"]),
         "properties": {k: r[k] for k in ("id", "code", "households", "grid")}}
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def community_map(scope: Scope, community_code: Any) -> dict[str, Any]:
    """What the plan page draws for one community inside the scope: its current grids
    (``grids``, GeoJSON), buildings (``buildings``) and extent (``bounds``).

    Raises
    ------
    PermissionDenied
        When the code is not a community code or lies outside the scope.
    """
    from geo.repository import wall

    code = _check(scope).require_community(community_code)
    place = scope.narrow(code)
    return {"grids": wall.boundaries(place, "grid", 18),
            "buildings": community_buildings(scope, code),
            "bounds": wall.extent(place)}


def community_outlines(scope: Scope, zoom: float | None = None) -> dict:
    """The communities of the scope as GeoJSON outlines (the plan page's first view), each
    with ``code``, ``name``, ``name_en``, ``households``, ``grids``, ``in_band`` and
    ``share`` (in-band grids / grids, ``None`` without grids); coarse at low zoom.

    Outlines come from :func:`geo.repository.wall.boundaries` and the counts from
    :func:`community_summary`, both limited to the scope.
    """
    from geo.repository import wall

    counts = {r["code"]: r for r in community_summary(_check(scope))}
    features = []
    for ft in wall.boundaries(scope, "community", zoom)["features"]:
        row = counts.get(ft["properties"]["code"])
        if row is None:
            continue
        grids, in_band = int(row["grids"]), int(row["in_band"])
        features.append({**ft, "properties": {
            **ft["properties"], "households": int(row["households"]), "grids": grids, "in_band": in_band,
            "share": round(in_band / grids, 3) if grids else None}})
    return {"type": "FeatureCollection", "features": features}
