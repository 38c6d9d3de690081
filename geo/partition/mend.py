"""Band repair by the exact model on a few neighbouring grids at a time.

The search mends a grid out of band by splitting it again with one to three neighbours, at
the same grid count.  Some misses need a different count locally: four grids at the end of a
long corridor may only fit the band as three, while a grid elsewhere fits only as four grids
with two of its neighbours.
:func:`mend_band` takes a grid out of band together with neighbouring grids (sets of up to
:data:`MAX_GRIDS` grids connected through shared edges, each set small enough after pocket
contraction) and asks the exact CP-SAT model (:func:`geo.partition.exact.solve_region`) for
a partition of their units into one grid fewer (a grid below the minimum), one more (above
the maximum) or as many, every grid in band and connected in both rule graphs.  The first
answer found replaces those grids.  The solver runs on one worker with a deterministic time
limit, and the whole repair has deterministic budgets (CP-SAT time, models built, and the
visits of the sets' pocket searches: ``mend_*`` and ``merge_work`` in
:mod:`geo.partition.config`), so the result does not depend on the machine or its load.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from geo.partition import metrics
from geo.partition.config import DEFAULT

__all__ = ["mend_band"]

if TYPE_CHECKING:  # pragma: no cover
    from geo.partition.search import Params, Units

log = logging.getLogger(__name__)

# the mend's knobs live in the frozen config (geo.partition.config, ``mend_*``)
#: most grids solved together
MAX_GRIDS = DEFAULT.mend_max_grids
#: most units (after pocket contraction) in a set of grids solved together
MAX_UNITS = DEFAULT.mend_max_units
#: keep each grid's household-less blobs whole in the re-solve
BLOBS = DEFAULT.mend_blobs
#: CP-SAT deterministic time per set and grid count tried
DET_TIME = DEFAULT.mend_det_time
#: CP-SAT deterministic time in all, per region
BUDGET = DEFAULT.mend_budget


def _grid_adjacency(U: Units, nodes: list[int], lab: np.ndarray) -> dict[int, set[int]]:
    """Grids of a region that share an edge of the footprint or cell graph."""
    inreg = np.zeros(U.n, dtype=bool)
    inreg[nodes] = True
    adj: dict[int, set[int]] = {int(g): set() for g in np.unique(lab[nodes])}
    for a, b in ((U.fa, U.fb), (U.ca, U.cb)):
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        keep = inreg[a] & inreg[b]
        la, lb = lab[a[keep]], lab[b[keep]]
        diff = la != lb
        for x, y in zip(la[diff].tolist(), lb[diff].tolist(), strict=False):
            adj[x].add(y)
            adj[y].add(x)
    return adj


def _blobs(hh: np.ndarray, lab: np.ndarray, graphs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Group per node: household-less nodes of one grid joined by pairs present in every
    rule graph share a group (connected in each graph, so any grid holding the group whole
    stays connected); every other node is its own group.  Numbered ``0..m-1``."""
    from geo.partition.graph import canon_pairs, uf_find

    n = len(hh)
    common = None
    for a, b in graphs:
        pairs = {tuple(p) for p in canon_pairs(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)).tolist()}
        common = pairs if common is None else common & pairs
    par = np.arange(n)
    for a, b in sorted(common or ()):
        if hh[a] == 0 and hh[b] == 0 and lab[a] == lab[b]:
            ra, rb = uf_find(par, a), uf_find(par, b)
            if ra != rb:
                par[max(ra, rb)] = min(ra, rb)
    root = np.array([uf_find(par, i) for i in range(n)], dtype=np.int64)
    return np.unique(root, return_inverse=True)[1].astype(np.int64)


def _grid_sets(start: int, adj: dict[int, set[int]], most: int) -> list[tuple[int, ...]]:
    """Connected sets of grids holding ``start``, 2..``most`` of them, smallest first (each
    set once, in a fixed order)."""
    out: list[tuple[int, ...]] = []
    layer = {(start,)}
    for _size in range(2, most + 1):
        nxt = set()
        for S in layer:
            for g in set().union(*(adj[x] for x in S)) - set(S):
                nxt.add(tuple(sorted(S + (g,))))
        layer = nxt
        out.extend(sorted(nxt))
    return out


def mend_band(
    U: Units,
    nodes: list[int],
    lab: np.ndarray,
    k: int,
    prm: Params,
    seed: int,
    fixed_k: bool = False,
) -> tuple[np.ndarray, int]:
    """Re-solve grids out of band together with neighbouring grids by the exact model.

    Parameters
    ----------
    U:
        Units with rule graphs.
    nodes:
        The region's units.
    lab:
        Grid per unit (``0..k-1`` on ``nodes``).
    k:
        The region's grid count.
    prm:
        The band.
    seed:
        Solver seed.
    fixed_k:
        Keep the grid count (the caller asked for one): only re-solve at the same count.

    Returns
    -------
    (numpy.ndarray, int)
        Labels (a copy) and the grid count, changed only where every re-solved grid is in
        band and connected.
    """
    from geo.partition.exact import contract_graphs, must_merge, region_graphs, solve_region
    from geo.partition.search import exact_parts

    if not U.exact() or not nodes:
        return lab, k
    lo, hi = int(np.ceil(prm.min_hh)), int(np.floor(prm.max_hh))
    lab = lab.copy()
    spent = 0.0
    # the sets' pocket searches have a work budget of their own (the CP-SAT time above
    # does not count them): spent, no further set is prepared
    merge_left = DEFAULT.mend_merge_work
    solves = 0
    failed: set[tuple[int, ...]] = set()
    while spent < BUDGET:
        h = np.bincount(lab[nodes], weights=U.hh[nodes], minlength=k)
        size = np.bincount(lab[nodes], minlength=k)
        bad = [g for g in range(k) if h[g] < lo or h[g] > hi]
        if not bad:
            break
        adj = _grid_adjacency(U, nodes, lab)
        tries = []
        for b in bad:
            for T in _grid_sets(b, adj, MAX_GRIDS):
                H = int(round(h[list(T)].sum()))
                kmin, kmax = metrics.feasible_k(H, lo, hi)
                step = -1 if h[b] < lo else 1
                for pref, kk in ((0, len(T) + step), (1, len(T))):
                    if fixed_k and kk != len(T):
                        continue
                    if kmin <= kk <= kmax and kk >= 1:
                        tries.append((pref, len(T), int(size[list(T)].sum()), T, kk))
        tries.sort()
        prepared: dict[tuple[int, ...], tuple] = {}
        done = False
        for _pref, _grids, _units, T, kk in tries:
            if (T, kk) in failed:
                continue
            if spent >= BUDGET or solves >= DEFAULT.mend_max_solves:
                break
            if T not in prepared:
                if merge_left <= 0:
                    break
                members = set(T)
                sub = [u for u in nodes if int(lab[u]) in members]
                gs = region_graphs(sub, [U.fadj, U.cadj])
                mm: dict = {}
                groups, over = must_merge(U.hh[sub], gs, lo, hi, work=min(DEFAULT.merge_work, merge_left), stats=mm)
                merge_left -= mm["work"]
                if BLOBS and over < 0 and int(groups.max()) + 1 > MAX_UNITS and merge_left > 0:
                    # too many units: keep each grid's household-less blobs whole as well (a
                    # restriction, so an answer is still a valid partition)
                    g0 = _blobs(U.hh[sub], lab[sub], gs)
                    g1, over = must_merge(np.bincount(g0, weights=U.hh[sub]), contract_graphs(g0, gs), lo, hi,
                                          work=min(DEFAULT.merge_work, merge_left), stats=mm)
                    merge_left -= mm["work"]
                    groups = g1[g0]
                prepared[T] = (sub, gs, groups, over)
            sub, gs, groups, over = prepared[T]
            m = int(groups.max()) + 1
            if over >= 0 or m > MAX_UNITS or m < kk:
                failed.add((T, kk))
                continue
            hh_g = np.bincount(groups, weights=U.hh[sub], minlength=m).round().astype(np.int64)
            stats: dict = {}
            st, sol = solve_region(
                hh_g, kk, lo, hi, contract_graphs(groups, gs), det_time=DET_TIME, seed=seed, stats=stats
            )
            spent += stats.get("det_time", 0.0)
            solves += 1
            if st != "FEASIBLE" or sol is None:
                failed.add((T, kk))
                continue
            parts = exact_parts(U, sub, sol[groups], kk)
            if parts is None:
                failed.add((T, kk))
                continue
            # the set's labels go to the new grids; one more takes label k, one fewer frees
            # the set's last label, which the region's last label then fills
            labels = list(T) + ([k] if kk > len(T) else [])
            for j, p in enumerate(parts):
                lab[p] = labels[j]
            if kk < len(T):
                gone = T[-1]
                lab[[u for u in nodes if lab[u] == k - 1]] = gone
                k -= 1
            elif kk > len(T):
                k += 1
            log.debug("mend: grids %s re-solved as %d grids in band", T, kk)
            failed.clear()
            done = True
            break
        if not done:
            break
    return lab, k
