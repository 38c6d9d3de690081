"""Cover and lift: an exact partition of a small region, household-less nodes decided last.

The tree model (:func:`geo.partition.exact.solve_region`) decides every node at once, and on
regions full of household-less buildings (a school campus, a row of shops) it can run for a
minute without an answer.  Yet households alone fix the band: a grid is a set of nodes with
households, in band, that the household-less nodes can join up.  So this solver works in
two layers (a logic-based Benders decomposition):

1. **Cover (master).**  Every set of nodes with households that is in band and connected
   once household-less nodes count as free joints is listed
   (:func:`geo.partition.exact.band_sets`).  CP-SAT picks sets that cover each node with
   households exactly once, least total ``|h - target|`` first.
2. **Lift (check).**  A depth-first search gives each household-less node to one chosen set
   so that every grid is connected in every rule graph.  Propagation does most of the work:
   a set can only take nodes it reaches through nodes it may take; a node that is the only
   joint between parts of a set (a cut node) must join it; a node only one set can take
   joins that set.
3. **Cut.**  When a cover does not lift, the smallest subset of its sets found to conflict
   (a deletion filter on lifts that may leave nodes out) is forbidden, and the master runs
   again.

Every step is exact, so the first cover that lifts is a valid partition with the least total
deviation from the target, and a master with no cover left proves that none exists (unless
a lift hit its node budget).  Where a region's grids compete for the same household-less
buildings, which the cover relaxation does not see, a tree model can search for minutes at
the only possible grid count; the decomposition settles such regions in a fraction of a
second, since the master offers only covers whose deviation is already least.

Budgets are counts (sets visited, lift nodes, CP-SAT deterministic time), not wall time, so
the answer does not depend on the machine or its load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from geo.partition.exact import _neighbours, band_sets, bit_reach

__all__ = ["Lifter", "cover_lift"]


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class _Budget(Exception):
    """The lift used up its node budget."""


class Lifter:
    """Lifts of chosen sets over one region's graphs (bitmask adjacency over ``0..m-1``).

    Parameters
    ----------
    hh:
        Households per node.
    graphs:
        Edge lists on ``0..m-1``; every grid must be connected in each of them.
    xy:
        Optional node positions (``m x 2``): a node tries the nearest grids first.
    """

    def __init__(
        self, hh: np.ndarray, graphs: Sequence[tuple[np.ndarray, np.ndarray]], xy: np.ndarray | None = None
    ) -> None:
        hh = np.asarray(hh)
        self.xy = None if xy is None else np.asarray(xy, dtype=float)
        self.centres: np.ndarray | None = None
        m = len(hh)
        self.adj = [[sum(1 << v for v in nb) for nb in _neighbours(m, g)] for g in graphs]
        self.empty = sum(1 << i for i in np.flatnonzero(hh == 0).tolist())
        self.nodes = 0
        self.budget = 0
        self.solution: list[int] | None = None

    def _cut_nodes(self, g: int, req: int, within: int) -> int:
        """Nodes of ``within`` outside ``req`` without which ``req`` (connected inside
        ``within``) falls apart: DFS lowpoints, counting the ``req`` nodes below each child."""
        adj = self.adj[g]
        r0 = (req & -req).bit_length() - 1
        disc = {r0: 0}
        low = {r0: 0}
        cnt = {r0: 1}
        t = 1
        out = 0
        stack = [(r0, -1, adj[r0] & within)]
        while stack:
            v, p, rest = stack[-1]
            if rest:
                lw = rest & -rest
                stack[-1] = (v, p, rest ^ lw)
                u = lw.bit_length() - 1
                if u == p:
                    continue
                if u in disc:
                    if disc[u] < low[v]:
                        low[v] = disc[u]
                else:
                    disc[u] = low[u] = t
                    t += 1
                    cnt[u] = (req >> u) & 1
                    stack.append((u, v, adj[u] & within))
            else:
                stack.pop()
                if stack:
                    pv = stack[-1][0]
                    if low[v] < low[pv]:
                        low[pv] = low[v]
                    cnt[pv] += cnt[v]
                    # the subtree below v holds req nodes and only reaches r0 through pv
                    if pv != r0 and low[v] >= disc[pv] and cnt[v] and not (req >> pv) & 1:
                        out |= 1 << pv
        return out

    def _propagate(self, fixed: list[int], allowed: list[int], full: bool) -> bool:
        k, ng = len(fixed), len(self.adj)
        changed = True
        while changed:
            changed = False
            for j in range(k):
                while True:
                    within = fixed[j] | allowed[j]
                    start = fixed[j] & -fixed[j]
                    for g in range(ng):
                        r = bit_reach(self.adj[g], start, within)
                        if fixed[j] & ~r:
                            return False
                        within &= r
                    a2 = within & ~fixed[j]
                    need = 0
                    for g in range(ng):
                        need |= self._cut_nodes(g, fixed[j], within)
                    if need:
                        for i in range(k):
                            if i != j:
                                if fixed[i] & need:
                                    return False
                                if allowed[i] & need:
                                    allowed[i] &= ~need
                                    changed = True
                        fixed[j] |= need
                        a2 &= ~need
                    if a2 == allowed[j] and not need:
                        break
                    allowed[j] = a2
                    changed = True
            if full:
                union = mult = done = 0
                for j in range(k):
                    mult |= union & allowed[j]
                    union |= allowed[j]
                    done |= fixed[j]
                free = self.empty & ~done
                if free & ~union:
                    return False  # a household-less node no grid can take
                single = union & ~mult & free
                if single:
                    for j in range(k):
                        s = allowed[j] & single
                        if s:
                            fixed[j] |= s
                            allowed[j] &= ~s
                    changed = True
        return True

    def _search(self, fixed: list[int], allowed: list[int], full: bool) -> bool:
        self.nodes += 1
        if self.nodes > self.budget:
            raise _Budget
        if not self._propagate(fixed, allowed, full):
            return False
        union = mult = 0
        for a in allowed:
            mult |= union & a
            union |= a
        if full:
            if not union:
                self.solution = list(fixed)
                return True
            # the node fewest grids can take
            best = None
            for z in _bits(union):
                c = sum((a >> z) & 1 for a in allowed)
                if best is None or c < best[0]:
                    best = (c, z)
                    if c == 2:
                        break
            z = best[1]
        else:
            if not mult:  # no node wanted by two grids: each takes what it may
                self.solution = [f | a for f, a in zip(fixed, allowed, strict=False)]
                return True
            z = (mult & -mult).bit_length() - 1
        bit = 1 << z
        for j in self._order(z, len(fixed)):
            if allowed[j] & bit:
                f2 = list(fixed)
                f2[j] |= bit
                if self._search(f2, [a & ~bit for a in allowed], full):
                    return True
        if not full:  # or no grid takes it
            return self._search(list(fixed), [a & ~bit for a in allowed], full)
        return False

    def _order(self, z: int, k: int) -> list[int]:
        """The grids in the order a node tries them: nearest first when positions are known."""
        if self.centres is None:
            return list(range(k))
        d = ((self.centres - self.xy[z]) ** 2).sum(axis=1)
        return np.argsort(d, kind="stable").tolist()

    def lift(self, sets: Sequence[int], full: bool, budget: int) -> bool | None:
        """Whether the sets (bitmasks of nodes with households) extend, with disjoint
        household-less nodes, to grids connected in every graph; ``full`` asks that every
        household-less node joins one.  ``None`` when ``budget`` search nodes did not
        settle it.  Nodes with households outside the sets are never used.  With positions,
        a node tries the grids nearest to it first, so the first lift found is compact."""
        self.nodes, self.budget, self.solution = 0, budget, None
        self.centres = None if self.xy is None else np.array([self.xy[_bits(s)].mean(axis=0) for s in sets])
        try:
            return self._search(list(sets), [self.empty] * len(sets), full)
        except _Budget:
            return None


def cover_lift(
    hh: np.ndarray,
    min_hh: float,
    max_hh: float,
    graphs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    target: float | None = None,
    k: int | None = None,
    max_subsets: int = 20_000,
    det_time: float = 1.0,
    lift_nodes: int = 20_000,
    max_rounds: int = 400,
    xy: np.ndarray | None = None,
    dev_cap: float = 0.0,
    solutions: int = 1,
    stats: dict | None = None,
) -> tuple[str, list[np.ndarray]]:
    """Partition the nodes into grids in band, connected in every graph, by cover and lift.

    Parameters
    ----------
    hh:
        Households per node (not negative).
    min_hh, max_hh:
        The band (``min_hh > 0``).
    graphs:
        Edge lists on ``0..m-1``.
    target:
        Households a grid should hold (the master minimises the total ``|h - target|``
        above ``dev_cap``); the middle of the band when ``None``.
    k:
        Number of grids (any when ``None``).
    max_subsets:
        Most connected sets visited while listing them.
    det_time:
        CP-SAT deterministic time over all rounds of the master.
    lift_nodes:
        Lift search nodes over all lifts.
    max_rounds:
        Most covers tried.
    xy:
        Optional node positions (``m x 2``, metres): household-less nodes join the nearest
        grid that keeps every grid connected, and among covers equally far from the target
        the master prefers sets of little spread (sum of squared distances to their centre).
    dev_cap:
        Deviation a grid may have for free, as a share of the target (the search's own
        objective counts only the mean deviation above such a cap).
    solutions:
        Answers wanted: after the first, the master looks for other covers with as many
        sets, no further above the cap (the caller keeps the best, e.g. by compactness).
    stats:
        Optional dict, given ``"cuts"``: conflicts the lifts added to the master (0 means
        that the cover alone, household-less nodes free, decided).

    Returns
    -------
    tuple
        ``("FEASIBLE", answers)``, each a grid ``0..k-1`` per node, best first;
        ``("INFEASIBLE", [])`` (proved: no partition exists, at ``k`` grids when given);
        ``("UNKNOWN", [])`` (a budget ran out) or ``("UNAVAILABLE", [])`` (no ortools).
    """
    hh = np.asarray(hh, dtype=np.int64)
    lo, hi = int(math.ceil(min_hh)), int(math.floor(max_hh))
    if lo <= 0:
        raise ValueError("the band needs a minimum above 0")
    pos = np.flatnonzero(hh > 0)
    n = len(pos)
    if n == 0 or int(hh.max()) > hi:
        return "INFEASIBLE", []
    cols = band_sets(hh, lo, hi, graphs, max_subsets)
    if cols is None:
        return "UNKNOWN", []
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - optional dependency
        return "UNAVAILABLE", []
    tgt = (lo + hi) / 2 if target is None else float(target)
    w = hh[pos].tolist()
    # each listed set's members, unpacked once (every use below reads them)
    members = [_bits(c) for c in cols]
    posl = pos.tolist()
    # sets over all nodes (the listing numbers the nodes with households only)
    masks = [sum(1 << posl[i] for i in mem) for mem in members]
    L = Lifter(hh, graphs, xy)
    left = lift_nodes
    unsure = False
    ids = range(len(cols))  # every listed set is a column of the master
    model = cp_model.CpModel()
    x = {i: model.NewBoolVar("") for i in ids}
    by_node: list[list] = [[] for _ in range(n)]
    for i in ids:
        for u in members[i]:
            by_node[u].append(x[i])
    for lits in by_node:
        if not lits:
            return "INFEASIBLE", []  # a node no set in band can hold
        model.AddExactlyOne(lits)
    if k is not None:
        model.Add(sum(x.values()) == int(k))
    # objective: total deviation above the cap first, then the spread of each set
    dev = {i: int(round(abs(sum(w[u] for u in members[i]) - tgt))) for i in ids}
    cap = int(round(dev_cap * tgt))
    if xy is not None:
        P = np.asarray(xy, dtype=float)
        second = {}
        for i in ids:
            pts = P[pos[members[i]]]
            second[i] = int(round(float(((pts - pts.mean(axis=0)) ** 2).sum()) / 100.0))
    else:
        second = dev
    excess = model.NewIntVar(0, max(sum(dev.values()), 0), "")
    model.Add(excess >= sum((dev[i] - cap) * x[i] for i in ids))
    big = 1 + sum(second.values())
    model.Minimize(big * excess + sum(second[i] * x[i] for i in ids))
    det_left = float(det_time)
    found: list[np.ndarray] = []
    if stats is not None:
        stats["cuts"] = 0

    def done(status: str) -> tuple[str, list[np.ndarray]]:
        return ("FEASIBLE", found) if found else (status, [])

    for _ in range(max_rounds):
        if det_left <= 0 or left <= 0:
            return done("UNKNOWN")
        solver = cp_model.CpSolver()
        solver.parameters.max_deterministic_time = det_left
        solver.parameters.num_workers = 1
        st = solver.Solve(model)
        det_left -= solver.ResponseProto().deterministic_time
        if st == cp_model.INFEASIBLE:
            return done("UNKNOWN" if unsure else "INFEASIBLE")
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return done("UNKNOWN")
        chosen = [i for i in ids if solver.Value(x[i])]
        sets = [masks[i] for i in chosen]
        r = L.lift(sets, True, left)
        left -= L.nodes
        if r:
            labels = np.full(len(hh), -1, dtype=np.int64)
            for j, sol in enumerate(L.solution or []):
                labels[_bits(sol)] = j
            found.append(labels)
            if len(found) >= solutions:
                return done("FEASIBLE")
            # the next answers: other covers with as many sets, no further above the cap
            model.Add(excess <= int(solver.Value(excess)))
            model.Add(sum(x.values()) == len(chosen))
            model.AddBoolOr([x[i].Not() for i in chosen])
            continue
        if r is None:
            unsure = True  # this cover is dropped unsettled: no proof from here on
        # shrink to a conflicting subset (lifts that may leave household-less nodes out)
        core = chosen
        if r is False and left > 0:
            part = L.lift(sets, False, left)
            left -= L.nodes
            if part is False:
                for i in list(core):
                    trial = [c for c in core if c != i]
                    if not trial or left <= 0:
                        continue
                    pr = L.lift([masks[c] for c in trial], False, left)
                    left -= L.nodes
                    if pr is False:
                        core = trial
        model.AddBoolOr([x[i].Not() for i in core])
        if stats is not None:
            stats["cuts"] += 1
    return done("UNKNOWN")
