"""Minimal change: repair the current grids of a region, moving as few households as possible.

The objective, in order: every grid connected in both rule graphs and in band; then the
fewest households moved; then compactness (a unit sharing more boundary with the grid it
joins is preferred among equally heavy ones).  The current assignment is the start and
stays wherever it is already valid: a region whose grids are all connected and in band is
returned unchanged (nothing moves).

First :func:`flow_repair` brings every grid into band at once along a min-cost flow on the
grids' adjacency, made one boundary piece at a time and planned again after each (a whole
building passing more than planned is passed on), and compares that with one grid more
carved at the border of a grid above the maximum (:func:`_carve`), keeping the fit that
moves fewer households.  A fit moving more than the band's minimum is also compared with
the rounds below run from the start.

The rounds: strategies, each a named function, tried from the same labels for the grid
furthest out of band; the one leaving the least band excess, then the fewest households
moved, is kept:

* :func:`local_solve` - the exact minimum: a small CP-SAT model over the units of the grid
  and the grids within two steps of it picks the boundary moves (and, for a grid above the
  maximum holding enough for two, a new grid cut from it) that bring every grid of that
  neighbourhood into band moving the fewest households (counted against the current
  grids, so undoing an earlier move is free), each grid keeping more than half of its
  households (so it keeps its code).  Connectivity in both rule graphs is asked of the
  model locally (a unit joining a grid touches a unit of it) and checked exactly after;
  a solution with a cut-off piece is refused by a cut and the model solved again, within a
  deterministic budget.
* :func:`shift_chain` - households pass along a short chain of adjacent grids to (or from)
  the nearest grid with room, one boundary unit at a time, smallest unit that covers the
  need first, each grid kept connected in the footprint and the cell graph.  A chain of one
  step is a plain boundary move.
* :func:`split_grid` - a grid above the maximum that holds enough for two grids is cut in
  two by a spanning-tree cut (the side holding most households keeps the grid's identity).
* :func:`merge_grid` - a grid below the minimum joins the neighbour that stays in band.

What no strategy fixes goes to :func:`geo.partition.mend.mend_band` (a few grids re-solved
exactly), so only the grids around a stubborn one change.  Last, :func:`give_back` returns a
new grid still out of band to the grids its units came from where that puts no more grids
out of band: a region that cannot be wholly in band keeps as many grids in band as it can,
then moves the fewest households.  Pure and seeded like the rest of the engine.

The flow and the carve are in :mod:`geo.partition.minimal_flow`, the local model in
:mod:`geo.partition.minimal_local`, and the labels and moves they share in
:mod:`geo.partition.minimal_grids`; this module holds the rounds and the public names.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from geo.partition.config import MinimalConfig
from geo.partition.metrics import in_band
from geo.partition.minimal_flow import flow_repair, hand_back
from geo.partition.minimal_grids import (
    DEFAULT,
    Budget,
    _codes_kept,
    _Grids,
    _moved,
    _pass,
    _shift,
    initial_labels,
)
from geo.partition.minimal_local import local_solve
from geo.partition.search import Params, Units, exact_ok, tree_cuts

__all__ = [
    "MinimalConfig",
    "Budget",
    "DEFAULT",
    "initial_labels",
    "flow_repair",
    "spread",
    "shift_chain",
    "split_grid",
    "merge_grid",
    "local_solve",
    "hand_back",
    "give_back",
    "repair",
]


def spread(G: _Grids, g: int, prm: Params, cfg: MinimalConfig = DEFAULT, budget: Budget | None = None) -> bool:
    """Bring grid ``g`` into band by boundary moves with its neighbours, fewest households first.

    Above the maximum, ``g`` hands boundary units to any adjacent grids with room (several
    neighbours may each take some); below the minimum it takes boundary units from adjacent
    grids with households to spare.  Each move is the smallest unit that covers what is
    still needed, else the largest that does not, ties by the longer shared boundary; every
    grid stays connected in both rule graphs and no grid is pushed out of band.  When the
    neighbours have no room (or nothing to spare), a neighbour first passes households on
    to its own neighbours, up to ``cfg.spread_depth`` steps away.

    Returns
    -------
    bool
        Whether ``g`` is now in band and no other grid went out of band (otherwise the
        labels are as they were).
    """
    snap = G.snapshot()
    before = G.excess(prm)
    depth = cfg.spread_depth
    if G.h[g] > prm.max_hh:
        done = _shift(G, g, G.h[g] - prm.max_hh, prm, depth, frozenset(), budget, out=True)
    elif G.h[g] < prm.min_hh:
        done = _shift(G, g, prm.min_hh - G.h[g], prm, depth, frozenset(), budget, out=False)
    else:
        return False
    if done is None or G.exc(g, prm) > 0 or G.excess(prm) > before - G.exc_at(snap, g, prm) + 1e-9:
        G.restore(snap)
        return False
    return True


def _chains(G: _Grids, g: int, prm: Params, cfg: MinimalConfig, over: bool) -> list[list[int]]:
    """Shortest chains of adjacent grids from ``g`` to grids with room (``over``) or with
    households to spare (not ``over``), nearest first."""
    out: list[list[int]] = []
    seen = {g}
    q = deque([[g]])
    while q and len(out) < cfg.max_chains:
        path = q.popleft()
        if len(path) - 1 >= cfg.max_chain:
            continue
        for n in sorted(G.nbr_grids(path[-1])):
            if n in seen:
                continue
            seen.add(n)
            p = [*path, n]
            room = (prm.max_hh - G.h[n]) if over else (G.h[n] - prm.min_hh)
            if room > 0:
                out.append(p)
            q.append(p)
    return out


def shift_chain(G: _Grids, g: int, prm: Params, cfg: MinimalConfig = DEFAULT, budget: Budget | None = None) -> bool:
    """Bring grid ``g`` into band by passing households along a chain of adjacent grids.

    Above the maximum, ``g`` hands at least its excess to the next grid of the chain, which
    hands on what it now holds above the maximum, and so on to a grid with room; below the
    minimum the chain runs the other way.  Each step moves boundary units only (the
    smallest that covers the need first) and keeps every grid connected.  The first chain
    that lowers the region's total band excess is kept, preferring, among chains of the
    same length, the one that moves the fewest households.

    Returns
    -------
    bool
        Whether anything changed.
    """
    over = G.h[g] > prm.max_hh
    before = G.excess(prm)
    best = None
    best_len = None
    for chain in _chains(G, g, prm, cfg, over):
        if best_len is not None and len(chain) > best_len:
            break
        snap = G.snapshot()
        total, ok = 0.0, True
        for a, b in zip(chain[:-1], chain[1:], strict=False):
            if over:
                need = G.h[a] - prm.max_hh
                got = _pass(G, a, b, need, G.h[a] - prm.min_hh, budget)
            else:
                need = prm.min_hh - G.h[a]
                got = _pass(G, b, a, need, prm.max_hh - G.h[a], budget)
            if got is None:
                ok = False
                break
            total += got
        after = G.excess(prm)
        if ok and after < before and (best is None or (after, total) < best[0]):
            best = ((after, total), G.snapshot())
            best_len = len(chain)
        G.restore(snap)
    if best is None:
        return False
    G.restore(best[1])
    return True


def split_grid(G: _Grids, g: int, prm: Params, rng: np.random.Generator) -> bool:
    """Cut a grid above the maximum in two grids (a spanning-tree cut in band if any)."""
    mem = G.members(g)
    if G.h[g] <= prm.max_hh or G.h[g] < 2 * prm.min_hh or len(mem) < 2:
        return False
    cuts = tree_cuts(G.U, mem, 1, 1, prm, rng, ntrees=16)
    for _, a, b in cuts:
        if not (exact_ok(G.U, a) and exact_ok(G.U, b)):
            continue
        small = a if G.U.hh[a].sum() < G.U.hh[b].sum() else b
        new = G.add_grid()
        for u in small:
            G.move(u, new)
        return True
    return False


def merge_grid(G: _Grids, g: int, prm: Params) -> bool:
    """Join a grid below the minimum to the neighbour that then stays in band (the lightest
    such neighbour, so the merged grid keeps the most room)."""
    if G.h[g] >= prm.min_hh:
        return False
    mem = G.members(g)
    for n in sorted(G.nbr_grids(g), key=lambda n: (G.h[n], n)):
        if G.h[n] + G.h[g] > prm.max_hh:
            continue
        if not exact_ok(G.U, mem + G.members(n)):
            continue
        for u in mem:
            G.move(u, n)
        return True
    return False


def _cheapest(G: _Grids, g: int, prm: Params, cfg: MinimalConfig, rng: np.random.Generator, over: bool,
              seed: int = 0, budget: Budget | None = None) -> bool:
    """Try the boundary spread (kept at once when it fixes the grid), else the local model,
    the chain and the split (above the maximum) or merge (below the minimum) from the same
    labels; keep the one with the least band excess, then every starting grid keeping its
    code, then the fewest households moved since the start."""
    start = G.snapshot()
    before = G.excess(prm)
    # boundary pieces to neighbours with room first: when they bring the grid into band
    # with every code kept and nothing else pushed out, they moved about the need itself
    # (the smallest piece reaching it), and the local model is not worth its CPU
    if spread(G, g, prm, cfg, budget) and G.excess(prm) <= before - G.exc_at(start, g, prm) + 1e-9 \
            and _codes_kept(G):
        return True
    G.restore(start)
    best = None
    for strategy in ((lambda: local_solve(G, g, prm, cfg, seed, budget)) if cfg.local else (lambda: False),
                     lambda: shift_chain(G, g, prm, cfg, budget),
                     (lambda: split_grid(G, g, prm, rng)) if over else (lambda: merge_grid(G, g, prm))):
        G.restore(start)
        if not strategy() or G.excess(prm) >= before:
            continue
        moved = _moved(G.lab0, G)
        # the band first, then every grid keeping its code, then the fewest households moved
        key = (G.excess(prm), not _codes_kept(G), moved)
        if best is None or key < best[0]:
            best = (key, G.snapshot())
    if best is None:
        G.restore(start)
        return False
    G.restore(best[1])
    return True


def give_back(U: Units, nodes: list[int], lab: np.ndarray, k: int, cur_unit: np.ndarray,
              names: list, prm: Params) -> tuple[np.ndarray, int]:
    """The region's final labels with each new grid that is out of band given back to the
    grids its units are in now (``cur_unit``, their current code), when that puts no more
    grids out of band and leaves each of them connected in both rule graphs.

    ``names`` holds, per label ``0..k-1``, the current code the grid succeeds (``None``: a
    new grid). The objective read for a region that cannot be wholly in band: as many grids
    in band as possible, then as few households moved. A new grid out of band moved every
    household of it and left a grid out of band all the same (a tower's grid brought into
    band by making a grid of the small buildings beside it), so where its return leaves the
    count of grids out of band as it is, the households stay where they were. A new grid in
    band stays, as does one holding a unit without a current grid or whose current grid has
    no successor here.

    Returns
    -------
    (numpy.ndarray, int)
        Labels renumbered ``0..k-1`` (the labels kept, in their order) and the grid count.
    """
    label_of = {c: g for g, c in enumerate(names) if c is not None}
    at = np.asarray(nodes, dtype=np.int64)
    lab = lab.copy()

    def out_of_band(labels: np.ndarray) -> int:
        h = np.bincount(labels[at], weights=U.hh[at], minlength=k)[np.unique(labels[at])]
        return int(((h < prm.min_hh) | (h > prm.max_hh)).sum())

    for g in range(k):
        mem = at[lab[at] == g]
        if names[g] is not None or not len(mem):
            continue
        if in_band(float(U.hh[mem].sum()), prm.min_hh, prm.max_hh):
            continue
        homes = [label_of.get(cur_unit[u]) for u in mem]
        if any(h is None for h in homes):
            continue
        trial = lab.copy()
        trial[mem] = homes
        if out_of_band(trial) > out_of_band(lab):
            continue
        if all(exact_ok(U, at[trial[at] == h].tolist()) for h in set(homes)):
            lab = trial
    used = sorted(set(lab[at].tolist()))
    if used != list(range(k)):
        remap = np.full(k, -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        lab[at] = remap[lab[at]]
    return lab, len(used)


def repair(
    U: Units, nodes: list[int], cur_unit: np.ndarray, prm: Params, seed: int, cfg: MinimalConfig = DEFAULT,
    budget: Budget | None = None,
) -> tuple[np.ndarray, int, list]:
    """Minimal-change labels for one region.

    Parameters
    ----------
    U:
        Units (with rule graphs when known).
    nodes:
        The region's units.
    cur_unit:
        Current grid code per unit (``None`` where none).
    prm:
        The band.
    seed:
        Seed of the spanning-tree cuts.
    cfg:
        Knobs.
    budget:
        The community's work budget (shared with its other regions), spent here; a fresh
        one from ``cfg`` when ``None``.  When it runs out the labels reached so far are
        returned (every round kept only lowered the band excess).

    Returns
    -------
    (numpy.ndarray, int, list)
        Labels ``0..k-1`` on ``nodes`` (``-1`` elsewhere), the grid count, and per label the
        current code it started from (``None`` for a grid made by a split).  Grids the
        strategies could not bring into band are left for the caller's mend.
    """
    lab0, codes = initial_labels(U, nodes, cur_unit)
    G = _Grids(U, nodes, lab0)
    rng = np.random.default_rng([seed, 15485863])
    H = float(U.hh[nodes].sum())
    kmin = math.ceil(H / prm.max_hh) if H > 0 else 1
    kmax = int(H // prm.min_hh)
    if budget is None:
        budget = Budget.of(cfg)
    # every grid in band at once along the fewest households moved, when the grid count
    # allows it; the rounds below take what that leaves
    flowed = None
    if G.k + 1 >= kmin and G.k <= kmax:
        start = G.snapshot()
        if flow_repair(G, prm, cfg, budget):
            hand_back(G, prm, cfg.hand_back_passes)
            flowed = (_moved(G.lab0, G), G.snapshot())
            # passes along the fewest borders, made of whole buildings, can still move more
            # than the band's minimum (what one new grid costs), and a carved grid costs that
            # much: the rounds below may then do for less, so they run from the start too
            # (the better kept)
            if flowed[0] > prm.min_hh:
                G.restore(start)
    _rounds(G, prm, cfg, rng, seed, budget, kmin, kmax)
    hand_back(G, prm, cfg.hand_back_passes)
    if flowed is not None and (G.excess(prm) > 0 or not _codes_kept(G) or _moved(G.lab0, G) > flowed[0]):
        G.restore(flowed[1])
    # a merge leaves an empty label: renumber, carrying the codes along
    used = sorted({int(G.lab[u]) for u in nodes})
    names = [codes[g] if g < len(codes) else None for g in used]
    G.drop_empty()
    return G.lab, G.k, names


def _rounds(G: _Grids, prm: Params, cfg: MinimalConfig, rng: np.random.Generator, seed: int,
            budget: Budget, kmin: int, kmax: int) -> None:
    """The strategy rounds: the grid furthest out of band first, until every grid is in band,
    none of the rest can be improved, or the budget's rounds are spent."""
    stuck: set[int] = set()
    for _ in range(cfg.max_rounds):
        bad = [g for g in range(G.k) if G.exc(g, prm) > 0 and g not in stuck]
        if not bad or not budget.take_round():
            break
        g = max(bad, key=lambda x: (G.exc(x, prm), -x))
        over = G.h[g] > prm.max_hh
        done = False
        if over and G.k < kmin:
            done = split_grid(G, g, prm, rng)
        elif not over and G.k > kmax:
            done = merge_grid(G, g, prm)
        if not done:
            done = _cheapest(G, g, prm, cfg, rng, over, seed, budget)
        if not done:
            stuck.add(g)
        else:
            stuck.clear()
