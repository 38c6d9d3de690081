"""Coarse boundary copies for low zooms, simplified as one coverage so neighbours never gap.

All current grids of a district form a polygonal coverage (grids tile communities, which
tile streets, which tile the district). It is cleaned (shared edges made identical),
simplified once per tolerance in metres with ``shapely.coverage_simplify``, and every
upper level is the union of its simplified grids: the levels then agree with each other
at every zoom. Run when a grid version is written (:func:`refresh`).
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo import db

log = logging.getLogger(__name__)

TOLERANCES_M: tuple[int, ...] = (8, 30)
"""Simplification tolerances (metres) kept for the map's low and middle zooms."""


def _as_multi(geom) -> MultiPolygon:
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(polys)


def simplify_coverage(
    grids: gpd.GeoDataFrame, tolerances: tuple[int, ...] = TOLERANCES_M
) -> dict[int, gpd.GeoDataFrame]:
    """Coverage-simplified copies of ``grids`` (columns ``code`` and geometry, EPSG:4326).

    Returns, per tolerance, a GeoDataFrame with columns ``level``, ``code`` and geometry
    (EPSG:4326) holding every grid and the derived communities (12-digit code prefix),
    streets (9) and districts (6).
    """
    if grids.empty:
        return {t: gpd.GeoDataFrame(columns=["level", "code", "geometry"], crs=4326)
                for t in tolerances}
    utm = grids.estimate_utm_crs()
    metric = grids.to_crs(utm)
    # Make shared edges identical first (exact unions of cells still differ in the last
    # bits); without this the simplifier treats near-coincident edges separately.
    cleaned = shapely.coverage_clean(metric.geometry.values, snapping_distance=0.05)
    codes = grids["code"].to_numpy()
    out: dict[int, gpd.GeoDataFrame] = {}
    for tol in tolerances:
        simple = shapely.coverage_simplify(cleaned, float(tol))
        rows = [("grid", code, geom) for code, geom in zip(codes, simple, strict=True)]
        for level, width in (("community", 12), ("street", 9), ("district", 6)):
            prefixes = np.array([c[:width] for c in codes])
            for prefix in sorted(set(prefixes)):
                members = simple[prefixes == prefix]
                rows.append((level, prefix, shapely.coverage_union_all(members)))
        frame = gpd.GeoDataFrame(
            {"level": [r[0] for r in rows], "code": [r[1] for r in rows]},
            geometry=[r[2] for r in rows], crs=utm,
        ).to_crs(4326)
        frame["geometry"] = [_as_multi(shapely.make_valid(g)) for g in frame.geometry]
        out[tol] = frame
    return out


def refresh(district_code: str, cur=None) -> dict[str, int]:
    """Recompute the coarse copies of one district from its current grids.

    Writes ``grid_coarse`` (per grid id) and ``place_coarse`` (communities, streets, the
    district) in the caller's transaction when ``cur`` is given, else in its own. The whole
    district is simplified as one coverage, but only rows whose geometry changed are
    rewritten (new grids, and the copies along their edges). Returns the counts of rows the
    district has now.
    """
    if cur is None:
        with db.transaction() as own:
            return refresh(district_code, own)
    started = time.perf_counter()
    cur.execute(
        """SELECT g.id, g.code, ST_AsBinary(g.geom) AS wkb
             FROM grids g
             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
            WHERE g.code LIKE %s
            ORDER BY g.code""",
        (district_code + "%",),
    )
    rows = cur.fetchall()
    grids = gpd.GeoDataFrame(
        {"id": [r["id"] for r in rows], "code": [r["code"] for r in rows]},
        geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else [],
        crs=4326,
    )
    ids_by_code = dict(zip(grids["code"], grids["id"], strict=True))
    copies = simplify_coverage(grids)
    new_grid: dict[tuple[int, int], bytes] = {}
    new_place: dict[tuple[str, str, int], bytes] = {}
    for tol, frame in copies.items():
        for level, code, geom in zip(frame["level"], frame["code"], frame.geometry, strict=True):
            wkb = shapely.to_wkb(geom, byte_order=1)  # as ST_AsBinary gives it back
            if level == "grid":
                new_grid[(int(ids_by_code[code]), int(tol))] = wkb
            else:
                new_place[(str(level), str(code), int(tol))] = wkb
    # only the rows that changed are written: a street's commit simplifies the whole
    # district (neighbours must never gap) but rewrites only what moved, which keeps the
    # write (and a replica's replay of it) to the size of the change
    cur.execute(
        """SELECT gc.grid_id, gc.tolerance_m, ST_AsBinary(gc.geom) AS wkb
             FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
            WHERE g.code LIKE %s""",
        (district_code + "%",),
    )
    old_grid = {(int(r["grid_id"]), int(r["tolerance_m"])): bytes(r["wkb"]) for r in cur.fetchall()}
    cur.execute(
        "SELECT level, code, tolerance_m, ST_AsBinary(geom) AS wkb FROM place_coarse WHERE code LIKE %s",
        (district_code + "%",),
    )
    old_place = {(r["level"], r["code"], int(r["tolerance_m"])): bytes(r["wkb"]) for r in cur.fetchall()}
    drop_grid = [k for k, v in old_grid.items() if new_grid.get(k) != v]
    put_grid = [k for k, v in new_grid.items() if old_grid.get(k) != v]
    drop_place = [k for k, v in old_place.items() if new_place.get(k) != v]
    put_place = [k for k, v in new_place.items() if old_place.get(k) != v]
    if drop_grid:
        cur.execute(
            """DELETE FROM grid_coarse gc USING unnest(%s::int[], %s::int[]) AS d(grid_id, tol)
                WHERE gc.grid_id = d.grid_id AND gc.tolerance_m = d.tol""",
            ([k[0] for k in drop_grid], [k[1] for k in drop_grid]),
        )
    if drop_place:
        cur.execute(
            """DELETE FROM place_coarse pc USING unnest(%s::text[], %s::text[], %s::int[]) AS d(level, code, tol)
                WHERE pc.level = d.level AND pc.code = d.code AND pc.tolerance_m = d.tol""",
            ([k[0] for k in drop_place], [k[1] for k in drop_place], [k[2] for k in drop_place]),
        )
    if put_grid:
        cur.execute(
            """INSERT INTO grid_coarse (grid_id, tolerance_m, geom)
               SELECT grid_id, tol, ST_GeomFromWKB(decode(wkb, 'hex'), 4326)
                 FROM unnest(%s::int[], %s::int[], %s::text[]) AS n(grid_id, tol, wkb)""",
            ([k[0] for k in put_grid], [k[1] for k in put_grid], [new_grid[k].hex() for k in put_grid]),
        )
    if put_place:
        cur.execute(
            """INSERT INTO place_coarse (level, code, tolerance_m, geom)
               SELECT level, code, tol, ST_GeomFromWKB(decode(wkb, 'hex'), 4326)
                 FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[]) AS n(level, code, tol, wkb)""",
            ([k[0] for k in put_place], [k[1] for k in put_place], [k[2] for k in put_place],
             [new_place[k].hex() for k in put_place]),
        )
    n_grid, n_place = len(new_grid), len(new_place)
    log.info("coarse copies of %s: %d grid and %d place rows (%d and %d rewritten) in %.2f s",
             district_code, n_grid, n_place, len(put_grid), len(put_place), time.perf_counter() - started)
    return {"grid_coarse": n_grid, "place_coarse": n_place}
