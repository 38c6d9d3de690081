"""A region's fresh plan: the grid count (:func:`choose_k`), then :func:`_fresh_region`, the
seeded search, again with pockets joined, a neighbouring grid count, the exact fallback
(:mod:`geo.partition.engine_exact`) and the band mend; a region proved infeasible has the
grids its plan leaves out of band brought in where they can be (:func:`_repair_proven`).

Minimal mode's fresh plan (:func:`_fresh_window`) plans this way only a window of grids
around those out of band (:func:`_window`; :func:`_unwindow` puts a window's labels back, for
minimal mode's mend).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from geo.partition import metrics
from geo.partition.config import DEFAULT
from geo.partition.engine_exact import EXACT_MAX_UNITS, _cover_proof, _exact_fallback
from geo.partition.engine_search import _band_excess, _band_missed, _region_pockets, _search_component
from geo.partition.mend import mend_band
from geo.partition.search import Params, Units, adj_components, refine_regions

__all__ = [
    "PROVEN_RETRY_UNITS",
    "choose_k",
    "_window",
    "_unwindow",
    "_fresh_region",
    "_repair_proven",
    "_fresh_window",
]

log = logging.getLogger(__name__)


#: other grid counts are tried on a region a pocket proves infeasible only up to this many
#: units (:attr:`~geo.partition.config.EngineConfig.proven_retry_units`)
PROVEN_RETRY_UNITS = DEFAULT.proven_retry_units


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
