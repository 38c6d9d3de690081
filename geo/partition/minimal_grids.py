"""The labels minimal mode's repair works on, and the moves its strategies share.

:class:`_Grids` keeps one region's labels with each grid's households in step, and the
starting labels that households moved are counted against; :class:`Budget` is the
community's work budget.  The moves: a unit passes to a neighbouring grid when both stay
connected in every rule graph (:func:`_pass`, :func:`_movable`), a boundary piece of a given
size is cut off a grid (:func:`_piece`, remembered per units object), and households pass
along a chain of grids (:func:`_shift`).  The strategies that use them are in
:mod:`geo.partition.minimal`, :mod:`geo.partition.minimal_flow` and
:mod:`geo.partition.minimal_local`.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Callable

import numpy as np

from geo.partition.config import MinimalConfig
from geo.partition.search import Params, Units, adj_components, exact_ok, induced_connected

__all__ = ["Budget", "DEFAULT", "code_labels"]


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


def code_labels(U: Units, nodes: list[int], cur_unit: np.ndarray,
                whole: Callable[[Units, list[int]], bool] | None = None) -> tuple[np.ndarray, list]:
    """Labels ``0..k-1`` of ``nodes`` by their current grid code, in code order, and the code
    of each label.  Of a grid in several pieces in the search graph only the heaviest keeps
    the label (the others get ``-1``, as a unit without a code and every unit outside
    ``nodes``), unless ``whole`` says the grid may stay as it is."""
    codes = sorted({c for c in (cur_unit[u] for u in nodes) if c is not None})
    idx = {c: i for i, c in enumerate(codes)}
    lab = np.full(U.n, -1, dtype=np.int64)
    for u in nodes:
        if cur_unit[u] is not None:
            lab[u] = idx[cur_unit[u]]
    for g in range(len(codes)):
        mem = [u for u in nodes if lab[u] == g]
        if whole is not None and whole(U, mem):
            continue
        comps = adj_components(U.adj, mem)
        if len(comps) > 1:
            keep = max(comps, key=lambda c: (U.hh[c].sum(), -min(c)))
            for c in comps:
                if c is not keep:
                    lab[c] = -1
    return lab, codes


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
    lab, codes = code_labels(U, nodes, cur_unit, whole=exact_ok)
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


def _moved(lab0: np.ndarray, G: _Grids) -> float:
    """Households that changed grid since ``lab0``; a split's new grid counts its whole
    smaller side (it leaves its grid's code behind)."""
    nodes = np.asarray(G.nodes, dtype=np.int64)
    return float(G.U.hh[nodes][lab0[nodes] != G.lab[nodes]].sum())
