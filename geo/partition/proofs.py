"""An independent checker of the engine's infeasibility claims.

The engine calls a region infeasible (no partition of its buildings into grids in band, each
connected in both rule graphs) by counting, pockets, the cover relaxation, the cover and lift
or the CP-SAT model.  This module re-derives what it can from the building-level data alone,
sharing no code with the search or the solvers:

1. **The region is closed**: a grid in band holds no building above the maximum and no locked
   building, and is connected in the footprint graph and in the cell graph, so it lies inside
   one class of the fixpoint "split by footprint components, then by cell components, until
   nothing changes" over the free buildings.  A claimed region must be a union of such
   classes, else no claim about it says anything about the community (``unchecked``).
2. **Counting** is checked by its arithmetic: ``ceil(H/max) > floor(H/min)``, printed.
3. **Pockets** come with a certificate: the engine's merges, in order, each ``(graph, A, C)``
   where ``A`` is a set already shown to share one grid and ``C`` a set holding fewer than
   the minimum whose only neighbours outside ``C`` in that graph (within the region) lie in
   ``A``.  No grid fits inside ``C``, and a grid meeting ``C`` leaves it only through ``A``,
   so ``C`` shares ``A``'s grid.  Each step is verified on the buildings' graphs by its
   own arithmetic; a merged set above the maximum proves the claim (the sizes printed).
4. **Any claim** is then checked by exhaustive search on its region contracted by the
   verified merges (:func:`partition_search`): every set in band connected in both graphs is
   listed and every way to cover the region with them tried, within a work budget
   (:attr:`~geo.partition.config.EngineConfig.check_sets`, ``check_nodes``); finding a
   partition *refutes* the claim, running out of budget leaves it unchecked.
   (A partition into grids in band keeps every verified group whole, and a grid connected
   in a graph stays connected when its groups are contracted, so no partition of the
   contracted region means none of the region.)  This is how ``cover`` and ``exact`` claims
   (CP-SAT and set-cover searches, which carry no certificate an independent program could
   check in reasonable time) are checked.

A claim no check settles is ``unchecked``; the report counts the three outcomes, and the
benchmarks count the grids of a region with an unchecked claim as failures.
Buildings with an empty cell (a footprint inside another) are tied to the building whose cell
covers them, as the engine ties them: their footprint lies in that grid whatever happens.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.partition.config import DEFAULT

__all__ = ["check_claims", "closed_classes", "partition_exists", "partition_search"]

#: regions of at most this many units are small enough for :func:`partition_exists`, the
#: plain reference search the tests compare :func:`partition_search` with
BRUTE_MAX_UNITS = 14


def _uf(n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def _split(nodes: np.ndarray, pairs: np.ndarray, n: int) -> list[np.ndarray]:
    """Connected components of ``pairs`` induced on ``nodes``."""
    if len(nodes) <= 1:
        return [nodes]
    inside = np.zeros(n, dtype=bool)
    inside[nodes] = True
    m = inside[pairs[:, 0]] & inside[pairs[:, 1]] if len(pairs) else np.zeros(0, dtype=bool)
    p = pairs[m]
    g = coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    c = comp[nodes]
    return [nodes[c == v] for v in np.unique(c)]


def closed_classes(n: int, free: np.ndarray, graphs: list[np.ndarray]) -> np.ndarray:
    """Class of each unit (-1 when not free): the fixpoint of splitting the free units by the
    components of each graph in turn.  A set connected in every graph lies in one class."""
    parts = [np.flatnonzero(free)]
    while True:
        new: list[np.ndarray] = []
        for pairs in graphs:
            new = []
            for part in parts:
                new.extend(_split(part, pairs, n))
            changed = len(new) != len(parts)
            parts = new
            if changed:
                break
        else:
            break
    cls = np.full(n, -1, dtype=np.int64)
    for i, part in enumerate(parts):
        cls[part] = i
    return cls


def _connected(mask: int, adj: list[int]) -> bool:
    start = mask & -mask
    seen = start
    frontier = start
    while frontier:
        v = (frontier & -frontier).bit_length() - 1
        frontier &= frontier - 1
        nxt = adj[v] & mask & ~seen
        seen |= nxt
        frontier |= nxt
    return seen == mask


def partition_exists(hh: list[int], lo: float, hi: float, adjs: list[list[int]]) -> list[int] | None:
    """A partition of units ``0..n-1`` into sets with households in ``[lo, hi]``, each
    connected in every adjacency (bit masks), as a list of masks; ``None`` when none exists.
    Exhaustive: the set holding the lowest unplaced unit is tried in every form."""
    n = len(hh)
    failed: set[int] = set()

    def solve(rem: int) -> list[int] | None:
        if rem == 0:
            return []
        if rem in failed:
            return None
        v = (rem & -rem).bit_length() - 1
        rest = [u for u in range(n) if rem >> u & 1 and u != v]
        # every subset of the rest, with v: grown by households, pruned above the maximum
        stack = [(0, 1 << v, hh[v])]
        while stack:
            i, mask, h = stack.pop()
            if i == len(rest):
                if lo <= h <= hi and all(_connected(mask, a) for a in adjs):
                    sub = solve(rem & ~mask)
                    if sub is not None:
                        return [mask, *sub]
                continue
            stack.append((i + 1, mask, h))
            u = rest[i]
            if h + hh[u] <= hi:
                stack.append((i + 1, mask | (1 << u), h + hh[u]))
        failed.add(rem)
        return None

    return solve((1 << n) - 1)


def partition_search(
    hh: list[int], lo: float, hi: float, adjs: list[list[int]], max_sets: int, max_nodes: int
) -> tuple[str, list[int] | None]:
    """Exhaustive search for a partition of units ``0..n-1`` into sets with households in
    ``[lo, hi]``, each connected in every adjacency (bit masks), within a work budget.

    First every set connected in the first adjacency with at most ``hi`` households is listed
    (each once, grown from its lowest unit through neighbours not yet excluded), keeping those
    in band and connected in the others; then the lowest uncovered unit is covered by each
    listed set holding it, in turn, with failed remainders remembered.

    Returns
    -------
    (str, list of int or None)
        ``("found", masks)``, ``("none", None)`` when no partition exists, or
        ``("budget", None)`` when more than ``max_sets`` sets or ``max_nodes`` search steps
        would be needed.
    """
    n = len(hh)
    a0 = adjs[0]
    steps = 0
    by_unit: list[list[int]] = [[] for _ in range(n)]

    def grow(root: int, S: int, h: int, ext: int, near: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > max_sets:
            return False
        if h >= lo and all(_connected(S, a) for a in adjs[1:]):
            by_unit[root].append(S)
        while ext:
            w = (ext & -ext).bit_length() - 1
            ext &= ext - 1
            hw = h + hh[w]
            if hw > hi:
                continue
            # neighbours of w above the root, not in S and not next to S: grown only from w
            new = a0[w] & ~(S | near) & ~((1 << (root + 1)) - 1)
            if not grow(root, S | (1 << w), hw, ext | new, near | a0[w]):
                return False
        return True

    for r in range(n):
        if hh[r] > hi:
            continue
        above = a0[r] & ~((1 << (r + 1)) - 1)
        if not grow(r, 1 << r, hh[r], above, a0[r] | (1 << r)):
            return "budget", None
    # the uncovered unit held by the fewest sets is covered first (a static order: the most
    # constrained units decide early, and a unit no set can still cover fails at once)
    holding: list[list[int]] = [[] for _ in range(n)]
    for r in range(n):
        for S in by_unit[r]:
            x = S
            while x:
                v = (x & -x).bit_length() - 1
                x &= x - 1
                holding[v].append(S)
    order = sorted(range(n), key=lambda v: (len(holding[v]), v))
    full = (1 << n) - 1
    failed: set[int] = set()
    nodes = 0
    out: list[int] = []

    def cover(done: int) -> bool | None:
        nonlocal nodes
        if done == full:
            return True
        if done in failed:
            return False
        nodes += 1
        if nodes > max_nodes:
            return None
        v = next(u for u in order if not done >> u & 1)
        for S in holding[v]:
            if S & done:
                continue
            out.append(S)
            got = cover(done | S)
            if got is None:
                return None
            if got:
                return True
            out.pop()
        failed.add(done)
        return False

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 4 * n + 1000))
    try:
        got = cover(0)
    finally:
        sys.setrecursionlimit(old)
    if got is None:
        return "budget", None
    return ("found", list(out)) if got else ("none", None)


def check_claims(
    claims: list[dict[str, Any]],
    members: list[np.ndarray],
    hh: np.ndarray,
    fp_pairs: np.ndarray,
    cell_pairs: np.ndarray,
    ties: list[tuple[int, int]],
    fixed: np.ndarray,
    min_hh: float,
    max_hh: float,
    certificates: list[dict[str, Any] | None] | None = None,
    max_sets: int = DEFAULT.check_sets,
    max_nodes: int = DEFAULT.check_nodes,
) -> dict[str, int]:
    """Check each claim (an ``infeasible_regions`` record, annotated in place with ``check``:
    ``checked``, ``unchecked`` or ``refuted``, and ``check_detail``).

    Parameters
    ----------
    claims, members:
        The records and, for each, the building indices of its region.
    hh:
        Households per building.
    fp_pairs, cell_pairs:
        The rule graphs' edges between buildings.
    ties:
        Building pairs that share a grid by construction (a footprint inside another).
    fixed:
        Buildings outside every region (locked).
    min_hh, max_hh:
        The band.
    certificates:
        Per claim, ``None`` or ``{"merges": [(graph index, A buildings, C buildings), ...]}``
        (see the module docstring).
    max_sets, max_nodes:
        Work budget of the exhaustive search (:func:`partition_search`) per claim.

    Returns
    -------
    dict
        ``{"claims", "checked", "unchecked", "refuted"}``.
    """
    n = len(hh)
    out = {"claims": len(claims), "checked": 0, "unchecked": 0, "refuted": 0}
    if not claims:
        return out
    root = _uf(n, ties)
    ids, unit = np.unique(root, return_inverse=True)
    m = len(ids)
    uh = np.bincount(unit, weights=hh, minlength=m).round().astype(np.int64)
    ufixed = np.bincount(unit, weights=np.asarray(fixed, dtype=float), minlength=m) > 0
    graphs = []
    for pairs in (fp_pairs, cell_pairs):
        p = unit[np.asarray(pairs, dtype=np.int64).reshape(-1, 2)]
        p = p[p[:, 0] != p[:, 1]]
        graphs.append(np.sort(p, axis=1))
    free = ~ufixed & (uh <= max_hh)
    cls = closed_classes(m, free, graphs)
    certs = certificates if certificates is not None else [None] * len(claims)
    csr = [_csr(m, g) for g in graphs]
    for rec, mem, cert in zip(claims, members, certs, strict=True):
        units = np.unique(unit[np.asarray(mem, dtype=np.int64)])
        H = int(uh[units].sum())
        inside = cls[units]
        whole = (inside >= 0).all() and all(
            np.isin(np.flatnonzero(cls == c), units).all() for c in np.unique(inside))
        if not whole:
            rec["check"], rec["check_detail"] = "unchecked", "the region is not closed under the rule graphs"
            out["unchecked"] += 1
            continue
        kmin = math.ceil(H / max_hh) if H > 0 else 0
        kmax = math.floor(H / min_hh) if min_hh > 0 else 10**9
        if H == 0 or kmin > kmax:
            rec["check"] = "checked"
            rec["check_detail"] = (f"ceil({H}/{max_hh:g}) = {kmin} > floor({H}/{min_hh:g}) = {kmax}"
                                   if H else "no households")
            out["checked"] += 1
            continue
        # the certificate's merges, each verified; a failed step leaves the claim unchecked
        grp = np.arange(m, dtype=np.int64)  # group root per unit (only region units move)
        merges = (cert or {}).get("merges") or []
        bad = _replay(merges, unit, units, uh, csr, grp, min_hh)
        if bad:
            rec["check"], rec["check_detail"] = "unchecked", f"certificate: {bad}"
            out["unchecked"] += 1
            continue
        roots = _roots(grp, units)
        gids, ginv = np.unique(roots, return_inverse=True)
        gh = np.bincount(ginv, weights=uh[units], minlength=len(gids)).round().astype(np.int64)
        if merges and gh.max() > max_hh:
            j = int(np.argmax(gh))
            nb = int(sum(int(np.count_nonzero(unit[np.asarray(mem, dtype=np.int64)] == u))
                         for u in units[ginv == j]))
            rec["check"] = "checked"
            rec["check_detail"] = (f"{len(merges)} pocket merges verified: {nb} buildings with {int(gh[j])} "
                                   f"households must share one grid, {int(gh[j])} > {max_hh:g}")
            out["checked"] += 1
            continue
        pos = {int(u): int(i) for u, i in zip(units.tolist(), ginv.tolist(), strict=True)}
        adjs = []
        for g in graphs:
            a = [0] * len(gids)
            for x, y in g.tolist():
                if x in pos and y in pos and pos[x] != pos[y]:
                    a[pos[x]] |= 1 << pos[y]
                    a[pos[y]] |= 1 << pos[x]
            adjs.append(a)
        if (gh == 0).any() and (gh > 0).sum() > 1:
            # household-less groups free to join any grid: if even then no partition exists,
            # none does (a grid's households are connected through its household-less units)
            hg = np.flatnonzero(gh > 0)
            st, _ = partition_search(gh[hg].tolist(), min_hh, max_hh, [_through_empty(a, gh, hg) for a in adjs],
                                     max_sets, max_nodes)
            if st == "none":
                rec["check"] = "checked"
                rec["check_detail"] = (
                    f"exhaustive search with household-less buildings free to join any grid: no partition "
                    f"of the {len(hg)} groups with households ({len(units)} units, {len(merges)} pocket merges "
                    "verified) into grids in band")
                out["checked"] += 1
                continue
        st, found = partition_search(gh.tolist(), min_hh, max_hh, adjs, max_sets, max_nodes)
        what = (f"{len(units)} units" if len(gids) == len(units)
                else f"{len(gids)} groups ({len(units)} units, {len(merges)} pocket merges verified)")
        if st == "none":
            rec["check"] = "checked"
            rec["check_detail"] = f"exhaustive search: no partition of {what} into grids in band"
            out["checked"] += 1
        elif st == "found" and not _holds(found, units, ginv, graphs, m):
            # the contracted graphs are a relaxation: their partition need not hold on the units
            rec["check"] = "unchecked"
            rec["check_detail"] = f"a partition of {what} into grids in band exists, not shown on the buildings"
            out["unchecked"] += 1
        elif st == "found":
            rec["check"] = "refuted"
            rec["check_detail"] = f"exhaustive search found a partition of {what} into {len(found)} grids in band"
            out["refuted"] += 1
        else:
            rec["check"] = "unchecked"
            rec["check_detail"] = (f"{what}: the exhaustive search needs more than its budget "
                                   f"({max_sets} sets, {max_nodes} steps)")
            out["unchecked"] += 1
    return out


def _through_empty(adj: list[int], gh: np.ndarray, hg: np.ndarray) -> list[int]:
    """Adjacency (bit masks over ``hg``, the groups with households) of groups joined
    directly or through a path of household-less groups in ``adj``."""
    empty = 0
    for i in np.flatnonzero(gh == 0).tolist():
        empty |= 1 << i
    # the household-less groups reachable from each group through household-less groups
    reach: dict[int, int] = {}
    seen = 0
    for i in np.flatnonzero(gh == 0).tolist():
        if seen >> i & 1:
            continue
        comp, front = 1 << i, 1 << i
        while front:
            v = (front & -front).bit_length() - 1
            front &= front - 1
            nxt = adj[v] & empty & ~comp
            comp |= nxt
            front |= nxt
        seen |= comp
        x = comp
        while x:
            v = (x & -x).bit_length() - 1
            x &= x - 1
            reach[v] = comp
    pos = {int(g): j for j, g in enumerate(hg.tolist())}
    out = []
    for g in hg.tolist():
        near = adj[g] & ~empty
        x = adj[g] & empty
        while x:
            v = (x & -x).bit_length() - 1
            comp = reach[v]
            x &= ~comp
            y = comp
            while y:
                w = (y & -y).bit_length() - 1
                y &= y - 1
                near |= adj[w] & ~empty
        m = 0
        y = near & ~(1 << g)
        while y:
            w = (y & -y).bit_length() - 1
            y &= y - 1
            m |= 1 << pos[w]
        out.append(m)
    return out


def _holds(masks: list[int], units: np.ndarray, ginv: np.ndarray, graphs: list[np.ndarray], m: int) -> bool:
    """Whether each set of groups (bit masks over ``ginv``'s groups) is connected in every
    unit graph once expanded to its units."""
    for mask in masks:
        sel = units[[(mask >> int(g)) & 1 == 1 for g in ginv.tolist()]]
        for g in graphs:
            if len(_split(sel, g, m)) > 1:
                return False
    return True


def _csr(m: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists of an undirected edge list on ``0..m-1`` as ``(start, nbr)``."""
    a = np.concatenate([pairs[:, 0], pairs[:, 1]]) if len(pairs) else np.zeros(0, dtype=np.int64)
    b = np.concatenate([pairs[:, 1], pairs[:, 0]]) if len(pairs) else np.zeros(0, dtype=np.int64)
    o = np.argsort(a, kind="stable")
    return np.searchsorted(a[o], np.arange(m + 1)), b[o]


def _root(grp: np.ndarray, x: int) -> int:
    while grp[x] != x:
        grp[x] = grp[grp[x]]
        x = int(grp[x])
    return x


def _roots(grp: np.ndarray, units: np.ndarray) -> np.ndarray:
    return np.array([_root(grp, int(u)) for u in units.tolist()], dtype=np.int64)


def _replay(merges: list, unit: np.ndarray, units: np.ndarray, uh: np.ndarray,
            csr: list[tuple[np.ndarray, np.ndarray]], grp: np.ndarray, min_hh: float) -> str | None:
    """Verify and apply each merge ``(graph, A, C)`` (building indices) on the unit groups
    ``grp``; the first step that does not hold is described, else ``None``."""
    m = len(uh)
    region = np.zeros(m, dtype=bool)
    region[units] = True
    for i, step in enumerate(merges):
        gi, A_b, C_b = step
        if gi not in (0, 1):
            return f"step {i}: unknown graph {gi!r}"
        A = np.unique(unit[np.asarray(A_b, dtype=np.int64)])
        C = np.unique(unit[np.asarray(C_b, dtype=np.int64)])
        if not len(A) or not len(C) or not region[A].all() or not region[C].all():
            return f"step {i}: a set is empty or leaves the region"
        if np.isin(C, A).any():
            return f"step {i}: the pocket overlaps the set it joins"
        ra = {_root(grp, int(u)) for u in A.tolist()}
        if len(ra) != 1:
            return f"step {i}: the set it joins is not yet shown to share one grid"
        hc = int(uh[C].sum())
        if not hc < min_hh:
            return f"step {i}: the pocket holds {hc} households, not fewer than {min_hh:g}"
        start, nbr = csr[gi]
        seg = np.concatenate([nbr[start[u]: start[u + 1]] for u in C.tolist()])
        seg = seg[region[seg]]
        if not np.isin(seg, np.concatenate([A, C])).all():
            return f"step {i}: the pocket has neighbours outside itself and the set it joins"
        r = ra.pop()
        for u in C.tolist():
            grp[_root(grp, u)] = r
    return None
