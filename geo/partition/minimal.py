"""Minimal change: repair the current grids of a region, moving as few households as possible.

The objective, in order: every grid connected in both rule graphs and in band; then the
fewest households moved; then compactness (a unit sharing more boundary with the grid it
joins is preferred among equally heavy ones).  The current assignment is the start and
stays wherever it is already valid: a region whose grids are all connected and in band is
returned unchanged (nothing moves).

Strategies, each a named function, tried in this order for the grid furthest out of band:

* :func:`shift_chain` - households pass along a short chain of adjacent grids to (or from)
  the nearest grid with room, one boundary unit at a time, smallest unit that covers the
  need first, each grid kept connected in the footprint and the cell graph.  A chain of one
  step is a plain boundary move.
* :func:`split_grid` - a grid above the maximum that holds enough for two grids is cut in
  two by a spanning-tree cut (the side holding most households keeps the grid's identity).
* :func:`merge_grid` - a grid below the minimum joins the neighbour that stays in band.

What no strategy fixes goes to :func:`geo.partition.mend.mend_band` (a few grids re-solved
exactly), so only the grids around a stubborn one change.  Pure and seeded like the rest of
the engine.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from geo.partition.search import Params, Units, adj_components, exact_ok, tree_cuts


@dataclass(frozen=True)
class MinimalConfig:
    """Knobs of the minimal-change repair.

    Attributes
    ----------
    max_chain:
        Longest chain of grids households may pass along (1 = neighbours only).
    max_chains:
        Chains tried per bad grid and round (nearest first).
    max_rounds:
        Repair rounds per region (each fixes or improves one grid).
    """

    max_chain: int = 4
    max_chains: int = 12
    max_rounds: int = 400


DEFAULT = MinimalConfig()


class _Grids:
    """Labels of one region's units with per-grid households, kept in step."""

    def __init__(self, U: Units, nodes: list[int], lab: np.ndarray) -> None:
        self.U = U
        self.nodes = list(nodes)
        self.inset = np.zeros(U.n, dtype=bool)
        self.inset[self.nodes] = True
        self.lab = lab.copy()
        self.k = int(self.lab[self.nodes].max()) + 1 if self.nodes else 0
        self.h = np.bincount(self.lab[self.nodes], weights=U.hh[self.nodes], minlength=self.k).astype(float)

    def members(self, g: int) -> list[int]:
        return [u for u in self.nodes if self.lab[u] == g]

    def nbr_grids(self, g: int) -> set[int]:
        out = set()
        for u in self.members(g):
            for v in self.U.adj[u]:
                if self.inset[v] and self.lab[v] != g:
                    out.add(int(self.lab[v]))
        return out

    def move(self, u: int, to: int) -> None:
        self.h[self.lab[u]] -= self.U.hh[u]
        self.h[to] += self.U.hh[u]
        self.lab[u] = to

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, int]:
        return self.lab.copy(), self.h.copy(), self.k

    def restore(self, snap: tuple[np.ndarray, np.ndarray, int]) -> None:
        self.lab, self.h, self.k = snap[0].copy(), snap[1].copy(), snap[2]

    def excess(self, prm: Params) -> float:
        h = self.h[: self.k]
        return float(np.maximum(prm.min_hh - h, 0).sum() + np.maximum(h - prm.max_hh, 0).sum())

    def exc(self, g: int, prm: Params) -> float:
        h = self.h[g]
        return float(max(prm.min_hh - h, 0.0) + max(h - prm.max_hh, 0.0))

    def add_grid(self) -> int:
        self.k += 1
        self.h = np.append(self.h, 0.0)
        return self.k - 1

    def drop_empty(self) -> None:
        """Renumber grids ``0..k-1`` without gaps (first appearance order of old numbers)."""
        used = sorted({int(self.lab[u]) for u in self.nodes})
        if used == list(range(self.k)):
            return
        remap = {g: i for i, g in enumerate(used)}
        for u in self.nodes:
            self.lab[u] = remap[int(self.lab[u])]
        self.k = len(used)
        self.h = np.bincount(self.lab[self.nodes], weights=self.U.hh[self.nodes], minlength=self.k).astype(float)


def initial_labels(U: Units, nodes: list[int], cur_unit: np.ndarray) -> tuple[np.ndarray, list]:
    """Labels ``0..k-1`` from the current grid codes of ``nodes``, made connected.

    A current grid connected in both rule graphs is kept whole.  Otherwise its heaviest
    piece in the search graph keeps it and the other pieces, like units without a grid,
    join the lightest neighbouring grid (deterministic rounds); a piece with no labelled
    neighbour starts a grid of its own.

    Returns
    -------
    (numpy.ndarray, list)
        Labels (``-1`` outside ``nodes``) and the current code of each label (``None`` for
        a grid that had none).
    """
    codes = sorted({c for c in (cur_unit[u] for u in nodes) if c is not None})
    idx = {c: i for i, c in enumerate(codes)}
    lab = np.full(U.n, -1, dtype=np.int64)
    for u in nodes:
        if cur_unit[u] is not None:
            lab[u] = idx[cur_unit[u]]
    for g in range(len(codes)):
        mem = [u for u in nodes if lab[u] == g]
        if exact_ok(U, mem):
            continue
        comps = adj_components(U.adj, mem)
        if len(comps) > 1:
            keep = max(comps, key=lambda c: (U.hh[c].sum(), -min(c)))
            for c in comps:
                if c is not keep:
                    lab[c] = -1
    nodeset = set(nodes)
    pending = [u for u in nodes if lab[u] < 0]
    while pending:
        h = np.bincount(lab[[u for u in nodes if lab[u] >= 0]], weights=U.hh[[u for u in nodes if lab[u] >= 0]],
                        minlength=len(codes)) if any(lab[u] >= 0 for u in nodes) else np.zeros(len(codes))
        progress = False
        for u in pending:
            gs = sorted({int(lab[v]) for v in U.adj[u] if v in nodeset and lab[v] >= 0})
            if gs:
                lab[u] = min(gs, key=lambda g: (h[g], g))
                progress = True
        pending = [u for u in pending if lab[u] < 0]
        if pending and not progress:
            lab[pending[0]] = len(codes)
            codes.append(None)
    return lab, codes


def _movable(G: _Grids, u: int, src_members: list[int], dst: int) -> bool:
    """Whether ``u`` may pass from its grid (``src_members``) to ``dst`` keeping both grids
    connected."""
    U = G.U
    rest = [v for v in src_members if v != u]
    if not rest:
        return False
    if U.exact():
        if not (any(G.lab[v] == dst for v in U.fadj[u]) and any(G.lab[v] == dst for v in U.cadj[u])):
            return False
        return exact_ok(U, rest)
    return len(adj_components(U.adj, rest)) == 1


def _shared(U: Units, u: int, G: _Grids, g: int) -> float:
    return float(sum(ln for v, ln in U.shared[u].items() if G.inset[v] and G.lab[v] == g))


def _pass(G: _Grids, src: int, dst: int, lo: float, hi: float) -> float | None:
    """Move boundary units from ``src`` to ``dst`` totalling between ``lo`` and ``hi``
    households: the smallest unit that reaches ``lo`` first, else the largest that fits.
    Returns the households moved, or ``None`` when ``lo`` cannot be reached."""
    U = G.U
    moved = 0.0
    while moved < lo:
        mem = G.members(src)
        cand = []
        for u in mem:
            hu = float(U.hh[u])
            if hu <= 0 or moved + hu > hi:
                continue
            if not any(G.inset[v] and G.lab[v] == dst for v in U.adj[u]):
                continue
            reach = moved + hu >= lo
            # the smallest unit that reaches the need, else the largest; then the longest
            # boundary with the grid it joins (compactness)
            cand.append(((0, hu) if reach else (1, -hu), -_shared(U, u, G, dst), u))
        pick = next((u for *_, u in sorted(cand) if _movable(G, u, mem, dst)), None)
        if pick is None:
            return None
        G.move(pick, dst)
        moved += float(U.hh[pick])
    return moved


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


def shift_chain(G: _Grids, g: int, prm: Params, cfg: MinimalConfig = DEFAULT) -> bool:
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
                got = _pass(G, a, b, need, G.h[a] - prm.min_hh)
            else:
                need = prm.min_hh - G.h[a]
                got = _pass(G, b, a, need, prm.max_hh - G.h[a])
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


def _cheapest(G: _Grids, g: int, prm: Params, cfg: MinimalConfig, rng: np.random.Generator, over: bool) -> bool:
    """Try the chain and the split (above the maximum) or merge (below the minimum) from the
    same labels; keep the one with the least band excess, then the fewest households moved."""
    start = G.snapshot()
    before = G.excess(prm)
    best = None
    for strategy in (lambda: shift_chain(G, g, prm, cfg),
                     (lambda: split_grid(G, g, prm, rng)) if over else (lambda: merge_grid(G, g, prm))):
        G.restore(start)
        if not strategy() or G.excess(prm) >= before:
            continue
        moved = _moved(start[0], G)
        key = (G.excess(prm), moved)
        if best is None or key < best[0]:
            best = (key, G.snapshot())
    if best is None:
        G.restore(start)
        return False
    G.restore(best[1])
    return True


def _moved(lab0: np.ndarray, G: _Grids) -> float:
    """Households that changed grid since ``lab0``; a split's new grid counts its whole
    smaller side (it leaves its grid's code behind)."""
    nodes = np.asarray(G.nodes, dtype=np.int64)
    return float(G.U.hh[nodes][lab0[nodes] != G.lab[nodes]].sum())


def repair(
    U: Units, nodes: list[int], cur_unit: np.ndarray, prm: Params, seed: int, cfg: MinimalConfig = DEFAULT
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
    stuck: set[int] = set()
    for _ in range(cfg.max_rounds):
        bad = [g for g in range(G.k) if G.exc(g, prm) > 0 and g not in stuck]
        if not bad:
            break
        g = max(bad, key=lambda x: (G.exc(x, prm), -x))
        over = G.h[g] > prm.max_hh
        done = False
        if over and G.k < kmin:
            done = split_grid(G, g, prm, rng)
        elif not over and G.k > kmax:
            done = merge_grid(G, g, prm)
        if not done:
            done = _cheapest(G, g, prm, cfg, rng, over)
        if not done:
            stuck.add(g)
        else:
            stuck.clear()
    # a merge leaves an empty label: renumber, carrying the codes along
    used = sorted({int(G.lab[u]) for u in nodes})
    names = [codes[g] if g < len(codes) else None for g in used]
    G.drop_empty()
    return G.lab, G.k, names
