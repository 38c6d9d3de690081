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
    district) in the caller's transaction when ``cur`` is given, else in its own.
    Returns counts written.
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
    cur.execute(
        """DELETE FROM grid_coarse WHERE grid_id IN (
               SELECT g.id FROM grids g WHERE g.code LIKE %s)""",
        (district_code + "%",),
    )
    cur.execute("DELETE FROM place_coarse WHERE code LIKE %s", (district_code + "%",))
    n_grid = n_place = 0
    for tol, frame in copies.items():
        for level, code, geom in zip(frame["level"], frame["code"], frame.geometry, strict=True):
            wkb = shapely.to_wkb(geom, hex=True)
            if level == "grid":
                cur.execute(
                    """INSERT INTO grid_coarse (grid_id, tolerance_m, geom)
                       VALUES (%s, %s, ST_GeomFromWKB(decode(%s, 'hex'), 4326))""",
                    (ids_by_code[code], tol, wkb),
                )
                n_grid += 1
            else:
                cur.execute(
                    """INSERT INTO place_coarse (level, code, tolerance_m, geom)
                       VALUES (%s, %s, %s, ST_GeomFromWKB(decode(%s, 'hex'), 4326))""",
                    (level, code, tol, wkb),
                )
                n_place += 1
    log.info("coarse copies of %s: %d grid and %d place rows in %.2f s",
             district_code, n_grid, n_place, time.perf_counter() - started)
    return {"grid_coarse": n_grid, "place_coarse": n_place}
