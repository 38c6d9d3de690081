"""Compiled inner loops of the search (numba, cached on disk next to this module).

Only loops that Python runs hundreds of thousands of times per district live here: random
spanning trees with their depth-first preorder and subtree sums (every tree cut), and
connectivity of an induced subgraph (every rule check).  Each function has a plain-Python
twin in the tests that checks it on random graphs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["spanning_trees", "induced_connected", "tree_candidates", "band_set_words", "WORD_BITS", "warm"]

#: bits of a node set held in each int64 word of :func:`band_set_words` (62: a word stays
#: positive, so ``x & -x`` isolates its lowest bit without unsigned arithmetic)
WORD_BITS = 62


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True)
def spanning_trees(n, ea, eb, weights, roots, hh):
    """Minimum spanning trees of one graph under several edge weightings.

    Parameters
    ----------
    n:
        Vertices ``0..n-1``.
    ea, eb:
        Edge end points (int64 arrays of length m).
    weights:
        ``(T, m)`` float array: one weighting per tree.
    roots:
        Root vertex of each tree (int64, length T).
    hh:
        Vertex weights (float64) summed over subtrees.

    Returns
    -------
    (orders, subs, cnts, ok)
        ``orders[t]``: depth-first preorder of tree ``t`` from its root (a subtree is a
        contiguous slice); ``subs[t, v]`` and ``cnts[t, v]``: weight and vertex count of the
        subtree under ``v``; ``ok`` is False when the graph is not connected.
    """
    T = weights.shape[0]
    m = ea.shape[0]
    orders = np.empty((T, n), dtype=np.int64)
    subs = np.empty((T, n), dtype=np.float64)
    cnts = np.empty((T, n), dtype=np.int64)
    parent = np.empty(n, dtype=np.int64)
    tu = np.empty(max(n - 1, 1), dtype=np.int64)
    tv = np.empty(max(n - 1, 1), dtype=np.int64)
    deg = np.empty(n + 1, dtype=np.int64)
    nbr = np.empty(2 * max(n - 1, 1), dtype=np.int64)
    fill = np.empty(n, dtype=np.int64)
    pred = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    for t in range(T):
        # Kruskal
        for i in range(n):
            parent[i] = i
        order_e = np.argsort(weights[t])
        k = 0
        for j in range(m):
            e = order_e[j]
            a = _find(parent, ea[e])
            b = _find(parent, eb[e])
            if a != b:
                parent[a] = b
                tu[k] = ea[e]
                tv[k] = eb[e]
                k += 1
                if k == n - 1:
                    break
        if k < n - 1:
            return orders, subs, cnts, False
        # adjacency of the tree (CSR)
        for i in range(n + 1):
            deg[i] = 0
        for i in range(k):
            deg[tu[i] + 1] += 1
            deg[tv[i] + 1] += 1
        for i in range(n):
            deg[i + 1] += deg[i]
        for i in range(n):
            fill[i] = deg[i]
        for i in range(k):
            nbr[fill[tu[i]]] = tv[i]
            fill[tu[i]] += 1
            nbr[fill[tv[i]]] = tu[i]
            fill[tv[i]] += 1
        # iterative depth-first preorder
        r = roots[t]
        for i in range(n):
            pred[i] = -2
        pred[r] = -1
        top = 0
        stack[top] = r
        top += 1
        pos = 0
        while top > 0:
            top -= 1
            x = stack[top]
            orders[t, pos] = x
            pos += 1
            for q in range(deg[x + 1] - 1, deg[x] - 1, -1):
                y = nbr[q]
                if pred[y] == -2:
                    pred[y] = x
                    stack[top] = y
                    top += 1
        # subtree sums in reverse preorder
        for i in range(n):
            subs[t, i] = hh[i]
            cnts[t, i] = 1
        for i in range(n - 1, 0, -1):
            v = orders[t, i]
            p = pred[v]
            subs[t, p] += subs[t, v]
            cnts[t, p] += cnts[t, v]
    return orders, subs, cnts, True


@njit(cache=True)
def induced_connected(n, mask, a, b):
    """Whether the vertices with ``mask`` induce a connected subgraph of edges ``(a, b)``."""
    total = 0
    first = -1
    for i in range(n):
        if mask[i]:
            total += 1
            if first < 0:
                first = i
    if total <= 1:
        return True
    deg = np.zeros(n + 1, dtype=np.int64)
    m = a.shape[0]
    for e in range(m):
        if mask[a[e]] and mask[b[e]]:
            deg[a[e] + 1] += 1
            deg[b[e] + 1] += 1
    for i in range(n):
        deg[i + 1] += deg[i]
    nbr = np.empty(max(deg[n], 1), dtype=np.int64)
    fill = deg[:n].copy()
    for e in range(m):
        if mask[a[e]] and mask[b[e]]:
            nbr[fill[a[e]]] = b[e]
            fill[a[e]] += 1
            nbr[fill[b[e]]] = a[e]
            fill[b[e]] += 1
    seen = np.zeros(n, dtype=np.bool_)
    stack = np.empty(total, dtype=np.int64)
    stack[0] = first
    seen[first] = True
    top = 1
    count = 1
    while top > 0:
        top -= 1
        x = stack[top]
        for q in range(deg[x], deg[x + 1]):
            y = nbr[q]
            if not seen[y]:
                seen[y] = True
                stack[top] = y
                top += 1
                count += 1
    return count == total


@njit(cache=True)
def tree_candidates(orders, subs, cnts, k1, k2, lo, hi, target, top, area, sa, sb, sl):
    """Best cut edges of each spanning tree (see :func:`geo.partition.search.tree_cuts`).

    For every tree and each way round (``k1`` grids below the cut edge and ``k2`` above, and
    the reverse when ``k1 != k2``) the ``top`` cut edges by (band excess, imbalance) are kept.

    Returns
    -------
    numpy.ndarray
        One row per candidate: ``tree, start, count, excess, imbalance, cut length, side
        area, below_is_k1, min vertex, vertex sum`` (the subtree is
        ``orders[tree, start:start + count]``).
    """
    T = orders.shape[0]
    n = orders.shape[1]
    tot = 0.0
    atot = 0.0
    for i in range(n):
        atot += area[i]
    ways = 1 if k1 == k2 else 2
    out = np.empty((T * ways * top, 10))
    nout = 0
    where = np.empty(n, dtype=np.int64)
    inX = np.zeros(n, dtype=np.bool_)
    exc = np.empty(n, dtype=np.float64)
    dev = np.empty(n, dtype=np.float64)
    taken = np.zeros(n, dtype=np.bool_)
    for t in range(T):
        tot = subs[t, orders[t, 0]]
        for i in range(n):
            where[orders[t, i]] = i
        for w in range(ways):
            ka = k1 if w == 0 else k2
            kb = k2 if w == 0 else k1
            for i in range(1, n):
                v = orders[t, i]
                s = subs[t, v]
                r = tot - s
                c = cnts[t, v]
                if c >= ka and n - c >= kb:
                    e = max(0.0, ka * lo - s) + max(0.0, s - ka * hi) + max(0.0, kb * lo - r) + max(0.0, r - kb * hi)
                    exc[i] = e
                    dev[i] = abs(s / ka - target) * ka + abs(r / kb - target) * kb
                else:
                    exc[i] = np.inf
                    dev[i] = np.inf
                taken[i] = False
            for _ in range(top):
                best = -1
                for i in range(1, n):
                    if taken[i] or not np.isfinite(exc[i]):
                        continue
                    if best < 0 or exc[i] < exc[best] or (exc[i] == exc[best] and dev[i] < dev[best]):
                        best = i
                if best < 0:
                    break
                taken[best] = True
                v = orders[t, best]
                c = cnts[t, v]
                mn = n
                sm = 0.0
                ax = 0.0
                for q in range(best, best + c):
                    x = orders[t, q]
                    inX[x] = True
                    ax += area[x]
                    sm += x
                    if x < mn:
                        mn = x
                cut = 0.0
                for e2 in range(sa.shape[0]):
                    if inX[sa[e2]] != inX[sb[e2]]:
                        cut += sl[e2]
                for q in range(best, best + c):
                    inX[orders[t, q]] = False
                out[nout, 0] = t
                out[nout, 1] = best
                out[nout, 2] = c
                out[nout, 3] = exc[best]
                out[nout, 4] = dev[best]
                out[nout, 5] = cut
                out[nout, 6] = ax
                out[nout, 7] = 1.0 if w == 0 else 0.0
                out[nout, 8] = mn
                out[nout, 9] = sm
                nout += 1
    return out[:nout]


@njit(cache=True)
def _low_bit(x):
    """Index of the single set bit of ``x`` (a power of two below 2**62): exact in float64."""
    return int(np.log2(np.float64(x)) + 0.5)


@njit(cache=True)
def _words_connected(mask, adj, reach, front, nxt):
    """Whether the nodes of word set ``mask`` are connected in the word-set adjacency ``adj``
    (``(n, W)``); ``reach``, ``front`` and ``nxt`` are scratch rows of ``W`` words."""
    W = mask.shape[0]
    s = -1
    for j in range(W):
        if mask[j] != 0:
            s = j * WORD_BITS + _low_bit(mask[j] & -mask[j])
            break
    if s < 0:
        return True
    for j in range(W):
        reach[j] = 0
        front[j] = 0
    reach[s // WORD_BITS] = np.int64(1) << (s % WORD_BITS)
    front[s // WORD_BITS] = reach[s // WORD_BITS]
    more = True
    while more:
        for j in range(W):
            nxt[j] = 0
        for j in range(W):
            f = front[j]
            while f != 0:
                low = f & -f
                f ^= low
                v = j * WORD_BITS + _low_bit(low)
                for k in range(W):
                    nxt[k] |= adj[v, k]
        more = False
        for j in range(W):
            front[j] = nxt[j] & mask[j] & ~reach[j]
            reach[j] |= front[j]
            if front[j] != 0:
                more = True
    for j in range(W):
        if reach[j] != mask[j]:
            return False
    return True


@njit(cache=True)
def band_set_words(w, lo, hi, grow, checks, max_subsets):
    """The node sets of :func:`geo.partition.exact.band_sets`, in its order, as word rows.

    A set of the ``n`` nodes is ``W`` int64 words of :data:`WORD_BITS` bits (node ``i`` is
    bit ``i % 62`` of word ``i // 62``).  Sets grow by the ESU scheme in ``grow`` (``(n, W)``
    adjacency), pruned above ``hi`` households (``w``: households per node), and are kept
    when they hold at least ``lo`` and are connected in every adjacency of ``checks``
    (``(C, n, W)``).  The recursion of the plain-Python version is an explicit stack here,
    visited in the same order.

    Returns
    -------
    (numpy.ndarray, bool)
        The kept sets (``(k, W)``), and ``False`` (no sets) once more than ``max_subsets``
        sets were visited.
    """
    n = w.shape[0]
    W = grow.shape[1]
    C = checks.shape[0]
    cols = np.zeros((max(min(max_subsets, 1024), 1), W), dtype=np.int64)
    ncols = 0
    mask = np.zeros((n + 1, W), dtype=np.int64)
    ext = np.zeros((n + 1, W), dtype=np.int64)
    seen = np.zeros((n + 1, W), dtype=np.int64)
    load = np.zeros(n + 1, dtype=np.int64)
    above = np.zeros(W, dtype=np.int64)
    reach = np.zeros(W, dtype=np.int64)
    front = np.zeros(W, dtype=np.int64)
    nxt = np.zeros(W, dtype=np.int64)
    full = (np.int64(1) << WORD_BITS) - 1
    visited = 0
    for r in range(n):
        if w[r] > hi:
            continue
        for j in range(W):  # the bits above r
            base = j * WORD_BITS
            if base + WORD_BITS - 1 <= r:
                above[j] = 0
            elif base > r:
                above[j] = full
            else:
                above[j] = full & ~((np.int64(1) << (r - base + 1)) - 1)
        for j in range(W):
            f = grow[r, j] & above[j]
            ext[0, j] = f
            seen[0, j] = f
            mask[0, j] = 0
        bit = np.int64(1) << (r % WORD_BITS)
        mask[0, r // WORD_BITS] |= bit
        seen[0, r // WORD_BITS] |= bit
        load[0] = w[r]
        d = 0
        entering = True
        while d >= 0:
            if entering:
                entering = False
                visited += 1
                if visited > max_subsets:
                    return cols[:0], False
                if load[d] >= lo:
                    ok = True
                    for c in range(C):
                        if not _words_connected(mask[d], checks[c], reach, front, nxt):
                            ok = False
                            break
                    if ok:
                        if ncols == cols.shape[0]:
                            grown = np.zeros((2 * ncols, W), dtype=np.int64)
                            grown[:ncols] = cols
                            cols = grown
                        for j in range(W):
                            cols[ncols, j] = mask[d, j]
                        ncols += 1
            # the next node of ext[d], taken out of it
            v = -1
            for j in range(W):
                x = ext[d, j]
                if x != 0:
                    low = x & -x
                    ext[d, j] = x ^ low
                    v = j * WORD_BITS + _low_bit(low)
                    break
            if v < 0:
                d -= 1
                continue
            if load[d] + w[v] > hi:
                continue
            for j in range(W):
                new = grow[v, j] & above[j] & ~seen[d, j]
                mask[d + 1, j] = mask[d, j]
                ext[d + 1, j] = ext[d, j] | new
                seen[d + 1, j] = seen[d, j] | new
            mask[d + 1, v // WORD_BITS] |= np.int64(1) << (v % WORD_BITS)
            load[d + 1] = load[d] + w[v]
            d += 1
            entering = True
    return cols[:ncols].copy(), True


def warm() -> None:
    """Compile (or load from the on-disk cache) every kernel now, on a tiny graph.

    A process that forks workers calls this first, so the workers inherit machine code
    instead of each loading or compiling it.
    """
    ea = np.array([0, 1], dtype=np.int64)
    eb = np.array([1, 2], dtype=np.int64)
    hh = np.array([1.0, 2.0, 3.0])
    orders, subs, cnts, _ = spanning_trees(3, ea, eb, np.ones((1, 2)), np.zeros(1, dtype=np.int64), hh)
    tree_candidates(orders, subs, cnts, 1, 1, 1.0, 5.0, 3.0, 1, hh, ea, eb, np.ones(2))
    induced_connected(3, np.ones(3, dtype=np.bool_), ea, eb)
    one = np.ones((3, 1), dtype=np.int64)
    band_set_words(np.ones(3, dtype=np.int64), 1, 2, one, one.reshape(1, 3, 1), 10)
