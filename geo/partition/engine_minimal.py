"""Minimal mode in the engine: each region repaired from its current grids
(:func:`_minimal_region`, or :func:`_minimal_init` and the search when a grid count is asked
for), the current code each grid succeeds by the majority rule (:func:`_successor_names`;
:func:`_oversized_keep` for buildings above the maximum), and the fresh fallback
(:func:`_fresh_fallback`), which takes the fresh plan's labels where they put more grids in
band.  The repair's strategies are in :mod:`geo.partition.minimal`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from geo.partition.engine_fresh import _unwindow, _window
from geo.partition.engine_search import _band_excess, _band_missed, _region_pockets, _search_component
from geo.partition.graph import components
from geo.partition.mend import mend_band
from geo.partition.naming import GridNames, Labels
from geo.partition.search import Params, Units, adj_components, tree_cuts

__all__ = [
    "_minimal_init",
    "_minimal_region",
    "_minimal_labels",
    "_minimal_budgets",
    "_oversized_keep",
    "_moved_hh",
    "_successor_names",
    "_EXEMPT",
    "_grids_out_of_band",
    "_fresh_fallback",
]


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


def _minimal_budgets(cfg: Any) -> tuple[Any, Any]:
    """A community's work budgets for the two runs of the repair: the run with the local
    model gets half the rounds and unit visits and all the CP-SAT time, the greedy run the
    other half."""
    from geo.partition.minimal import Budget

    half, steps = cfg.round_budget // 2, cfg.step_budget // 2
    return (Budget(half, cfg.det_budget, cfg.solve_budget, steps),
            Budget(cfg.round_budget - half, 0.0, 0, cfg.step_budget - steps))


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


#: grid flags that exempt a grid from the band (it cannot be put in band by any plan)
_EXEMPT = frozenset({"oversized_building", "locked", "infeasible_region"})


def _grids_out_of_band(blab: np.ndarray, flags: dict[str, list[str]], hh: np.ndarray, prm: Params) -> int:
    """Grids of a building labelling out of band, not counting exempt ones (:data:`_EXEMPT`)."""
    h: dict[Any, float] = {}
    for c, x in zip(blab.tolist(), hh.tolist(), strict=True):
        h[c] = h.get(c, 0.0) + x
    return sum(1 for c, x in h.items() if not _EXEMPT & set(flags.get(c, ())) and not prm.min_hh <= x <= prm.max_hh)


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
    comp = components(sorted(set(pairs)), len(m_codes) + len(f_codes))
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
