"""Minimal change: repair the current grids of a region, moving as few households as possible.

The objective, in order: every grid connected in both rule graphs and in band; then the
fewest households moved; then compactness (a unit sharing more boundary with the grid it
joins is preferred among equally heavy ones).  The current assignment is the start and
stays wherever it is already valid: a region whose grids are all connected and in band is
returned unchanged (nothing moves).

Strategies, each a named function, tried from the same labels for the grid furthest out of
band; the one leaving the least band excess, then the fewest households moved, is kept:

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
exactly), so only the grids around a stubborn one change.  Pure and seeded like the rest of
the engine.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geo.partition.search import Params, Units, adj_components, exact_ok, induced_connected, tree_cuts


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
    rings, max_grids:
        Extent of a :func:`local_solve` model.
    det_time, max_cuts:
        CP-SAT deterministic time per solve, and re-solves after a connectivity cut.
    depth:
        Farthest, in rule-graph steps, a unit may lie from a grid it joins in a local model.
    local:
        Whether the local model is tried (the engine runs the repair with and without it
        and keeps the better: the greedy rounds can lead either way).
    mend_rings:
        Grids within this many steps of a grid still out of band form the window that the
        exact mend and the search's repair work on after the strategies.
    round_budget, det_budget, solve_budget, step_budget:
        The community's work budget, counted in work and never in wall-clock seconds, so
        the result does not depend on the machine or its load: strategy rounds (each tries
        every strategy on one bad grid) over all regions and both runs of the repair, and
        CP-SAT deterministic time (``max_deterministic_time``) over all local models.  When
        it is spent the repair stops and keeps the best labels found so far (each round
        only ever lowers the band excess); what is left out of band goes to the mend and
        then to the fresh fallback.
    """

    max_chain: int = 4
    max_chains: int = 12
    max_rounds: int = 400
    #: grids of a local model: the bad grid and its neighbours up to ``rings`` steps away
    rings: int = 2
    #: most grids in one local model (nearest first)
    max_grids: int = 12
    #: CP-SAT deterministic time per local solve, and connectivity cuts per local model
    det_time: float = 0.05
    max_cuts: int = 12
    #: farthest (in rule-graph steps) a unit may be from a grid it joins
    depth: int = 6
    #: whether :func:`local_solve` is among the strategies
    local: bool = True
    #: strategy rounds per community (all regions, both runs): after a few buildings change,
    #: a handful of grids go out of band and each needs one to three rounds
    round_budget: int = 24
    #: CP-SAT deterministic time per community over all local models (CP-SAT's own work
    #: measure; a deterministic second took 3-5 s of one core of the 2-core reference
    #: machine on these models, so this is the larger part of the community's 1.5 s)
    det_budget: float = 0.1
    #: CP-SAT solves per community (each also pays a presolve the deterministic time leaves out)
    solve_budget: int = 4
    #: grids around each grid left out of band that the exact mend and the search's repair
    #: see (the rest of the region stays as it is, and their work stays local): its
    #: neighbours only, as the flow and the strategies; the exact mend's work grows fast
    #: with the window (two rings cost most of a community's CPU where the band was missed)
    mend_rings: int = 1
    #: steps a :func:`spread` may pass households on beyond the grid's own neighbours
    spread_depth: int = 0
    #: plans of :func:`flow_repair` per margin after a border no piece could carry
    flow_replans: int = 3
    #: unit visits of the chains' boundary moves per community (a candidate scan visits each
    #: unit of the giving grid, a connectivity check each unit left in it)
    step_budget: int = 400_000


class Budget:
    """What is left of one community's work budget (:class:`MinimalConfig`), spent in order.

    Deterministic: rounds are counted and CP-SAT reports its deterministic time, so two runs
    of the same input spend it the same way whatever the machine's load.
    """

    def __init__(self, rounds: int, det: float, solves: int = 0, steps: int = 0) -> None:
        self.rounds = int(rounds)
        self.det = float(det)
        self.solves = int(solves)
        self.steps = int(steps)
        self.rounds_used = 0
        self.det_used = 0.0
        self.solves_used = 0
        self.steps_used = 0

    @classmethod
    def of(cls, cfg: MinimalConfig) -> Budget:
        return cls(cfg.round_budget, cfg.det_budget, cfg.solve_budget, cfg.step_budget)

    def take_steps(self, n: int) -> bool:
        """Spend ``n`` unit visits; ``False`` when none were left."""
        if self.steps <= 0:
            return False
        self.steps -= n
        self.steps_used += n
        return True

    def can_solve(self) -> bool:
        """Whether a CP-SAT solve is still within budget."""
        return self.det > 0 and self.solves > 0

    def take_round(self) -> bool:
        """Spend one strategy round; ``False`` when none is left."""
        if self.rounds <= 0:
            return False
        self.rounds -= 1
        self.rounds_used += 1
        return True

    def spend_det(self, t: float) -> None:
        """Record one CP-SAT solve that took ``t`` deterministic seconds."""
        self.det -= t
        self.det_used += t
        self.solves -= 1
        self.solves_used += 1

    def report(self) -> dict[str, float]:
        return {"rounds": self.rounds_used, "solves": self.solves_used, "det_time": round(self.det_used, 4),
                "steps": self.steps_used}


DEFAULT = MinimalConfig()


class _Grids:
    """Labels of one region's units with per-grid households, kept in step."""

    def __init__(self, U: Units, nodes: list[int], lab: np.ndarray) -> None:
        self.U = U
        self.nodes = list(nodes)
        self._nodes = np.asarray(self.nodes, dtype=np.int64)
        self.inset = np.zeros(U.n, dtype=bool)
        self.inset[self.nodes] = True
        self.lab = lab.copy()
        #: the starting labels: households moved are counted against them
        self.lab0 = lab.copy()
        self.k = int(self.lab[self.nodes].max()) + 1 if self.nodes else 0
        self.k0 = self.k
        self.h = np.bincount(self.lab[self.nodes], weights=U.hh[self.nodes], minlength=self.k).astype(float)

    def members(self, g: int) -> list[int]:
        return self._nodes[self.lab[self._nodes] == g].tolist()

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

    def exc_at(self, snap: tuple[np.ndarray, np.ndarray, int], g: int, prm: Params) -> float:
        """Band excess of grid ``g`` in a snapshot."""
        h = snap[1][g]
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


def _pass(G: _Grids, src: int, dst: int, lo: float, hi: float, budget: Budget | None = None) -> float | None:
    """Move boundary units from ``src`` to ``dst`` totalling between ``lo`` and ``hi``
    households: the smallest unit that reaches ``lo`` first, else the largest that fits.
    Returns the households moved, or ``None`` when ``lo`` cannot be reached (or the
    budget's unit visits run out)."""
    U = G.U
    moved = 0.0
    while moved < lo:
        mem = G.members(src)
        if budget is not None and not budget.take_steps(len(mem)):
            return None
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
        pick = None
        for *_, u in sorted(cand):
            if budget is not None and not budget.take_steps(len(mem)):
                return None
            if _movable(G, u, mem, dst):
                pick = u
                break
        if pick is None:
            return None
        G.move(pick, dst)
        moved += float(U.hh[pick])
    return moved


def _touches(G: _Grids, u: int, dst: int) -> bool:
    """Whether unit ``u`` touches grid ``dst`` in every rule graph (so ``dst`` stays
    connected when ``u`` joins it)."""
    return all(any(G.inset[v] and G.lab[v] == dst for v in adj[u]) for adj in _rule_graphs(G.U))


def _leaves_connected(G: _Grids, u: int, rest: list[int]) -> bool:
    """Whether the units ``rest`` of ``u``'s grid stay connected in every rule graph once
    ``u`` leaves (``rest`` non-empty)."""
    if not rest:
        return False
    if G.U.exact():
        return exact_ok(G.U, rest)
    return len(adj_components(G.U.adj, rest)) == 1


def _mask_connected(U: Units, mask: np.ndarray) -> bool:
    """Whether the units of ``mask`` are connected in every rule graph (the search graph
    when the rule graphs are unknown)."""
    if U.exact():
        return induced_connected(U.n, mask, U.fa, U.fb) and induced_connected(U.n, mask, U.ca, U.cb)
    return induced_connected(U.n, mask, U.ea, U.eb)


#: sparse adjacency of the last units' rule graphs (kept with the units object itself)
_SPARSE: dict[str, tuple] = {}


def _sparse_graphs(U: Units) -> list:
    """The rule graphs (the search graph when they are unknown) as sparse matrices."""
    last = _SPARSE.get("entry")
    if last is not None and last[0] is U:
        return last[1]
    out = []
    for adj in _rule_graphs(U):
        rows = np.repeat(np.arange(U.n), [len(a) for a in adj])
        cols = np.fromiter((v for a in adj for v in a), dtype=np.int64, count=int(sum(len(a) for a in adj)))
        out.append(csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(U.n, U.n)))
    _SPARSE["entry"] = (U, out)
    return out


def _block(U: Units, rest_mask: np.ndarray, u: int) -> list[int] | None:
    """``u`` and the units of ``rest_mask`` that its leaving would cut off from the heaviest
    part of the rest (in any rule graph), or ``None`` when nothing would be left."""
    rest_mask[u] = False
    try:
        if not rest_mask.any():
            return None
        if _mask_connected(U, rest_mask):
            return [u]
        before = np.flatnonzero(rest_mask)
        rest = before
        while True:
            n0 = len(rest)
            for A in _sparse_graphs(U):
                n_c, comp = connected_components(A[rest][:, rest], directed=False)
                if n_c > 1:
                    # the heaviest part stays (then the largest, then the one with the lowest unit)
                    w = np.bincount(comp, weights=U.hh[rest], minlength=n_c)
                    size = np.bincount(comp, minlength=n_c)
                    first = np.full(n_c, np.iinfo(np.int64).max)
                    np.minimum.at(first, comp, rest)
                    best = max(range(n_c), key=lambda c: (float(w[c]), int(size[c]), -int(first[c])))
                    rest = rest[comp == best]
            if len(rest) == n0:
                break
        keep = np.zeros(U.n, dtype=bool)
        keep[rest] = True
        return [u] + [int(v) for v in before if not keep[v]]
    finally:
        rest_mask[u] = True


def _piece(G: _Grids, g: int, n: int, lo: float, hi: float) -> tuple[list[int], float] | None:
    """A connected piece of grid ``g`` along its boundary with grid ``n`` holding between
    ``lo`` and ``hi`` households (as close to ``lo`` as it gets), that ``g`` can hand to ``n``.

    The piece grows from the units of ``g`` touching ``n`` in every rule graph, the unit of
    fewest households plus steps from the boundary first (a step costs the grid's mean
    households per unit, so the piece stays compact), passing by units that would take it
    above ``hi``; units of ``g`` the piece would cut off go with it; then units are given
    back to ``g`` (the heaviest first) while the piece still holds ``lo``.  Both grids must
    stay connected in every rule graph.  ``None`` when no such piece holds ``lo`` (or
    ``hi < lo``); a piece short of ``lo`` is returned when ``lo`` cannot be reached but
    something moves (the caller decides)."""
    if hi <= 0:
        return None
    U = G.U
    mem = G.members(g)
    inm = set(mem)
    seeds = sorted((u for u in mem if _touches(G, u, n)), key=lambda u: (-_shared(U, u, G, n), u))
    if not seeds:
        return None
    # grow by households plus steps from the boundary (a step costs the grid's mean
    # households per unit holding any): the fewest households first, yet compact; a unit
    # whose leaving would cut the rest of ``g`` apart is passed by
    step = G.h[g] / max(int((U.hh[mem] > 0).sum()), 1)
    heap = [(float(U.hh[u]), 0, i, u) for i, u in enumerate(seeds)]
    heapq.heapify(heap)
    depth = {u: 0 for u in seeds}
    rest_mask = np.zeros(U.n, dtype=bool)
    rest_mask[mem] = True
    S: list[int] = []
    tot = 0.0
    known: dict[int, tuple[int, list[int] | None]] = {}  # unit -> (len(S) when computed, block)
    while heap and tot < lo:
        key, d, _, u = heapq.heappop(heap)
        if not rest_mask[u]:
            continue
        if u in known and known[u][0] == len(S):
            block = known[u][1]  # nothing left the grid since: the same block
        else:
            block = _block(U, rest_mask, u)
            known[u] = (len(S), block)
        if block is None:
            continue
        hb = float(U.hh[block].sum())
        if tot + hb > hi:
            continue
        if hb + step * d > key + 1e-9:
            # the unit takes what it would cut off with it: queue it at that price
            heapq.heappush(heap, (hb + step * d, d, u, u))
            continue
        rest_mask[block] = False
        S.extend(block)
        tot += hb
        for w in block:
            for v in U.adj[w]:
                if v in inm and v not in depth:
                    depth[v] = d + 1
                    heapq.heappush(heap, (float(U.hh[v]) + step * (d + 1), d + 1, v, v))
    if tot <= 0:
        return None
    inS = set(S)
    rest = [u for u in mem if u not in inS]
    if not rest:
        return None
    for piece, _ in _pieces(U, rest):
        for u in piece:
            if u not in inS:
                inS.add(u)
                tot += float(U.hh[u])
    rest = [u for u in mem if u not in inS]
    if not rest or tot > hi:
        return None
    dst = G.members(n)
    # give back what the piece does not need, heaviest first, keeping both grids connected
    for u in sorted(inS, key=lambda u: (-float(U.hh[u]), u)):
        hu = float(U.hh[u])
        if hu <= 0 or tot - hu < lo:
            continue
        S2 = [v for v in inS if v != u]
        if S2 and exact_ok(U, dst + S2) and _leaves_connected(G, -1, [*rest, u]):
            inS.discard(u)
            rest.append(u)
            tot -= hu
    S = sorted(inS)
    if not exact_ok(U, dst + S) or not _leaves_connected(G, -1, rest):
        return None
    return S, tot


def _shed(G: _Grids, g: int, need: float, prm: Params, depth: int, banned: frozenset[int],
          budget: Budget | None) -> float | None:
    """Move at least ``need`` households out of grid ``g`` into adjacent grids as connected
    boundary pieces (:func:`_piece`), none of the grids pushed above the maximum or ``g``
    below the minimum; with ``depth`` left, a neighbour short of room first sheds to its own
    neighbours (never back to ``banned``).  Returns the households moved out of ``g``, or
    ``None`` (the labels are then partly changed: the caller restores its snapshot)."""
    moved = 0.0
    while moved < need:
        left = need - moved
        if budget is not None and not budget.take_steps(len(G.members(g))):
            return None
        best = None
        for n in sorted(G.nbr_grids(g) - banned):
            room = prm.max_hh - G.h[n]
            p = _piece(G, g, n, min(left, room), min(room, G.h[g] - prm.min_hh))
            if p is None:
                continue
            key = (0, p[1]) if p[1] >= left else (1, -p[1])
            if best is None or key < best[0]:
                best = (key, n, p[0])
        if best is None and depth > 0:
            # no neighbour has room: hand the need to one, which passes it on
            for n in sorted(G.nbr_grids(g) - banned, key=lambda n: (G.h[n], n)):
                p = _piece(G, g, n, left, G.h[g] - prm.min_hh)
                if p is None or p[1] < left:
                    continue
                snap = G.snapshot()
                for u in p[0]:
                    G.move(u, n)
                if _shed(G, n, G.h[n] - prm.max_hh, prm, depth - 1, banned | {g}, budget) is not None:
                    best = ((0, p[1]), n, [])
                    moved += p[1]
                    break
                G.restore(snap)
        if best is None:
            return None
        for u in best[2]:
            G.move(u, best[1])
            moved += float(G.U.hh[u])
    return moved


def _gain(G: _Grids, g: int, need: float, prm: Params, depth: int, banned: frozenset[int],
          budget: Budget | None) -> float | None:
    """Bring at least ``need`` households into grid ``g`` from adjacent grids as connected
    boundary pieces, none of the grids left below the minimum or ``g`` pushed above the
    maximum; with ``depth`` left, a neighbour with nothing to spare first gains from its own
    neighbours.  Returns the households gained, or ``None``."""
    got = 0.0
    while got < need:
        left = need - got
        if budget is not None and not budget.take_steps(len(G.members(g))):
            return None
        best = None
        for n in sorted(G.nbr_grids(g) - banned):
            spare = G.h[n] - prm.min_hh
            p = _piece(G, n, g, min(left, spare), min(spare, prm.max_hh - G.h[g]))
            if p is None:
                continue
            key = (0, p[1]) if p[1] >= left else (1, -p[1])
            if best is None or key < best[0]:
                best = (key, n, p[0])
        if best is None and depth > 0:
            for n in sorted(G.nbr_grids(g) - banned, key=lambda n: (-G.h[n], n)):
                p = _piece(G, n, g, left, prm.max_hh - G.h[g])
                if p is None or p[1] < left:
                    continue
                snap = G.snapshot()
                for u in p[0]:
                    G.move(u, g)
                if _gain(G, n, prm.min_hh - G.h[n], prm, depth - 1, banned | {g}, budget) is not None:
                    best = ((0, p[1]), n, [])
                    got += p[1]
                    break
                G.restore(snap)
        if best is None:
            return None
        for u in best[2]:
            G.move(u, g)
            got += float(G.U.hh[u])
    return got


def _grid_flow(G: _Grids, prm: Params, margin: float = 0.0,
               banned: frozenset[tuple[int, int]] = frozenset()) -> dict[tuple[int, int], int] | None:
    """Households to pass between adjacent grids so that every grid ends in band, moving the
    fewest households (a household passed along two borders counts twice): a min-cost flow
    on the grids' adjacency.  A grid ends within ``margin`` of the band's inside edges, or
    where it is now when that is closer (a grid in band is never asked to move), so the
    pieces that carry the flow have room for lumpy households.  No household passes a
    ``banned`` border ``(from, to)``.  ``None`` when no flow fits."""
    from ortools.graph.python import min_cost_flow

    live = sorted({int(G.lab[u]) for u in G.nodes})
    if not live:
        return None
    Z = G.k
    f = min_cost_flow.SimpleMinCostFlow()
    lo_b, hi_b = int(math.ceil(prm.min_hh + margin)), int(math.floor(prm.max_hh - margin))
    if hi_b < lo_b:
        return None
    arcs = []
    total = 0
    for a in live:
        h = int(round(G.h[a]))
        L = min(lo_b, h) if prm.min_hh <= h else lo_b
        H = max(hi_b, h) if h <= prm.max_hh else hi_b
        for b in sorted(G.nbr_grids(a)):
            if (a, b) in banned:
                continue
            arcs.append((a, b, f.add_arc_with_capacity_and_unit_cost(a, b, h + 1, 1)))
        f.add_arc_with_capacity_and_unit_cost(a, Z, H - L, 0)
        f.set_node_supply(a, h - L)
        total += L - h
    f.set_node_supply(Z, total)
    if f.solve() != f.OPTIMAL:
        return None
    return {(a, b): int(f.flow(i)) for a, b, i in arcs if f.flow(i) > 0}


def flow_repair(G: _Grids, prm: Params, cfg: MinimalConfig = DEFAULT, budget: Budget | None = None) -> bool:
    """Bring every grid of the region into band at once, along :func:`_grid_flow`'s plans.

    The passes of a plan are made one at a time as connected boundary pieces
    (:func:`_piece`) aiming at the planned households, accepting whatever the band leaves
    both grids at the end (a pass the band lets fall away is not made).  When a border can
    carry only part of its pass (lumpy households, a narrow border), what it carries is
    moved, the border is set aside, and the rest is planned again from the labels reached,
    up to ``cfg.flow_replans`` times.  Plans first keep some room inside the band (the
    size of the unit a household lives in), then less, then none.

    Returns
    -------
    bool
        Whether the region is now entirely in band with every grid keeping more than half
        of its starting households (its code); otherwise the labels are as they were.
    """
    if G.excess(prm) <= 0:
        return False
    # the engine runs the repair twice from the same labels (with and without the local
    # model); this step does not depend on which: the second run reuses the first's result
    key = (G.lab.tobytes(), tuple(G.nodes), prm, cfg.flow_replans)
    last = _FLOW_LAST.get("entry")
    if last is not None and last[0] is G.U and last[1] == key:
        if last[2] is None:
            return False
        G.restore(last[2])
        return True
    done = _flow_repair(G, prm, cfg, budget)
    _FLOW_LAST["entry"] = (G.U, key, G.snapshot() if done else None)
    return done


#: the last :func:`flow_repair` result (units, input, labels reached): one entry, kept with
#: its units object so it cannot be mistaken for another community's
_FLOW_LAST: dict[str, tuple] = {}


def _flow_repair(G: _Grids, prm: Params, cfg: MinimalConfig, budget: Budget | None) -> bool:
    hh = G.U.hh[G.nodes].astype(float)
    unit = float((hh**2).sum() / hh.sum()) if hh.sum() > 0 else 0.0
    unit = min(unit, (prm.max_hh - prm.min_hh) / 4)
    snap = G.snapshot()
    for margin in (unit, unit / 2, 0.0):
        banned: set[tuple[int, int]] = set()
        for _ in range(cfg.flow_replans + 1):
            plan = _grid_flow(G, prm, margin, frozenset(banned))
            if not plan:
                break
            failed = _realise(G, prm, plan, budget)
            if failed is None:
                if G.excess(prm) <= 0 and _codes_kept(G):
                    return True
                break
            if failed is False:
                break
            banned.add(failed)
        G.restore(snap)
    return False


def _codes_kept(G: _Grids) -> bool:
    """Whether every starting grid still holds more than half of its starting households
    (of its units, when it had no households)."""
    nodes = np.asarray(G.nodes, dtype=np.int64)
    l0, l1, hh = G.lab0[nodes], G.lab[nodes], G.U.hh[nodes]
    for g in np.unique(l0):
        mine = l0 == g
        tot, stay = float(hh[mine].sum()), float(hh[mine & (l1 == g)].sum())
        if (tot > 0 and 2 * stay <= tot) or (tot == 0 and 2 * int((mine & (l1 == g)).sum()) <= int(mine.sum())):
            return False
    return True


def _realise(G: _Grids, prm: Params, plan: dict[tuple[int, int], int],
             budget: Budget | None) -> tuple[int, int] | bool | None:
    """Make the passes of a :func:`_grid_flow` plan as boundary pieces, the grids furthest
    out of band first.  Returns ``None`` when every pass was made (or let fall away), the
    border whose piece fell short (what it carried is moved, the passes after it are not
    made), or ``False`` when the work budget ran out."""
    net = {g: 0 for g in range(G.k)}
    for (a, b), x in plan.items():
        net[a] -= x
        net[b] += x
    final = {g: float(G.h[g]) + net[g] for g in range(G.k)}  # planned, then as made
    order = sorted(plan.items(), key=lambda kv: (-G.exc(kv[0][0], prm), kv[0]))
    for (a, b), x in order:
        if budget is not None and not budget.take_steps(len(G.members(a))):
            return False
        # a piece of p households instead of x shifts (p - x) from a's end to b's
        up = min(final[a] - prm.min_hh, prm.max_hh - final[b])
        down = min(prm.max_hh - final[a], final[b] - prm.min_hh)
        want_lo, want_hi = x - down, x + up
        if want_lo <= 0:
            # the band lets this pass fall away
            final[a] += x
            final[b] -= x
            continue
        # aim at the planned amount; anything the band allows will do
        p = _piece(G, a, b, x, min(want_hi, G.h[a] - 1e-9))
        if p is None or p[1] > want_hi:
            return (a, b)
        for u in p[0]:
            G.move(u, b)
        final[a] += x - p[1]
        final[b] -= x - p[1]
        if p[1] < want_lo:
            return (a, b)
    return None


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
        done = _shed(G, g, G.h[g] - prm.max_hh, prm, depth, frozenset(), budget)
    elif G.h[g] < prm.min_hh:
        done = _gain(G, g, prm.min_hh - G.h[g], prm, depth, frozenset(), budget)
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


def _rings(G: _Grids, g: int, cfg: MinimalConfig) -> list[int]:
    """``g`` and the grids within ``cfg.rings`` steps of it, nearest first, at most
    ``cfg.max_grids``."""
    out = [g]
    frontier = [g]
    for _ in range(cfg.rings):
        nxt = []
        for a in frontier:
            for b in sorted(G.nbr_grids(a)):
                if b not in out and len(out) < cfg.max_grids:
                    out.append(b)
                    nxt.append(b)
        frontier = nxt
    return out


def _rule_graphs(U: Units) -> list[list[list[int]]]:
    return [U.fadj, U.cadj] if U.exact() else [U.adj]


def _pieces(U: Units, X: list[int]) -> list[tuple[list[int], list[list[int]]]]:
    """Pieces of ``X`` cut off from its heaviest piece, each with the rule graph it is cut
    off in (empty when ``X`` is connected in every rule graph)."""
    out = []
    for adj in _rule_graphs(U):
        comps = adj_components(adj, X)
        if len(comps) > 1:
            keep = max(comps, key=lambda c: (U.hh[c].sum(), len(c), -min(c)))
            out.extend((c, adj) for c in comps if c is not keep)
    return out


def _steps(adj: list[list[int]], start: list[int], inside: dict[int, int], depth: int) -> dict[int, int]:
    """Steps from ``start`` to each unit of ``inside`` within ``depth`` steps (breadth first)."""
    d = {u: 0 for u in start}
    q = deque(start)
    while q:
        u = q.popleft()
        if d[u] >= depth:
            continue
        for v in adj[u]:
            if v in inside and v not in d:
                d[v] = d[u] + 1
                q.append(v)
    return d


def local_solve(G: _Grids, g: int, prm: Params, cfg: MinimalConfig = DEFAULT, seed: int = 0,
                budget: Budget | None = None) -> bool:
    """Bring grid ``g`` and its neighbourhood into band moving the fewest households.

    The model: each unit of the grids within ``cfg.rings`` steps of ``g`` takes its grid or a
    grid adjacent to it (or, when a grid of the model is above the maximum and holds at
    least twice the minimum, a new grid cut from it); every grid of the model lies in band
    (band excess is allowed at a price far above any move, so the model always has an
    answer); each grid that existed at the start keeps more than half of its starting
    households (its code stays with it); a unit joining a grid touches a unit of that grid
    in every rule graph, and a unit staying touches a unit staying.  The cost is the
    households on units away from their starting grid, then the units moved.  A solution
    with a grid cut in pieces gets a cut (the piece must gain a neighbour of its grid) and
    is solved again, up to ``cfg.max_cuts`` times.  Each solve gets at most
    ``cfg.det_time`` deterministic seconds and no more than what is left of ``budget``,
    and spends it there.

    Returns
    -------
    bool
        Whether the labels changed (to a solution with less band excess in the model).
    """
    from ortools.sat.python import cp_model

    if budget is not None and not budget.can_solve():
        return False
    U = G.U
    S = _rings(G, g, cfg)
    inS = {a: i for i, a in enumerate(S)}
    V = [u for u in G.nodes if int(G.lab[u]) in inS]
    if not V:
        return False
    vpos = {u: i for i, u in enumerate(V)}
    graphs = _rule_graphs(U)
    gadj = {a: G.nbr_grids(a) & set(S) for a in S}
    over = [a for a in S if G.h[a] > prm.max_hh and G.h[a] >= 2 * prm.min_hh]
    new_of = {a: G.k + i for i, a in enumerate(over)}
    labels = list(S) + [new_of[a] for a in over]
    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    # steps from each grid of the model, per rule graph, through the model's units: a unit
    # joins a grid only along a path of units that get closer to it (so no island forms)
    dist = {lab: [_steps(adj, [u for u in V if G.lab[u] == lab], vpos, cfg.depth) for adj in graphs]
            for lab in S}
    for u in V:
        a = int(G.lab[u])
        o = int(G.lab0[u])
        opts = [a] + [b for b in sorted(gadj[a] | ({o} if o in inS else set()))
                      if b != a and all(u in d for d in dist[b])]
        if a in new_of:
            opts.append(new_of[a])
        for lab in opts:
            x[u, lab] = m.NewBoolVar("")
        m.AddExactlyOne(x[u, lab] for lab in opts)
    hh = {u: int(U.hh[u]) for u in V}
    members: dict[int, list[int]] = {lab: [u for u in V if (u, lab) in x] for lab in labels}
    scale = int(sum(hh.values())) + 1
    excess = []
    for lab in labels:
        load = sum(hh[u] * x[u, lab] for u in members[lab])
        if lab in S:
            lo = m.NewIntVar(0, int(prm.min_hh), "")
            hi = m.NewIntVar(0, scale, "")
            m.Add(load + lo >= int(math.ceil(prm.min_hh)))
            m.Add(load - hi <= int(prm.max_hh))
            excess += [lo, hi]
        else:
            used = m.NewBoolVar("")
            m.Add(load >= int(math.ceil(prm.min_hh))).OnlyEnforceIf(used)
            m.Add(load <= int(prm.max_hh)).OnlyEnforceIf(used)
            for u in members[lab]:
                m.AddImplication(x[u, lab], used)
            # a new grid grows from one seed unit
            roots = {u: m.NewBoolVar("") for u in members[lab]}
            m.Add(sum(roots.values()) <= 1)
            for u in members[lab]:
                m.AddImplication(roots[u], x[u, lab])
                for adj in graphs:
                    nb = [x[v, lab] for v in adj[u] if v in vpos and (v, lab) in x]
                    m.AddBoolOr([*nb, roots[u]]).OnlyEnforceIf(x[u, lab])
    # the code stays: more than half of each starting grid's households stay with it
    for lab in S:
        if lab >= G.k0:
            continue
        start = [u for u in V if int(G.lab0[u]) == lab]
        tot = sum(hh[u] for u in start) + sum(
            int(U.hh[u]) for u in G.nodes if int(G.lab0[u]) == lab and u not in vpos)
        if tot > 0:
            m.Add(2 * sum(hh[u] * x[u, lab] for u in start if (u, lab) in x) >= tot + 1)
    # local connectivity: a unit joining a grid touches a unit of it one step closer to it
    # (in every rule graph); a unit staying touches a unit staying, unless it was alone
    # a unit staying touches a unit staying one step closer to its grid's anchor (the unit
    # nearest the grid's centre, which stays)
    home = {}
    for lab in S:
        mem = [u for u in V if G.lab[u] == lab]
        c = U.xy[mem].mean(axis=0)
        anchor = min(mem, key=lambda u: (float(((U.xy[u] - c) ** 2).sum()), u))
        m.Add(x[anchor, lab] == 1)
        inside = {u: 0 for u in mem}
        home[lab] = [_steps(adj, [anchor], inside, len(mem)) for adj in graphs]
    for (u, lab), var in x.items():
        if lab >= G.k:
            continue
        for adj, d in zip(graphs, dist[lab], strict=True):
            if lab == int(G.lab[u]):
                hd = home[lab][graphs.index(adj)]
                if u not in hd or hd[u] == 0:
                    continue
                nb = [x[v, lab] for v in adj[u] if v in hd and hd[v] < hd[u]]
                m.AddBoolOr(nb).OnlyEnforceIf(var)
                continue
            nb = [x[v, lab] for v in adj[u] if v in d and d[v] < d[u] and (v, lab) in x]
            if not nb:
                m.Add(var == 0)
            else:
                m.AddBoolOr(nb).OnlyEnforceIf(var)
    moved_hh = []
    moved_n = []
    for u in V:
        o = int(G.lab0[u])
        stay = x.get((u, o))
        if hh[u] > 0:
            moved_hh.append(hh[u] * (1 - stay) if stay is not None else hh[u])
        moved_n.append((1 - stay) if stay is not None else 1)
    n_units = len(V) + 1
    m.Minimize(sum(excess) * scale * n_units + sum(moved_hh) * n_units + sum(moved_n))

    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(cfg.det_time)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed) % (2**31)
    before = sum(G.exc(a, prm) for a in S)
    for _ in range(cfg.max_cuts + 1):
        if budget is not None:
            if not budget.can_solve():
                return False
            solver.parameters.max_deterministic_time = float(min(cfg.det_time, budget.det))
        st = solver.Solve(m)
        if budget is not None:
            budget.spend_det(float(solver.response_proto.deterministic_time))
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return False
        pick = {u: next(lab for lab in labels if (u, lab) in x and solver.Value(x[u, lab])) for u in V}
        groups: dict[int, list[int]] = {}
        for u in V:
            groups.setdefault(pick[u], []).append(u)
        cuts = 0
        for lab, X in groups.items():
            full = X + [u for u in G.nodes if int(G.lab[u]) == lab and u not in vpos]
            for piece, adj in _pieces(U, full):
                P = [u for u in piece if u in vpos]
                inp = set(piece)
                nb = sorted({v for u in piece for v in adj[u] if v in vpos and v not in inp and (v, lab) in x})
                if not P:
                    continue
                # the piece whole in the grid needs a neighbour of it in the grid too
                m.Add(sum(x[u, lab] for u in P) - len(P) + 1 <= sum(x[v, lab] for v in nb))
                cuts += 1
        if cuts:
            continue
        after = 0.0
        h = {lab: float(sum(hh[u] for u in X)) for lab, X in groups.items()}
        for a in S:
            ha = h.get(a, 0.0)
            after += max(prm.min_hh - ha, 0.0) + max(ha - prm.max_hh, 0.0)
        if after >= before - 1e-9 or any(h.get(a, 0.0) <= 0 for a in S if any(G.lab[u] == a for u in V)):
            return False
        changed = False
        for lab in sorted(set(pick.values()) - set(S)):
            while G.k <= lab:
                G.add_grid()
        for u in V:
            if pick[u] != int(G.lab[u]):
                G.move(u, pick[u])
                changed = True
        return changed
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


def _moved(lab0: np.ndarray, G: _Grids) -> float:
    """Households that changed grid since ``lab0``; a split's new grid counts its whole
    smaller side (it leaves its grid's code behind)."""
    nodes = np.asarray(G.nodes, dtype=np.int64)
    return float(G.U.hh[nodes][lab0[nodes] != G.lab[nodes]].sum())


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
    if G.k >= kmin and G.k <= kmax:
        flow_repair(G, prm, cfg, budget)
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
    # a merge leaves an empty label: renumber, carrying the codes along
    used = sorted({int(G.lab[u]) for u in nodes})
    names = [codes[g] if g < len(codes) else None for g in used]
    G.drop_empty()
    return G.lab, G.k, names
