"""The compiled search kernels against scipy's graph routines on random graphs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from geo.partition import kernels


def _random_graph(rng, n, p):
    a, b = np.triu_indices(n, 1)
    keep = rng.random(len(a)) < p
    # a path keeps it connected
    path = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    pairs = np.unique(np.vstack([np.stack([a[keep], b[keep]], axis=1), path]), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_spanning_trees_are_minimum_with_exact_subtree_sums(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    ea, eb = _random_graph(rng, n, 0.15)
    W = rng.random((3, len(ea))) + 0.01
    roots = rng.integers(0, n, 3).astype(np.int64)
    hh = rng.integers(0, 50, n).astype(float)
    orders, subs, cnts, ok = kernels.spanning_trees(n, ea, eb, W, roots, hh)
    assert ok
    for t in range(3):
        ref = minimum_spanning_tree(coo_matrix((W[t], (ea, eb)), shape=(n, n))).sum()
        order = orders[t]
        assert order[0] == roots[t]
        assert sorted(order.tolist()) == list(range(n))
        # every subtree is a contiguous preorder slice: rebuild the tree from the slices
        where = np.empty(n, dtype=np.int64)
        where[order] = np.arange(n)
        weight = {(min(a, b), max(a, b)): w for a, b, w in zip(ea.tolist(), eb.tolist(), W[t].tolist(), strict=False)}
        total = 0.0
        for v in order[1:].tolist():
            # parent = the nearest earlier vertex whose slice holds v
            cands = [u for u in order[: where[v]].tolist() if where[u] + cnts[t, u] > where[v]]
            p = cands[-1]
            total += weight[(min(p, v), max(p, v))]
        assert total == pytest.approx(ref)
        for v in range(n):
            sl = order[where[v]: where[v] + cnts[t, v]]
            assert subs[t, v] == pytest.approx(hh[sl].sum())
        assert subs[t, roots[t]] == pytest.approx(hh.sum())


def test_spanning_trees_report_a_disconnected_graph():
    ea = np.array([0, 2], dtype=np.int64)
    eb = np.array([1, 3], dtype=np.int64)
    *_, ok = kernels.spanning_trees(4, ea, eb, np.ones((1, 2)), np.zeros(1, dtype=np.int64), np.ones(4))
    assert not ok


@pytest.mark.parametrize("seed", range(10))
def test_induced_connected_matches_scipy(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 40))
    a, b = np.triu_indices(n, 1)
    keep = rng.random(len(a)) < 0.08
    a, b = a[keep].astype(np.int64), b[keep].astype(np.int64)
    for _ in range(5):
        mask = rng.random(n) < 0.6
        idx = np.flatnonzero(mask)
        if len(idx) <= 1:
            want = True
        else:
            m = mask[a] & mask[b]
            pos = np.full(n, -1)
            pos[idx] = np.arange(len(idx))
            g = coo_matrix((np.ones(int(m.sum())), (pos[a[m]], pos[b[m]])), shape=(len(idx), len(idx)))
            want = connected_components(g, directed=False)[0] == 1
        assert kernels.induced_connected(n, mask, a, b) == want


def _random_edges(rng, n, p):
    a, b = np.triu_indices(n, 1)
    keep = rng.random(len(a)) < p
    return a[keep].astype(np.int64), b[keep].astype(np.int64)


@pytest.mark.parametrize("seed", range(8))
def test_band_sets_compiled_equal_the_plain_python_sets_in_order(seed):
    """The compiled kernel gives the plain-Python ESU's sets, in its order, on random
    graphs of up to 140 nodes (1 to 3 words a set), with household-less joints, one to
    three rule graphs, and the visit limit hit or not."""
    from geo.partition import exact

    rng = np.random.default_rng([seed, 404])
    n = int(rng.choice([12, 40, 70, 140]))
    hh = rng.integers(0, 160, n).astype(float)
    hh[rng.random(n) < 0.2] = 0.0  # household-less joints
    graphs = [_random_edges(rng, n, 3.0 / n) for _ in range(int(rng.integers(1, 4)))]
    lo, hi = 300, 500
    adjs = [exact._joined_through_empty(hh, g) for g in graphs]
    order = sorted(range(len(adjs)), key=lambda i: sum(x.bit_count() for x in adjs[i]))
    grow, checks = adjs[order[0]], [adjs[i] for i in order[1:]]
    w = hh[hh > 0].tolist()
    for limit in (50, 2000, 200000):
        plain = exact._band_sets_plain(w, lo, hi, grow, checks, limit)
        compiled = exact._band_sets_compiled(np.asarray(w, dtype=np.int64), lo, hi, grow, checks, limit)
        assert compiled == plain
    # what band_sets itself returns
    assert exact.band_sets(hh, lo, hi, graphs, 200000) == exact._band_sets_plain(w, lo, hi, grow, checks, 200000)


def test_band_sets_of_households_not_whole_take_the_plain_path():
    from geo.partition import exact

    hh = np.array([150.5, 160.0, 0.0])
    graph = (np.array([0, 1], dtype=np.int64), np.array([1, 2], dtype=np.int64))
    # 150.5 + 160 = 310.5 reaches the minimum; whole numbers (150 + 160) would not
    assert exact.band_sets(hh, 310.5, 400, [graph], 1000) == [0b11]
