"""Read-side queries behind the ordinary pages: summary tables and per-community layers.

The wall's map layers live in :mod:`geo.wall`. GeoJSON is assembled inside PostGIS
(``ST_AsGeoJSON`` with 6 decimals, ~0.1 m), so the web tier only passes it on.
"""

from __future__ import annotations

import json

from geo import db


def has_osm_data() -> bool:
    """True when anything shown derives from OpenStreetMap (attribution required)."""
    row = db.fetch_one(
        """SELECT EXISTS (SELECT 1 FROM buildings WHERE source = 'osm')
               OR EXISTS (SELECT 1 FROM districts WHERE source IN ('osm', 'derived')) AS osm"""
    )
    return bool(row and row["osm"])


def has_synthetic_data() -> bool:
    """True when demo (synthetic) layers are present, which the map must say."""
    row = db.fetch_one(
        """SELECT EXISTS (SELECT 1 FROM cameras WHERE source = 'synthetic')
               OR EXISTS (SELECT 1 FROM incidents WHERE source = 'synthetic') AS syn"""
    )
    return bool(row and row["syn"])


def community_summary(scope: str | None = None) -> list[dict]:
    """Per community: street, households, current grids and how many are in band."""
    return db.fetch_all(
        """SELECT * FROM (
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
         WHERE (%(scope)s::text IS NULL OR q.code LIKE %(scope)s || '%%'
                OR %(scope)s LIKE q.code || '%%')
         ORDER BY q.code""",
        {"scope": scope},
    )


def recent_incidents(limit: int = 200, scope: str | None = None) -> list[dict]:
    """The latest incidents inside the scope, with category, place and state."""
    return db.fetch_all(
        """
        SELECT i.code, i.title, i.severity, i.state, i.level, i.reported_at, i.due_at,
               i.closed_at, ic.name AS category, ic.name_en AS category_en,
               g.code AS grid_code, c.name AS community, c.name_en AS community_en
          FROM incidents i
          JOIN incident_categories ic ON ic.id = i.category_id
          LEFT JOIN grids g ON g.id = i.grid_id
          LEFT JOIN communities c ON c.id = i.community_id
          JOIN districts d ON d.id = i.district_id
          LEFT JOIN streets s ON s.id = i.street_id
         WHERE %(scope)s::text IS NULL
            OR coalesce(g.code, c.code, s.code, d.code) LIKE %(scope)s || '%%'
         ORDER BY i.reported_at DESC
         LIMIT %(limit)s""",
        {"limit": limit, "scope": scope},
    )


def community_buildings(community_code: str, scope: str | None = None) -> dict:
    """Buildings of one community as GeoJSON (id, code, households, current grid code)."""
    rows = db.fetch_all(
        """
        SELECT b.id, b.code, b.households, g.code AS grid, ST_AsGeoJSON(b.geom, 6) AS gj
          FROM buildings b
          JOIN communities c ON c.id = b.community_id
          LEFT JOIN grids g ON g.id = b.grid_id
         WHERE c.code = %(code)s
           AND (%(scope)s::text IS NULL OR c.code LIKE %(scope)s || '%%'
                OR %(scope)s LIKE c.code || '%%')
         ORDER BY b.id""",
        {"code": community_code, "scope": scope},
    )
    features = [
        {"type": "Feature", "geometry": json.loads(r["gj"]),
         "properties": {k: r[k] for k in ("id", "code", "households", "grid")}}
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}
