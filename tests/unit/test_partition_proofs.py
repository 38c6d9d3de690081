"""The independent checker of infeasibility claims (geo/partition/proofs.py): its brute force
agrees with plain enumeration of set partitions on random small graphs, it checks counting
claims by their arithmetic, refutes a false claim, leaves a region that is not closed
unchecked, and the engine's report counts the outcomes."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.partition.engine import rebalance
from geo.partition.proofs import check_claims, closed_classes, partition_exists


def _set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1:]
        yield [[first], *part]


def _connected(nodes: list[int], edges: set[tuple[int, int]]) -> bool:
    seen, todo = {nodes[0]}, [nodes[0]]
    while todo:
        v = todo.pop()
        for u in nodes:
            if u not in seen and ((u, v) in edges or (v, u) in edges):
                seen.add(u)
                todo.append(u)
    return len(seen) == len(nodes)


def test_brute_force_agrees_with_enumerating_every_partition():
    rng = np.random.default_rng(3)
    agree = feasible = 0
    for _ in range(60):
        n = int(rng.integers(3, 8))
        hh = rng.integers(0, 300, n).tolist()
        graphs = [{(i, j) for i, j in itertools.combinations(range(n), 2) if rng.random() < 0.45}
                  for _ in range(2)]
        adjs = []
        for g in graphs:
            a = [0] * n
            for i, j in g:
                a[i] |= 1 << j
                a[j] |= 1 << i
            adjs.append(a)
        lo, hi = 250, 450
        truth = any(all(lo <= sum(hh[v] for v in s) <= hi and all(_connected(s, g) for g in graphs) for s in p)
                    for p in _set_partitions(list(range(n))))
        got = partition_exists(hh, lo, hi, adjs)
        agree += (got is not None) == truth
        feasible += truth
        if got is not None:  # the partition it returns is one
            assert sum(bin(m).count("1") for m in got) == n
            assert all(lo <= sum(hh[v] for v in range(n) if m >> v & 1) <= hi for m in got)
    assert agree == 60
    assert 5 <= feasible <= 55  # both answers were exercised


def _line(n: int) -> np.ndarray:
    return np.array([(i, i + 1) for i in range(n - 1)], dtype=np.int64)


def test_claims_are_checked_refuted_or_left_unchecked():
    # a path of 4 buildings, 150 households each: 600 = 2 grids of 300 (band 300..500)
    hh = np.array([150, 150, 150, 150])
    line = _line(4)
    false_claim = [{"proof": "cover"}]
    out = check_claims(false_claim, [np.arange(4)], hh, line, line, [], np.zeros(4, bool), 300, 500)
    assert out["refuted"] == 1 and false_claim[0]["check"] == "refuted"
    # 150, 400, 150 on a path: the middle grid takes 400, the ends have 150 alone: infeasible
    hh3 = np.array([150, 400, 150])
    claim = [{"proof": "pockets"}]
    out = check_claims(claim, [np.arange(3)], hh3, _line(3), _line(3), [], np.zeros(3, bool), 300, 500)
    assert out == {"claims": 1, "checked": 1, "unchecked": 0, "refuted": 0}
    assert "exhaustive search: no partition of 3 units" in claim[0]["check_detail"]
    # counting: 520 households cannot make grids of 300..500
    cnt = [{"proof": "count"}]
    out = check_claims(cnt, [np.arange(2)], np.array([260, 260]), _line(2), _line(2), [], np.zeros(2, bool), 300, 500)
    assert out["checked"] == 1 and cnt[0]["check_detail"] == "ceil(520/500) = 2 > floor(520/300) = 1"
    # a region that is only part of a connected group says nothing about the community
    part = [{"proof": "count"}]
    out = check_claims(part, [np.arange(2)], np.array([260, 260, 100]), _line(3), _line(3), [],
                       np.zeros(3, bool), 300, 500)
    assert out["unchecked"] == 1


def test_closed_classes_split_until_both_graphs_agree():
    # footprint graph: 0-1-2-3 path; cell graph: 0-1 and 2-3: classes {0,1}, {2,3}
    cls = closed_classes(4, np.ones(4, bool), [_line(4), np.array([(0, 1), (2, 3)])])
    assert cls[0] == cls[1] != cls[2] == cls[3]


def test_engine_reports_checked_claims():
    """Three neighbouring buildings of 170 households: 510 fit no grid count of 300..500
    (counting), and the checker checks the claim by its arithmetic."""
    boxes = [shapely.box(30 * i, 0, 30 * i + 20, 20) for i in range(3)]
    b = gpd.GeoDataFrame({"households": [170, 170, 170]}, geometry=boxes, crs="EPSG:32650").to_crs("EPSG:4326")
    com = gpd.GeoSeries([shapely.box(-20, -20, 100, 40)], crs="EPSG:32650").to_crs("EPSG:4326").iloc[0]
    plan = rebalance(b, com)
    tot = plan.report["totals"]
    assert tot["proofs"] == {"claims": 1, "checked": 1, "unchecked": 0, "refuted": 0}
    (claim,) = tot["infeasible_regions"]
    assert claim["proof"] == "count" and claim["check"] == "checked"
    assert claim["check_detail"] == "ceil(510/500) = 2 > floor(510/300) = 1"


def _star_with_tail():
    """A centre of 250 households with 16 leaves of 20 (each reaches the rest only through
    the centre) and a tail of three units of 110: 900 households, 20 units.  Counting allows
    2 or 3 grids, but the leaves must join the centre's grid: 570 > 500, no partition."""
    hh = np.array([250] + [20] * 16 + [110, 110, 110])
    edges = [(0, i) for i in range(1, 17)] + [(0, 17), (17, 18), (18, 19)]
    return hh, np.array(edges, dtype=np.int64)


def _merges(hh, edges):
    from geo.partition.exact import must_merge

    steps: list = []
    g = (edges[:, 0], edges[:, 1])
    groups, over = must_merge(hh, [g, g], 300, 500, steps=steps)
    return steps, groups, over


def test_pocket_certificate_checks_a_region_too_large_for_brute_force():
    hh, edges = _star_with_tail()
    steps, _, over = _merges(hh, edges)
    assert over >= 0 and steps
    n = len(hh)
    claim = [{"proof": "pockets"}]
    out = check_claims(claim, [np.arange(n)], hh, edges, edges, [], np.zeros(n, bool), 300, 500,
                       [{"merges": steps}])
    assert out == {"claims": 1, "checked": 1, "unchecked": 0, "refuted": 0}
    assert "17 buildings with 570 households must share one grid, 570 > 500" in claim[0]["check_detail"]
    # without the certificate the search lists every set of the centre and some leaves
    # (tens of thousands): beyond a small budget the claim stays unchecked
    bare = [{"proof": "pockets"}]
    out = check_claims(bare, [np.arange(n)], hh, edges, edges, [], np.zeros(n, bool), 300, 500,
                       max_sets=1000, max_nodes=1000)
    assert out["unchecked"] == 1 and "budget" in bare[0]["check_detail"]


def test_a_forged_certificate_step_leaves_the_claim_unchecked():
    hh, edges = _star_with_tail()
    n = len(hh)
    cases = [
        # the tail's last unit "joins" the centre, but it reaches the rest through unit 18
        ([(0, np.array([0]), np.array([19]))], "neighbours outside"),
        # leaves 1..15 together hold 300 households: not fewer than the minimum
        ([(0, np.array([0]), np.arange(1, 16))], "not fewer than"),
        # a set not yet shown to share one grid
        ([(0, np.array([0, 17]), np.array([1]))], "not yet shown"),
    ]
    for merges, why in cases:
        claim = [{"proof": "pockets"}]
        out = check_claims(claim, [np.arange(n)], hh, edges, edges, [], np.zeros(n, bool), 300, 500,
                           [{"merges": merges}])
        assert out["unchecked"] == 1, why
        assert why in claim[0]["check_detail"]


def test_verified_merges_let_brute_force_check_a_large_region():
    """A cover or exact claim carries the pocket merges: contracted by them, a region of 20
    units is 2 groups, small enough for brute force.  The leaves (10 households each) join
    the centre (410) and the tail joins its first unit (330): both in band, so the false
    claim is refuted, not believed."""
    hh = np.array([250] + [10] * 16 + [110, 110, 110])
    edges = _star_with_tail()[1]
    steps, groups, over = _merges(hh, edges)
    assert over < 0 and int(groups.max()) + 1 < len(hh)
    n = len(hh)
    claim = [{"proof": "cover"}]
    out = check_claims(claim, [np.arange(n)], hh, edges, edges, [], np.zeros(n, bool), 300, 500,
                       [{"merges": steps}])
    assert out["refuted"] == 1
    assert "pocket merges verified" in claim[0]["check_detail"]


@pytest.mark.parametrize("seed", range(6))
def test_every_merge_must_merge_records_passes_the_checker(seed):
    """On random graphs, the merges must_merge records replay step by step in the checker
    (any step the checker rejected would leave the claim unchecked)."""
    rng = np.random.default_rng([seed, 21])
    n = 40
    hh = np.where(rng.random(n) < 0.5, 0, rng.integers(10, 200, n))
    tree = np.array([(int(rng.integers(0, i)), i) for i in range(1, n)], dtype=np.int64)
    extra = rng.integers(0, n, (8, 2))
    extra = extra[extra[:, 0] != extra[:, 1]]
    g1 = np.sort(np.vstack([tree, extra]), axis=1)
    g2 = np.sort(tree, axis=1)
    from geo.partition.exact import must_merge

    steps: list = []
    must_merge(hh, [(g1[:, 0], g1[:, 1]), (g2[:, 0], g2[:, 1])], 300, 500, steps=steps)
    assert steps
    claim = [{"proof": "cover"}]
    check_claims(claim, [np.arange(n)], hh, g1, g2, [], np.zeros(n, bool), 300, 500, [{"merges": steps}])
    assert not claim[0]["check_detail"].startswith("certificate"), claim[0]["check_detail"]


def test_partition_search_agrees_with_the_reference_search():
    """The budgeted search (sets in band listed once each, then covers) answers as the plain
    reference search does on random small graphs, and says so when its budget runs out."""
    from geo.partition.proofs import partition_search

    rng = np.random.default_rng(5)
    answers = {"found": 0, "none": 0}
    for _ in range(150):
        n = int(rng.integers(2, 10))
        hh = [int(x) if rng.random() < 0.6 else 0 for x in rng.integers(0, 300, n)]
        adjs = []
        for _g in range(2):
            a = [0] * n
            for i, j in itertools.combinations(range(n), 2):
                if rng.random() < 0.4:
                    a[i] |= 1 << j
                    a[j] |= 1 << i
            adjs.append(a)
        ref = partition_exists(hh, 250, 450, adjs)
        st, parts = partition_search(hh, 250, 450, adjs, 10**6, 10**6)
        assert st == ("none" if ref is None else "found")
        answers[st] += 1
        if parts:
            assert sum(bin(m).count("1") for m in parts) == n
            assert all(250 <= sum(hh[v] for v in range(n) if m >> v & 1) <= 450 for m in parts)
    assert answers["found"] >= 10 and answers["none"] >= 10
    # twelve household-less units in a row: 78 connected sets, more than a budget of 50
    line = [(1 << (i - 1) if i else 0) | (1 << (i + 1) if i < 11 else 0) for i in range(12)]
    assert partition_search([0] * 12, 1, 5, [line, line], 50, 10**6) == ("budget", None)


def _lattice(hh: list[int]):
    """8 columns of footprints 10 m wide, 25 m apart (neighbours in both rule graphs)."""
    boxes = [shapely.box(25 * (i % 8), 25 * (i // 8), 25 * (i % 8) + 10, 25 * (i // 8) + 10) for i in range(len(hh))]
    rows = (len(hh) + 7) // 8
    b = gpd.GeoDataFrame({"households": hh}, geometry=boxes, crs="EPSG:32650").to_crs("EPSG:4326")
    com = gpd.GeoSeries([shapely.box(-15, -15, 200, 25 * rows + 10)], crs="EPSG:32650").to_crs("EPSG:4326").iloc[0]
    return b, com


def test_engine_names_a_claims_grids_and_flags_an_unchecked_one(monkeypatch):
    """Buildings of 260 households: one is below the band, two above, so no grid fits.
    Counting allows grids (4,160 households: 9..13 grids); the engine proves it by its cover
    relaxation.  On 16 such buildings the checker's exhaustive search settles the claim.
    Among 54 household-less buildings the sets of one building with any household-less ones
    are too many to list, but with household-less buildings free to join any grid the search
    settles it too; with a work budget too small for either, the claim stays unchecked and
    its grids say so."""
    from dataclasses import replace

    from geo.partition import engine

    b, com = _lattice([260] * 16)
    plan = rebalance(b, com)
    (claim,) = plan.report["totals"]["infeasible_regions"]
    assert claim["proof"] == "cover" and claim["check"] == "checked"
    assert claim["check_detail"].startswith("exhaustive search: no partition of 16 units")
    assert claim["grids"] == sorted(g["code"] for g in plan.report["grids"])
    assert not any("proof_unchecked" in g["flags"] for g in plan.report["grids"])

    hh = [0] * 64
    for k in range(10):
        hh[(13 * k) % 64] = 260
    b, com = _lattice(hh)
    plan = rebalance(b, com)
    (claim,) = plan.report["totals"]["infeasible_regions"]
    assert claim["check"] == "checked", claim["check_detail"]
    assert "household-less buildings free to join any grid" in claim["check_detail"]
    assert not any("proof_unchecked" in g["flags"] for g in plan.report["grids"])

    monkeypatch.setattr(engine, "DEFAULT", replace(engine.DEFAULT, check_sets=5, check_nodes=5))
    plan = rebalance(b, com)
    (claim,) = plan.report["totals"]["infeasible_regions"]
    assert claim["check"] == "unchecked" and "budget" in claim["check_detail"]
    assert plan.report["totals"]["proofs"]["unchecked"] == 1
    assert claim["grids"] == sorted(g["code"] for g in plan.report["grids"])
    assert all({"infeasible_region", "proof_unchecked"} <= set(g["flags"]) for g in plan.report["grids"])


def test_household_less_relaxation_never_says_none_when_a_partition_exists():
    """The checker's first search lets household-less units join any grid: it may find a
    partition where none exists (then the full search decides), but when it finds none, the
    plain reference search finds none either."""
    rng = np.random.default_rng(11)
    said_none = 0
    for _ in range(200):
        n = int(rng.integers(3, 10))
        hh = np.where(rng.random(n) < 0.4, 0, rng.integers(60, 300, n))
        edges = np.array([(i, j) for i, j in itertools.combinations(range(n), 2) if rng.random() < 0.35],
                         dtype=np.int64).reshape(-1, 2)
        claim = [{"proof": "cover"}]
        check_claims(claim, [np.arange(n)], hh, edges, edges, [], np.zeros(n, bool), 250, 450)
        adj = [0] * n
        for i, j in edges.tolist():
            adj[i] |= 1 << j
            adj[j] |= 1 << i
        ref = partition_exists(hh.tolist(), 250, 450, [adj])
        (rec,) = claim
        if "household-less buildings free" in rec["check_detail"]:
            said_none += 1
            assert ref is None
        assert rec["check"] == "unchecked" or (rec["check"] == "refuted") == (ref is not None)
    assert said_none >= 5
