"""Seeded search for household-balanced, contiguous, compact grids on a unit graph.

A *unit* is a building, or a group of buildings that must stay together (a building whose cell
is empty is tied to the building whose cell covers it, and a cluster stranded between the
rule graphs is tied to a chain that is legal in both, :func:`geo.partition.graph.bridge_ties`).
Units carry three graphs: the two *rule graphs* (footprint adjacency for rule ``contiguity``,
cell adjacency for ``one_piece``) and the *search graph* (edges present in both, plus a few
joining edges where that intersection is disconnected).  The search:

1. recursive spanning-tree bisection (random-weighted geometric MSTs, several trees per cut,
   cuts scored by band feasibility, balance, then cut length) — optionally on a coarser graph
   where compounds are contracted so they start whole; subtree sums come from a depth-first
   preorder and cut lengths from edge arrays (numpy), so a cut costs no Python traversal;
2. local search: boundary moves that keep the source grid connected, accepted when they
   improve the lexicographic key
   ``(band excess, mean-deviation excess over 0.10, [households moved], split compounds, -ΣPP)``;
3. merge-split steps (ReCom-like): two adjacent grids are merged and re-split by the best of
   several spanning-tree cuts when that improves the same key;
4. on the full unit graph, exact polish: :meth:`State.legalize` hands pieces of a grid that are
   cut off in a rule graph to an adjacent grid (or, when no grid can take them, re-splits the
   grid with one or two neighbouring grids), moves are checked in both rule graphs
   (articulation checks by bounded BFS), and when the band is still missed
   :meth:`State.repair` first balances with squared deviations (which moves households along
   chains of grids) and then re-splits a bad grid with 1-3 connected neighbours.

Polsby-Popper of a grid is computed exactly from cell areas, cell perimeters and shared edge
lengths (the union of edge-sharing cells), so no geometry is built during the search.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from scipy.sparse import coo_matrix

from geo.partition import kernels
from geo.partition.config import DEFAULT
from geo.partition.graph import BuildingGraph, canon_pairs

__all__ = [
    "Params", "State", "Units", "adj_components", "compound_groups", "contract", "exact_ok", "exact_parts",
    "induced_connected", "make_units", "recursive_bisection", "refine_regions", "tree_cuts", "zero_clusters",
]

log = logging.getLogger(__name__)

FOUR_PI = 4.0 * math.pi
#: mean relative deviation the search drives every region below before it turns to compounds
#: and compactness: :attr:`geo.partition.config.EngineConfig.dev_cap` (the reasoning is there)
DEV_CAP = DEFAULT.dev_cap


@dataclass
class Units:
    """Contracted graph the search works on (see module docstring)."""

    n: int
    hh: np.ndarray
    area: np.ndarray
    perim: np.ndarray
    xy: np.ndarray
    adj: list[list[int]]
    shared: list[dict[int, float]]
    comp: np.ndarray
    members: list[np.ndarray]
    fadj: list[list[int]] | None = None
    cadj: list[list[int]] | None = None
    ea: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eb: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sa: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sb: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sl: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fa: np.ndarray | None = None
    fb: np.ndarray | None = None
    ca: np.ndarray | None = None
    cb: np.ndarray | None = None
    bad_a: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bad_b: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def finish(self) -> Units:
        """Fill the edge arrays from ``adj``/``shared`` (and ``fadj``/``cadj`` when exact)."""
        self.ea, self.eb = _edge_arrays(self.adj)
        lens = np.fromiter((len(d) for d in self.shared), dtype=np.int64, count=len(self.shared))
        tot = int(lens.sum())
        src = np.repeat(np.arange(len(self.shared), dtype=np.int64), lens)
        dst = np.fromiter(chain.from_iterable(self.shared), dtype=np.int64, count=tot)
        ln = np.fromiter(chain.from_iterable(d.values() for d in self.shared), dtype=float, count=tot)
        up = src < dst
        self.sa, self.sb, self.sl = src[up], dst[up], ln[up]
        if self.fadj is not None and self.cadj is not None:
            self.fa, self.fb = _edge_arrays(self.fadj)
            self.ca, self.cb = _edge_arrays(self.cadj)
            # a search edge missing from a rule graph (a joining edge): keyed a * n + b
            n = max(self.n, 1)
            ek = self.ea * n + self.eb
            ok = np.isin(ek, self.fa * n + self.fb) & np.isin(ek, self.ca * n + self.cb)
            self.bad_a, self.bad_b = self.ea[~ok], self.eb[~ok]
        return self

    def add_edges(self, pairs: list[tuple[int, int]]) -> None:
        """Add search-graph edges (joins); legality is then checked exactly by the search."""
        for a, b in pairs:
            if b not in self.adj[a]:
                self.adj[a] = sorted(self.adj[a] + [b])
                self.adj[b] = sorted(self.adj[b] + [a])
        self.finish()

    def exact(self) -> bool:
        """Whether the rule graphs (footprint and cell adjacency) are known."""
        return self.fadj is not None


def _edge_arrays(adj: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each edge of ``adj`` once, as ``(u, v)`` with ``u < v``, grouped by ``u`` ascending
    (in ``adj[u]``'s order within a group)."""
    lens = np.fromiter((len(x) for x in adj), dtype=np.int64, count=len(adj))
    a = np.repeat(np.arange(len(adj), dtype=np.int64), lens)
    b = np.fromiter(chain.from_iterable(adj), dtype=np.int64, count=int(lens.sum()))
    up = a < b
    return a[up], b[up]


def induced_connected(n: int, mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the vertices with ``mask`` induce a connected subgraph of edges ``(a, b)``.

    Parameters
    ----------
    n:
        Number of vertices.
    mask:
        Boolean membership per vertex.
    a, b:
        Edge end points.

    Returns
    -------
    bool
    """
    return bool(kernels.induced_connected(n, mask, a, b))


def exact_ok(U: Units, X: list[int] | np.ndarray) -> bool:
    """Rule check of one group of units: connected in the footprint and in the cell graph.

    Parameters
    ----------
    U:
        Units (without rule graphs, e.g. a contracted graph, every group passes).
    X:
        Unit indices of the group.

    Returns
    -------
    bool
    """
    if not U.exact():
        return True
    mask = np.zeros(U.n, dtype=bool)
    mask[np.asarray(X, dtype=np.int64)] = True
    return induced_connected(U.n, mask, U.fa, U.fb) and induced_connected(U.n, mask, U.ca, U.cb)


def exact_parts(U: Units, nodes: list[int], labels: np.ndarray, k: int) -> list[list[int]] | None:
    """The ``k`` groups of ``nodes`` by ``labels`` (a grid ``0..k-1`` per node, e.g. an exact
    solution expanded from contracted groups), or ``None`` unless every group is non-empty
    and passes :func:`exact_ok`."""
    per = np.asarray(labels).tolist()
    parts = [[u for u, g in zip(nodes, per, strict=False) if g == j] for j in range(k)]
    if all(parts) and all(exact_ok(U, p) for p in parts):
        return parts
    return None


def make_units(g: BuildingGraph, hh: np.ndarray, compound: np.ndarray, group: np.ndarray) -> Units:
    """Contract buildings into units.

    Parameters
    ----------
    g:
        Building graph.
    hh:
        Households per building.
    compound:
        Compound id per building (-1: none).
    group:
        Unit id per building, ``0..m-1``.

    Returns
    -------
    Units
    """
    m = int(group.max()) + 1 if len(group) else 0
    uh = np.bincount(group, weights=hh, minlength=m).round().astype(np.int64)
    ua = np.bincount(group, weights=g.area, minlength=m)
    up = np.bincount(group, weights=g.perim, minlength=m)
    w = np.maximum(g.area, 1e-6)
    uxy = np.stack(
        [
            np.bincount(group, weights=g.xy[:, 0] * w, minlength=m),
            np.bincount(group, weights=g.xy[:, 1] * w, minlength=m),
        ],
        axis=1,
    ) / np.bincount(group, weights=w, minlength=m)[:, None]
    group = np.asarray(group, dtype=np.int64)

    def _unit_pairs(pairs: np.ndarray, weights: np.ndarray | None = None):
        """Distinct unit pairs (both directions, sorted by source then target) and weights."""
        if len(pairs) == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0)
        a, b = group[pairs[:, 0]], group[pairs[:, 1]]
        keep = a != b
        lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
        uk, inv = np.unique(lo * m + hi, return_inverse=True)
        if weights is not None:
            w = np.bincount(inv.ravel(), weights=weights[keep], minlength=len(uk))
        else:
            w = np.zeros(len(uk))
        lo, hi = uk // m, uk % m
        src, dst, ww = np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([w, w])
        o = np.lexsort((dst, src))
        return src[o], dst[o], ww[o]

    def _lists(src: np.ndarray, dst: np.ndarray) -> list[list[int]]:
        bounds = np.searchsorted(src, np.arange(m + 1)).tolist()
        dl = dst.tolist()
        return [dl[bounds[u]: bounds[u + 1]] for u in range(m)]

    cp, cl = g.cell_pairs, np.asarray(g.cell_len, dtype=float)
    if len(cp):
        same = group[cp[:, 0]] == group[cp[:, 1]]
        up -= 2.0 * np.bincount(group[cp[same, 0]], weights=cl[same], minlength=m)
    src, dst, ww = _unit_pairs(cp, cl)
    bounds = np.searchsorted(src, np.arange(m + 1)).tolist()
    dl, wl = dst.tolist(), ww.tolist()
    shared: list[dict[int, float]] = [
        dict(zip(dl[bounds[u]: bounds[u + 1]], wl[bounds[u]: bounds[u + 1]], strict=False)) for u in range(m)
    ]
    cadj = [list(d) for d in shared]
    adj = _lists(*_unit_pairs(g.search_pairs)[:2])
    fadj = _lists(*_unit_pairs(g.fp_pairs)[:2])
    order = np.argsort(group, kind="stable")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    members = np.split(order, cuts) if len(order) else []
    ucomp = np.full(m, -1, dtype=np.int64)
    for u, mem in enumerate(members):
        c = compound[mem]
        c = c[c >= 0]
        if len(c):
            ucomp[u] = int(np.bincount(c).argmax()) if c.max() < 10_000_000 else int(c[0])
    return Units(m, uh, ua, np.maximum(up, 0.0), uxy, adj, shared, ucomp, members, fadj, cadj).finish()


@dataclass
class Params:
    """Band settings."""

    target: float = 400.0
    min_hh: float = 300.0
    max_hh: float = 500.0


def _exc(h: float, lo: float, hi: float) -> float:
    return (lo - h) if h < lo else ((h - hi) if h > hi else 0.0)


def _pp(a: float, p: float) -> float:
    return 0.0 if p <= 0 else FOUR_PI * a / (p * p)


def _induced_edges(U: Units, nodes: list[int], pos: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for u in nodes:
        iu = pos[u]
        for v in U.adj[u]:
            iv = pos.get(v)
            if iv is not None and iu < iv:
                a.append(iu)
                b.append(iv)
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


def tree_cuts(
    U: Units, nodes: list[int], k1: int, k2: int, prm: Params, rng: np.random.Generator, ntrees: int = 8, top: int = 3,
    limit: int | None = None,
) -> list[tuple[tuple, list[int], list[int]]]:
    """Candidate two-way cuts of ``nodes`` from random-weighted spanning trees.

    Subtree sums come from a depth-first preorder (a subtree is a contiguous slice of it), and
    cut lengths from the shared-edge arrays, so no per-candidate Python traversal is needed.

    Parameters
    ----------
    U:
        Units.
    nodes:
        Units to split (connected in the search graph).
    k1, k2:
        Number of grids each side must hold.
    prm:
        Band settings.
    rng:
        Seeded generator.
    ntrees:
        Spanning trees tried.
    top:
        Best cuts kept per tree (by band excess then balance) for the cut-length tie-break.
    limit:
        Only the first ``limit`` cuts are wanted (the rest are not built; the first ones are
        the same as without it).

    Returns
    -------
    list
        ``(score, side_with_k1, side_with_k2)`` sorted by score
        ``(band excess, balance bucket, cut length / sqrt(area))``; sides that break the
        rule graphs (possible only through joining edges) are left out.
    """
    n = len(nodes)
    if n < 2:
        return []
    idx = np.asarray(nodes, dtype=np.int64)
    inset = np.zeros(U.n, dtype=bool)
    inset[idx] = True
    pos = np.full(U.n, -1, dtype=np.int64)
    pos[idx] = np.arange(n)
    m = inset[U.ea] & inset[U.eb]
    if not m.any():
        return []
    ea, eb = pos[U.ea[m]], pos[U.eb[m]]
    needs_check = U.exact() and len(U.bad_a) and bool((inset[U.bad_a] & inset[U.bad_b]).any())
    ms = inset[U.sa] & inset[U.sb]
    sa, sb, sl = pos[U.sa[ms]], pos[U.sb[ms]], U.sl[ms]
    hh = U.hh[idx].astype(float)
    area = U.area[idx]
    hh.sum()
    atot = area.sum()
    d = np.hypot(*(U.xy[idx[ea]] - U.xy[idx[eb]]).T) + 1.0
    T, lo, hi = prm.target, prm.min_hh, prm.max_hh
    out = []
    seen = set()
    W = np.empty((ntrees, len(d)))
    roots = np.empty(ntrees, dtype=np.int64)
    for t in range(ntrees):  # the draws interleave as they always did; the arithmetic runs once
        W[t] = rng.normal(0.0, 0.6, len(d))
        roots[t] = int(rng.integers(n))
    np.exp(W, out=W)
    W *= d
    orders, subs, cnts, connected = kernels.spanning_trees(n, ea, eb, W, roots, hh)
    if not connected:
        return []  # not connected
    cand = kernels.tree_candidates(orders, subs, cnts, k1, k2, lo, hi, T, top, area, sa, sb, sl)
    rows = []
    for row in cand.tolist():
        t, st0, c, exc_v, dev_v, cut, aX, below_k1, mn, sm = row
        t, st0, c = int(t), int(st0), int(c)
        key = (int(mn), c, int(sm), below_k1)
        if key in seen:
            continue
        seen.add(key)
        score = (exc_v, round(dev_v / (0.05 * T)), cut / math.sqrt(max(aX, 1.0)) + cut / math.sqrt(max(atot - aX, 1.0)))
        rows.append((score, t, st0, c, below_k1))
    # sides are built in score order, a run of equal scores at a time (ties are ordered by the
    # first unit of the k1 side), until ``limit`` cuts are out
    rows.sort(key=lambda r: r[0])
    i = 0
    while i < len(rows) and (limit is None or len(out) < limit):
        j = i + 1
        while j < len(rows) and rows[j][0] == rows[i][0]:
            j += 1
        run = []
        for score, t, st0, c, below_k1 in rows[i:j]:
            side = orders[t, st0: st0 + c]
            inX = np.zeros(n, dtype=bool)
            inX[side] = True
            X = np.sort(idx[side])
            Y = idx[~inX]
            if needs_check and not (exact_ok(U, X) and exact_ok(U, Y)):
                continue
            Xl, Yl = X.tolist(), Y.tolist()
            run.append((score, Xl, Yl) if below_k1 else (score, Yl, Xl))
        run.sort(key=lambda r: r[1][:1])
        out.extend(run)
        i = j
    return out if limit is None else out[:limit]


def recursive_bisection(
    U: Units, nodes: list[int], k: int, prm: Params, rng: np.random.Generator, ntrees: int = 8
) -> list[list[int]]:
    """Split ``nodes`` into ``k`` connected parts by recursive spanning-tree bisection."""
    if k <= 1 or len(nodes) <= 1:
        return [sorted(nodes)]
    k1 = k // 2
    k2 = k - k1
    cuts = tree_cuts(U, nodes, k1, k2, prm, rng, ntrees, limit=1)
    if not cuts:
        return [sorted(nodes)] + [[] for _ in range(k - 1)]
    _, X, Y = cuts[0]
    return recursive_bisection(U, X, k1, prm, rng, ntrees) + recursive_bisection(U, Y, k2, prm, rng, ntrees)


def _still_connected(adj: list[list[int]], rest: set[int], u: int) -> bool:
    """Whether ``rest - {u}`` is connected in ``adj`` (``rest`` connected and holding ``u``)."""
    nb = [v for v in adj[u] if v in rest]
    if len(nb) <= 1:
        return len(nb) == 1 or len(rest) == 1
    target = len(rest) - 1
    seen = {nb[0], u}
    stack = [nb[0]]
    need = set(nb[1:])
    while stack:
        x = stack.pop()
        for y in adj[x]:
            if y not in seen and y in rest:
                seen.add(y)
                need.discard(y)
                if not need:
                    return True
                stack.append(y)
    return len(seen) - 1 == target


@dataclass
class State:
    """Mutable assignment of free units to grids ``0..k-1`` with running totals."""

    U: Units
    prm: Params
    lab: np.ndarray
    k: int
    orig: np.ndarray | None = None
    gh: list[float] = field(default_factory=list)
    ga: list[float] = field(default_factory=list)
    gp: list[float] = field(default_factory=list)
    mem: list[set[int]] = field(default_factory=list)
    cc: dict[int, dict[int, int]] = field(default_factory=dict)
    #: repair mode: the second key is the sum of squared relative deviations (uncapped), which
    #: spreads households along chains of grids so that a grid out of band can be reached
    balance: bool = False

    def _dt(self, h: float) -> float:
        r = (h - self.prm.target) / self.prm.target
        return r * r if self.balance else abs(r)

    def rebuild(self) -> None:
        U = self.U
        k = self.k
        self.gh, self.ga, self.gp = [0.0] * k, [0.0] * k, [0.0] * k
        self.mem = [set() for _ in range(k)]
        self.cc = defaultdict(lambda: defaultdict(int))
        # plain Python numbers (numpy scalars cost several times more per access; same sums)
        lab, hh, area, perim, comp = (x.tolist() for x in (self.lab, U.hh, U.area, U.perim, U.comp))
        gh, ga, gp = self.gh, self.ga, self.gp
        for u in range(U.n):
            g = lab[u]
            if g < 0:
                continue
            self.mem[g].add(u)
            gh[g] += hh[u]
            ga[g] += area[u]
            gp[g] += perim[u]
            if comp[u] >= 0:
                self.cc[comp[u]][g] += 1
            for v, ln in U.shared[u].items():
                if lab[v] == g:
                    gp[g] -= ln  # counted once from each side -> 2*ln in total

    # --- objective -----------------------------------------------------------------
    def totals(self) -> tuple[float, float, float, int, float]:
        p = self.prm
        E = sum(_exc(h, p.min_hh, p.max_hh) for h in self.gh)
        D = sum(self._dt(h) for h in self.gh)
        M = self.moved()
        S = sum(max(0, sum(1 for c in d.values() if c > 0) - 1) for d in self.cc.values())
        P = sum(_pp(a, q) for a, q in zip(self.ga, self.gp, strict=False))
        return E, D, M, S, P

    def key(self, E: float, D: float, M: float, S: int, P: float) -> tuple:
        cap = 0.0 if self.balance else DEV_CAP * self.k
        # quantised (E and the capped deviation are >= 0) so that float noise does not decide;
        # int(x + 0.5) is several times faster than round(x, n) in this hot path
        return (int(E * 1e6 + 0.5), int(max(0.0, D - cap) * 1e9 + 0.5), M, S, -P)

    def moved(self) -> float:
        if self.orig is None:
            return 0.0
        m = (self.lab != self.orig) & (self.lab >= 0)
        return float(self.U.hh[m].sum())

    # --- moves -----------------------------------------------------------------------
    def _connected_without(self, A: int, u: int) -> bool:
        """Whether grid ``A`` stays connected without unit ``u`` (in both rule graphs when known)."""
        U = self.U
        graphs = (U.fadj, U.cadj) if U.exact() else (U.adj,)
        rest = self.mem[A]
        for adj in graphs:
            if not _still_connected(adj, rest, u):
                return False
        return True

    def _targets(self, u: int, A: int) -> list[int]:
        """Grids that unit ``u`` may join (adjacent in both rule graphs when known)."""
        U = self.U
        lab = self.lab
        if U.exact():
            f = {int(lab[v]) for v in U.fadj[u] if lab[v] >= 0 and lab[v] != A}
            if not f:
                return []
            c = {int(lab[v]) for v in U.cadj[u] if lab[v] >= 0 and lab[v] != A}
            return sorted(f & c)
        return sorted({int(lab[v]) for v in U.adj[u] if lab[v] >= 0 and lab[v] != A})

    def local_search(self, rng: np.random.Generator, max_passes: int = 12) -> None:
        U, p = self.U, self.prm
        lo, hi, _T = p.min_hh, p.max_hh, p.target
        E, D, M, S, P = self.totals()
        for _ in range(max_passes):
            improved = 0
            la, lb = self.lab[U.ea], self.lab[U.eb]
            cross = (la >= 0) & (lb >= 0) & (la != lb)
            bnd = np.unique(np.concatenate([U.ea[cross], U.eb[cross]]))
            for u in rng.permutation(np.asarray(bnd, dtype=np.int64)).tolist():
                A = int(self.lab[u])
                if len(self.mem[A]) <= 1:
                    continue
                targets = self._targets(u, A)
                if not targets:
                    continue
                h = float(U.hh[u])
                sA = sum(ln for v, ln in U.shared[u].items() if self.lab[v] == A)
                cur = self.key(E, D, M, S, P)
                best = None
                for B in targets:
                    hA, hB = self.gh[A], self.gh[B]
                    nE = E - _exc(hA, lo, hi) - _exc(hB, lo, hi) + _exc(hA - h, lo, hi) + _exc(hB + h, lo, hi)
                    nD = D + self._dt(hA - h) + self._dt(hB + h) - self._dt(hA) - self._dt(hB)
                    nM = M
                    if self.orig is not None:
                        if self.orig[u] == A:
                            nM += h
                        elif self.orig[u] == B:
                            nM -= h
                    nS = S
                    c = int(U.comp[u])
                    if c >= 0:
                        d = self.cc[c]
                        if d.get(A, 0) == 1:
                            nS -= 1
                        if d.get(B, 0) == 0:
                            nS += 1
                    sB = sum(ln for v, ln in U.shared[u].items() if self.lab[v] == B)
                    aA, pA = self.ga[A] - U.area[u], self.gp[A] - U.perim[u] + 2 * sA
                    aB, pB = self.ga[B] + U.area[u], self.gp[B] + U.perim[u] - 2 * sB
                    nP = P - _pp(self.ga[A], self.gp[A]) - _pp(self.ga[B], self.gp[B]) + _pp(aA, pA) + _pp(aB, pB)
                    nk = self.key(nE, nD, nM, nS, nP)
                    if nk < cur and (nk[:4] != cur[:4] or nk[4] < cur[4] - 1e-9):
                        if best is None or nk < best[0]:
                            best = (nk, B, nE, nD, nM, nS, nP, aA, pA, aB, pB)
                if best is None or not self._connected_without(A, u):
                    continue
                _, B, E, D, M, S, P, aA, pA, aB, pB = best
                self._apply(u, A, B, aA, pA, aB, pB)
                improved += 1
            if not improved:
                break

    def _apply(self, u: int, A: int, B: int, aA: float, pA: float, aB: float, pB: float) -> None:
        U = self.U
        h = float(U.hh[u])
        self.lab[u] = B
        self.mem[A].discard(u)
        self.mem[B].add(u)
        self.gh[A] -= h
        self.gh[B] += h
        self.ga[A], self.gp[A], self.ga[B], self.gp[B] = aA, pA, aB, pB
        c = int(U.comp[u])
        if c >= 0:
            self.cc[c][A] -= 1
            if self.cc[c][A] == 0:
                del self.cc[c][A]
            self.cc[c][B] += 1

    def fill_empty(self, rng: np.random.Generator) -> None:
        """Give every empty grid half of the heaviest splittable grid."""
        for g in range(self.k):
            if self.mem[g]:
                continue
            for h in sorted(range(self.k), key=lambda x: (-self.gh[x], -len(self.mem[x]), x)):
                if len(self.mem[h]) < 2:
                    continue
                cuts = tree_cuts(self.U, sorted(self.mem[h]), 1, 1, self.prm, rng, 6, limit=1)
                if cuts:
                    _, X, Y = cuts[0]
                    self._set_grid(h, X)
                    self._set_grid(g, Y)
                    break

    def grid_pairs(self) -> list[tuple[int, int]]:
        """Pairs ``(a, b)``, ``a < b``, of grids that touch in the search graph, sorted."""
        la, lb = self.lab[self.U.ea], self.lab[self.U.eb]
        m = (la >= 0) & (lb >= 0)
        return [(a, b) for a, b in canon_pairs(la[m], lb[m]).tolist()]

    def _stats(self, X: list[int]) -> tuple[float, float, float, set[int]]:
        U = self.U
        if not len(X):
            return 0.0, 0.0, 0.0, set()
        Xa = np.asarray(X, dtype=np.int64)
        mask = np.zeros(U.n, dtype=bool)
        mask[Xa] = True
        h = float(U.hh[Xa].sum())
        a = float(U.area[Xa].sum())
        per = float(U.perim[Xa].sum()) - 2.0 * float(U.sl[mask[U.sa] & mask[U.sb]].sum())
        c = U.comp[Xa]
        return h, a, per, set(c[c >= 0].tolist())

    def _set_grid(self, g: int, X: list[int]) -> None:
        U = self.U
        for u in self.mem[g]:
            c = int(U.comp[u])
            if c >= 0:
                self.cc[c][g] -= 1
                if self.cc[c][g] == 0:
                    del self.cc[c][g]
        self.mem[g] = set(X)
        self.lab[X] = g
        h, a, per, _ = self._stats(X)
        self.gh[g], self.ga[g], self.gp[g] = h, a, per
        for u in X:
            c = int(U.comp[u])
            if c >= 0:
                self.cc[c][g] += 1

    def merge_split(self, rng: np.random.Generator, rounds: int = 2, ntrees: int = 6, only_bad: bool = False) -> None:
        """ReCom-like improvement: re-split adjacent grid pairs when the key improves."""
        p = self.prm
        lo, hi, T = p.min_hh, p.max_hh, p.target
        U = self.U
        tot = None  # the totals, recomputed only after a re-split is kept
        for _ in range(rounds):
            changed = 0
            pairs = self.grid_pairs()
            for i in rng.permutation(len(pairs)).tolist():
                A, B = pairs[i]
                if not self.mem[A] or not self.mem[B]:
                    continue
                if only_bad:
                    bad = any(_exc(self.gh[g], lo, hi) > 0 for g in (A, B))
                    if not bad and (self.balance or sum(abs(h - T) for h in self.gh) / T <= DEV_CAP * self.k):
                        continue
                if tot is None:
                    tot = self.totals()
                E, D, M, S, P = tot
                cur = self.key(E, D, M, S, P)
                nodes = sorted(self.mem[A] | self.mem[B])
                cands = tree_cuts(U, nodes, 1, 1, p, rng, ntrees, top=2, limit=6)
                if not cands:
                    continue
                compsAB = {c for c in (int(U.comp[u]) for u in nodes) if c >= 0}
                hA, hB = self.gh[A], self.gh[B]
                base_pp = _pp(self.ga[A], self.gp[A]) + _pp(self.ga[B], self.gp[B])
                base_e = _exc(hA, lo, hi) + _exc(hB, lo, hi)
                base_d = self._dt(hA) + self._dt(hB)
                old_pres = sum((A in self.cc[c]) + (B in self.cc[c]) for c in compsAB)
                best = None
                for _, X, Y in cands[:6]:
                    sx, sy = self._stats(X), self._stats(Y)
                    nE = E - base_e + _exc(sx[0], lo, hi) + _exc(sy[0], lo, hi)
                    nD = D - base_d + self._dt(sx[0]) + self._dt(sy[0])
                    nP = P - base_pp + _pp(sx[1], sx[2]) + _pp(sy[1], sy[2])
                    nS = S - old_pres + len(sx[3]) + len(sy[3])
                    for a_side, b_side in ((X, Y), (Y, X)) if self.orig is not None else ((X, Y),):
                        nM = M
                        if self.orig is not None:
                            for u in a_side:
                                nM += int(U.hh[u]) * (int(self.orig[u] != A) - int(self.lab[u] != self.orig[u]))
                            for u in b_side:
                                nM += int(U.hh[u]) * (int(self.orig[u] != B) - int(self.lab[u] != self.orig[u]))
                        nk = self.key(nE, nD, float(nM), nS, nP)
                        if nk < cur and (nk[:4] != cur[:4] or nk[4] < cur[4] - 1e-9) and (best is None or nk < best[0]):
                            best = (nk, list(a_side), list(b_side))
                if best is not None:
                    self._set_grid(A, best[1])
                    self._set_grid(B, best[2])
                    changed += 1
                    tot = None
            if not changed:
                break


    # --- exact repair -----------------------------------------------------------------
    def legalize(self) -> int:
        """Give pieces of a grid that are cut off in a rule graph to an adjacent grid.

        Returns the number of pieces still cut off (0 when every grid is connected in both
        rule graphs).
        """
        U = self.U
        if not U.exact():
            return 0
        p = self.prm
        left = 0
        for _ in range(6):
            left = 0
            moved = False
            for g in range(self.k):
                if len(self.mem[g]) < 2:
                    continue
                pieces = refine_regions(U, sorted(self.mem[g]))
                if len(pieces) < 2:
                    continue
                keep = max(pieces, key=lambda c: (U.hh[c].sum(), len(c), -min(c)))
                for P in pieces:
                    if P is keep:
                        continue
                    fn = {int(self.lab[v]) for u in P for v in U.fadj[u] if self.lab[v] >= 0 and self.lab[v] != g}
                    cn = {int(self.lab[v]) for u in P for v in U.cadj[u] if self.lab[v] >= 0 and self.lab[v] != g}
                    opts = sorted(fn & cn)
                    if not opts:
                        left += 1
                        continue
                    hP = float(U.hh[P].sum())
                    B = min(
                        opts,
                        key=lambda b: (_exc(self.gh[b] + hP, p.min_hh, p.max_hh), abs(self.gh[b] + hP - p.target), b),
                    )
                    self._set_grid(g, sorted(set(self.mem[g]) - set(P)))
                    self._set_grid(B, sorted(self.mem[B] | set(P)))
                    moved = True
            if not moved:
                break
        if left:
            left = self._resplit_illegal()
        return left

    def _resplit_illegal(self, ntrees: int = 48) -> int:
        """Re-split each grid still cut off in a rule graph with one or two neighbouring grids.

        A piece whose footprint neighbours are not its cell neighbours cannot change grid on
        its own.  The grid and one neighbouring grid (in either rule graph), else two of its
        nearest-to-target neighbours, whose union is connected in both graphs, are re-split by
        spanning-tree cuts that are checked in both rule graphs (:func:`tree_cuts`); the first
        legal re-split is kept.  Returns the number of grids still cut off.
        """
        U = self.U
        rng = np.random.default_rng([self.k, U.n, 104729])

        def illegal() -> list[int]:
            return [g for g in range(self.k) if len(self.mem[g]) > 1 and not exact_ok(U, sorted(self.mem[g]))]

        for g in illegal():
            if exact_ok(U, sorted(self.mem[g])):
                continue  # mended by an earlier re-split
            nbrs = sorted({int(self.lab[v]) for u in self.mem[g] for v in (*U.fadj[u], *U.cadj[u])
                           if self.lab[v] >= 0 and self.lab[v] != g})
            nbrs.sort(key=lambda b: (abs(self.gh[g] + self.gh[b] - 2 * self.prm.target), b))
            near = nbrs[:6]
            groups = [(g, b) for b in nbrs] + [(g, b, c) for i, b in enumerate(near) for c in near[i + 1:]]
            for grp in groups:
                nodes = sorted(set().union(*(self.mem[x] for x in grp)))
                if not exact_ok(U, nodes):
                    continue
                parts = None
                for _ in range(1 if len(grp) == 2 else 4):
                    q = recursive_bisection(U, nodes, len(grp), self.prm, rng, ntrees if len(grp) == 2 else ntrees // 2)
                    if len(q) == len(grp) and all(q) and all(exact_ok(U, x) for x in q):
                        parts = q
                        break
                if parts is not None:
                    for x, q in zip(grp, parts, strict=False):
                        self._set_grid(x, q)
                    break
        return len(illegal())

    def repair(
        self, rng: np.random.Generator, rounds: int = 2, ntrees: int = 8, tries: int = 2, max_size: int = 4,
        max_sets: int = DEFAULT.repair_max_sets,
    ) -> None:
        """Re-split a grid out of band together with 1-3 connected neighbouring grids.

        Sets of grids are tried smallest first; a re-split is kept when every new grid is in
        band, the rule graphs hold (the cuts check them) and the search key improves.  Up to
        ``max_sets`` sets per bad grid (:attr:`geo.partition.config.EngineConfig.repair_max_sets`:
        every set of the grid with one or two of its immediate neighbours); a region mended
        early skips the retries with other grid counts.
        """
        p = self.prm
        lo, hi = p.min_hh, p.max_hh
        U = self.U
        for _ in range(rounds):
            bad = [g for g in range(self.k) if self.mem[g] and _exc(self.gh[g], lo, hi) > 0]
            if not bad:
                return
            changed = False
            gp = self.grid_pairs()
            nbrs: dict[int, list[int]] = defaultdict(list)
            for a, b in gp:
                nbrs[a].append(b)
                nbrs[b].append(a)
            for g in bad:
                if _exc(self.gh[g], lo, hi) <= 0:
                    continue
                sets = _grid_sets(g, nbrs, max_size, max_sets)
                cur = self.key(*self.totals())
                done = False
                for grp in sets:
                    nodes = sorted(set().union(*(self.mem[x] for x in grp)))
                    H = float(U.hh[nodes].sum())
                    kk = len(grp)
                    if kk * lo > H or kk * hi < H:
                        continue
                    old = {x: sorted(self.mem[x]) for x in grp}
                    for _t in range(tries):
                        parts = recursive_bisection(U, nodes, kk, p, rng, ntrees)
                        if len(parts) != kk or any(len(q) == 0 for q in parts):
                            continue
                        if any(_exc(float(U.hh[q].sum()), lo, hi) > 0 for q in parts):
                            continue
                        for x, q in zip(grp, parts, strict=False):
                            self._set_grid(x, q)
                        nk = self.key(*self.totals())
                        if nk < cur:
                            done = changed = True
                            break
                        for x in grp:
                            self._set_grid(x, old[x])
                    if done:
                        break
            if not changed:
                return


def _grid_sets(g: int, nbrs: dict[int, list[int]], max_size: int, max_sets: int) -> list[list[int]]:
    """Connected sets of grids holding ``g`` (sizes 2..max_size, smallest first, sorted)."""
    out: list[tuple[int, ...]] = []
    seen = set()
    frontier = [(g,)]
    for _size in range(2, max_size + 1):
        nxt = []
        for st in frontier:
            cand = sorted({b for a in st for b in nbrs.get(a, []) if b not in st})
            for b in cand:
                t = tuple(sorted(st + (b,)))
                if t in seen:
                    continue
                seen.add(t)
                nxt.append(t)
        out.extend(nxt)
        if len(out) >= max_sets:
            break
        frontier = nxt[:max_sets]
    return [[g] + [x for x in t if x != g] for t in out[:max_sets]]


def refine_regions(U: Units, nodes: list[int]) -> list[list[int]]:
    """Split ``nodes`` into maximal groups connected in both rule graphs (fixed point).

    No group that is connected in both graphs can span two of the returned groups.
    """
    if not nodes:
        return []
    if not U.exact():
        return adj_components(U.adj, nodes)
    groups = [sorted(nodes)]
    while True:
        new: list[list[int]] = []
        changed = False
        for grp in groups:
            parts = adj_components(U.fadj, grp)
            if len(parts) == 1:
                parts = adj_components(U.cadj, grp)
            if len(parts) > 1:
                changed = True
            new.extend(parts)
        groups = new
        if not changed:
            return sorted(groups, key=lambda c: c[0])


def adj_components(adj: list[list[int]], nodes: list[int]) -> list[list[int]]:
    """Connected components of ``nodes`` in ``adj`` (each sorted, ordered by smallest node)."""
    rest = set(nodes)
    out = []
    for s0 in sorted(nodes):
        if s0 not in rest:
            continue
        rest.discard(s0)
        comp, stack = [s0], [s0]
        while stack:
            x = stack.pop()
            for y in adj[x]:
                if y in rest:
                    rest.discard(y)
                    comp.append(y)
                    stack.append(y)
        out.append(sorted(comp))
    return out


def contract(U: Units, nodes: list[int], mapping: dict[int, int]) -> tuple[Units, np.ndarray]:
    """Contract units ``nodes`` of ``U`` into groups ``mapping[u]`` (``0..m-1``).

    Parameters
    ----------
    U:
        Units.
    nodes:
        The units to keep (others are dropped, with their edges).
    mapping:
        Group of each node.

    Returns
    -------
    (Units, numpy.ndarray)
        The contracted units and, per group, nothing more than the list of original nodes
        (``members`` of the result hold *unit* indices of ``U``).
    """
    m = max(mapping.values()) + 1 if mapping else 0
    grp = np.full(U.n, -1, dtype=np.int64)
    for u in nodes:
        grp[u] = mapping[u]
    idx = np.asarray(nodes, dtype=np.int64)
    g = grp[idx]
    hh = np.bincount(g, weights=U.hh[idx], minlength=m).round().astype(np.int64)
    area = np.bincount(g, weights=U.area[idx], minlength=m)
    per = np.bincount(g, weights=U.perim[idx], minlength=m)
    w = np.maximum(U.area[idx], 1e-6)
    xy = np.stack(
        [np.bincount(g, weights=U.xy[idx, 0] * w, minlength=m), np.bincount(g, weights=U.xy[idx, 1] * w, minlength=m)],
        axis=1,
    )
    xy /= np.bincount(g, weights=w, minlength=m)[:, None]
    shared: list[dict[int, float]] = [defaultdict(float) for _ in range(m)]
    adjs: list[set[int]] = [set() for _ in range(m)]
    # plain Python numbers in the loop (numpy scalars cost several times more per access);
    # the sums run in the same order, so the values are the same
    gl, perl = grp.tolist(), per.tolist()
    for u in nodes:
        a = gl[u]
        sh = shared[a]
        for v, ln in U.shared[u].items():
            b = gl[v]
            if b < 0:
                continue
            if a == b:
                perl[a] -= ln
            else:
                sh[b] += ln
        ad = adjs[a]
        for v in U.adj[u]:
            b = gl[v]
            if b >= 0 and b != a:
                ad.add(b)
    per = np.asarray(perl, dtype=float)
    members: list[list[int]] = [[] for _ in range(m)]
    for u in nodes:
        members[gl[u]].append(u)
    # compound of a group: its members' most frequent compound (ties: the smallest id)
    comp = np.full(m, -1, dtype=np.int64)
    cu = U.comp[idx]
    sel = cu >= 0
    if sel.any():
        base = int(cu.max()) + 1
        uk, cnt = np.unique(g[sel] * base + cu[sel], return_counts=True)
        gg, cc = uk // base, uk % base
        o = np.lexsort((cc, -cnt, gg))
        first = np.ones(len(o), dtype=bool)
        first[1:] = gg[o][1:] != gg[o][:-1]
        comp[gg[o][first]] = cc[o][first]
    out = Units(
        m, hh, area, np.maximum(per, 0.0), xy, [sorted(s) for s in adjs], [dict(sorted(d.items())) for d in shared],
        comp, [np.asarray(x) for x in members],
    ).finish()
    return out, grp


def zero_clusters(U: Units, nodes: list[int]) -> dict[int, int]:
    """Group every household-less unit with its nearest (along the graph) unit with households.

    Each group is connected (shortest-path forest).  Without households anywhere, each node
    is its own group.
    """
    from scipy.sparse.csgraph import dijkstra

    pos = {u: i for i, u in enumerate(nodes)}
    src = [pos[u] for u in nodes if U.hh[u] > 0]
    if not src or len(src) == len(nodes):
        return {u: i for i, u in enumerate(nodes)}
    ea, eb = _induced_edges(U, nodes, pos)
    idx = np.asarray(nodes)
    d = np.hypot(*(U.xy[idx[ea]] - U.xy[idx[eb]]).T) + 1e-3
    n = len(nodes)
    ij = (np.concatenate([ea, eb]), np.concatenate([eb, ea]))
    mat = coo_matrix((np.concatenate([d, d]), ij), shape=(n, n)).tocsr()
    _, _, sources = dijkstra(mat, directed=True, indices=src, min_only=True, return_predecessors=True)
    rank = {s: i for i, s in enumerate(src)}
    out = {}
    extra = len(src)
    for i, u in enumerate(nodes):
        s = int(sources[i])
        if s < 0:
            out[u] = extra
            extra += 1
        else:
            out[u] = rank[s]
    return out


def compound_groups(U: Units, nodes: list[int], max_hh: float) -> dict[int, int]:
    """Group units of the same compound when the compound fits the band and is connected."""
    by_c: dict[int, list[int]] = defaultdict(list)
    for u in nodes:
        if U.comp[u] >= 0:
            by_c[int(U.comp[u])].append(u)
    rep = {u: u for u in nodes}
    nodeset = set(nodes)
    for c in sorted(by_c):
        mem = by_c[c]
        if len(mem) < 2 or U.hh[mem].sum() > max_hh:
            continue
        ms = set(mem)
        seen, stack = {mem[0]}, [mem[0]]
        while stack:
            x = stack.pop()
            for y in U.adj[x]:
                if y in ms and y not in seen and y in nodeset:
                    seen.add(y)
                    stack.append(y)
        if len(seen) == len(mem):
            r = min(mem)
            for u in mem:
                rep[u] = r
    keys = sorted(set(rep.values()))
    kid = {r: i for i, r in enumerate(keys)}
    return {u: kid[rep[u]] for u in nodes}
