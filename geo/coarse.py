"""Coarse boundary copies for low zooms, simplified as coverages so neighbours never gap.

Two levels, so that a commit redraws only its own communities:

1. **Outlines.** The district's communities (their stored polygons, which the grids tile)
   are cleaned (shared edges made identical) and simplified once per tolerance in metres
   with ``shapely.coverage_simplify``: every community's copy shares its edges exactly with
   its neighbours'. Streets and the district are unions of these copies, so the levels
   agree at every zoom. They depend on the communities only, never on their grids.
2. **Grids, fitted per community** (:func:`fit_grids`): a community's current grids are
   cleaned, their shared edges simplified with the community's own edge held
   (``simplify_boundary=False``), then fitted to the community's simplified outline: cut by
   it, and the strips the outline adds beyond the community's edge go to the grid they touch
   most. A community's grid copies then tile its outline copy, which tiles against the
   neighbours' outlines, so no grid copy gaps against another even though each community's
   grids are simplified on their own.

:func:`refresh` runs when a grid version is written: the outlines of the whole district (a
fraction of a second for a city district) and the grids of the communities named, or of
all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo import db

log = logging.getLogger(__name__)

TOLERANCES_M: tuple[int, ...] = (8, 30)
"""Simplification tolerances (metres) kept for the map's low and middle zooms."""

SNAP_M = 0.05
"""``coverage_clean``'s snapping distance (metres): exact unions of cells still differ in the
last bits along a shared edge, and the simplifier would treat such edges apart."""

FIT_AREA_TOL = 1e-6
"""Largest relative difference between the area of a community's outline copy and the sum
of its fitted grid copies; beyond it the grids are kept as simplified, unfitted (logged)."""


def _as_multi(geom) -> MultiPolygon:
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    # a collection (a cut along a shared edge leaves lines beside the polygons) may hold
    # multipolygons too: flatten twice
    parts = shapely.get_parts(shapely.get_parts(geom))
    return MultiPolygon([g for g in parts if isinstance(g, Polygon) and not g.is_empty])


def simplify_outlines(
    communities: np.ndarray, tolerances: tuple[int, ...] = TOLERANCES_M
) -> dict[int, np.ndarray]:
    """Per tolerance, the communities' polygons (metric CRS, one coverage) cleaned and
    simplified together: neighbours share their simplified edges exactly."""
    cleaned = shapely.coverage_clean(np.asarray(communities, dtype=object), snapping_distance=SNAP_M)
    return {t: shapely.coverage_simplify(cleaned, float(t)) for t in tolerances}


def fit_grids(cleaned: np.ndarray, outline, tolerance: float) -> tuple[np.ndarray, bool]:
    """One community's grids (metric CRS, a coverage of the community cleaned by
    ``coverage_clean``) simplified by ``tolerance`` and fitted to ``outline``, the community's
    simplified copy.

    The grids' shared edges are simplified with the community's edge held; each grid is then
    cut by the outline, and each strip of the outline beyond the community's edge goes to the
    grid it shares most border with (a strip touching none, to the nearest). Returns the
    copies in the grids' order and whether they tile the outline (their areas add up to its
    area within :data:`FIT_AREA_TOL`); when they do not, the grids simplified but unfitted.
    """
    inner = shapely.coverage_simplify(np.asarray(cleaned, dtype=object), float(tolerance), simplify_boundary=False)
    shapely.prepare(outline)
    out = inner.copy()
    cut = ~shapely.contains_properly(outline, inner)  # a grid well inside stays as it is
    out[cut] = shapely.intersection(inner[cut], outline)
    rest = shapely.difference(outline, shapely.coverage_union_all(inner))
    strips = shapely.get_parts(rest)
    strips = strips[shapely.area(strips) > 0]
    if len(strips):
        tree = shapely.STRtree(inner)
        si, gi = tree.query(strips, predicate="dwithin", distance=4 * SNAP_M)
        # the border a strip shares with a grid, as the area of the grid within a thin band
        # around the strip; the largest wins (ties: the first grid)
        border = shapely.area(shapely.intersection(shapely.buffer(strips, 2 * SNAP_M)[si], inner[gi]))
        order = np.lexsort((gi, -border, si))
        si, gi = si[order], gi[order]
        first = np.unique(si, return_index=True)[1]
        owner = np.full(len(strips), -1, dtype=np.int64)
        owner[si[first]] = gi[first]
        lone = np.flatnonzero(owner < 0)
        if len(lone):
            near = tree.query_nearest(strips[lone], return_distance=False, all_matches=False)
            owner[lone[near[0]]] = near[1]
        for i in np.unique(owner):
            out[i] = shapely.union_all(np.concatenate([[out[i]], strips[owner == i]]))
    area = float(shapely.area(outline))
    ok = abs(float(shapely.area(out).sum()) - area) <= FIT_AREA_TOL * max(area, 1.0)
    return (out, True) if ok else (inner, False)


def coarse_copies(
    communities: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, only: Iterable[str] | None = None,
    tolerances: tuple[int, ...] = TOLERANCES_M,
) -> dict[int, gpd.GeoDataFrame]:
    """Coarse copies of a district (or any set of whole communities), EPSG:4326.

    ``communities``: columns ``code`` and geometry (every community of the district: the
    outlines are simplified together); ``grids``: ``code`` (a 12-digit community prefix) and
    geometry. ``only``: the communities whose grids are wanted (default: all). Returns, per
    tolerance, a GeoDataFrame with columns ``level``, ``code`` and geometry holding the
    communities' outlines and the streets (9-digit prefix) and districts (6) they make up,
    and the grids of the communities asked for.
    """
    empty = {t: gpd.GeoDataFrame(columns=["level", "code", "geometry"], crs=4326) for t in tolerances}
    if communities.empty:
        return empty
    utm = communities.estimate_utm_crs()  # from the communities: the same at every commit
    com_codes = communities["code"].astype(str).to_numpy()
    outlines = simplify_outlines(communities.to_crs(utm).geometry.values, tolerances)
    gcodes = grids["code"].astype(str).to_numpy()
    gmetric = grids.to_crs(utm).geometry.values if len(grids) else np.array([], dtype=object)
    wanted = set(com_codes) if only is None else {str(c) for c in only}
    by_com: dict[str, list[int]] = {}
    for i, c in enumerate(gcodes):
        by_com.setdefault(c[:12], []).append(i)
    grid_rows: dict[int, list[tuple[str, str, object]]] = {t: [] for t in tolerances}
    for ci, com in enumerate(com_codes):
        idx = by_com.get(com)
        if com not in wanted or not idx:
            continue
        cleaned = shapely.coverage_clean(gmetric[idx], snapping_distance=SNAP_M)
        for tol in tolerances:
            fitted, ok = fit_grids(cleaned, outlines[tol][ci], float(tol))
            if not ok:
                log.warning("coarse copies: grids of %s do not tile its outline at %d m; kept unfitted", com, tol)
            grid_rows[tol].extend(("grid", gcodes[i], g) for i, g in zip(idx, fitted, strict=True))
    out: dict[int, gpd.GeoDataFrame] = {}
    for tol in tolerances:
        rows = grid_rows[tol]
        rows.extend(("community", c, g) for c, g in zip(com_codes, outlines[tol], strict=True))
        for level, width in (("street", 9), ("district", 6)):
            prefixes = np.array([c[:width] for c in com_codes])
            for prefix in sorted(set(prefixes)):
                rows.append((level, prefix, shapely.coverage_union_all(outlines[tol][prefixes == prefix])))
        frame = gpd.GeoDataFrame(
            {"level": [r[0] for r in rows], "code": [r[1] for r in rows]},
            geometry=[r[2] for r in rows], crs=utm,
        ).to_crs(4326)
        frame["geometry"] = [_as_multi(shapely.make_valid(g, method="structure")) for g in frame.geometry]
        out[tol] = frame
    return out


def refresh(district_code: str, cur=None, communities: Iterable[str] | None = None) -> dict[str, int]:
    """Recompute the coarse copies of one district.

    Writes ``grid_coarse`` (per grid id) and ``place_coarse`` (communities, streets, the
    district) in the caller's transaction when ``cur`` is given, else in its own. The
    outlines are simplified for the whole district; the grids of ``communities`` only (their
    codes: the communities a commit wrote), or of every community when ``None``, or when the
    outlines stored differ from those computed now (the communities changed, or the copies
    were made another way): the grids of the others were fitted to the old outlines. Only
    rows whose geometry changed are rewritten. Returns the counts of rows computed now (grid
    rows: of the communities refreshed).
    """
    if cur is None:
        with db.transaction() as own:
            return refresh(district_code, own, communities)
    started = time.perf_counter()
    only = None if communities is None else sorted({str(c) for c in communities})
    coms = _read_frame(cur, "SELECT code, ST_AsBinary(geom) AS wkb FROM communities WHERE code LIKE %s ORDER BY code",
                       (district_code + "%",))
    grids = _current_grids(cur, district_code, only)
    new_grid, new_place = _rows(coarse_copies(coms, grids, only), grids)
    cur.execute(
        "SELECT level, code, tolerance_m, ST_AsBinary(geom) AS wkb FROM place_coarse WHERE code LIKE %s",
        (district_code + "%",),
    )
    old_place = {(r["level"], r["code"], int(r["tolerance_m"])): bytes(r["wkb"]) for r in cur.fetchall()}
    if only is not None and old_place != new_place:
        log.info("coarse copies of %s: the outlines changed, so every community's grids are fitted again",
                 district_code)
        only = None
        grids = _current_grids(cur, district_code, None)
        new_grid, new_place = _rows(coarse_copies(coms, grids, None), grids)
    # the grids refreshed, of any version (an old version's rows go), are compared with what
    # is stored: only the rows that changed are written, which keeps the write (and a
    # replica's replay of it) to the size of the change
    grid_filter, grid_args = _grid_filter(district_code, only)
    cur.execute(
        f"""SELECT gc.grid_id, gc.tolerance_m, ST_AsBinary(gc.geom) AS wkb
             FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
            WHERE {grid_filter}""",
        grid_args,
    )
    old_grid = {(int(r["grid_id"]), int(r["tolerance_m"])): bytes(r["wkb"]) for r in cur.fetchall()}
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
    log.info("coarse copies of %s (%s): %d grid and %d place rows (%d and %d rewritten) in %.2f s",
             district_code, "all communities" if only is None else ", ".join(only), n_grid, n_place,
             len(put_grid), len(put_place), time.perf_counter() - started)
    return {"grid_coarse": n_grid, "place_coarse": n_place}


def _grid_filter(district_code: str, only: list[str] | None) -> tuple[str, tuple]:
    """The SQL condition on ``grids g`` (a constant text; the values are bound) for the
    district's grids, or those of the communities ``only``."""
    if only is None:
        return "g.code LIKE %s", (district_code + "%",)
    return "g.code LIKE %s AND left(g.code, 12) = ANY(%s)", (district_code + "%", only)


def _read_frame(cur, sql: str, args: tuple) -> gpd.GeoDataFrame:
    """Rows with ``wkb`` as a GeoDataFrame (EPSG:4326) of their other columns."""
    cur.execute(sql, args)
    rows = cur.fetchall()
    cols = [c for c in (rows[0].keys() if rows else ()) if c != "wkb"]
    return gpd.GeoDataFrame({c: [r[c] for r in rows] for c in cols} if rows else {"code": []},
                            geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else [],
                            crs=4326)


def _current_grids(cur, district_code: str, only: list[str] | None) -> gpd.GeoDataFrame:
    grid_filter, grid_args = _grid_filter(district_code, only)
    return _read_frame(cur, f"""SELECT g.id, g.code, ST_AsBinary(g.geom) AS wkb
                                  FROM grids g
                                  JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                                 WHERE {grid_filter}
                                 ORDER BY g.code""", grid_args)


def _rows(copies: dict[int, gpd.GeoDataFrame], grids: gpd.GeoDataFrame
          ) -> tuple[dict[tuple[int, int], bytes], dict[tuple[str, str, int], bytes]]:
    """The copies as rows to store: per (grid id, tolerance) and per (level, code, tolerance),
    the geometry as ``ST_AsBinary`` gives it back."""
    ids_by_code = dict(zip(grids["code"], grids["id"], strict=True)) if len(grids) else {}
    new_grid: dict[tuple[int, int], bytes] = {}
    new_place: dict[tuple[str, str, int], bytes] = {}
    for tol, frame in copies.items():
        for level, code, geom in zip(frame["level"], frame["code"], frame.geometry, strict=True):
            wkb = shapely.to_wkb(geom, byte_order=1)
            if level == "grid":
                new_grid[(int(ids_by_code[code]), int(tol))] = wkb
            else:
                new_place[(str(level), str(code), int(tol))] = wkb
    return new_grid, new_place
