"""The rule placing each building in at most one old grid of a network, in bulk.

The database keeps the result in ``network_buildings``: :data:`ASSIGN_SQL` fills it for
every building when a network is imported; the trigger ``network_buildings_follow``
(migration 0007, function ``network_grid_of``, the same rule per building) keeps it when a
building is added or its point moves; rows go with their network or building.
"""

from __future__ import annotations

#: A degree box wide enough to hold a distance in metres at any latitude below ~60° (the
#: exact distance is then measured on the spheroid); the same factor is in
#: ``network_grid_of`` (migration 0007).
DEG_PER_M = 1 / 50_000.0

#: The bulk form of the database's ``network_grid_of`` rule, for every building at once:
#: the point in a polygon piece (lowest code in overlaps), else the nearest piece within
#: the tolerance on the spheroid (the nearest piece belongs to the nearest polygon), lowest
#: code on a tie. Parameters: ``net``, ``tol_m``, ``tol_deg``.
ASSIGN_SQL = """
INSERT INTO network_buildings (network_id, building_id, network_grid_id)
WITH hit AS MATERIALIZED (
    SELECT DISTINCT ON (b.id) b.id AS building_id, p.network_grid_id AS ng_id
      FROM network_grid_parts p
      JOIN buildings b ON ST_Intersects(p.geom, b.pt)
     WHERE p.network_id = %(net)s
     ORDER BY b.id, p.code)
SELECT %(net)s, x.building_id, x.ng_id FROM (
    SELECT b.id AS building_id,
           coalesce(h.ng_id, (
               SELECT p.network_grid_id FROM network_grid_parts p
                WHERE p.network_id = %(net)s AND p.geom && ST_Expand(b.pt, %(tol_deg)s)
                  AND ST_DWithin(p.geom::geography, b.pt::geography, %(tol_m)s)
                ORDER BY ST_Distance(p.geom::geography, b.pt::geography), p.code
                LIMIT 1)) AS ng_id
      FROM buildings b LEFT JOIN hit h ON h.building_id = b.id) x
 WHERE x.ng_id IS NOT NULL"""
