"""The seeded search of one region, and the measures the engine's later stages share.

:func:`_search_component` runs the search's seeded restarts (:mod:`geo.partition.search`) on a
reduced graph (:func:`_coarse_graphs`: household-less buildings grouped with their nearest
building with households, pockets joined when given) and polishes the best on the full unit
graph (:func:`_finish`).  :class:`Pockets` keeps a region's rule graphs and pockets
(:func:`_region_pockets`), :func:`_with_pockets` joins the pockets into the reduced graph's
groups, and :func:`_band_excess` and :func:`_band_missed` measure how far a labelling is from
the band.  The exact tools are in :mod:`geo.partition.engine_exact`, a region's fresh plan in
:mod:`geo.partition.engine_fresh`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.partition.config import DEFAULT
from geo.partition.search import Params, State, Units, compound_groups, contract, recursive_bisection, zero_clusters

__all__ = [
    "RESTART_WORK",
    "Pockets",
    "_search_component",
    "_coarse_graphs",
    "_region_pockets",
    "_with_pockets",
    "_band_excess",
    "_band_missed",
    "_finish",
]


#: work budget of the fresh-mode restarts (:attr:`~geo.partition.config.EngineConfig.restart_work`)
RESTART_WORK = DEFAULT.restart_work


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


def _band_excess(U: Units, nodes: list[int], lab: np.ndarray, k: int, prm: Params) -> float:
    h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
    return float(np.maximum(prm.min_hh - h, 0).sum() + np.maximum(h - prm.max_hh, 0).sum())


def _band_missed(U: Units, nodes: list[int], lab: np.ndarray, k: int, prm: Params) -> bool:
    h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
    return bool(((h < prm.min_hh) | (h > prm.max_hh)).any())


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
