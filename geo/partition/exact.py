"""Exact partition of a small region into grids in band, connected in the rule graphs.

Used where the search misses the band on a small region: the CP-SAT model either finds a
partition with every grid in band or proves that none exists (for the grid counts asked).
Connectivity is encoded exactly with a spanning tree per grid and rule graph: every node but
its grid's root (the grid's smallest node) picks one parent among its neighbours in the same
grid, at a smaller depth.  This needs one Boolean per edge (not per edge and grid, as a flow
model would), and proves the small lumpy regions of the demo district about three times as
often as a single-commodity flow model within the same deterministic time.

``ortools`` is optional: without it :func:`solve_region` answers ``"UNAVAILABLE"``.  The solver
runs on one worker with a *deterministic* time limit, so its answer does not depend on the
machine load (the engine stays reproducible).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from geo.partition.config import DEFAULT

__all__ = [
    "solve_region",
    "region_graphs",
    "must_merge",
    "contract_graphs",
    "bit_reach",
    "band_sets",
    "exact_cover",
    "cover_relaxation",
]

log = logging.getLogger(__name__)


def solve_region(
    hh: np.ndarray,
    k: int,
    min_hh: float,
    max_hh: float,
    graphs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    det_time: float = 2.0,
    seed: int = 0,
    workers: int = 1,
    time_limit: float | None = None,
    stats: dict | None = None,
) -> tuple[str, np.ndarray | None]:
    """Partition ``n`` nodes into ``k`` grids in ``[min_hh, max_hh]``, connected in every graph.

    Parameters
    ----------
    hh:
        Households per node (length ``n``).
    k:
        Number of grids.
    min_hh, max_hh:
        The band.
    graphs:
        Edge lists ``(a, b)`` on ``0..n-1``; every grid must be connected in each of them.
    det_time:
        CP-SAT deterministic time limit (reproducible across machines and load).
    seed:
        Solver seed.
    workers:
        Solver workers (1 keeps the answer deterministic).
    time_limit:
        Optional wall-clock limit in seconds as well (the bench uses it).
    stats:
        If given, ``stats["det_time"]`` is set to the deterministic time the solver used.

    Returns
    -------
    (str, numpy.ndarray or None)
        ``"FEASIBLE"`` with a grid label ``0..k-1`` per node, ``"INFEASIBLE"`` (proved),
        ``"UNKNOWN"`` (limit reached) or ``"UNAVAILABLE"`` (no ortools).
    """
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - optional dependency
        return "UNAVAILABLE", None
    n = len(hh)
    hh = np.asarray(hh, dtype=np.int64)
    lo, hi = int(math.ceil(min_hh)), int(math.floor(max_hh))
    H = int(hh.sum())
    if k < 1 or n < k or H < k * lo or H > k * hi:
        return "INFEASIBLE", None
    m = cp_model.CpModel()
    g = [m.NewIntVar(0, k - 1, f"g{i}") for i in range(n)]
    a = [[m.NewBoolVar(f"a{i}_{j}") for j in range(k)] for i in range(n)]
    for i in range(n):
        m.AddExactlyOne(a[i])
        m.Add(g[i] == sum(j * a[i][j] for j in range(k)))
    for j in range(k):
        s = sum(int(hh[i]) * a[i][j] for i in range(n))
        m.Add(s >= lo)
        m.Add(s <= hi)
    # symmetry breaking: grids are numbered in order of their smallest node, so node 0 is in
    # grid 0 and a node's grid is at most one more than any grid seen before it
    m.Add(g[0] == 0)
    seen = [m.NewIntVar(0, k - 1, f"s{i}") for i in range(n)]
    m.Add(seen[0] == 0)
    for i in range(1, n):
        m.AddMaxEquality(seen[i], [seen[i - 1], g[i]])
        m.Add(g[i] <= seen[i - 1] + 1)
    # the root of a grid is its smallest node: a node is a root iff no earlier node shares
    # its grid
    root = [m.NewBoolVar(f"root{i}") for i in range(n)]
    m.Add(root[0] == 1)
    for i in range(1, n):
        # root[i] <=> g[i] == seen[i-1] + 1 (a new grid starts here)
        m.Add(g[i] == seen[i - 1] + 1).OnlyEnforceIf(root[i])
        m.Add(g[i] <= seen[i - 1]).OnlyEnforceIf(root[i].Not())
    m.Add(sum(root) == k)
    # connectivity, per rule graph: every node but a root has exactly one parent among its
    # neighbours in the same grid, at a smaller depth (so each grid is a tree from its root)
    for ga, gb in graphs:
        nb = _neighbours(n, (ga, gb))
        depth = [m.NewIntVar(0, n - 1, f"d{i}") for i in range(n)]
        for i in range(n):
            arcs = []
            for p in nb[i]:
                x = m.NewBoolVar(f"p{p}_{i}")
                arcs.append(x)
                m.Add(g[p] == g[i]).OnlyEnforceIf(x)
                m.Add(depth[i] >= depth[p] + 1).OnlyEnforceIf(x)
            if arcs:
                m.Add(sum(arcs) == 1).OnlyEnforceIf(root[i].Not())
                m.Add(sum(arcs) == 0).OnlyEnforceIf(root[i])
            else:
                m.Add(root[i] == 1)
            m.Add(depth[i] == 0).OnlyEnforceIf(root[i])
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(det_time)
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    # no LP relaxation: on these small lumpy models it costs about twice the time per proof
    solver.parameters.linearization_level = 0
    st = solver.Solve(m)
    if stats is not None:
        stats["det_time"] = float(solver.ResponseProto().deterministic_time)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        lab = np.array([solver.Value(v) for v in g], dtype=np.int64)
        return "FEASIBLE", lab
    if st == cp_model.INFEASIBLE:
        return "INFEASIBLE", None
    return "UNKNOWN", None


def region_graphs(nodes: Sequence[int], adjs: Sequence[list[list[int]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Edge lists of ``adjs`` induced on ``nodes``, renumbered ``0..len(nodes)-1``.

    Parameters
    ----------
    nodes:
        Unit indices (sorted).
    adjs:
        Adjacency lists over all units (e.g. footprint and cell graphs).

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
    """
    pos = {u: i for i, u in enumerate(nodes)}
    out = []
    for adj in adjs:
        ea, eb = [], []
        for u in nodes:
            for v in adj[u]:
                if v in pos and u < v:
                    ea.append(pos[u])
                    eb.append(pos[v])
        out.append((np.asarray(ea, dtype=np.int64), np.asarray(eb, dtype=np.int64)))
    return out


def _dfs_lowpoint(m: int, adj: list[list[int]], w: np.ndarray):
    """Iterative depth-first search of a graph: preorder, discovery index, low point, parent,
    subtree size and subtree weight per node (every component is searched)."""
    disc = np.full(m, -1, dtype=np.int64)
    low = np.zeros(m, dtype=np.int64)
    parent = np.full(m, -1, dtype=np.int64)
    size = np.ones(m, dtype=np.int64)
    sub = np.asarray(w, dtype=float).copy()
    order: list[int] = []
    t = 0
    for s in range(m):
        if disc[s] >= 0:
            continue
        disc[s] = low[s] = t
        t += 1
        order.append(s)
        stack = [(s, 0)]
        while stack:
            u, i = stack[-1]
            if i < len(adj[u]):
                stack[-1] = (u, i + 1)
                v = adj[u][i]
                if disc[v] < 0:
                    parent[v] = u
                    disc[v] = low[v] = t
                    t += 1
                    order.append(v)
                    stack.append((v, 0))
                elif v != parent[u]:
                    low[u] = min(low[u], disc[v])
            else:
                stack.pop()
                p = parent[u]
                if p >= 0:
                    low[p] = min(low[p], low[u])
                    size[p] += size[u]
                    sub[p] += sub[u]
    return np.asarray(order, dtype=np.int64), disc, low, parent, size, sub


def must_merge(
    hh: np.ndarray, graphs: Sequence[tuple[np.ndarray, np.ndarray]], min_hh: float, max_hh: float, max_rounds: int = 50,
    steps: list[tuple[int, np.ndarray, np.ndarray]] | None = None, work: int | None = None, stats: dict | None = None,
) -> tuple[np.ndarray, int]:
    """Nodes that every partition into grids in band, connected in every graph, keeps together.

    If removing a node ``a`` cuts a part ``C`` with fewer than ``min_hh`` households off a rule
    graph, no grid fits inside ``C``: a grid meeting ``C`` must leave it, and can only do so
    through ``a``.  Only one grid holds ``a``, so all of ``C`` shares ``a``'s grid.  The graphs
    are contracted by these pockets and searched again until nothing changes.  A group with
    more than ``max_hh`` households then proves that no partition exists, and the exact model
    runs faster on the contracted graphs (a partition of the original is one of the
    contracted graphs, so an infeasible contracted model is a proof too).

    Parameters
    ----------
    hh:
        Households per node.
    graphs:
        Edge lists on ``0..n-1`` (the region's rule graphs, each connected).
    min_hh, max_hh:
        The band.
    max_rounds:
        Most rounds of contraction.
    steps:
        When given, each merge is appended as ``(graph index, A, C)`` (node arrays): ``A`` is
        a group already shown to share one grid, ``C`` a set of nodes with fewer than
        ``min_hh`` households whose only neighbours outside ``C`` in that graph lie in
        ``A``.  Replayed in order, these are the pockets' certificate
        (:func:`geo.partition.proofs.check_claims` verifies each step on its own).
    work:
        Work budget: node and edge visits of the rounds' depth-first searches
        (default :attr:`~geo.partition.config.EngineConfig.merge_work`).  A search that
        would overrun it is not started; the merges found so far are kept (each holds on
        its own, so a cut search finds fewer pockets, never a false one).
    stats:
        If given, ``stats["work"]`` is set to the visits spent and ``stats["cut"]`` to
        whether the budget stopped the contraction before it was complete.

    Returns
    -------
    (numpy.ndarray, int)
        Group per node (``0..m-1``, numbered by smallest node) and a group holding more than
        ``max_hh`` households (no partition exists), or -1.
    """
    from geo.partition.graph import uf_find

    hh = np.asarray(hh, dtype=float)
    n = len(hh)
    par = np.arange(n)
    budget = DEFAULT.merge_work if work is None else int(work)
    spent = 0
    cut = False

    def find(x: int) -> int:
        return uf_find(par, x)

    for _round in range(max_rounds):
        root = np.array([find(i) for i in range(n)], dtype=np.int64)
        roots, gid = np.unique(root, return_inverse=True)
        m = len(roots)
        gh = np.bincount(gid, weights=hh, minlength=m)
        if m <= 1:
            break
        merged = False
        if steps is not None:
            by_gid = np.argsort(gid, kind="stable")
            cuts = np.searchsorted(gid[by_gid], np.arange(m + 1))
        for gi, (a_arr, b_arr) in enumerate(graphs):
            # a round on one graph visits every group and edge (and the groups' members)
            cost = n + m + 2 * len(a_arr)
            if spent + cost > budget:
                cut = True
                break
            spent += cost
            ga, gb = gid[a_arr], gid[b_arr]
            keep = ga != gb
            adj: list[list[int]] = [[] for _ in range(m)]
            for x, y in set(zip(np.minimum(ga, gb)[keep].tolist(), np.maximum(ga, gb)[keep].tolist(), strict=False)):
                adj[x].append(y)
                adj[y].append(x)
            for lst in adj:
                lst.sort()
            order, disc, low, parent, size, sub = _dfs_lowpoint(m, adj, gh)
            pos_in = np.empty(m, dtype=np.int64)
            pos_in[order] = np.arange(m)
            total = float(gh.sum())
            # children whose subtree only reaches the rest through their parent
            sep: dict[int, list[int]] = {}
            for v in range(m):
                a = int(parent[v])
                if a >= 0 and low[v] >= disc[a]:
                    sep.setdefault(a, []).append(v)
            for a, kids in sorted(sep.items()):
                # removing a cuts off each such subtree and, unless a is the root, the rest
                # (everything but a and those subtrees)
                pockets = [order[pos_in[v]: pos_in[v] + size[v]] for v in kids if sub[v] < min_hh]
                if parent[a] >= 0:
                    rest = total - float(gh[a]) - float(sum(sub[v] for v in kids))
                    if rest < min_hh:
                        out_rest = np.zeros(m, dtype=bool)
                        out_rest[a] = True
                        for v in kids:
                            out_rest[order[pos_in[v]: pos_in[v] + size[v]]] = True
                        pockets.append(np.flatnonzero(~out_rest))
                for pk in pockets:
                    if steps is not None and len(pk):
                        steps.append((gi, by_gid[cuts[a]: cuts[a + 1]].copy(),
                                      np.concatenate([by_gid[cuts[g]: cuts[g + 1]] for g in pk.tolist()])))
                    ra = find(int(roots[a]))
                    for g in pk.tolist():
                        rg = find(int(roots[g]))
                        if rg != ra:
                            par[rg] = ra
                            merged = True
        if cut or not merged:
            break
    if stats is not None:
        stats["work"] = spent
        stats["cut"] = cut
    root = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, gid = np.unique(root, return_inverse=True)
    gh = np.bincount(gid, weights=hh)
    big = np.flatnonzero(gh > max_hh)
    return gid.astype(np.int64), int(big[0]) if len(big) else -1


def contract_graphs(
    groups: np.ndarray, graphs: Sequence[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The graphs between groups (an edge where any two members are joined)."""
    from geo.partition.graph import canon_pairs

    out = []
    for a, b in graphs:
        pairs = canon_pairs(groups[np.asarray(a, dtype=np.int64)], groups[np.asarray(b, dtype=np.int64)])
        out.append((pairs[:, 0], pairs[:, 1]))
    return out


def _neighbours(n: int, graph: tuple[np.ndarray, np.ndarray]) -> list[list[int]]:
    """Neighbour lists of an edge list on ``0..n-1`` (no loops, no repeats, in edge order)."""
    nb: list[list[int]] = [[] for _ in range(n)]
    for x, y in zip(np.asarray(graph[0]).tolist(), np.asarray(graph[1]).tolist(), strict=False):
        if x != y and y not in nb[x]:
            nb[x].append(y)
            nb[y].append(x)
    return nb


def _joined_through_empty(hh: np.ndarray, graph: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """Adjacency bitsets over the nodes with households, two being adjacent when an edge or a
    path through household-less nodes joins them (node ``i`` of the result is the ``i``-th
    node with households)."""
    n = len(hh)
    nb = _neighbours(n, graph)
    full = np.flatnonzero(hh > 0).tolist()
    idx = {u: i for i, u in enumerate(full)}
    out = [0] * len(full)
    for u in full:
        for v in nb[u]:
            if v in idx:
                out[idx[u]] |= 1 << idx[v]
    seen = [False] * n
    for z in range(n):
        if hh[z] > 0 or seen[z]:
            continue
        # a component of household-less nodes joins every node with households beside it
        seen[z] = True
        stack, rim = [z], 0
        while stack:
            x = stack.pop()
            for y in nb[x]:
                if y in idx:
                    rim |= 1 << idx[y]
                elif not seen[y]:
                    seen[y] = True
                    stack.append(y)
        r = rim
        while r:
            low = r & -r
            out[low.bit_length() - 1] |= rim & ~low
            r ^= low
    return out


def bit_reach(adj: list[int], start: int, within: int) -> int:
    """Nodes of bitset ``within`` reached from bitset ``start`` in the bitset adjacency
    ``adj`` (``start`` included) through nodes of ``within``."""
    reach = front = start
    while front:
        nxt = 0
        f = front
        while f:
            low = f & -f
            nxt |= adj[low.bit_length() - 1]
            f ^= low
        front = nxt & within & ~reach
        reach |= front
    return reach


def _connected(mask: int, adj: list[int]) -> bool:
    """Whether the nodes of bitset ``mask`` are connected in the bitset adjacency ``adj``."""
    return bit_reach(adj, mask & -mask, mask) == mask


def band_sets(
    hh: np.ndarray, lo: int, hi: int, graphs: Sequence[tuple[np.ndarray, np.ndarray]], max_subsets: int
) -> list[int] | None:
    """Every set of nodes with households holding ``lo..hi`` households and connected in each
    graph once household-less nodes count as free joints (two nodes with households are
    adjacent when an edge or a path through household-less nodes joins them).

    Sets grow by the ESU scheme in the sparsest graph, pruned at ``hi`` (households are never
    negative), and are checked in the others at the end.  A set is a bitmask over the nodes
    with households, bit ``i`` standing for the ``i``-th of them.  ``None`` once more than
    ``max_subsets`` sets were visited.
    """
    adjs = [_joined_through_empty(hh, g) for g in graphs]
    w = hh[hh > 0].tolist()
    n = len(w)
    if not adjs:
        return None
    order = sorted(range(len(adjs)), key=lambda i: sum(x.bit_count() for x in adjs[i]))
    grow, checks = adjs[order[0]], [adjs[i] for i in order[1:]]
    wa = np.asarray(w, dtype=np.float64)
    if n and bool(np.all(wa == np.round(wa))):
        return _band_sets_compiled(wa.astype(np.int64), lo, hi, grow, checks, max_subsets)
    return _band_sets_plain(w, lo, hi, grow, checks, max_subsets)


def _band_sets_compiled(
    w: np.ndarray, lo: float, hi: float, grow: list[int], checks: list[list[int]], max_subsets: int
) -> list[int] | None:
    """:func:`band_sets` on whole households by the compiled kernel
    (:func:`geo.partition.kernels.band_set_words`): the same sets in the same order."""
    from geo.partition.kernels import WORD_BITS, band_set_words

    n = len(w)
    nw = max(1, -(-n // WORD_BITS))
    full = (1 << WORD_BITS) - 1

    def words(bitsets: list[int]) -> np.ndarray:
        return np.array([[(x >> (WORD_BITS * j)) & full for j in range(nw)] for x in bitsets],
                        dtype=np.int64).reshape(n, nw)

    chk = np.stack([words(c) for c in checks]) if checks else np.zeros((0, n, nw), dtype=np.int64)
    # whole households: load >= lo and load > hi compare as with ceil(lo) and floor(hi)
    cols, ok = band_set_words(w, int(math.ceil(lo)), int(math.floor(hi)), words(grow), chk, int(max_subsets))
    if not ok:
        return None
    if nw == 1:
        return cols[:, 0].tolist()
    acc = cols[:, nw - 1].astype(object)
    for j in range(nw - 2, -1, -1):
        acc = (acc << WORD_BITS) | cols[:, j].astype(object)
    return acc.tolist()


def _band_sets_plain(
    w: list, lo: float, hi: float, grow: list[int], checks: list[list[int]], max_subsets: int
) -> list[int] | None:
    """:func:`band_sets` in plain Python (households that are not whole numbers)."""
    n = len(w)
    cols: list[int] = []
    visited = 0

    class _Limit(Exception):
        pass

    def extend(mask: int, load: int, ext: int, seen: int, above: int) -> None:
        nonlocal visited
        visited += 1
        if visited > max_subsets:
            raise _Limit
        if load >= lo and all(_connected(mask, a) for a in checks):
            cols.append(mask)
        while ext:
            low = ext & -ext
            ext ^= low
            v = low.bit_length() - 1
            if load + w[v] > hi:
                continue
            new = grow[v] & above & ~seen
            extend(mask | low, load + w[v], ext | new, seen | new, above)

    try:
        for r in range(n):
            if w[r] > hi:
                continue
            above = ~((1 << (r + 1)) - 1)
            first = grow[r] & above
            extend(1 << r, w[r], first, first | (1 << r), above)
    except _Limit:
        return None
    return cols


def exact_cover(cols: Sequence[int], n: int, max_nodes: int) -> str:
    """Whether some of the sets ``cols`` (bitmasks over ``0..n-1``) cover every node exactly
    once: ``"FEASIBLE"``, ``"INFEASIBLE"`` or ``"UNKNOWN"`` after ``max_nodes`` search nodes.

    Depth first, the node held by the fewest sets first (fixed order), remainders that
    failed remembered.  The cheap alternative to the CP-SAT cover of
    :func:`cover_relaxation` when the sets are many: building that model costs most of a
    second for 30,000 sets, and a cover with no solution is found out long before.
    """
    holding: list[list[int]] = [[] for _ in range(n)]
    for c in cols:
        x = c
        while x:
            low = x & -x
            holding[low.bit_length() - 1].append(c)
            x ^= low
    order = sorted(range(n), key=lambda v: (len(holding[v]), v))
    full = (1 << n) - 1
    failed: set[int] = set()
    budget = [max_nodes]

    def go(done: int) -> bool | None:
        if done == full:
            return True
        if done in failed:
            return False
        budget[0] -= 1
        if budget[0] < 0:
            return None
        v = next(u for u in order if not done >> u & 1)
        for c in holding[v]:
            if c & done:
                continue
            r = go(done | c)
            if r is None or r:
                return r
        failed.add(done)
        return False

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 2 * n + 1000))
    try:
        r = go(0)
    finally:
        sys.setrecursionlimit(limit)
    return "UNKNOWN" if r is None else ("FEASIBLE" if r else "INFEASIBLE")


def cover_relaxation(
    hh: np.ndarray,
    min_hh: float,
    max_hh: float,
    graphs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_subsets: int = 50_000,
    det_time: float = 2.0,
    time_limit: float | None = None,
) -> str:
    """Prove that no partition into grids in band, connected in every graph, exists, at any
    grid count, by a relaxation that drops the household-less nodes.

    A grid holds households, so each grid's nodes with households stay connected in each
    graph once two of them count as adjacent when an edge or a path through household-less
    nodes joins them (the path's nodes lie in a component of household-less nodes that
    touches both).  Every connected set of nodes with households in band is listed (connected
    sets grow by the ESU scheme, pruned at the maximum: households are never negative), and
    CP-SAT looks for a choice of them that covers every node with households exactly once.
    None means that no partition of the original graphs exists either.  The household-less
    nodes are where the search and the tree model spend their effort, so this settles lumpy
    regions full of shops and schools in well under a second.

    Parameters
    ----------
    hh:
        Households per node (not negative).
    min_hh, max_hh:
        The band (``min_hh > 0``).
    graphs:
        Edge lists on ``0..n-1``.
    max_subsets:
        Most connected sets visited before giving up (keeps the cost bounded).
    det_time, time_limit:
        CP-SAT deterministic and optional wall-clock limits for the cover.

    Returns
    -------
    str
        ``"INFEASIBLE"`` (proved: no partition exists), ``"RELAXED"`` (the relaxation has a
        cover, so nothing is proved), ``"UNKNOWN"`` (a limit was reached) or
        ``"UNAVAILABLE"`` (no ortools).
    """
    hh = np.asarray(hh, dtype=np.int64)
    lo, hi = int(math.ceil(min_hh)), int(math.floor(max_hh))
    if lo <= 0:
        raise ValueError("the relaxation needs a minimum above 0")
    n = int((hh > 0).sum())
    if n == 0:
        return "INFEASIBLE" if len(hh) else "RELAXED"
    if int(hh.max()) > hi:
        return "INFEASIBLE"
    cols = band_sets(hh, lo, hi, graphs, max_subsets)
    if cols is None:
        return "UNKNOWN"
    covered = 0
    for c in cols:
        covered |= c
    if covered != (1 << n) - 1:
        return "INFEASIBLE"  # a node no set in band can hold
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - optional dependency
        return "UNAVAILABLE"
    model = cp_model.CpModel()
    by_node: list[list] = [[] for _ in range(n)]
    for c in cols:
        x = model.NewBoolVar("")
        m = c
        while m:
            low = m & -m
            by_node[low.bit_length() - 1].append(x)
            m ^= low
    for lits in by_node:
        model.AddExactlyOne(lits)
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(det_time)
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = 1
    st = solver.Solve(model)
    if st == cp_model.INFEASIBLE:
        return "INFEASIBLE"
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return "RELAXED"
    return "UNKNOWN"
