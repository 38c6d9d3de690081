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
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from geo.partition import metrics
from geo.partition.cells import WGS84, building_cells, utm_crs_for
from geo.partition.config import DEFAULT, EngineConfig
from geo.partition.errors import PartitionError, check_band
from geo.partition.graph import BuildingGraph, bridge_ties, build_graph
from geo.partition.mend import mend_band
from geo.partition.naming import GridNames, Labels
from geo.partition.proofs import check_claims
from geo.partition.search import (
    DEV_CAP,
    Params,
    State,
    Units,
    adj_components,
    compound_groups,
    contract,
    make_units,
    recursive_bisection,
    refine_regions,
    tree_cuts,
    zero_clusters,
)

__all__ = ["Plan", "choose_k", "evaluate", "rebalance"]

log = logging.getLogger(__name__)

#: work budget of the fresh-mode restarts (:attr:`~geo.partition.config.EngineConfig.restart_work`)
RESTART_WORK = DEFAULT.restart_work
#: other grid counts are tried on a region a pocket proves infeasible only up to this many
#: units (:attr:`~geo.partition.config.EngineConfig.proven_retry_units`)
PROVEN_RETRY_UNITS = DEFAULT.proven_retry_units


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


def _uf_groups(n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    if not pairs:
        return np.arange(n)
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    m = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(m, directed=False)[1]


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


def choose_k(total_hh: int, target: float, min_hh: float, max_hh: float) -> tuple[int, bool]:
    """Fresh-mode grid count: ``round(H/target)`` clamped to ``[ceil(H/max), floor(H/min)]``.

    Parameters
    ----------
    total_hh:
        Households to divide.
    target, min_hh, max_hh:
        Band settings.

    Returns
    -------
    (int, bool)
        The grid count (at least 1) and whether the band is feasible by counting.
    """
    kmin = math.ceil(total_hh / max_hh) if total_hh > 0 else 1
    kmax = int(total_hh // min_hh)
    k = int(round(total_hh / target))
    feasible = kmin <= kmax
    if feasible:
        k = min(max(k, kmin), kmax)
    return max(k, 1), feasible


def _search_component(
    U: Units,
    nodes: list[int],
    k: int,
    prm: Params,
    seed: int,
    use_compounds: bool,
    restarts: int,
    init: np.ndarray | None,
    orig: np.ndarray | None = None,
    pockets: np.ndarray | None = None,
    coarse: dict | None = None,
) -> np.ndarray:
    """Best labelling (0..k-1 on ``nodes``, -1 elsewhere) over seeded restarts.

    Fresh mode searches a reduced graph (household-less buildings grouped with their nearest
    building with households, and ``pockets`` groups joined too when given; optionally
    compounds contracted for the first cut), then polishes on the full unit graph.  The
    reduced graphs depend only on ``nodes`` and ``pockets``: a ``coarse`` dict given by the
    caller keeps them for the region's next searches.
    """
    if init is not None:
        rng = np.random.default_rng([seed, 7919, len(nodes)])
        lab = np.full(U.n, -1, dtype=np.int64)
        lab[nodes] = init[nodes]
        st = State(U, prm, lab, k, orig=orig)
        st.rebuild()
        st.legalize()
        st.local_search(rng)
        st.merge_split(rng, rounds=3, only_bad=True, ntrees=12)
        st.local_search(rng)
        return _finish(st, rng)
    Z, Zc = _coarse_graphs(U, nodes, prm, use_compounds, pockets, {} if coarse is None else coarse)
    znodes = list(range(Z.n))
    best = None
    # restarts are capped by a work budget (units x restarts), not by wall time, so that the
    # result does not depend on the machine load
    n_restarts = max(1, min(restarts, RESTART_WORK // max(Z.n, 1)))
    for r in range(n_restarts):
        rng = np.random.default_rng([seed, 7919, r, len(nodes)])
        lab = np.full(Z.n, -1, dtype=np.int64)
        if Zc is not None and r % 2 == 0:
            parts = recursive_bisection(Zc, list(range(Zc.n)), k, prm, rng)
            for gi, part in enumerate(parts):
                for c in part:
                    lab[Zc.members[c]] = gi
        else:
            parts = recursive_bisection(Z, znodes, k, prm, rng)
            for gi, part in enumerate(parts):
                lab[part] = gi
        st = State(Z, prm, lab, k)
        st.rebuild()
        st.fill_empty(rng)
        st.merge_split(rng, rounds=4, only_bad=True, ntrees=12)
        st.local_search(rng)
        st.merge_split(rng, rounds=2, ntrees=8)
        st.local_search(rng)
        key = st.key(*st.totals())
        if best is None or key < best[0]:
            best = (key, st.lab.copy())
    lab = np.full(U.n, -1, dtype=np.int64)
    for z in range(Z.n):
        lab[Z.members[z]] = best[1][z]
    st = State(U, prm, lab, k)
    st.rebuild()
    st.legalize()
    st.local_search(np.random.default_rng([seed, 31337]), max_passes=4)
    return _finish(st, np.random.default_rng([seed, 49979687]))


def _coarse_graphs(
    U: Units, nodes: list[int], prm: Params, use_compounds: bool, pockets: np.ndarray | None, cache: dict
) -> tuple[Units, Units | None]:
    """The reduced graph of ``nodes`` (zero clusters and ``pockets`` contracted) and, when
    compounds count, the same with compounds contracted too; kept in ``cache`` (one per
    region) under the pockets, with the zero clusters they all start from."""
    key = (None if pockets is None else pockets.tobytes(), use_compounds)
    if key not in cache:
        if "zero_clusters" not in cache:
            cache["zero_clusters"] = zero_clusters(U, nodes)
        Z, _ = contract(U, nodes, _with_pockets(nodes, cache["zero_clusters"], pockets))
        Zc = None
        if use_compounds and (Z.comp >= 0).any():
            zn = list(range(Z.n))
            Zc, _ = contract(Z, zn, compound_groups(Z, zn, prm.max_hh))
        cache[key] = (Z, Zc)
    return cache[key]


@dataclass
class Pockets:
    """A region's rule graphs (``region_graphs``) and pockets (``must_merge``), computed once."""

    graphs: list[tuple[np.ndarray, np.ndarray]]
    groups: np.ndarray
    over: int
    steps: list[tuple[int, np.ndarray, np.ndarray]]

    def certificate(self, U: Units, nodes: list[int]) -> dict[str, Any]:
        """The merges as building indices, for the independent checker
        (:func:`geo.partition.proofs.check_claims`)."""
        mem = [np.asarray(U.members[u], dtype=np.int64) for u in nodes]

        def b(ix: np.ndarray) -> np.ndarray:
            return np.concatenate([mem[i] for i in ix.tolist()])

        return {"merges": [(gi, b(A), b(C)) for gi, A, C in self.steps]}

    def for_search(self) -> np.ndarray | None:
        """Groups to join in the coarse search, or ``None`` when there is nothing to join or a
        pocket is above the maximum (the region is infeasible whatever the search does, and
        the plain grouping comes closer to the band)."""
        if self.over >= 0 or int(self.groups.max()) + 1 == len(self.groups):
            return None
        return self.groups


def _region_pockets(U: Units, nodes: list[int], prm: Params) -> Pockets:
    """Pockets of a region (:func:`geo.partition.exact.must_merge`) on its rule graphs."""
    from geo.partition.exact import must_merge, region_graphs

    gs = region_graphs(nodes, [U.fadj, U.cadj])
    steps: list[tuple[int, np.ndarray, np.ndarray]] = []
    groups, over = must_merge(U.hh[nodes], gs, prm.min_hh, prm.max_hh, steps=steps)
    return Pockets(gs, groups, over, steps)


def _with_pockets(nodes: list[int], mapping: dict[int, int], groups: np.ndarray | None) -> dict[int, int]:
    """``mapping`` (unit -> group) with the region's pockets ``groups`` joined in as well.

    Every valid partition keeps a pocket in one grid, so the coarse search then starts from
    partitions that can be valid; the polish on the full unit graph checks the rules exactly
    afterwards.
    """
    if groups is None:
        return mapping
    m = max(mapping.values()) + 1
    a = np.array([mapping[u] for u in nodes], dtype=np.int64)
    # union of the two groupings: components of (cluster, pocket) links
    k = int(groups.max()) + 1
    g = coo_matrix((np.ones(len(nodes)), (a, m + groups)), shape=(m + k, m + k))
    _, lab = connected_components(g, directed=False)
    _, new = np.unique(lab[a], return_inverse=True)
    return {u: int(x) for u, x in zip(nodes, new.tolist(), strict=False)}


#: regions with at most this many units get the exact solver when the search misses the band
EXACT_MAX_UNITS = DEFAULT.exact_max_units
#: CP-SAT deterministic time per grid count tried (about a second of wall time here)
EXACT_DET_TIME = DEFAULT.exact_det_time
#: most connected sets the cover and lift (:func:`geo.partition.lift.cover_lift`) lists
#: before it gives up (about 0.2 s; the lift that follows costs more with more sets)
EXACT_COVER_SETS = DEFAULT.exact_cover_sets
#: most connected sets the last cover proof (:func:`_cover_proof`, for a region nothing else
#: settled) lists: the work the independent checker may spend listing sets
#: (:attr:`~geo.partition.config.EngineConfig.check_sets`), so the engine gives up no sooner
#: than the checker of its claims would (a region the checker could show infeasible is not
#: left unclaimed, its grids out of band)
EXACT_PROOF_SETS = DEFAULT.check_sets
#: search nodes of that proof's exact cover (:func:`geo.partition.exact.exact_cover`): as
#: many as the checker's (:attr:`~geo.partition.config.EngineConfig.check_nodes`)
EXACT_PROOF_NODES = DEFAULT.check_nodes


#: lift search nodes the cover and lift (:func:`geo.partition.lift.cover_lift`) may spend
LIFT_NODES = DEFAULT.lift_nodes
#: answers the cover and lift looks for (the most compact after the local moves is kept)
LIFT_SOLUTIONS = DEFAULT.lift_solutions


def _polish(
    U: Units, nodes: list[int], answers: list[list[list[int]]], lab: np.ndarray, k: int, prm: Params, seed: int
) -> np.ndarray:
    """The best of exact answers (each a list of ``k`` valid grids), each also moved on by the
    search's local moves: a moved answer counts only if every grid stays in band and
    connected in both rule graphs; the search's own objective picks."""
    from geo.partition.search import exact_parts

    best = None
    for parts in answers:
        new = lab.copy()
        for j, p in enumerate(parts):
            new[p] = j
        moved = _search_component(U, nodes, k, prm, seed, True, 1, new)
        for cand, tie in ((new, 1), (moved, 0)):
            if tie == 0 and (_band_missed(U, nodes, cand, k, prm) or exact_parts(U, nodes, cand[nodes], k) is None):
                continue
            region = np.full(U.n, -1, dtype=np.int64)
            region[nodes] = cand[nodes]
            st = State(U, prm, region, k)
            st.rebuild()
            key = (st.key(*st.totals()), tie)
            if best is None or key < best[0]:
                best = (key, cand)
    return best[1]


def _group_xy(U: Units, nodes: list[int], groups: np.ndarray, m: int) -> np.ndarray:
    """Centre of each group of ``nodes`` (mean unit position)."""
    xy = U.xy[nodes]
    cnt = np.bincount(groups, minlength=m).astype(float)
    return np.stack([np.bincount(groups, weights=xy[:, i], minlength=m) for i in range(2)], axis=1) / cnt[:, None]


def _band_excess(U: Units, nodes: list[int], lab: np.ndarray, k: int, prm: Params) -> float:
    h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
    return float(np.maximum(prm.min_hh - h, 0).sum() + np.maximum(h - prm.max_hh, 0).sum())


def _band_missed(U: Units, nodes: list[int], lab: np.ndarray, k: int, prm: Params) -> bool:
    h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
    return bool(((h < prm.min_hh) | (h > prm.max_hh)).any())


def _exact_fallback(
    U: Units,
    nodes: list[int],
    lab: np.ndarray,
    k: int,
    prm: Params,
    seed: int,
    fixed_k: bool = False,
    loose: np.ndarray | None = None,
    pockets: Pockets | None = None,
) -> tuple[np.ndarray, int, dict[str, Any] | None]:
    """Pocket contraction, then an exact solve of a small region whose search missed the band.

    Pockets (:func:`geo.partition.exact.must_merge`) that must share one grid are contracted
    first: a pocket above the maximum proves the region infeasible at once.  Then the cover
    and lift (:func:`geo.partition.lift.cover_lift`: sets of units with households in band,
    then the household-less units shared out) finds a partition or proves that no grid count
    works; if its budget runs out, the tree model (:func:`geo.partition.exact.solve_region`)
    runs on the contracted graphs.  Exact answers are polished by the search's local moves.
    Returns the labels and grid count to use and, when the region is proved infeasible, its
    record (else ``None``).  With ``fixed_k`` (the caller asked for a grid
    count) only ``k`` is tried and only a pocket or the cover relaxation (both hold for every
    grid count) can prove anything.  Units flagged ``loose`` (tied for the search's sake, not
    by a rule) make proofs unsound, so none is reported for a region holding one.
    ``pockets`` are the region's, when already computed.
    """
    from geo.partition.exact import contract_graphs, cover_relaxation, solve_region
    from geo.partition.lift import cover_lift
    from geo.partition.search import exact_parts

    H = int(U.hh[nodes].sum())
    kmin, kmax = metrics.feasible_k(H, int(prm.min_hh), int(prm.max_hh))
    sound = loose is None or not bool(np.asarray(loose)[nodes].any())

    if not U.exact():
        return lab, k, None
    pk = pockets if pockets is not None else _region_pockets(U, nodes, prm)
    gs, groups, over = pk.graphs, pk.groups, pk.over

    def record(proof: str, reason: str) -> dict[str, Any]:
        # the pocket merges go with every claim as its certificate (the caller hands them to
        # the independent checker, not to the report)
        return {
            "buildings": int(sum(len(U.members[u]) for u in nodes)),
            "households": H,
            "k_min": int(kmin),
            "k_max": int(kmax),
            "proof": proof,
            "reason": reason,
            "_certificate": pk.certificate(U, nodes),
        }

    if over >= 0 and sound:
        mem = [nodes[i] for i in np.flatnonzero(groups == over)]
        nb = int(sum(len(U.members[u]) for u in mem))
        return lab, k, record(
            "pockets",
            f"{nb} buildings with {int(U.hh[mem].sum())} households must share one grid: every part "
            f"of the footprint or cell graph they hang from holds fewer than {prm.min_hh:g}, "
            f"and together they hold more than {prm.max_hh:g}"
        )
    m = int(groups.max()) + 1
    if m > EXACT_MAX_UNITS:
        return lab, k, None
    hh_g = np.bincount(groups, weights=U.hh[nodes], minlength=m).round().astype(np.int64)
    gs_g = contract_graphs(groups, gs)
    cover_proof = record(
        "cover",
        f"no choice of sets in band ({prm.min_hh:g}..{prm.max_hh:g} households), each "
        "connected in the footprint and cell graphs, covers the region's households, even "
        "with household-less buildings free to join any grid",
    )
    if fixed_k and sound and cover_relaxation(
        hh_g, prm.min_hh, prm.max_hh, gs_g, max_subsets=EXACT_COVER_SETS, det_time=EXACT_DET_TIME
    ) == "INFEASIBLE":
        return lab, k, cover_proof
    # cover and lift: sets of units with households, then the household-less units
    cl: dict[str, int] = {}
    st, sols = cover_lift(hh_g, prm.min_hh, prm.max_hh, gs_g, target=prm.target, k=k if fixed_k else None,
                          max_subsets=EXACT_COVER_SETS, det_time=EXACT_DET_TIME, lift_nodes=LIFT_NODES,
                          xy=_group_xy(U, nodes, groups, m), dev_cap=DEV_CAP, solutions=LIFT_SOLUTIONS, stats=cl)
    if st == "INFEASIBLE" and sound and not fixed_k:
        if not cl.get("cuts"):
            return lab, k, cover_proof  # the cover alone decided
        cover_proof["reason"] = (
            f"no choice of sets in band ({prm.min_hh:g}..{prm.max_hh:g} households) covers the "
            "region's households with its household-less buildings shared out so that every "
            "grid is connected in the footprint and cell graphs (cover and lift, exact)"
        )
        return lab, k, cover_proof
    if st == "FEASIBLE":
        kk = int(sols[0].max()) + 1
        answers = [p for p in (exact_parts(U, nodes, sol[groups], kk) for sol in sols) if p is not None]
        if answers:
            log.debug("cover and lift: region of %d units (%d after pockets) solved with %d grids", len(nodes), m, kk)
            return _polish(U, nodes, answers, lab, kk, prm, seed), kk, None
    ks = sorted(range(max(kmin, 1), min(kmax, m) + 1), key=lambda x: (abs(x - k), x))
    if fixed_k:
        ks = [k] if k in ks else []
    if not ks or len(ks) > 4:
        return lab, k, None
    answers = []
    for kk in ks:
        st, sol = solve_region(hh_g, kk, prm.min_hh, prm.max_hh, gs_g, det_time=EXACT_DET_TIME, seed=seed)
        answers.append((kk, st))
        if st == "FEASIBLE" and sol is not None:
            parts = exact_parts(U, nodes, sol[groups], kk)
            if parts is not None:
                log.debug("exact: region of %d units (%d after pockets) solved with %d grids", len(nodes), m, kk)
                return _polish(U, nodes, [parts], lab, kk, prm, seed), kk, None
        if st in ("UNAVAILABLE",):
            return lab, k, None
    if not fixed_k and sound and answers and all(st == "INFEASIBLE" for _, st in answers):
        return lab, k, record(
            "exact",
            f"exact solver (CP-SAT) proved that no {kmin}..{kmax} grids in band, "
            "connected in the footprint and cell graphs, cover the region"
        )
    return lab, k, None


def _cover_proof(
    U: Units, nodes: list[int], prm: Params, pockets: Pockets | None, loose: np.ndarray | None
) -> dict[str, Any] | None:
    """The last try at a region still out of band after the search, the exact fallback and
    the mend: the cover relaxation (household-less buildings free to join any grid) on the
    pocket-contracted graphs, listing as many sets in band as the checker of its claims may
    (:data:`EXACT_PROOF_SETS`) and covering them by a plain exact-cover search
    (:func:`geo.partition.exact.exact_cover`; a CP-SAT model of that many sets costs most of
    a second to build).  Returns the claim (with its certificate) or ``None``.  It runs only
    where nothing else settled the region, so a region the search or the mend solves pays
    nothing for it."""
    from geo.partition.exact import band_sets, contract_graphs, exact_cover

    if not U.exact() or (loose is not None and bool(np.asarray(loose)[nodes].any())):
        return None
    pk = pockets if pockets is not None else _region_pockets(U, nodes, prm)
    if pk.over >= 0:
        return None
    m = int(pk.groups.max()) + 1
    hh_g = np.bincount(pk.groups, weights=U.hh[nodes], minlength=m).round().astype(np.int64)
    if not (hh_g > 0).any():
        return None
    cols = band_sets(hh_g, int(math.ceil(prm.min_hh)), int(prm.max_hh), contract_graphs(pk.groups, pk.graphs),
                     EXACT_PROOF_SETS)
    if cols is None or exact_cover(cols, int((hh_g > 0).sum()), EXACT_PROOF_NODES) != "INFEASIBLE":
        return None
    H = int(U.hh[nodes].sum())
    kmin, kmax = metrics.feasible_k(H, int(prm.min_hh), int(prm.max_hh))
    return {
        "buildings": int(sum(len(U.members[u]) for u in nodes)),
        "households": H,
        "k_min": int(kmin),
        "k_max": int(kmax),
        "proof": "cover",
        "reason": (f"no choice of sets in band ({prm.min_hh:g}..{prm.max_hh:g} households), each "
                   "connected in the footprint and cell graphs, covers the region's households, even "
                   "with household-less buildings free to join any grid"),
        "_certificate": pk.certificate(U, nodes),
    }


def _finish(st: State, rng: np.random.Generator) -> np.ndarray:
    """Exact polish on the unit graph: legal grids, then band repair, then local moves."""
    st.legalize()
    E = st.totals()[0]
    if E > 0:
        st.balance = True
        st.local_search(rng, max_passes=8)
        st.repair(rng)
        st.balance = False
        st.local_search(rng, max_passes=4)
    return st.lab


def _minimal_init(
    U: Units, nodes: list[int], cur_unit: np.ndarray, k_target: int | None, prm: Params, seed: int
) -> tuple[np.ndarray, list[Any], int, np.ndarray]:
    """Initial labels from the current assignment, repaired to connected grids."""
    from geo.partition.minimal_grids import code_labels

    lab, codes = code_labels(U, nodes, cur_unit)  # the heaviest piece of each current grid keeps it
    # absorb unassigned units into neighbouring grids (deterministic BFS)
    pending = [u for u in nodes if lab[u] < 0]
    nodeset = set(nodes)
    while pending:
        progress = False
        for u in pending:
            gs = sorted({int(lab[v]) for v in U.adj[u] if lab[v] >= 0 and v in nodeset})
            if gs:
                lab[u] = gs[0]
                progress = True
        pending = [u for u in pending if lab[u] < 0]
        if not progress:
            # no labelled neighbour at all: a new grid
            lab[pending[0]] = len(codes)
            codes.append(None)
    k = len(codes)
    rng = np.random.default_rng([seed, 104729])
    H = int(U.hh[nodes].sum())
    kmin, kmax = math.ceil(H / prm.max_hh), int(H // prm.min_hh)
    want = k_target if k_target is not None else (min(max(k, kmin), kmax) if kmin <= kmax else k)
    while k < want:
        # split the heaviest grid in two
        sizes = [(U.hh[[u for u in nodes if lab[u] == g]].sum(), -g) for g in range(k)]
        g = -max(sizes)[1]
        mem = [u for u in nodes if lab[u] == g]
        cuts = tree_cuts(U, mem, 1, 1, prm, rng, limit=1)
        if not cuts:
            break
        lab[cuts[0][2]] = k
        codes.append(None)
        k += 1
    while k > max(want, 1):
        # merge the lightest grid into its lightest neighbour
        sizes = [(U.hh[[u for u in nodes if lab[u] == g]].sum(), g) for g in range(k)]
        _, g = min(sizes)
        nb = sorted({int(lab[v]) for u in nodes if lab[u] == g for v in U.adj[u] if lab[v] >= 0 and lab[v] != g})
        if not nb:
            break
        h = min(nb, key=lambda x: (U.hh[[u for u in nodes if lab[u] == x]].sum(), x))
        lab[lab == g] = h
        # renumber: move last grid into slot g
        last = k - 1
        if g != last:
            lab[lab == last] = g
            codes[g] = codes[last]
        codes.pop()
        k -= 1
    orig = np.full(U.n, -1, dtype=np.int64)
    pos = {c: i for i, c in enumerate(codes) if c is not None}
    for u in nodes:
        if cur_unit[u] is not None and cur_unit[u] in pos:
            orig[u] = pos[cur_unit[u]]
    return lab, codes, k, orig


def _minimal_region(
    U: Units, nodes: list[int], cur_unit: np.ndarray, prm: Params, seed: int, infeasible: bool,
    budgets: tuple[Any, Any] | None = None,
) -> tuple[np.ndarray, int]:
    """Minimal-change labels of one region (:func:`_minimal_labels`), with every new grid
    left out of band given back where that puts no more grids out of band
    (:func:`geo.partition.minimal.give_back`)."""
    from geo.partition.minimal import give_back

    lab, k = _minimal_labels(U, nodes, cur_unit, prm, seed, infeasible, budgets)
    return give_back(U, nodes, lab, k, cur_unit, _successor_names(U, nodes, lab, k, cur_unit), prm)


def _minimal_labels(
    U: Units, nodes: list[int], cur_unit: np.ndarray, prm: Params, seed: int, infeasible: bool,
    budgets: tuple[Any, Any] | None = None,
) -> tuple[np.ndarray, int]:
    """Minimal-change labels of one region (:func:`geo.partition.minimal.repair`); grids it
    leaves out of band are mended with a few neighbours (:func:`mend_band`), and only if
    that still misses the band does the search's repair from those labels get a chance,
    kept only when it comes strictly closer to the band.

    ``budgets`` are the community's work budgets (:class:`geo.partition.minimal.Budget`) of
    the run with the local model and of the run without it, shared by its regions."""
    from geo.partition.minimal import DEFAULT, repair

    if budgets is None:
        budgets = _minimal_budgets(DEFAULT)
    # the repair's rounds are greedy: with the local model and without it, the better one
    # (least band excess, then fewest households moved) is kept
    best = None
    for cfg, budget in zip((DEFAULT, replace(DEFAULT, local=False)), budgets, strict=True):
        lab_c, k_c, _ = repair(U, nodes, cur_unit, prm, seed, cfg, budget)
        key = (_band_excess(U, nodes, lab_c, k_c, prm), _moved_hh(U, nodes, lab_c, k_c, cur_unit))
        if best is None or key < best[0]:
            best = (key, lab_c, k_c)
    _, lab, k = best
    if infeasible or not _band_missed(U, nodes, lab, k, prm):
        return lab, k
    if U.exact() and _region_pockets(U, nodes, prm).over >= 0:
        # a pocket above the maximum: no partition of the region fits the band, so no
        # re-solve can put it in band (the fresh mode skips the mend there too)
        return lab, k
    # what the strategies leave goes to the exact mend, then the search's repair, both on
    # the window of grids around the grids out of band (their work stays local)
    win, lab_w, k_w, ids = _window(U, nodes, lab, k, prm, DEFAULT.mend_rings)
    if U.exact():
        lab_w2, k_w2 = mend_band(U, win, lab_w, k_w, prm, seed)
        if _band_excess(U, win, lab_w2, k_w2, prm) < _band_excess(U, win, lab_w, k_w, prm):
            lab_w, k_w = lab_w2, k_w2
    if _band_missed(U, win, lab_w, k_w, prm) and len(adj_components(U.adj, win)) == 1:
        orig = np.full(U.n, -1, dtype=np.int64)
        orig[win] = lab_w[win]
        lab_w2 = _search_component(U, win, k_w, prm, seed, False, 1, lab_w, orig)
        if _band_excess(U, win, lab_w2, k_w, prm) < _band_excess(U, win, lab_w, k_w, prm):
            lab_w = lab_w2
    return _unwindow(nodes, lab, win, lab_w, k_w, ids)


def _window(
    U: Units, nodes: list[int], lab: np.ndarray, k: int, prm: Params, rings: int
) -> tuple[list[int], np.ndarray, int, list[int]]:
    """The grids of a region within ``rings`` steps (shared edges in the search graph) of a
    grid out of band: their units, their labels renumbered ``0..m-1`` and the region's label
    of each."""
    h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
    near = {g for g in range(k) if h[g] < prm.min_hh or h[g] > prm.max_hh}
    inreg = np.zeros(U.n, dtype=bool)
    inreg[nodes] = True
    gadj: dict[int, set[int]] = {g: set() for g in range(k)}
    for u in nodes:
        for v in U.adj[u]:
            if inreg[v] and lab[v] != lab[u]:
                gadj[int(lab[u])].add(int(lab[v]))
    frontier = set(near)
    for _ in range(rings):
        frontier = {b for a in frontier for b in gadj[a]} - near
        near |= frontier
    ids = sorted(near)
    pos = {g: i for i, g in enumerate(ids)}
    win = [u for u in nodes if int(lab[u]) in pos]
    lab_w = np.full(U.n, -1, dtype=np.int64)
    for u in win:
        lab_w[u] = pos[int(lab[u])]
    return win, lab_w, len(ids), ids


def _unwindow(
    nodes: list[int], lab: np.ndarray, win: list[int], lab_w: np.ndarray, k_w: int, ids: list[int]
) -> tuple[np.ndarray, int]:
    """Put a window's labels (:func:`_window`) back into the region's, renumbered ``0..k-1``
    (a window grid gone frees its label, a new one takes a fresh label)."""
    out = lab.copy()
    nxt = int(lab[nodes].max()) + 1
    back = {}
    for i in range(k_w):
        if i < len(ids):
            back[i] = ids[i]
        else:
            back[i] = nxt
            nxt += 1
    for u in win:
        out[u] = back[int(lab_w[u])]
    used = sorted({int(out[u]) for u in nodes})
    remap = {g: i for i, g in enumerate(used)}
    for u in nodes:
        out[u] = remap[int(out[u])]
    return out, len(used)


def _minimal_budgets(cfg: Any) -> tuple[Any, Any]:
    """A community's work budgets for the two runs of the repair: the run with the local
    model gets half the rounds and unit visits and all the CP-SAT time, the greedy run the
    other half."""
    from geo.partition.minimal import Budget

    half, steps = cfg.round_budget // 2, cfg.step_budget // 2
    return (Budget(half, cfg.det_budget, cfg.solve_budget, steps),
            Budget(cfg.round_budget - half, 0.0, 0, cfg.step_budget - steps))


def _fresh_region(
    U: Units, cmp: list[int], k_c: int, prm: Params, seed: int, restarts: int, infeasible: bool,
    grids: int | None, loose: np.ndarray,
) -> tuple[np.ndarray, int, dict[str, Any] | None]:
    """Fresh labels of one region: the seeded search, then (while the band is missed) the
    search with pockets, a neighbouring grid count, the exact fallback and the band mend.

    Returns the labels, the grid count and a proof of infeasibility (or ``None``)."""
    coarse: dict = {}
    lab = _search_component(U, cmp, k_c, prm, seed, True, restarts, None, coarse=coarse)
    pockets, pk = None, None
    if not infeasible and U.exact() and _band_missed(U, cmp, lab, k_c, prm):
        # pockets must share a grid in every valid partition: search again with them
        pockets = _region_pockets(U, cmp, prm)
        pk = pockets.for_search()
        if pk is not None:
            lab2 = _search_component(U, cmp, k_c, prm, seed, True, 1, None, pockets=pk, coarse=coarse)
            if _band_excess(U, cmp, lab2, k_c, prm) < _band_excess(U, cmp, lab, k_c, prm):
                lab = lab2
    proven_big = pockets is not None and pockets.over >= 0 and len(cmp) > PROVEN_RETRY_UNITS
    if not infeasible and not proven_big and grids is None and _band_missed(U, cmp, lab, k_c, prm):
        # lumpy households: another grid count in the feasible range may fit the band
        H_c = int(U.hh[cmp].sum())
        kmin_c, kmax_c = metrics.feasible_k(H_c, int(prm.min_hh), int(prm.max_hh))
        best_e = _band_excess(U, cmp, lab, k_c, prm)
        for k2 in (k_c - 1, k_c + 1):
            if kmin_c <= k2 <= min(kmax_c, len(cmp)) and best_e > 0:
                lab2 = _search_component(U, cmp, k2, prm, seed, True, 1, None, pockets=pk, coarse=coarse)
                e2 = _band_excess(U, cmp, lab2, k2, prm)
                if e2 < best_e:
                    lab, k_c, best_e = lab2, k2, e2
    proof = None
    if not infeasible and _band_missed(U, cmp, lab, k_c, prm):
        lab, k_c, proof = _exact_fallback(
            U, cmp, lab, k_c, prm, seed, fixed_k=grids is not None, loose=loose, pockets=pockets
        )
        if proof is None and _band_missed(U, cmp, lab, k_c, prm) and not (pockets is not None and pockets.over >= 0):
            # a local change of grid count may fit: re-solve a few grids exactly (not
            # where a pocket above the maximum shows no partition of the units fits)
            lab, k_c = mend_band(U, cmp, lab, k_c, prm, seed, fixed_k=grids is not None)
            if grids is None and _band_missed(U, cmp, lab, k_c, prm):
                proof = _cover_proof(U, cmp, prm, pockets, loose)
    if proof is not None and grids is None:
        lab, k_c = _repair_proven(U, cmp, lab, k_c, prm, seed)
    return lab, k_c, proof


def _repair_proven(U: Units, cmp: list[int], lab: np.ndarray, k: int, prm: Params, seed: int) -> tuple[np.ndarray, int]:
    """A region proven infeasible, with the grids its plan leaves out of band brought in where
    they can be: minimal mode's repair (:func:`geo.partition.minimal.repair`) from the plan, kept
    when it leaves fewer grids out of band (then less band excess).

    A proof says that no plan puts every grid of the region in band, not which grids must stay
    out; the search stops at the proof, and the repair brings in what it can of the rest.  Its
    labels are also where minimal mode starts from after the plan is committed, so a
    committed plan that nothing has changed since is not moved again.  Even a grid holding
    only a pocket above the maximum may come closer to the band: split, one part can be in
    it and the other a little below."""
    from geo.partition.minimal import DEFAULT, Budget, repair

    def key(lab_x: np.ndarray, k_x: int) -> tuple[int, float]:
        h = np.bincount(lab_x[cmp], weights=U.hh[cmp], minlength=k_x)
        return int(((h < prm.min_hh) | (h > prm.max_hh)).sum()), _band_excess(U, cmp, lab_x, k_x, prm)

    if not _band_missed(U, cmp, lab, k, prm):
        return lab, k
    cur = np.full(U.n, None, dtype=object)
    for u in cmp:
        cur[u] = str(int(lab[u]))
    lab2, k2, _ = repair(U, cmp, cur, prm, seed, DEFAULT, Budget.of(DEFAULT))
    if key(lab2, k2) < key(lab, k):
        return lab2, k2
    return lab, k


def _oversized_keep(
    U: Units, hh_b: np.ndarray, oversized: list[int], current: pd.Series | None, index: pd.Index
) -> dict[int, str]:
    """Minimal mode: the current code each oversized unit keeps, when it holds more than half
    of that grid's households (the majority rule of :mod:`geo.planning.codes`), so a building
    that was alone in its grid, or grew to dominate it, does not change code."""
    if current is None or not oversized:
        return {}
    cur = current.reindex(index).to_numpy(dtype=object)
    tot: dict[str, float] = {}
    per: dict[int, dict[str, float]] = {}
    for b, c in enumerate(cur):
        if c is None or (isinstance(c, float) and math.isnan(c)) or c == "":
            continue
        tot[str(c)] = tot.get(str(c), 0.0) + hh_b[b]
    for u in oversized:
        d: dict[str, float] = {}
        for b in U.members[u]:
            c = cur[b]
            if c is None or (isinstance(c, float) and math.isnan(c)) or c == "":
                continue
            d[str(c)] = d.get(str(c), 0.0) + hh_b[b]
        per[u] = d
    out: dict[int, str] = {}
    used: set[str] = set()
    for u in sorted(oversized, key=lambda u: (-float(U.hh[u]), u)):
        for c, h in sorted(per[u].items(), key=lambda kv: (-kv[1], kv[0])):
            if c not in used and 2 * h > tot[c]:
                out[u] = c
                used.add(c)
                break
    return out


def _moved_hh(U: Units, nodes: list[int], lab: np.ndarray, k: int, cur_unit: np.ndarray) -> float:
    """Households of ``nodes`` whose grid would not carry their current code (codes by
    :func:`_successor_names`)."""
    names = _successor_names(U, nodes, lab, k, cur_unit)
    return float(sum(U.hh[u] for u in nodes if cur_unit[u] is not None and names[int(lab[u])] != cur_unit[u]))


def _successor_names(U: Units, nodes: list[int], lab: np.ndarray, k: int, cur_unit: np.ndarray) -> list[Any]:
    """Per grid ``0..k-1`` of a region, the current code it succeeds, or ``None``.

    A grid succeeds a current grid when it holds more than half of that grid's households
    in the region (of its buildings, for a grid without households); pairs are taken
    greedily by shared households, so each code goes to at most one grid
    (:func:`geo.planning.codes.successors` states the same rule for whole communities).
    """
    flow: dict[tuple[str, int], list[float]] = {}
    tot: dict[str, list[float]] = {}
    for u in nodes:
        c = cur_unit[u]
        if c is None:
            continue
        f = flow.setdefault((c, int(lab[u])), [0.0, 0.0])
        f[0] += float(U.hh[u])
        f[1] += len(U.members[u])
        t = tot.setdefault(c, [0.0, 0.0])
        t[0] += float(U.hh[u])
        t[1] += len(U.members[u])
    names: list[Any] = [None] * k
    done: set[str] = set()
    for (c, g), (h, nb) in sorted(flow.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0])):
        if c in done or names[g] is not None:
            continue
        th, tb = tot[c]
        if (th > 0 and h * 2 > th) or (th == 0 and nb * 2 > tb):
            names[g] = c
            done.add(c)
    return names


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
    group = _uf_groups(n, ties)
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


#: grid flags that exempt a grid from the band (it cannot be put in band by any plan)
_EXEMPT = frozenset({"oversized_building", "locked", "infeasible_region"})


def _grids_out_of_band(blab: np.ndarray, flags: dict[str, list[str]], hh: np.ndarray, prm: Params) -> int:
    """Grids of a building labelling out of band, not counting exempt ones (:data:`_EXEMPT`)."""
    h: dict[Any, float] = {}
    for c, x in zip(blab.tolist(), hh.tolist(), strict=True):
        h[c] = h.get(c, 0.0) + x
    return sum(1 for c, x in h.items() if not _EXEMPT & set(flags.get(c, ())) and not prm.min_hh <= x <= prm.max_hh)


def _fresh_window(
    U: Units, regions: list[list[int]], infeasible: list[bool], final: np.ndarray, flags: dict[str, list[str]],
    prm: Params, seed: int, restarts: int, loose: np.ndarray, rings: Sequence[int] = DEFAULT.fallback_rings,
) -> tuple[np.ndarray, dict[str, list[str]], list[tuple[int, dict[str, Any]]]]:
    """Minimal mode's fresh plan, for :func:`_fresh_fallback`, drawn only where it may help.

    Per region that minimal left out of band (regions with a count proof are skipped), the
    grids out of band and the grids within ``rings[0]`` steps of them (:func:`_window`) are
    planned fresh as the fresh mode plans a region (:func:`_fresh_region`, each piece of the
    window connected in both rule graphs on its own, its grid count from its households);
    the other grids keep their labels.  A window that the fresh plan cannot put in band is
    widened to the next entry of ``rings``, then to the whole region.  Only a whole region
    may be claimed infeasible (a window's grids could take households from outside it): a
    window gets the seeded search only (:func:`_search_component`, no exact tool, no proof),
    the whole region the fresh mode's every tool, and a claim is returned only for it.

    Returns the unit labels (minimal's codes outside the windows, placeholder names
    ``"\\x00w<region>.<piece>.<grid>"`` inside, never shown: :func:`_fresh_fallback` renames
    what it takes), the flags of that labelling (a whole region claimed infeasible has its
    grids flagged ``infeasible_region``) and the claims as ``(region index, record)``.
    """
    out = final.copy()
    flags_f = {c: list(v) for c, v in flags.items()}
    proofs: list[tuple[int, dict[str, Any]]] = []
    for ci, cmp in enumerate(regions):
        if infeasible[ci]:
            continue
        codes = sorted({str(final[u]) for u in cmp})
        pos = {c: i for i, c in enumerate(codes)}
        lab = np.full(U.n, -1, dtype=np.int64)
        lab[cmp] = [pos[str(final[u])] for u in cmp]
        if not _band_missed(U, cmp, lab, len(codes), prm):
            continue
        if U.exact() and not bool(loose[cmp].any()):
            # a pocket above the maximum settles the region before any search (the fresh
            # labels of a region proved infeasible are never taken, minimal's grids there
            # are flagged): the labels stay, the claim goes to the checker;
            # so does the exact model on a small region (what minimal and its mend could not
            # put in band is seldom feasible there, and the search's restarts then cost more)
            pk = _region_pockets(U, cmp, prm)
            if pk.over >= 0 or int(pk.groups.max()) + 1 <= EXACT_MAX_UNITS:
                rec = _exact_fallback(U, cmp, lab, len(codes), prm, seed + ci, loose=loose, pockets=pk)[2]
                if rec is None and pk.over < 0:
                    rec = _cover_proof(U, cmp, prm, pk, loose)
                if rec is not None:
                    for c in codes:
                        flags_f[c] = ["infeasible_region"]
                    proofs.append((ci, rec))
                    continue
        for step in (*rings, None):
            win = cmp if step is None else _window(U, cmp, lab, len(codes), prm, step)[0]
            if len(win) > DEFAULT.fallback_max_share * len(cmp):
                # the search costs about linearly in the units: a window of most of the
                # region saves little, and without the region's slack it misses more often
                win = cmp
            whole = len(win) == len(cmp)
            pieces = [cmp] if whole else refine_regions(U, win)
            planned: list[tuple[list[int], np.ndarray]] = []
            proof = None
            for piece in pieces:
                k_p, feasible = choose_k(int(U.hh[piece].sum()), prm.target, prm.min_hh, prm.max_hh)
                if not whole and (not feasible or len(adj_components(U.adj, piece)) > 1):
                    break  # this window cannot be put in band as it is cut: widen it
                k_p = max(1, min(k_p, len(piece)))
                if whole:
                    lab_p, k_p, proof = _fresh_region(U, piece, k_p, prm, seed + ci, restarts, False, None, loose)
                else:
                    # a window gets the seeded search only: where that misses the band, the
                    # wider window (at last the region, with the exact fallback and the mend)
                    # costs less than the exact tools on a window that may not fit the band
                    lab_p = _search_component(U, piece, k_p, prm, seed + ci, True, restarts, None)
                    if _band_missed(U, piece, lab_p, k_p, prm):
                        break
                planned.append((piece, lab_p))
            else:
                log.debug("fresh fallback: region %d planned on a window of %d of its %d units (rings %s)",
                          ci, len(win), len(cmp), step)
                for pi, (piece, lab_p) in enumerate(planned):
                    for u in piece:
                        out[u] = f"\x00w{ci}.{pi}.{int(lab_p[u])}"
                if proof is not None:
                    for c in {str(out[u]) for u in cmp}:
                        flags_f[c] = ["infeasible_region"]
                    proofs.append((ci, proof))
                break
            if whole:
                break
    return out, flags_f, proofs


def _fresh_fallback(
    blab: np.ndarray, flags: dict[str, list[str]], blab_f: np.ndarray, flags_f: dict[str, list[str]],
    hh: np.ndarray, cur_codes: np.ndarray | None, prm: Params, namer: GridNames | None = None,
) -> tuple[np.ndarray, int]:
    """Minimal mode: take the engine's real fresh labels where they put more grids in band.

    The two labellings are compared on *clusters*: the smallest sets of buildings that are a
    union of whole minimal grids and of whole fresh grids (union-find over the grids each
    building belongs to in both).  A cluster holding a grid exempt in either plan (a single
    oversized building, a locked grid, a region proved infeasible) is left alone; where every
    fresh grid of a cluster lies in a region the fresh plan proved infeasible, minimal's
    grids there are flagged ``infeasible_region`` too (``flags``, minimal's, is updated in
    place: a proof holds for every partition of those buildings).  A cluster
    takes the fresh labels when they leave fewer grids out of band there (then less band
    excess); its grids then keep current codes by the majority rule
    (:func:`_successor_names` on buildings: more than half of a current grid's households,
    one-to-one, greedy by shared households), other grids get new names (``namer``, kind
    ``new``: :mod:`geo.partition.naming`).

    Returns the labels and the number of clusters that took the fresh labels.
    """
    namer = namer if namer is not None else Labels()
    n = len(blab)
    m_codes = sorted({str(c) for c in blab})
    f_codes = sorted({str(c) for c in blab_f})
    mi = {c: i for i, c in enumerate(m_codes)}
    fi = {c: len(m_codes) + i for i, c in enumerate(f_codes)}
    ex_m = {c for c in m_codes if _EXEMPT & set(flags.get(c, ()))}
    ex_f = {c for c in f_codes if _EXEMPT & set(flags_f.get(c, ()))}
    pairs = [(mi[str(blab[b])], fi[str(blab_f[b])]) for b in range(n)]
    comp = _uf_groups(len(m_codes) + len(f_codes), sorted(set(pairs)))
    bcomp = np.array([comp[a] for a, _ in pairs], dtype=np.int64)

    def tally(lab: np.ndarray, idx: np.ndarray) -> tuple[int, float]:
        h: dict[str, float] = {}
        for b in idx.tolist():
            h[str(lab[b])] = h.get(str(lab[b]), 0.0) + float(hh[b])
        exc = [max(prm.min_hh - x, 0.0) + max(x - prm.max_hh, 0.0) for x in h.values()]
        return sum(1 for e in exc if e > 0), float(sum(exc))

    out = blab.copy()
    taken = 0
    used = {str(c) for c in blab}
    # a new code never repeats a current one (a retired code's number is not reused)
    retired = {c for c in cur_codes if c is not None} if cur_codes is not None else set()
    for cl in sorted(set(bcomp.tolist())):
        idx = np.flatnonzero(bcomp == cl)
        fg = {str(blab_f[b]) for b in idx}
        mg = {str(blab[b]) for b in idx}
        if not mg & ex_m and all(flags_f.get(g) == ["infeasible_region"] for g in fg):
            # the fresh plan proved these buildings cannot all be put in band (a proof
            # holds for every partition): minimal's grids there carry the same flag
            for c in mg:
                flags[c] = sorted(set(flags.get(c, [])) | {"infeasible_region"})
            continue
        if mg & ex_m or fg & ex_f:
            continue
        if tally(blab_f, idx) >= tally(blab, idx):
            continue
        taken += 1
        used -= {str(blab[b]) for b in idx}
        # the majority rule on buildings, within the cluster
        flow: dict[tuple[str, str], float] = {}
        tot: dict[str, list[float]] = {}
        for b in idx.tolist():
            c = None if cur_codes is None else cur_codes[b]
            if c is None:
                continue
            flow[(c, str(blab_f[b]))] = flow.get((c, str(blab_f[b])), 0.0) + float(hh[b])
        if cur_codes is not None:
            for b in range(n):
                c = cur_codes[b]
                if c is not None:
                    t = tot.setdefault(c, [0.0, 0.0])
                    t[0] += float(hh[b])
                    t[1] += 1
        name: dict[str, str] = {}
        for (c, g), h in sorted(flow.items(), key=lambda kv: (-kv[1], kv[0])):
            if g in name or c in used or c in name.values():
                continue
            th, tb = tot[c]
            nb = sum(1 for b in idx.tolist() if cur_codes[b] == c and str(blab_f[b]) == g)
            if (th > 0 and 2 * h > th) or (th == 0 and 2 * nb > tb):
                name[g] = c
        for g in sorted({str(blab_f[b]) for b in idx}):
            if g not in name:
                name[g] = namer.name("new", 1, used | retired | set(name.values()))
            used.add(name[g])
        for b in idx.tolist():
            out[b] = name[str(blab_f[b])]
    return out, taken


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
