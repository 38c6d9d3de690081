"""The search's bookkeeping (``Units.finish``, ``State.rebuild``, ``contract``) against
plain-Python twins on random graphs: the array and list versions must give the same edges,
totals and contracted graphs, value for value (the plans depend on every float's order)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from geo.partition.search import Params, State, Units, contract


def _random_units(seed: int, n: int = 40) -> Units:
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(map(int, rng.choice(n, 2, replace=False)))) for _ in range(3 * n)}
    shared: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b in sorted(pairs):
        ln = float(rng.uniform(0.1, 30.0))
        shared[a][b] = ln
        shared[b][a] = ln
    cadj = [sorted(d) for d in shared]
    adj = [list(x) for x in cadj]
    # a few search edges that are not rule edges (joins), and a footprint graph that misses some
    for a, b in [tuple(sorted(map(int, rng.choice(n, 2, replace=False)))) for _ in range(5)]:
        if b not in adj[a]:
            adj[a] = sorted(adj[a] + [b])
            adj[b] = sorted(adj[b] + [a])
    fadj = [[v for v in cadj[u] if (u + v) % 5] for u in range(n)]
    comp = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), -1).astype(np.int64)
    return Units(
        n, rng.integers(0, 120, n).astype(np.int64), rng.uniform(50, 900, n), rng.uniform(30, 200, n),
        rng.uniform(0, 500, (n, 2)), adj, shared, comp, [np.array([u]) for u in range(n)], fadj, cadj,
    ).finish()


def _edges_twin(adj: list[list[int]]) -> tuple[list[int], list[int]]:
    a, b = [], []
    for u, lst in enumerate(adj):
        for v in lst:
            if u < v:
                a.append(u)
                b.append(v)
    return a, b


@pytest.mark.parametrize("seed", range(12))
def test_finish_matches_its_plain_twin(seed: int) -> None:
    U = _random_units(seed)
    assert (U.ea.tolist(), U.eb.tolist()) == _edges_twin(U.adj)
    assert (U.fa.tolist(), U.fb.tolist()) == _edges_twin(U.fadj)
    sa, sb, sl = [], [], []
    for u, d in enumerate(U.shared):
        for v, ln in d.items():
            if u < v:
                sa.append(u)
                sb.append(v)
                sl.append(ln)
    assert (U.sa.tolist(), U.sb.tolist(), U.sl.tolist()) == (sa, sb, sl)
    fset, cset = set(zip(*_edges_twin(U.fadj), strict=True)), set(zip(*_edges_twin(U.cadj), strict=True))
    bad = [(a, b) for a, b in zip(*_edges_twin(U.adj), strict=True) if (a, b) not in fset or (a, b) not in cset]
    assert list(zip(U.bad_a.tolist(), U.bad_b.tolist(), strict=True)) == bad
    assert bad, "the fixture should hold joining edges"


@pytest.mark.parametrize("seed", range(12))
def test_rebuild_matches_its_plain_twin(seed: int) -> None:
    U = _random_units(seed)
    rng = np.random.default_rng([seed, 1])
    k = 4
    lab = rng.integers(-1, k, U.n).astype(np.int64)
    st = State(U, Params(), lab.copy(), k)
    st.rebuild()
    gh, ga, gp = [0.0] * k, [0.0] * k, [0.0] * k
    cc: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for u in range(U.n):
        g = int(lab[u])
        if g < 0:
            continue
        gh[g] += U.hh[u]
        ga[g] += U.area[u]
        gp[g] += U.perim[u]
        if U.comp[u] >= 0:
            cc[int(U.comp[u])][g] += 1
        for v, ln in U.shared[u].items():
            if lab[v] == g:
                gp[g] -= ln
    assert (st.gh, st.ga, st.gp) == (gh, ga, gp)  # exactly: the same sums in the same order
    assert {c: dict(d) for c, d in st.cc.items()} == {c: dict(d) for c, d in cc.items()}
    assert st.mem == [set(np.flatnonzero(lab == g).tolist()) for g in range(k)]


@pytest.mark.parametrize("seed", range(12))
def test_contract_matches_its_plain_twin(seed: int) -> None:
    U = _random_units(seed)
    rng = np.random.default_rng([seed, 2])
    nodes = sorted(rng.choice(U.n, U.n - 6, replace=False).tolist())
    mapping = {u: int(g) for u, g in zip(nodes, rng.integers(0, 12, len(nodes)).tolist(), strict=True)}
    used = sorted(set(mapping.values()))
    mapping = {u: used.index(g) for u, g in mapping.items()}
    Z, grp = contract(U, nodes, mapping)
    m = len(used)
    per = np.bincount([mapping[u] for u in nodes], weights=U.perim[nodes], minlength=m)
    shared: list[dict[int, float]] = [defaultdict(float) for _ in range(m)]
    adjs: list[set[int]] = [set() for _ in range(m)]
    for u in nodes:
        a = grp[u]
        for v, ln in U.shared[u].items():
            b = grp[v]
            if b < 0:
                continue
            if a == b:
                per[a] -= ln
            else:
                shared[a][b] += ln
        for v in U.adj[u]:
            b = grp[v]
            if b >= 0 and b != a:
                adjs[a].add(int(b))
    assert Z.perim.tolist() == np.maximum(per, 0.0).tolist()
    assert Z.shared == [dict(sorted(d.items())) for d in shared]
    assert Z.adj == [sorted(s) for s in adjs]
    assert [x.tolist() for x in Z.members] == [[u for u in nodes if mapping[u] == g] for g in range(m)]
