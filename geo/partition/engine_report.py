"""The engine's report, and :func:`evaluate`, which scores any assignment of buildings to
grids with the same rules and measures.

:func:`_grid_report` gives the per-grid rows, the grids' polygons (unions of their cells) and
the coverage check; the rest counts compounds kept whole (:func:`_compound_stats`), the churn
against the current grids (:func:`_churn`) and how the footprint graph was joined
(:func:`_graph_summary`).
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.partition import metrics
from geo.partition.cells import WGS84, utm_crs_for
from geo.partition.config import DEFAULT, EngineConfig
from geo.partition.graph import BuildingGraph, build_graph
from geo.partition.search import Params

__all__ = [
    "evaluate",
    "_graph_summary",
    "_compound_ids",
    "_grid_report",
    "_single",
    "_compound_stats",
    "_churn",
]


def _graph_summary(G: BuildingGraph) -> dict[str, int]:
    """How the footprint graph was joined (the rule for stranded clusters and community
    pieces, :mod:`geo.partition.graph`): joins between buildings whose cells touch, and
    joins across pieces whose cells touch nothing else (closest footprints)."""
    mst = np.asarray(G.mst_pairs).reshape(-1, 2)
    n = max(int(G.n), 1)
    cell = set((np.asarray(G.cell_pairs).reshape(-1, 2)[:, 0] * (n + 1)
                + np.asarray(G.cell_pairs).reshape(-1, 2)[:, 1]).tolist())
    touching = sum(int(a) * (n + 1) + int(b) in cell for a, b in mst.tolist())
    return {"footprint_joins_touching_cells": touching, "footprint_joins_across_pieces": len(mst) - touching}


def _compound_ids(col: pd.Series) -> np.ndarray:
    """Integer compound ids: null, empty or negative mean none (-1)."""
    out = np.full(len(col), -1, dtype=np.int64)
    keys: dict[str, int] = {}
    vals = col.tolist()
    norm = []
    for v in vals:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            norm.append(None)
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            if v < 0:
                norm.append(None)
                continue
            v = int(v) if float(v).is_integer() else v
        s = str(v).strip()
        if s == "" or s.lower() in ("nan", "none") or (s.lstrip("-").isdigit() and s.startswith("-")):
            norm.append(None)
        else:
            norm.append(s)
    for s in sorted({s for s in norm if s is not None}):
        keys[s] = len(keys)
    for i, s in enumerate(norm):
        if s is not None:
            out[i] = keys[s]
    return out


def _grid_report(labels, hh, comp_ids, cells, cells_m, com_m, G, prm, flags, crs, cfg: EngineConfig = DEFAULT):
    """Per-grid rows, the grids' polygons and the coverage check.

    A grid's polygon is the union of its cells.  Cells that form a valid coverage (the
    engine's own, stored or not, share their vertices) are united by dropping shared edges
    (``coverage_union_all``), which is exact; cells that do not (e.g. repaired after a
    round trip through storage) are united by a full overlay on the cells' precision grid,
    so a union never leaves a sliver that splits a grid or opens a gap.  The coverage rule
    allows :meth:`~geo.partition.config.EngineConfig.coverage_tolerance_m2` of the
    community's perimeter between the grids' union and the community.
    """
    codes = sorted(labels.unique().tolist())
    lab = labels.to_numpy()
    rows, geoms = [], []
    shapely.prepare(com_m)
    # the graph matched the cells' boundaries vertex for vertex: dropping shared edges is exact
    exact = bool(getattr(G, "matched", False))

    def unite(geoms_: np.ndarray, metric: bool) -> BaseGeometry:
        if len(geoms_) == 1:
            return geoms_[0]
        if exact:
            # exact when the cells really form a coverage; GEOS leaves the result undefined
            # (an empty or partial polygon) when they do not, e.g. after a reprojection moved
            # shared vertices apart: then the area no longer adds up, and the overlay decides
            u = shapely.coverage_union_all(geoms_)
            total = float(shapely.area(geoms_).sum())
            if not u.is_empty and u.is_valid and abs(u.area - total) <= 1e-9 * max(total, 1e-12) + (
                    cfg.coverage_tolerance_m2(0.0) if metric else 0.0):
                return u
        return shapely.union_all(geoms_, grid_size=cfg.grid_m if metric else None)

    polys_m = []
    for code in codes:
        mem = np.flatnonzero(lab == code)
        poly_m = _single(unite(cells_m[mem], True))
        polys_m.append(poly_m)
        geoms.append(_single(unite(np.asarray(cells.values, dtype=object)[mem], False)))
        h = int(hh[mem].sum())
        failed = []
        if not metrics.inside_community(poly_m, com_m):
            failed.append("inside_community")
        if not metrics.contiguous(mem, G.fp_pairs):
            failed.append("contiguity")
        if not metrics.one_piece(poly_m, com_m):
            failed.append("one_piece")
        if not metrics.in_band(h, prm.min_hh, prm.max_hh):
            failed.append("band")
        rows.append({
            "code": str(code),
            "households": h,
            "deviation": round(metrics.deviation(h, prm.target), 6),
            "pp": round(metrics.polsby_popper(poly_m), 6),
            "n_buildings": int(len(mem)),
            "valid": False,
            "failed_rules": failed,
            "flags": list(flags.get(code, [])),
        })
    parr = np.asarray(polys_m, dtype=object)
    # the rule is about area: no gap and no overlap beyond the tolerance.  Grids whose
    # vertices match (the engine's own cells) are checked topologically, which is exact and
    # cheap; others (stored cells repaired after reprojection) by overlay areas
    matching = bool(shapely.coverage_is_valid(parr)) if len(parr) else True
    if len(parr) <= 1:
        union = parr[0] if len(parr) else shapely.Polygon()
    else:
        union = shapely.coverage_union_all(parr) if matching else shapely.union_all(parr)
    overlap = 0.0 if matching else max(float(shapely.area(parr).sum() - union.area), 0.0)
    gap = float(shapely.symmetric_difference(union, com_m).area)
    tol = cfg.coverage_tolerance_m2(float(com_m.length))
    cov_valid = gap + overlap <= tol
    if not cov_valid:
        bad = shapely.coverage_invalid_edges(parr) if overlap > tol else [shapely.Point()] * len(parr)
        for r, e in zip(rows, bad, strict=False):
            if not shapely.is_empty(e) or gap > tol:
                r["failed_rules"].append("coverage")
    for r in rows:
        r["valid"] = not r["failed_rules"]
    gdf = gpd.GeoDataFrame(
        {
            "code": [r["code"] for r in rows],
            "households": [r["households"] for r in rows],
            "deviation": [r["deviation"] for r in rows],
            "pp": [r["pp"] for r in rows],
            "n_buildings": [r["n_buildings"] for r in rows],
            "valid": [r["valid"] for r in rows],
            "failed_rules": [list(r["failed_rules"]) for r in rows],
            "flags": [list(r["flags"]) for r in rows],
        },
        geometry=geoms,
        crs=crs,
    )
    return gdf, rows, {"valid": cov_valid, "gap_m2": round(gap + overlap, 3), "tolerance_m2": round(tol, 3)}


def _single(g: BaseGeometry) -> BaseGeometry:
    if g.geom_type == "MultiPolygon" and len(g.geoms) == 1:
        return g.geoms[0]
    return g


def _compound_stats(labels: pd.Series, comp_ids: np.ndarray) -> tuple[int, int]:
    """(compounds with >= 2 buildings, those whose buildings share one grid)."""
    lab = labels.to_numpy()
    tot = whole = 0
    for c in np.unique(comp_ids[comp_ids >= 0]):
        m = comp_ids == c
        if m.sum() < 2:
            continue
        tot += 1
        whole += len(set(lab[m].tolist())) == 1
    return tot, whole


def _churn(labels: pd.Series, cur: np.ndarray, hh: np.ndarray) -> dict[str, int]:
    """Households/buildings moved and grids changed between ``cur`` and ``labels``."""
    new = labels.to_numpy()
    had = np.array([c is not None for c in cur])
    moved = had & (new != cur)
    old_sets: dict[str, set[int]] = {}
    new_sets: dict[str, set[int]] = {}
    for i, (a, b) in enumerate(zip(cur.tolist(), new.tolist(), strict=False)):
        if a is not None:
            old_sets.setdefault(a, set()).add(i)
        new_sets.setdefault(b, set()).add(i)
    changed = sum(1 for c in set(old_sets) | set(new_sets) if old_sets.get(c) != new_sets.get(c))
    return {
        "households_moved": int(hh[moved].sum()),
        "buildings_moved": int(moved.sum()),
        "buildings_unassigned_before": int((~had).sum()),
        "grids_changed": int(changed),
        "grids_before": len(old_sets),
        "grids_after": len(new_sets),
    }


def evaluate(
    buildings: gpd.GeoDataFrame,
    community: BaseGeometry,
    labels: pd.Series,
    cells: gpd.GeoSeries,
    *,
    households: str = "households",
    compound: str | None = None,
    target: float = 400,
    min_hh: float = 300,
    max_hh: float = 500,
    graph: BuildingGraph | None = None,
) -> dict[str, Any]:
    """Score any assignment of buildings to grids with the engine's rules and measures.

    Parameters
    ----------
    buildings, community, cells:
        As for :func:`rebalance` (cells required).
    labels:
        Grid code per building (same index as ``buildings``).
    households, compound, target, min_hh, max_hh:
        As for :func:`rebalance`.
    graph:
        A precomputed :class:`~geo.partition.graph.BuildingGraph` (else built).

    Returns
    -------
    dict
        ``{"grids": [...], "totals": {...}}`` as in the :func:`rebalance` report; grids made
        only of one building above ``max_hh`` are flagged ``oversized_building``.
    """
    crs = buildings.crs or WGS84
    utm = utm_crs_for(community, crs)
    hh = pd.to_numeric(buildings[households], errors="coerce").fillna(0).round().astype(np.int64).to_numpy()
    comp_ids = _compound_ids(buildings[compound]) if compound else np.full(len(buildings), -1, dtype=np.int64)
    cells = gpd.GeoSeries(cells.loc[buildings.index].values, index=buildings.index, crs=cells.crs or crs)
    cells_m = np.asarray(cells.to_crs(utm).values, dtype=object)
    com_m = gpd.GeoSeries([community], crs=crs).to_crs(utm).iloc[0]
    if graph is None:
        fps_m = np.asarray(gpd.GeoSeries(buildings.geometry.values, crs=crs).to_crs(utm).values, dtype=object)
        graph = build_graph(fps_m, cells_m)
    labels = pd.Series(labels.loc[buildings.index].astype(str).values, index=buildings.index)
    flags: dict[str, list[str]] = {}
    for code, grp in pd.Series(hh, index=buildings.index).groupby(labels):
        if len(grp) == 1 and grp.iloc[0] > max_hh:
            flags[str(code)] = ["oversized_building"]
    _, rows, cov = _grid_report(
        labels, hh, comp_ids, cells, cells_m, com_m, graph, Params(target, min_hh, max_hh), flags, crs
    )
    totals = metrics.summarize(rows, target)
    totals["coverage_valid"] = cov["valid"]
    totals["compounds"], totals["compounds_whole"] = _compound_stats(labels, comp_ids)
    return {"grids": rows, "totals": totals}
