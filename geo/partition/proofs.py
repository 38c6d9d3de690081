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
3. **Any claim** on a region of at most :data:`BRUTE_MAX_UNITS` units is checked by brute
   force: every partition into sets in band, each connected in both graphs, is searched for;
   finding one *refutes* the claim.

A claim neither check settles is ``unchecked``; the report counts the three outcomes.
Buildings with an empty cell (a footprint inside another) are tied to the building whose cell
covers them, as the engine ties them: their footprint lies in that grid whatever happens.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: regions of at most this many units (tied buildings count once) are checked by brute force
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
    for rec, mem in zip(claims, members, strict=True):
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
        if len(units) <= BRUTE_MAX_UNITS:
            pos = {int(u): i for i, u in enumerate(units.tolist())}
            adjs = []
            for g in graphs:
                a = [0] * len(units)
                for x, y in g.tolist():
                    if x in pos and y in pos:
                        a[pos[x]] |= 1 << pos[y]
                        a[pos[y]] |= 1 << pos[x]
                adjs.append(a)
            found = partition_exists([int(uh[u]) for u in units], min_hh, max_hh, adjs)
            if found is None:
                rec["check"] = "checked"
                rec["check_detail"] = f"brute force: no partition of {len(units)} units into grids in band"
                out["checked"] += 1
            else:
                rec["check"] = "refuted"
                rec["check_detail"] = f"brute force found a partition into {len(found)} grids in band"
                out["refuted"] += 1
            continue
        rec["check"] = "unchecked"
        rec["check_detail"] = f"{len(units)} units: too many for brute force"
        out["unchecked"] += 1
    return out
