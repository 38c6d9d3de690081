"""The engine's exact tools, for a small region the search left out of band.

:func:`_exact_fallback` contracts the region's pockets (:func:`geo.partition.exact.must_merge`),
then runs the cover and lift (:func:`geo.partition.lift.cover_lift`) or, when its budget runs
out, the tree model (:func:`geo.partition.exact.solve_region`): it returns a partition in
band, polished by the search's local moves (:func:`_polish`), or the proof that none exists.
:func:`_cover_proof` is the last try at such a proof where nothing else settled the region,
within the budget of the independent checker of its claims.  Their budgets (``EXACT_*``,
``LIFT_*``) are the config's values.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from geo.partition import metrics
from geo.partition.config import DEFAULT
from geo.partition.engine_search import Pockets, _band_missed, _region_pockets, _search_component
from geo.partition.search import DEV_CAP, Params, State, Units

__all__ = [
    "EXACT_MAX_UNITS",
    "EXACT_DET_TIME",
    "EXACT_COVER_SETS",
    "EXACT_PROOF_SETS",
    "EXACT_PROOF_NODES",
    "LIFT_NODES",
    "LIFT_SOLUTIONS",
    "_polish",
    "_group_xy",
    "_exact_fallback",
    "_cover_proof",
]

log = logging.getLogger(__name__)


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
