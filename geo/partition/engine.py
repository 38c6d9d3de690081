"""Public entry point of the rebalancing engine: :func:`rebalance`.

Rules, in priority order (see ``docs``/issue): grids inside the community and buildings whole
(1), contiguous in the footprint graph and one-piece polygons (2), polygons tiling the
community as unions of building cells (3), households in band (4), mean deviation <= 0.10, then
compounds whole, then Polsby-Popper compactness (5).  In minimal-change mode the households
moved are minimised right after the rules.

Buildings above the maximum (and locked grids) are set aside first.  What remains is split into
*regions*: maximal groups of buildings connected in both rule graphs.  A grid in band holds no
oversized building, so it lies inside one region; the grid count is chosen per region, and a
region where no grid count fits the band (``ceil(H/max) > floor(H/min)``), where a pocket that
must share one grid holds more than the maximum (:func:`geo.partition.exact.must_merge`), or
where the exact solver (:mod:`geo.partition.exact`, small regions only) proves that no
partition exists, is
reported in ``report["totals"]["infeasible_regions"]`` with its numbers, and its grids carry the
flag ``infeasible_region``.  Such a region still gets its own grid(s): a building above the
maximum stays alone in its flagged grid (as :func:`evaluate` expects).

The stages are modules of their own, each importing only those before it: the seeded search
and the measures the others share in :mod:`geo.partition.engine_search`, the exact fallback
and the last cover proof in :mod:`geo.partition.engine_exact`, a region's fresh plan (and
minimal mode's fresh window) in :mod:`geo.partition.engine_fresh`, minimal mode's regions,
codes and fresh fallback in :mod:`geo.partition.engine_minimal`, and the report and
:func:`evaluate` in :mod:`geo.partition.engine_report`.  This module holds :class:`Plan`, the
pipeline (:func:`rebalance`) and the public names.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from shapely.geometry.base import BaseGeometry

from geo.partition import metrics
from geo.partition.cells import WGS84, building_cells, utm_crs_for
from geo.partition.config import DEFAULT
from geo.partition.engine_exact import (
    EXACT_COVER_SETS,  # noqa: F401  (re-exported: the engine's knobs)
    EXACT_DET_TIME,  # noqa: F401
    EXACT_MAX_UNITS,  # noqa: F401
    LIFT_NODES,  # noqa: F401
    LIFT_SOLUTIONS,  # noqa: F401
)
from geo.partition.engine_fresh import (
    PROVEN_RETRY_UNITS,  # noqa: F401  (re-exported: the engine's knob)
    _fresh_region,
    _fresh_window,
    choose_k,
)
from geo.partition.engine_minimal import (
    _fresh_fallback,
    _grids_out_of_band,
    _minimal_budgets,
    _minimal_init,
    _minimal_region,
    _oversized_keep,
    _successor_names,
)
from geo.partition.engine_report import _churn, _compound_ids, _compound_stats, _graph_summary, _grid_report, evaluate
from geo.partition.engine_search import (
    RESTART_WORK,  # noqa: F401  (re-exported: the engine's knob)
    _band_missed,
    _search_component,
)
from geo.partition.errors import PartitionError, check_band
from geo.partition.graph import bridge_ties, build_graph, components
from geo.partition.naming import GridNames, Labels
from geo.partition.proofs import check_claims
from geo.partition.search import Params, Units, adj_components, make_units, refine_regions

__all__ = ["Plan", "choose_k", "evaluate", "rebalance"]

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """Result of :func:`rebalance`.

    Attributes
    ----------
    labels:
        Grid code per building (``pandas.Series`` of ``str``, same index as the input).
    grids:
        ``GeoDataFrame`` (input CRS), one row per grid: ``code``, ``households``,
        ``deviation``, ``pp``, ``n_buildings``, ``valid``, ``failed_rules`` (list),
        ``flags`` (list), ``geometry`` (union of the grid's cells).
    report:
        JSON-serialisable dict: per-grid rows, ``totals`` (with ``feasible`` and
        ``infeasible_regions``: buildings, households, ``k_min``, ``k_max``, ``proof`` (one of
        ``count``, ``pockets``, ``cover``, ``exact``) and ``reason``),
        ``churn``, ``seed``, ``timings``...
    cells:
        The building cells used (``GeoSeries``, input CRS), e.g. to store them.
    """

    labels: pd.Series
    grids: gpd.GeoDataFrame
    report: dict[str, Any]
    cells: gpd.GeoSeries


def _join_parts(U: Units, parts: list[list[int]]) -> list[tuple[int, int]]:
    """Edges joining ``parts`` into one tree: shortest rule-graph pairs first (MST)."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    pid = {u: i for i, p in enumerate(parts) for u in p}
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for u in sorted(pid):
        for v in sorted(set(U.fadj[u]) | set(U.cadj[u])):
            if v in pid and pid[v] != pid[u]:
                a, b = sorted((pid[u], pid[v]))
                # a pair in both rule graphs is preferred (it keeps the search exact)
                both = (v in U.fadj[u]) and (v in U.cadj[u])
                d = float(np.hypot(*(U.xy[u] - U.xy[v]))) + (0.0 if both else 1e6)
                cand = (d, min(u, v), max(u, v))
                if (a, b) not in best or cand < best[(a, b)]:
                    best[(a, b)] = cand
    m = len(parts)
    if not best:
        return []
    keys = sorted(best)
    w = np.array([best[k][0] + 1e-6 for k in keys])
    g = coo_matrix((w, ([k[0] for k in keys], [k[1] for k in keys])), shape=(m, m))
    t = minimum_spanning_tree(g).tocoo()
    lut = {k: best[k] for k in keys}
    out = []
    for a, b in sorted(zip(t.row.tolist(), t.col.tolist(), strict=False)):
        _, u, v = lut[(min(a, b), max(a, b))]
        out.append((u, v))
    return out


def rebalance(
    buildings: gpd.GeoDataFrame,
    community: BaseGeometry,
    *,
    households: str = "households",
    compound: str | None = None,
    cells: gpd.GeoSeries | None = None,
    roads: gpd.GeoSeries | None = None,
    target: float = 400,
    min_hh: float = 300,
    max_hh: float = 500,
    grids: int | None = None,
    locked: Mapping[str, Sequence[Any]] | None = None,
    current: pd.Series | None = None,
    mode: Literal["fresh", "minimal"] = "fresh",
    seed: int = 0,
    restarts: int = 4,
    names: GridNames | None = None,
) -> Plan:
    """Divide one community's buildings into household-balanced, contiguous, compact grids.

    Parameters
    ----------
    buildings:
        One row per building: footprint geometry, a households column and optionally a compound
        column.  CRS EPSG:4326 (or any CRS; ``None`` is taken as EPSG:4326).
    community:
        Community polygon in the same CRS as ``buildings``.
    households:
        Name of the households column (null counts as 0; negative is an error).
    compound:
        Name of the compound column; null, empty or negative values mean "no compound".
    cells:
        Precomputed building cells (same index and CRS as ``buildings``); computed if ``None``.
    roads:
        Optional road lines to bend cells to (only used when ``cells`` is ``None``).
    target, min_hh, max_hh:
        Target households per grid and the band.
    grids:
        Number of grids for the households being rebalanced (excluding locked grids and
        oversized buildings); default ``round(H/target)`` clamped to the feasible range.
    locked:
        ``{grid code: [building index labels]}`` kept exactly as they are.
    current:
        Current grid code per building (index like ``buildings``; null = none).  Required for
        ``mode="minimal"``; in fresh mode it is only used to report churn.
    mode:
        ``"fresh"`` redraws from scratch; ``"minimal"`` repairs ``current`` moving as few
        households as possible, then improves compactness.
    seed:
        Seed of every random choice (``numpy.random.default_rng``).
    restarts:
        Seeded restarts in fresh mode (the best result is kept).
    names:
        Names of new grids (:mod:`geo.partition.naming`): the caller's scheme, e.g. the
        planner's :class:`geo.planning.codes.ShortCodes`; default neutral
        :class:`~geo.partition.naming.Labels` (``fresh-01``).  The engine makes no code:
        a grid that keeps one (locked, or succeeding a current grid) carries it as it is.

    Returns
    -------
    Plan

    Raises
    ------
    PartitionError
        On bad input (no buildings, negative households, bad band, unknown index in ``locked``,
        ``mode="minimal"`` without ``current``, ``grids`` < 1 or larger than the buildings).
    """
    return _rebalance(
        buildings, community, households=households, compound=compound, cells=cells, roads=roads, target=target,
        min_hh=min_hh, max_hh=max_hh, grids=grids, locked=locked, current=current, mode=mode, seed=seed,
        restarts=restarts, namer=names if names is not None else Labels())


def _rebalance(
    buildings: gpd.GeoDataFrame, community: BaseGeometry, *, households: str, compound: str | None,
    cells: gpd.GeoSeries | None, roads: gpd.GeoSeries | None, target: float, min_hh: float, max_hh: float,
    grids: int | None, locked: Mapping[str, Sequence[Any]] | None, current: pd.Series | None,
    mode: str, seed: int, restarts: int, namer: GridNames, graph: tuple | None = None, labels_only: bool = False,
) -> Any:
    """:func:`rebalance`; ``graph`` reuses the metric geometry and graph of the same call
    (``(utm, cells_m, com_m, G)``), and ``labels_only`` returns the building labels and the
    grid flags without the report (the minimal mode's fresh comparison)."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    check_band(min_hh, target, max_hh)
    if mode not in ("fresh", "minimal"):
        raise PartitionError(f"Unknown mode {mode!r}: use 'fresh' or 'minimal'.")
    if mode == "minimal" and current is None:
        raise PartitionError("Minimal-change mode needs the current assignment of buildings to grids.")
    if len(buildings) == 0:
        raise PartitionError("The community has no buildings to divide into grids.")
    if households not in buildings.columns:
        raise PartitionError(f"Households column {households!r} not found.")
    if community is None or community.is_empty:
        raise PartitionError("The community polygon is empty.")
    hh_raw = pd.to_numeric(buildings[households], errors="coerce")
    if (hh_raw < 0).any():
        raise PartitionError(f"Negative households in column {households!r}.")
    hh = hh_raw.fillna(0).round().astype(np.int64).to_numpy()
    n = len(buildings)
    comp_ids = np.full(n, -1, dtype=np.int64)
    if compound is not None:
        if compound not in buildings.columns:
            raise PartitionError(f"Compound column {compound!r} not found.")
        comp_ids = _compound_ids(buildings[compound])
    crs = buildings.crs or WGS84
    prm = Params(float(target), float(min_hh), float(max_hh))

    t = time.perf_counter()
    if cells is None:
        g84 = gpd.GeoSeries(buildings.geometry.values, index=buildings.index, crs=crs)
        cells = building_cells(g84, community, roads=roads)
    else:
        cells = gpd.GeoSeries(cells.loc[buildings.index].values, index=buildings.index, crs=cells.crs or crs)
    timings["cells_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if graph is None:
        utm = utm_crs_for(community, crs)
        fps_m = np.asarray(gpd.GeoSeries(buildings.geometry.values, crs=crs).to_crs(utm).values, dtype=object)
        cells_m = np.asarray(gpd.GeoSeries(cells.values, crs=cells.crs).to_crs(utm).values, dtype=object)
        com_m = gpd.GeoSeries([community], crs=crs).to_crs(utm).iloc[0]
        G = build_graph(fps_m, cells_m, outer=float(com_m.length))
    else:
        utm, cells_m, com_m, G = graph
    # ties: a building with an empty cell goes with the building whose cell covers it
    ties = []
    empty = np.flatnonzero(shapely.is_empty(cells_m) | (G.area <= 0))
    if len(empty) and len(empty) < n:
        ne = np.flatnonzero(~(shapely.is_empty(cells_m) | (G.area <= 0)))
        tree = shapely.STRtree(cells_m[ne])
        pts = shapely.points(G.xy[empty])
        host = tree.query_nearest(pts, return_distance=False, all_matches=False)
        for e, h in zip(host[0].tolist(), host[1].tolist(), strict=False):
            ties.append((int(empty[e]), int(ne[h])))
    # locked buildings
    pos_of = {ix: i for i, ix in enumerate(buildings.index)}
    locked_code = np.full(n, None, dtype=object)
    for code in sorted(locked or {}, key=str):
        for ix in locked[code]:
            if ix not in pos_of:
                raise PartitionError(f"Locked grid {code}: building {ix!r} is not in this community.")
            locked_code[pos_of[ix]] = str(code)
    # stranded clusters go with a chain that connects them in both rule graphs (a tie for the
    # search's sake, not a rule: proofs are not claimed where such ties are)
    # (minimal mode starts from the current grids, which such a tie could cut across)
    bridges = [] if mode == "minimal" else bridge_ties(G, hh, max_hh, fixed=(locked_code != None) | (hh > max_hh))  # noqa: E711
    empty_ties = list(ties)  # a footprint inside another: a rule, unlike the bridges
    ties.extend(bridges)
    loose_b = np.zeros(n, dtype=bool)
    for a_, b_ in bridges:
        loose_b[[a_, b_]] = True
    group = components(ties, n)
    U = make_units(G, hh, comp_ids, group)
    loose = np.array([bool(loose_b[mem].any()) for mem in U.members], dtype=bool)
    unit_locked = np.full(U.n, None, dtype=object)
    for u, mem in enumerate(U.members):
        codes = [c for c in locked_code[mem] if c is not None]
        if codes:
            unit_locked[u] = sorted(codes)[0]
    timings["graph_s"] = time.perf_counter() - t

    t = time.perf_counter()
    final = np.full(U.n, None, dtype=object)
    flags: dict[str, list[str]] = {}
    for u in range(U.n):
        if unit_locked[u] is not None:
            final[u] = unit_locked[u]
            flags.setdefault(unit_locked[u], ["locked"])
    oversized = [u for u in range(U.n) if final[u] is None and U.hh[u] > max_hh]
    over_code = {}
    keep_over = _oversized_keep(U, hh, oversized, current, buildings.index) if mode == "minimal" else {}
    over_taken = set(keep_over.values()) | (
        {str(c) for c in current.dropna()} if mode == "minimal" and current is not None else set())
    over_new: set[str] = set()  # towers named so far (minimal mode avoids every current code too)
    for u in sorted(oversized, key=lambda u: (-U.xy[u, 1], U.xy[u, 0])):
        if u in keep_over:
            c = keep_over[u]
        else:
            c = namer.name("oversized", 1, over_new | over_taken if mode == "minimal" else over_new)
            over_new.add(c)
        final[u] = c
        over_code[u] = c
        flags[c] = ["oversized_building"]
    free = [u for u in range(U.n) if final[u] is None]
    # regions: maximal groups of free units connected in both rule graphs; no grid in band
    # can span two regions (a grid in band holds no oversized or locked building)
    regions = refine_regions(U, free)
    big_comps = []
    infeasible_regions: list[dict[str, Any]] = []
    claim_members: list[np.ndarray] = []  # the buildings of each claimed region, for the checker
    claim_certs: list[dict[str, Any] | None] = []  # and each claim's certificate (pocket merges)

    def members_of(cmp: list[int]) -> np.ndarray:
        return np.concatenate([np.asarray(U.members[u], dtype=np.int64) for u in cmp])

    region_infeasible: list[bool] = []
    for cmp in regions:
        H_c = int(U.hh[cmp].sum())
        kmin_c, kmax_c = metrics.feasible_k(H_c, int(min_hh), int(max_hh))
        feas_c = H_c > 0 and kmin_c <= kmax_c
        if not feas_c:
            info = {
                "buildings": int(sum(len(U.members[u]) for u in cmp)),
                "households": H_c,
                "k_min": int(kmin_c),
                "k_max": int(kmax_c),
                "proof": "count",
                "reason": (
                    f"ceil({H_c}/{max_hh:g}) = {kmin_c} > floor({H_c}/{min_hh:g}) = {kmax_c}"
                    if H_c > 0
                    else f"no households: a grid in band needs at least {min_hh:g}"
                ),
            }
            infeasible_regions.append(info)
            claim_members.append(members_of(cmp))
            claim_certs.append(None)
        big_comps.append(cmp)
        region_infeasible.append(not feas_c)
    # the search graph must connect each region: join its parts by rule-graph pairs
    joins: list[tuple[int, int]] = []
    for cmp in big_comps:
        parts = adj_components(U.adj, cmp)
        if len(parts) > 1:
            joins.extend(_join_parts(U, parts))
    if joins:
        log.debug("search graph: %d joining edges inside regions", len(joins))
        U.add_edges(joins)
    H_free = int(sum(U.hh[c].sum() for c in big_comps))
    # grid count per component
    ks = []
    feasible_all = not infeasible_regions
    for cmp in big_comps:
        H_c = int(U.hh[cmp].sum())
        k_c, _feas = choose_k(H_c, target, min_hh, max_hh)
        ks.append(max(1, min(k_c, len(cmp))))
    if grids is not None:
        if grids < 1:
            raise PartitionError("--grids must be at least 1.")
        if grids < len(big_comps) or grids > len(free):
            raise PartitionError(
                f"--grids {grids} is impossible here: between {len(big_comps)} and {len(free)} grids fit."
            )
        ks = _apportion(grids, [int(U.hh[c].sum()) for c in big_comps], [len(c) for c in big_comps])
    cur_unit = None
    cur_codes: np.ndarray | None = None
    if current is not None:
        cur = current.reindex(buildings.index)
        cur_codes = np.array(
            [None if (v is None or (isinstance(v, float) and math.isnan(v)) or v == "") else str(v) for v in cur],
            dtype=object,
        )
        cur_unit = np.full(U.n, None, dtype=object)
        for u, mem in enumerate(U.members):
            vals = [c for c in cur_codes[mem] if c is not None]
            if vals:
                cur_unit[u] = max(sorted(set(vals)), key=vals.count)
    taken = {str(c) for c in final if c is not None}
    if cur_codes is not None:
        taken |= {c for c in cur_codes if c is not None}
    taken_minimal: set[str] = set()
    minimal_info: dict[str, Any] = {"regions": 0, "regions_out_of_band": 0, "fresh_checked": False,
                                    "fresh_fallback": 0, "grids_out_of_band": 0, "grids_out_of_band_fresh": None}
    if mode == "minimal":
        from geo.partition.minimal import DEFAULT as MINIMAL

        budgets = _minimal_budgets(MINIMAL)
    for ci, (cmp, k_c) in enumerate(zip(big_comps, ks, strict=False)):
        if mode == "minimal" and grids is None:
            lab, k_c = _minimal_region(U, cmp, cur_unit, prm, seed + ci, region_infeasible[ci], budgets)
            minimal_info["regions"] += 1
            if not region_infeasible[ci] and _band_missed(U, cmp, lab, k_c, prm):
                minimal_info["regions_out_of_band"] += 1
            names = []
            for c in _successor_names(U, cmp, lab, k_c, cur_unit):
                if c is None or c in taken_minimal or c in {str(x) for x in final if x is not None}:
                    c = namer.name("new", 1, taken)
                    taken.add(c)
                taken_minimal.add(c)
                names.append(c)
        elif mode == "minimal":
            lab0, codes, k_c, orig = _minimal_init(U, cmp, cur_unit, ks[ci] if grids is not None else None, prm, seed)
            lab = _search_component(U, cmp, k_c, prm, seed + ci, False, 1, lab0, orig)
            names = []
            for g in range(k_c):
                c = codes[g] if g < len(codes) else None
                if c is None or c in {str(x) for x in final if x is not None}:
                    c = namer.name("new", 1, taken)
                    taken.add(c)
                names.append(c)
        else:
            lab, k_c, proof = _fresh_region(U, cmp, k_c, prm, seed + ci, restarts, region_infeasible[ci], grids, loose)
            if proof is not None:
                region_infeasible[ci] = True
                claim_certs.append(proof.pop("_certificate", None))
                infeasible_regions.append(proof)
                claim_members.append(members_of(cmp))
            names = [None] * k_c
        for g in range(k_c):
            for u in cmp:
                if lab[u] == g:
                    final[u] = ("__tmp", ci, g) if names[g] is None else names[g]
    # fresh codes: north to south, west to east
    tmp = sorted({f for f in final if isinstance(f, tuple)})
    if tmp:
        cent = {}
        for tkey in tmp:
            mem = [u for u in range(U.n) if final[u] == tkey]
            w = np.maximum(U.area[mem], 1e-9)
            cent[tkey] = (-float(np.average(U.xy[mem, 1], weights=w)), float(np.average(U.xy[mem, 0], weights=w)))
        for i, tkey in enumerate(sorted(tmp, key=lambda x: cent[x])):
            c = namer.name("fresh", i + 1, taken)
            for u in range(U.n):
                if final[u] == tkey:
                    final[u] = c
    for cmp, bad in zip(big_comps, region_infeasible, strict=False):
        if bad:
            for code in sorted({str(final[u]) for u in cmp}):
                flags[code] = sorted(set(flags.get(code, [])) | {"infeasible_region"})
    timings["search_s"] = time.perf_counter() - t

    t = time.perf_counter()
    blab = np.empty(n, dtype=object)
    for u, mem in enumerate(U.members):
        blab[mem] = final[u]
    if labels_only:
        return blab, flags
    if mode == "minimal" and minimal_info["regions_out_of_band"]:
        t_f = time.perf_counter()
        # the fresh plan of the windows around the grids out of band (a whole region only
        # where a window cannot be put in band); claims about whole regions go to the checker
        lab_f, flags_f, fresh_claims = _fresh_window(U, big_comps, region_infeasible, final, flags, prm, seed,
                                                     restarts, loose)
        blab_f = np.empty(n, dtype=object)
        for u, mem in enumerate(U.members):
            blab_f[mem] = lab_f[u]
        for ci, rec in fresh_claims:
            claim_certs.append(rec.pop("_certificate", None))
            infeasible_regions.append(rec)
            claim_members.append(members_of(big_comps[ci]))
        blab, taken_n = _fresh_fallback(blab, flags, blab_f, flags_f, hh, cur_codes, prm, namer)
        minimal_info["fresh_checked"] = True
        minimal_info["fresh_fallback"] = taken_n
        minimal_info["grids_out_of_band_fresh"] = _grids_out_of_band(blab_f, flags_f, hh, prm)
        timings["fresh_fallback_s"] = time.perf_counter() - t_f
    if mode == "minimal":
        minimal_info["grids_out_of_band"] = _grids_out_of_band(blab, flags, hh, prm)
    # every claim goes to the independent checker (geo.partition.proofs); the count of
    # checked, unchecked and refuted claims is reported, each claim names its region's grids,
    # and a grid whose region's claim the checker did not check is flagged ``proof_unchecked``
    # (a benchmark counts it as a failure, not as exempt)
    t_p = time.perf_counter()
    proofs = check_claims(
        infeasible_regions, claim_members, hh, G.fp_pairs, G.cell_pairs, empty_ties,
        locked_code != None, float(min_hh), float(max_hh), claim_certs,  # noqa: E711
        max_sets=DEFAULT.check_sets, max_nodes=DEFAULT.check_nodes)
    for rec, mem in zip(infeasible_regions, claim_members, strict=True):
        rec["grids"] = sorted({str(c) for c in blab[mem]})
        if rec.get("check") != "checked":
            for code in rec["grids"]:
                flags[code] = sorted(set(flags.get(code, [])) | {"proof_unchecked"})
    proofs_s = time.perf_counter() - t_p
    labels = pd.Series(blab, index=buildings.index, name="grid", dtype=object)
    grids_gdf, rows, cov = _grid_report(labels, hh, comp_ids, cells, cells_m, com_m, G, prm, flags, crs)
    totals = metrics.summarize(rows, target)
    totals["feasible"] = bool(feasible_all and not infeasible_regions)
    totals["infeasible_regions"] = infeasible_regions
    totals["proofs"] = proofs
    timings["proofs_s"] = proofs_s
    totals["coverage_valid"] = cov["valid"]
    totals["coverage_gap_m2"] = cov["gap_m2"]
    totals["coverage_tolerance_m2"] = cov["tolerance_m2"]
    totals["compounds"], totals["compounds_whole"] = _compound_stats(labels, comp_ids)
    totals["share_compounds_whole"] = (totals["compounds_whole"] / totals["compounds"]) if totals["compounds"] else 1.0
    churn = _churn(labels, cur_codes, hh) if cur_codes is not None else None
    timings["report_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    report = {
        "mode": mode,
        "seed": int(seed),
        "target": target,
        "min": min_hh,
        "max": max_hh,
        "households": int(hh.sum()),
        "households_rebalanced": H_free,
        "n_buildings": n,
        "metric_crs": utm.to_string(),
        "grids": rows,
        "totals": totals,
        "churn": churn,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "graph": _graph_summary(G),
    }
    if mode == "minimal":
        minimal_info["budget"] = {"with_local": budgets[0].report(), "without_local": budgets[1].report()}
        report["minimal"] = minimal_info
    return Plan(labels, grids_gdf, report, cells)


def _apportion(K: int, weights: list[int], caps: list[int]) -> list[int]:
    m = len(weights)
    tot = max(sum(weights), 1)
    raw = [K * w / tot for w in weights]
    ks = [max(1, int(math.floor(r))) for r in raw]
    while sum(ks) < K:
        i = max(range(m), key=lambda j: (raw[j] - ks[j] if ks[j] < caps[j] else -1e9, -j))
        ks[i] += 1
    while sum(ks) > K:
        i = max(range(m), key=lambda j: (ks[j] - raw[j] if ks[j] > 1 else -1e9, -j))
        ks[i] -= 1
    return [min(k, c) for k, c in zip(ks, caps, strict=False)]
