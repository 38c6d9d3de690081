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
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import deque
from dataclasses import replace

import numpy as np

from geo.partition.config import MinimalConfig
from geo.partition.metrics import in_band
from geo.partition.search import Params, Units, adj_components, exact_ok, induced_connected, tree_cuts

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


#: the pieces made over the last units object (:func:`_piece_memo`): one entry, kept with its
#: units so it cannot be mistaken for another community's
_PIECES_LAST: dict[str, tuple] = {}
#: most pieces remembered for one units object (then it starts afresh)
_PIECES_MAX = DEFAULT.pieces_remembered


def _piece_memo(U: Units) -> dict[tuple, tuple[list[int], float] | None]:
    """The pieces made over ``U``: the engine runs the repair twice from the same labels (with
    and without the local model), and their first rounds ask the same pieces.  A piece's
    key holds the whole labelling, which also tells the region apart (``-1`` outside it)."""
    last = _PIECES_LAST.get("entry")
    if last is None or last[0] is not U or len(last[1]) > _PIECES_MAX:
        last = (U, {})
        _PIECES_LAST["entry"] = last
    return last[1]


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
        #: pieces made (:func:`_piece`), by the labels they were asked from and their question;
        #: shared by every region and run over the same units (:func:`_piece_memo`)
        self.pieces = _piece_memo(U)
        self.nodes_key = hashlib.blake2b(self._nodes.tobytes(), digest_size=16).digest()

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


def _touching(G: _Grids, g: int, dst: int) -> np.ndarray:
    """Mask of the units of grid ``g`` that touch grid ``dst`` in every rule graph (what
    :func:`_touches` asks of one unit, for the whole grid at once, over the edge arrays)."""
    U, lab, inset = G.U, G.lab, G.inset
    out = np.zeros(U.n, dtype=bool)
    for i, (_, ea, eb) in enumerate(_rule_edges(U)):
        both = inset[ea] & inset[eb]
        la, lb = lab[ea], lab[eb]
        t = np.zeros(U.n, dtype=bool)
        t[ea[both & (la == g) & (lb == dst)]] = True
        t[eb[both & (lb == g) & (la == dst)]] = True
        out = t if i == 0 else out & t
    return out


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


def _joined_near(U: Units, rest_mask: np.ndarray, u: int, limit: int) -> bool:
    """Whether the units of ``rest_mask`` next to ``u`` (outside it) are joined to one another
    within ``limit`` units of ``rest_mask`` in every rule graph: then a connected set stays
    connected without ``u`` (any path through ``u`` goes round it).  ``False`` says nothing."""
    for adj in _rule_graphs(U):
        nb = [v for v in adj[u] if rest_mask[v]]
        if len(nb) <= 1:
            continue
        want = set(nb[1:])
        seen = {nb[0]}
        q = deque([nb[0]])
        while q and want and len(seen) < limit:
            x = q.popleft()
            for y in adj[x]:
                if rest_mask[y] and y not in seen:
                    seen.add(y)
                    want.discard(y)
                    q.append(y)
        if want:
            return False
    return True


#: sets of more units than this are split into parts by scipy's compiled labelling
#: (:func:`_parts`), smaller ones by a breadth-first walk: the call's own overhead costs about
#: what walking a thousand units does (the parts are the same either way)
PARTS_COMPILED = DEFAULT.parts_compiled_above


def _parts(U: Units, adj: list[list[int]], keep: np.ndarray,
           edges: tuple[np.ndarray, np.ndarray] | None = None) -> list[list[int]]:
    """The connected parts of the units of ``keep`` in ``adj`` (each ascending); with
    ``edges`` (``adj``'s edge arrays) a large set is labelled by scipy's compiled
    ``connected_components`` over the edges inside it, the same parts."""
    idx = np.flatnonzero(keep)
    if edges is None or len(idx) <= PARTS_COMPILED or len(edges[0]) == 0:
        return adj_components(adj, idx.tolist())
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ea, eb = edges
    m = keep[ea] & keep[eb]
    g = coo_matrix((np.ones(int(m.sum()), dtype=np.int8), (ea[m], eb[m])), shape=(U.n, U.n)).tocsr()
    _, lab = connected_components(g, directed=False)
    li = lab[idx]
    order = np.argsort(li, kind="stable")
    cuts = np.flatnonzero(np.diff(li[order])) + 1
    return [c.tolist() for c in np.split(idx[order], cuts)]


def _cut_off(U: Units, adj: list[list[int]], keep: np.ndarray, u: int, around: bool = False,
             limit: int = 48, edges: tuple[np.ndarray, np.ndarray] | None = None) -> list[int]:
    """The units of ``keep`` (which ``u`` has left) outside its heaviest connected part in
    ``adj`` (then the largest, then the one holding the lowest unit).

    With ``around`` (``keep`` and ``u`` together are connected in ``adj``, so every part
    touches ``u``), the parts are searched from ``u``'s neighbours, each search stopping
    after ``limit`` units: when at most one part is that large, the others are whole and the
    large one is what is left, so the cost follows the small parts, not the grid; otherwise
    every part is listed (``edges``: ``adj``'s edge arrays, for :func:`_parts`)."""
    if not around:
        parts = _parts(U, adj, keep, edges)
        if len(parts) <= 1:
            return []
        best = max(parts, key=lambda c: (float(U.hh[c].sum()), len(c), -min(c)))
        return [int(x) for c in parts if c is not best for x in c]
    nb = [v for v in adj[u] if keep[v]]
    small: list[list[int]] = []
    big = 0
    seen_all: set[int] = set()
    for v in nb:
        if v in seen_all:
            continue
        seen = {v}
        q = deque([v])
        joined = False  # met a part searched before: only a large one is left unfinished
        while q and len(seen) <= limit and not joined:
            x = q.popleft()
            for y in adj[x]:
                if keep[y] and y not in seen:
                    if y in seen_all:
                        joined = True
                        break
                    seen.add(y)
                    q.append(y)
        seen_all |= seen
        if joined:
            continue  # the large part met before, nothing new
        if q:
            big += 1
        else:
            small.append(sorted(seen))
    n_keep = int(keep.sum())
    if big > 1 or (big == 0 and sum(len(c) for c in small) != n_keep):
        # two large parts, or parts no neighbour of u reaches: list them all
        parts = _parts(U, adj, keep, edges)
    else:
        rest = np.flatnonzero(keep)
        if big == 1:
            inner = np.zeros(U.n, dtype=bool)
            for c in small:
                inner[c] = True
            parts = [*small, rest[~inner[rest]].tolist()]
        else:
            parts = small
    if len(parts) <= 1:
        return []
    best = max(parts, key=lambda c: (float(U.hh[c].sum()), len(c), -min(c)))
    keep_best = set(best)
    return [int(x) for c in parts if c is not best for x in c if x not in keep_best]


def _block(U: Units, rest_mask: np.ndarray, u: int, connected: bool = False) -> list[int] | None:
    """``u`` and the units of ``rest_mask`` that its leaving would cut off from the heaviest
    part of the rest (in any rule graph), or ``None`` when nothing would be left.
    ``connected``: the units of ``rest_mask`` (with ``u``) are connected in every rule graph,
    so a look round ``u`` may settle that nothing is cut off."""
    rest_mask[u] = False
    try:
        if not rest_mask.any():
            return None
        if connected and _joined_near(U, rest_mask, u, 64):
            return [u]
        if _mask_connected(U, rest_mask):
            return [u]
        before = np.flatnonzero(rest_mask)
        keep = rest_mask.copy()
        changed = True
        while changed:
            changed = False
            for adj, ea, eb in _rule_edges(U):
                if induced_connected(U.n, keep, ea, eb):
                    continue  # nothing cut off in this graph (a compiled check, no listing)
                # the parts are searched from u's neighbours only while the units kept (with u)
                # are known to be connected: before anything has been cut off
                cut = _cut_off(U, adj, keep, u, around=connected, edges=(ea, eb))
                if cut:
                    keep[cut] = False
                    changed = True
                    connected = False
        return [u] + [int(v) for v in before if not keep[v]]
    finally:
        rest_mask[u] = True


def _piece(G: _Grids, g: int, n: int, lo: float, hi: float,
           alone: bool = False) -> tuple[list[int], float] | None:
    """:func:`_make_piece`, remembered by the labels it was asked from (and the region's units
    and the graph's edge count): the flow's fits (three margins, a carved grid) and the
    engine's two runs of the repair start from the same labels and often ask the same
    pieces again; a piece depends on nothing else."""
    key = (hashlib.blake2b(G.lab.tobytes(), digest_size=16).digest(), G.nodes_key, len(G.U.ea),
           g, n, float(lo), float(hi), alone)
    if key not in G.pieces:
        G.pieces[key] = _make_piece(G, g, n, lo, hi, alone)
    got = G.pieces[key]
    return None if got is None else (list(got[0]), got[1])


def _make_piece(G: _Grids, g: int, n: int, lo: float, hi: float,
                alone: bool = False) -> tuple[list[int], float] | None:
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
    touch = _touching(G, g, n)
    seeds = sorted((u for u in mem if touch[u]), key=lambda u: (-_shared(U, u, G, n), u))
    if not seeds:
        return None
    if alone:
        seeds = seeds[:1]  # a new grid: one piece grown from the longest border
    # grow by households plus steps from the boundary (a step costs the grid's mean
    # households per unit holding any): the fewest households first, yet compact; a unit
    # whose leaving would cut the rest of ``g`` apart is passed by
    step = G.h[g] / max(int((U.hh[mem] > 0).sum()), 1)
    heap = [(float(U.hh[u]), 0, i, u) for i, u in enumerate(seeds)]
    heapq.heapify(heap)
    depth = {u: 0 for u in seeds}
    rest_mask = np.zeros(U.n, dtype=bool)
    rest_mask[mem] = True
    # the rest stays connected as the piece grows (a unit leaves with what it cuts off)
    connected = _mask_connected(U, rest_mask)
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
            block = _block(U, rest_mask, u, connected)
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
    dst = [] if alone else G.members(n)
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


def _shift(G: _Grids, g: int, need: float, prm: Params, depth: int, banned: frozenset[int],
           budget: Budget | None, out: bool) -> float | None:
    """Move at least ``need`` households out of grid ``g`` (``out``) or into it (not ``out``)
    as connected boundary pieces (:func:`_piece`) with adjacent grids.

    The two directions mirror each other: a neighbour's *capacity* is its room below the
    maximum when ``g`` gives, its households above the minimum when ``g`` takes; ``g``'s own
    *limit* is its households above the minimum when it gives, its room when it takes.  No
    piece exceeds either, so no grid is pushed out of band.  With ``depth`` left, when no
    neighbour has capacity, a neighbour (most capacity first) first takes the whole need
    (``out``) or gives it (not ``out``) and then passes its own excess or shortfall on to
    its neighbours (never back to ``banned``).

    Returns
    -------
    float or None
        The households moved out of (or into) ``g``, or ``None`` (the labels are then partly
        changed: the caller restores its snapshot).
    """

    def cap(n: int) -> float:
        return prm.max_hh - G.h[n] if out else G.h[n] - prm.min_hh

    def limit() -> float:
        return G.h[g] - prm.min_hh if out else prm.max_hh - G.h[g]

    def ends(n: int) -> tuple[int, int]:
        return (g, n) if out else (n, g)

    moved = 0.0
    while moved < need:
        left = need - moved
        if budget is not None and not budget.take_steps(len(G.members(g))):
            return None
        best = None
        for n in sorted(G.nbr_grids(g) - banned):
            room = cap(n)
            p = _piece(G, *ends(n), min(left, room), min(room, limit()))
            if p is None:
                continue
            key = (0, p[1]) if p[1] >= left else (1, -p[1])
            if best is None or key < best[0]:
                best = (key, n, p[0])
        if best is None and depth > 0:
            # no neighbour has capacity: one takes (gives) the whole need and passes it on
            for n in sorted(G.nbr_grids(g) - banned, key=lambda n: (-cap(n), n)):
                p = _piece(G, *ends(n), left, limit())
                if p is None or p[1] < left:
                    continue
                snap = G.snapshot()
                for u in p[0]:
                    G.move(u, ends(n)[1])
                onward = G.h[n] - prm.max_hh if out else prm.min_hh - G.h[n]
                if _shift(G, n, onward, prm, depth - 1, banned | {g}, budget, out) is not None:
                    best = ((0, p[1]), n, [])
                    moved += p[1]
                    break
                G.restore(snap)
        if best is None:
            return None
        to = best[1] if out else g
        for u in best[2]:
            G.move(u, to)
            moved += float(G.U.hh[u])
    return moved


def _grid_adjacency(G: _Grids) -> dict[int, set[int]]:
    """Every grid's adjacent grids (search graph), in one pass over the units' edges."""
    U = G.U
    ea = getattr(U, "ea", None)
    if ea is None or len(ea) == 0:
        return {g: G.nbr_grids(g) for g in range(G.k)}
    eb = U.eb
    both = G.inset[ea] & G.inset[eb]
    la, lb = G.lab[ea[both]], G.lab[eb[both]]
    cut = la != lb
    out: dict[int, set[int]] = {g: set() for g in range(G.k)}
    for x, y in set(zip(la[cut].tolist(), lb[cut].tolist(), strict=True)):
        out[x].add(y)
        out[y].add(x)
    return out


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
    nbrs = _grid_adjacency(G)
    for a in live:
        h = int(round(G.h[a]))
        L = min(lo_b, h) if prm.min_hh <= h else lo_b
        H = max(hi_b, h) if h <= prm.max_hh else hi_b
        for b in sorted(nbrs[a]):
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

    The plans are made one boundary piece at a time (:func:`_flow_steps`), planned again
    from the labels each piece leaves, so a piece that holds more or fewer households than
    planned (whole buildings) is made up for by the next.  Plans keep some room inside the
    band (the size of the unit a household lives in), half of it, or none, and the fit
    moving the fewest households is kept (:func:`_flow_fit`).  Two fits are tried and the
    one moving the fewest households kept: the grids as they are (when their count fits the
    region's households), and one grid more, carved from a grid
    above the maximum along its border with a neighbour (:func:`_carve`; every household of
    a new grid changes grid, so this is tried only when the count needs it or the passes
    alone moved more than the band's minimum).

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
    key = (G.lab.tobytes(), tuple(G.nodes), prm, replace(cfg, local=True))
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
    """:func:`flow_repair` itself: the grids as they are, and the same with one grid more carved
    from a grid out of band; the fit moving the fewest households is kept."""
    hh = G.U.hh[G.nodes].astype(float)
    unit = float((hh**2).sum() / hh.sum()) if hh.sum() > 0 else 0.0
    unit = min(unit, (prm.max_hh - prm.min_hh) / 4)
    H = float(hh.sum())
    kmin = math.ceil(H / prm.max_hh) if H > 0 else 1
    kmax = int(H // prm.min_hh)
    start = G.snapshot()
    best: tuple[float, tuple] | None = None
    if kmin <= G.k <= kmax and _flow_fit(G, prm, unit, cfg, budget):
        best = (_moved(G.lab0, G), G.snapshot())
    G.restore(start)
    # one grid more: needed when the count says so; otherwise worth trying only when the
    # passes moved more than a new grid can cost (its households all change grid, at least
    # the band's minimum)
    if G.k + 1 >= kmin and G.k + 1 <= kmax and (best is None or best[0] > prm.min_hh):
        for host, side in _carve_sites(G, prm, cfg):
            if budget is not None and budget.steps <= 0:
                break
            if _carve(G, host, side, prm) and _flow_fit(G, prm, unit, cfg, budget):
                moved = _moved(G.lab0, G)
                if best is None or moved < best[0]:
                    best = (moved, G.snapshot())
                G.restore(start)
                break  # the first place that fits (furthest over, lightest neighbour first)
            G.restore(start)
    if best is None:
        return False
    G.restore(best[1])
    return True


def _flow_fit(G: _Grids, prm: Params, unit: float, cfg: MinimalConfig, budget: Budget | None) -> bool:
    """Every grid into band along :func:`_flow_steps`, planned with some room kept inside the
    band (``unit``, half of it, none: room absorbs whole buildings but asks for more passes);
    the fit moving the fewest households is kept.  ``True`` with every starting grid keeping
    its code, otherwise the labels are as they were."""
    snap = G.snapshot()
    best: tuple[float, tuple] | None = None
    for margin in (unit, unit / 2, 0.0):
        if _flow_steps(G, prm, margin, unit, cfg, budget) and G.excess(prm) <= 0 and _codes_kept(G):
            hand_back(G, prm, cfg.hand_back_passes)  # compared by what each fit really has to move
            moved = _moved(G.lab0, G)
            if best is None or moved < best[0]:
                best = (moved, G.snapshot())
        G.restore(snap)
    if best is None:
        return False
    G.restore(best[1])
    return True


def _flow_steps(G: _Grids, prm: Params, margin: float, unit: float, cfg: MinimalConfig,
                budget: Budget | None) -> bool:
    """Make :func:`_grid_flow`'s plan one boundary piece at a time, planning again from the
    labels reached after every piece.

    A plan counts households as if they were fluid; a piece holds whole units, so it moves
    a little more or less than planned.  Planning again after each piece hands that
    difference on along the grids' adjacency (a grid that took too much passes it on, one
    that gave too little gives the rest elsewhere) instead of asking each later piece for an
    exact amount.  A piece is kept only if some plan still brings every grid into band from
    the labels it leaves (first: up to the giving grid's slack above the minimum; then: no
    more than both grids' slack in the plan); a border whose piece does not fit is set aside,
    and no household passes back across a border it crossed.  At most ``cfg.flow_steps``
    plans.

    Returns
    -------
    bool
        Whether every grid is in band (the labels are left as reached either way).
    """
    # pieces made, each with the labels before it and whether it took more than its plan's
    # slack (a step that can be taken back when the plans run into a dead end)
    made: list[tuple[tuple, tuple[int, int], bool, int]] = []
    failed: list[tuple[int, int]] = []
    tight_only: set[tuple[int, int]] = set()
    for _ in range(cfg.flow_steps):
        if G.excess(prm) <= 0:
            return True
        ban = frozenset(failed) | {(b, a) for _, (a, b), _, _ in made}
        plan = _grid_flow(G, prm, margin, ban)
        if not plan and margin > 0:
            # no room left to keep from the labels reached: go on without it
            margin = 0.0
            plan = _grid_flow(G, prm, margin, ban)
        if not plan:
            # a dead end: take back the last piece that went past its plan's slack (and what
            # followed it), and make that border keep to the slack
            while made and not made[-1][2]:
                made.pop()
            if not made:
                return False
            snap, ab, _, n_failed = made.pop()
            G.restore(snap)
            del failed[n_failed:]
            tight_only.add(ab)
            continue
        net = {g: 0.0 for g in range(G.k)}
        for (a, b), x in plan.items():
            net[a] -= x
            net[b] += x
        # a pass from a grid out of band first, the largest first
        (a, b), x = min(plan.items(), key=lambda kv: (-(G.exc(kv[0][0], prm) + G.exc(kv[0][1], prm)), -kv[1], kv[0]))
        if budget is not None and not budget.take_steps(len(G.members(a))):
            return False
        fin_a, fin_b = G.h[a] + net[a], G.h[b] + net[b]
        # first no more than both grids' slack in the plan; then as much as the giving grid
        # can spare (the next plan passes the rest on)
        tight = x + max(min(fin_a - prm.min_hh, prm.max_hh - fin_b), 0.0)
        loose = x + max(fin_a - prm.min_hh, 0.0)
        done = False
        for hi in ((tight, loose) if loose > tight + 1e-9 and (a, b) not in tight_only else (tight,)):
            p = _piece(G, a, b, x, min(hi, G.h[a] - 1e-9))
            if p is None:
                continue
            snap = G.snapshot()
            for u in p[0]:
                G.move(u, b)
            if _codes_kept(G) and (G.excess(prm) <= 0 or _grid_flow(
                    G, prm, 0.0, ban | {(b, a)}) is not None):
                made.append((snap, (a, b), p[1] > tight + 1e-9, len(failed)))
                done = True
                break
            G.restore(snap)
        if not done:
            failed.append((a, b))
    return G.excess(prm) <= 0


def _carve_sites(G: _Grids, prm: Params, cfg: MinimalConfig) -> list[tuple[int, int]]:
    """Where a new grid may be carved: a grid above the maximum (the furthest first) at its
    border with a neighbour (the one with the most room first), at most ``cfg.carve_sites``."""
    out = []
    for g in sorted((g for g in range(G.k) if G.h[g] > prm.max_hh), key=lambda g: (-G.h[g], g)):
        for n in sorted(G.nbr_grids(g), key=lambda n: (G.h[n], n)):
            out.append((g, n))
    return out[: cfg.carve_sites]


def _carve(G: _Grids, host: int, side: int, prm: Params) -> bool:
    """Cut a new grid out of ``host`` along its border with ``side``: a connected piece of at
    least the band's minimum households (as few as it gets, since every one of them changes
    grid), each grid it is cut from keeping more than half of its starting households (its
    code) and staying connected.  When ``host`` cannot give that much, the new grid takes
    what it can from ``host`` and the rest from ``side`` (a piece of ``side`` touching it).
    ``False`` (labels unchanged) when there is no such piece."""

    def spare(g: int) -> float:
        nodes = np.asarray(G.nodes, dtype=np.int64)
        start = float(G.U.hh[nodes][G.lab0[nodes] == g].sum())
        return G.h[g] - start / 2 - 0.5

    snap = G.snapshot()
    hi = min(prm.max_hh, spare(host))
    p = _piece(G, host, side, min(prm.min_hh, hi), hi, alone=True)
    if p is None:
        return False
    new = G.add_grid()
    for u in p[0]:
        G.move(u, new)
    if p[1] < prm.min_hh:
        hi = min(prm.max_hh - p[1], spare(side))
        q = _piece(G, side, new, prm.min_hh - p[1], hi)
        if q is None or q[1] < prm.min_hh - p[1] or not exact_ok(G.U, G.members(host)):
            G.restore(snap)
            return False
        for u in q[0]:
            G.move(u, new)
    return True


def hand_back(G: _Grids, prm: Params, passes: int = DEFAULT.hand_back_passes) -> float:
    """Return units that changed grid to the grid they started in, where that costs nothing
    the objective cares about: the heaviest first, each one only when it touches its
    starting grid in every rule graph, the grid it leaves stays connected in every rule
    graph, and neither grid moves further from the band.  Repeated until nothing more comes
    back (a piece comes back from its outer edge in), at most ``passes`` times; each return
    lowers the households moved and keeps every grid as valid as it was.

    Pieces of whole buildings carry a little more than a plan asked for, and a later piece
    may make an earlier one needless: this takes back what the band does not need.

    Returns
    -------
    float
        The households returned (the labels are changed in place).
    """
    U = G.U
    back = 0.0
    nodes = G._nodes
    for _ in range(passes):
        moved = nodes[(G.lab0[nodes] != G.lab[nodes]) & (G.lab0[nodes] >= 0) & (G.lab0[nodes] < G.k)
                      & (U.hh[nodes] > 0)]
        done = 0.0
        masks: dict[int, np.ndarray] = {}
        for u in sorted(moved.tolist(), key=lambda u: (-float(U.hh[u]), u)):
            a, b, hu = int(G.lab0[u]), int(G.lab[u]), float(U.hh[u])
            if G.h[a] <= 0 or G.h[b] - hu <= 0:
                continue
            ha, hb = G.h[a] + hu, G.h[b] - hu
            if (max(prm.min_hh - ha, 0.0) + max(ha - prm.max_hh, 0.0) > G.exc(a, prm) + 1e-9
                    or max(prm.min_hh - hb, 0.0) + max(hb - prm.max_hh, 0.0) > G.exc(b, prm) + 1e-9):
                continue
            if not _touches(G, u, a):
                continue
            mk = masks.get(b)
            if mk is None:
                mk = masks[b] = np.zeros(U.n, dtype=bool)
                mk[G.members(b)] = True
            mk[u] = False
            if not (_joined_near(U, mk, u, 64) or _mask_connected(U, mk)):
                mk[u] = True
                continue
            G.move(u, a)
            masks.pop(a, None)
            done += hu
        back += done
        if done <= 0:
            break
    return back


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


def _rings(G: _Grids, g: int, cfg: MinimalConfig) -> list[int]:
    """``g`` and the grids within ``cfg.rings`` steps of it, nearest first, at most
    ``cfg.max_grids``; then further rings, up to ``cfg.wide_rings`` steps, each only while the
    grids taken hold at most ``cfg.wide_units`` units."""
    out = [g]
    frontier = [g]
    units = np.bincount(G.lab[G._nodes], minlength=G.k)
    size = int(units[g])
    for ring in range(max(cfg.rings, cfg.wide_rings)):
        if ring >= cfg.rings and size > cfg.wide_units:
            break
        nxt = []
        for a in frontier:
            for b in sorted(G.nbr_grids(a)):
                if b not in out and len(out) < cfg.max_grids:
                    out.append(b)
                    nxt.append(b)
                    size += int(units[b])
        frontier = nxt
    return out


def _rule_edges(U: Units) -> list[tuple[list[list[int]], np.ndarray, np.ndarray]]:
    """Each rule graph (the search graph when they are unknown) with its edge arrays."""
    return [(U.fadj, U.fa, U.fb), (U.cadj, U.ca, U.cb)] if U.exact() else [(U.adj, U.ea, U.eb)]


def _rule_graphs(U: Units) -> list[list[list[int]]]:
    return [U.fadj, U.cadj] if U.exact() else [U.adj]


def _pieces(U: Units, X: list[int]) -> list[tuple[list[int], list[list[int]]]]:
    """Pieces of ``X`` cut off from its heaviest piece, each with the rule graph it is cut
    off in (empty when ``X`` is connected in every rule graph)."""
    out = []
    mask = np.zeros(U.n, dtype=bool)
    mask[np.asarray(X, dtype=np.int64)] = True
    for adj, ea, eb in _rule_edges(U):
        comps = _parts(U, adj, mask, (ea, eb))
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

    When that leaves the model out of band and no grid of it holds two grids' worth, the
    model is solved once more (from the labels reached) with one new grid open to the units
    of the grids above the maximum and of their neighbours, if the model holds enough for one
    grid more: households shared by several grids a little above the maximum, none of which
    could give a whole grid.

    Returns
    -------
    bool
        Whether the labels changed (to a solution with less band excess in the model).
    """
    changed = _local_model(G, _rings(G, g, cfg), prm, cfg, seed, budget, shared=False)
    S = _rings(G, g, cfg)  # from the labels reached
    above = [a for a in S if G.h[a] > prm.max_hh]
    if (above and all(G.h[a] < 2 * prm.min_hh for a in above)
            and sum(G.exc(a, prm) for a in S) > 0
            and float(sum(G.h[a] for a in S)) >= (len(S) + 1) * prm.min_hh):
        changed = _local_model(G, S, prm, cfg, seed, budget, shared=True) or changed
    return changed


def _local_model(G: _Grids, S: list[int], prm: Params, cfg: MinimalConfig, seed: int, budget: Budget | None,
                 shared: bool) -> bool:
    """One solve of :func:`local_solve`'s model over the grids ``S`` (``shared``: with one new
    grid open to the units of the grids above the maximum and of their neighbours)."""
    from ortools.sat.python import cp_model

    if budget is not None and not budget.can_solve():
        return False
    U = G.U
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
    # (local_solve's second solve) one new grid open to the units of the grids above the
    # maximum and of their neighbours, each grid keeping more than half its households still
    open_to: set[int] = set()
    if shared:
        above = [a for a in S if G.h[a] > prm.max_hh]
        open_to = set(above).union(*(gadj[a] for a in above))
        labels.append(G.k)
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
        elif a in open_to:
            opts.append(G.k)
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
