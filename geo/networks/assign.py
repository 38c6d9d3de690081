"""The rule placing each building in at most one old grid of a network, in bulk.

The database keeps the result in ``network_grid_buildings`` (one array of building ids per
old grid): :func:`assign_buildings` fills it for every building when a network is
imported; the trigger ``network_buildings_follow`` (migration 0007, function
``network_grid_of``, the same rule per building) keeps it when a building is added or its
point moves; rows go with their network.
"""

from __future__ import annotations

#: A degree box wide enough to hold a distance in metres at any latitude below ~60° (the
#: exact distance is then measured on the spheroid); the same factor is in
#: ``network_grid_of`` (migration 0007).
DEG_PER_M = 1 / 50_000.0

# The plan must not hinge on statistics: the network's rows were written in this very
# transaction and are not analysed yet. So the polygon pieces drive the point-in-polygon
# join (an OFFSET 0 subquery is not flattened), and the hits go through a temporary table
# that is analysed before it is joined with a million buildings.
_HITS = """
CREATE TEMP TABLE network_hits ON COMMIT DROP AS
SELECT DISTINCT ON (x.id) x.id AS building_id, p.network_grid_id AS ng_id
  FROM network_grid_parts p
  CROSS JOIN LATERAL (SELECT b.id FROM buildings b
                       WHERE b.pt && p.geom AND ST_Intersects(p.geom, b.pt) OFFSET 0) x
 WHERE p.network_id = %(net)s
 ORDER BY x.id, p.code"""

_GAPS = """
INSERT INTO network_hits (building_id, ng_id)
SELECT b.id, near.id
  FROM buildings b
  CROSS JOIN LATERAL (
      SELECT p.network_grid_id AS id FROM network_grid_parts p
       WHERE p.network_id = %(net)s AND p.geom && ST_Expand(b.pt, %(tol_deg)s)
         AND ST_DWithin(p.geom::geography, b.pt::geography, %(tol_m)s)
       ORDER BY ST_Distance(p.geom::geography, b.pt::geography), p.code
       LIMIT 1) near
 WHERE NOT EXISTS (SELECT 1 FROM network_hits h WHERE h.building_id = b.id)"""

_ARRAYS = """
INSERT INTO network_grid_buildings (network_grid_id, network_id, building_ids)
SELECT ng_id, %(net)s, array_agg(building_id ORDER BY building_id)
  FROM network_hits GROUP BY ng_id"""

_EMPTY = """
INSERT INTO network_grid_buildings (network_grid_id, network_id, building_ids)
SELECT g.id, %(net)s, '{}' FROM network_grids g
 WHERE g.network_id = %(net)s
   AND NOT EXISTS (SELECT 1 FROM network_grid_buildings a WHERE a.network_grid_id = g.id)"""


def assign_buildings(cur, network_id: int, tol_m: float) -> int:
    """Place every building in at most one old grid of network ``network_id`` (in bulk).

    The rule of the database's ``network_grid_of``: the building's point in a polygon piece
    (lowest code when in several), else the nearest piece within ``tol_m`` metres on the
    spheroid (the nearest piece belongs to the nearest polygon), lowest code on a tie. Writes
    one ``network_grid_buildings`` row per old grid inside the caller's transaction and
    returns the number of buildings placed.
    """
    params = {"net": network_id, "tol_m": float(tol_m), "tol_deg": float(tol_m) * DEG_PER_M}
    cur.execute("SET LOCAL jit = off")
    cur.execute("SET LOCAL work_mem = '64MB'")
    cur.execute(_HITS, params)
    cur.execute("ANALYZE network_hits")
    cur.execute(_GAPS, params)
    cur.execute(_ARRAYS, params)
    cur.execute(_EMPTY, params)
    cur.execute("SELECT count(*) AS n FROM network_hits")
    row = cur.fetchone()
    placed = int(row["n"] if isinstance(row, dict) else row[0])
    cur.execute("DROP TABLE network_hits")
    return placed
