"""Regions, infeasibility proofs, the exact solver and the fast shared-edge computation."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.partition.engine import rebalance
from geo.partition.exact import solve_region
from geo.partition.graph import canon_pairs, shared_edges
from tests.unit.test_partition import UTM, blocks, check_rules_1_to_3


def test_pocket_behind_oversized_building_is_a_named_infeasible_region():
    # a row of five blocks 30 m apart (centres): removing the 600-household block cuts off the
    # two blocks on its right (100 households), which no grid in band can hold: they form
    # their own grid, flagged, and the region is named with its numbers
    b, com = blocks(5, 1, [150, 150, 600, 100, 0])
    plan = rebalance(b, com, seed=0)
    tot = plan.report["totals"]
    assert tot["feasible"] is False
    [reg] = tot["infeasible_regions"]
    assert reg["households"] == 100 and reg["buildings"] == 2
    assert (reg["k_min"], reg["k_max"]) == (1, 0)
    rows = {r["code"]: r for r in plan.report["grids"]}
    big = plan.labels.iloc[2]
    assert rows[big]["n_buildings"] == 1 and "oversized_building" in rows[big]["flags"]
    pocket = plan.labels.iloc[3]
    assert plan.labels.iloc[4] == pocket != big
    assert rows[pocket]["households"] == 100 and rows[pocket]["failed_rules"] == ["band"]
    assert "infeasible_region" in rows[pocket]["flags"]
    left = plan.labels.iloc[0]
    assert plan.labels.iloc[1] == left and rows[left]["valid"] and rows[left]["households"] == 300
    check_rules_1_to_3(b, com, plan)


def test_exact_solver_enforces_connectivity():
    hh = np.array([160, 300, 160])
    path = (np.array([0, 1]), np.array([1, 2]))
    tri = (np.array([0, 1, 0]), np.array([1, 2, 2]))
    st, lab = solve_region(hh, 2, 300, 500, [path])
    assert st == "INFEASIBLE" and lab is None  # {0, 2} is in band but not connected
    st, lab = solve_region(hh, 2, 300, 500, [tri])
    assert st == "FEASIBLE"
    assert lab[0] == lab[2] != lab[1]
    # every graph must hold: the triangle alone is not enough when the path is required too
    st, _ = solve_region(hh, 2, 300, 500, [tri, path])
    assert st == "INFEASIBLE"


def test_exact_solver_counts():
    hh = np.array([100, 100, 100])
    e = (np.array([0, 1]), np.array([1, 2]))
    assert solve_region(hh, 2, 300, 500, [e])[0] == "INFEASIBLE"  # 300 < 2 * 300
    st, lab = solve_region(hh, 1, 300, 500, [e])
    assert st == "FEASIBLE" and (lab == 0).all()


@pytest.mark.parametrize("nx,ny", [(3, 3), (4, 2)])
def test_shared_edges_match_pairwise_intersection(nx, ny):
    rng = np.random.default_rng(nx * 10 + ny)
    pts = rng.uniform(0, 100, size=(nx * ny * 3, 2))
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=shapely.box(0, 0, 100, 100))
    cells = np.asarray(shapely.get_parts(vor), dtype=object)
    cells = shapely.intersection(cells, shapely.box(0, 0, 100, 100))
    pairs, lens = shared_edges(cells)
    tree = shapely.STRtree(cells)
    a, b = tree.query(cells, predicate="intersects")
    cp = canon_pairs(a, b)
    ln = shapely.length(shapely.intersection(cells[cp[:, 0]], cells[cp[:, 1]]))
    ref = {tuple(p): length for p, length in zip(cp.tolist(), ln, strict=False) if length > 1e-6}
    got = {tuple(p): length for p, length in zip(pairs.tolist(), lens, strict=False)}
    assert set(got) == set(ref)
    assert max(abs(got[k] - ref[k]) for k in ref) < 1e-6


def _valid_labellings(hh, k, lo, hi, graphs):
    """Every labelling into k grids in band, connected in every graph (small n only)."""
    import itertools

    n = len(hh)
    adj = [[set() for _ in range(n)] for _ in graphs]
    for gi, (a, b) in enumerate(graphs):
        for x, y in zip(a.tolist(), b.tolist(), strict=False):
            adj[gi][x].add(y)
            adj[gi][y].add(x)

    def connected(mem, nb):
        seen, stack = {mem[0]}, [mem[0]]
        while stack:
            x = stack.pop()
            for y in nb[x]:
                if y in mem and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(mem)

    for lab in itertools.product(range(k), repeat=n):
        if lab[0] != 0:
            continue
        parts = [[i for i in range(n) if lab[i] == j] for j in range(k)]
        if not all(parts) or not all(lo <= sum(hh[i] for i in p) <= hi for p in parts):
            continue
        if all(connected(p, nb) for p in parts for nb in adj):
            yield lab


def _brute_force(hh, k, lo, hi, graphs):
    """Whether some labelling into k grids in band is connected in every graph."""
    return next(_valid_labellings(hh, k, lo, hi, graphs), None) is not None


@pytest.mark.parametrize("seed", range(40))
def test_exact_model_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    n = int(min(max(rng.integers(2 * k, 3 * k + 1), 3), 9))
    hh = rng.choice([0, 80, 130, 180, 230], n).astype(np.int64)
    graphs = []
    for _ in range(2):
        a, b = np.triu_indices(n, 1)
        keep = rng.random(len(a)) < 0.75
        graphs.append((a[keep].astype(np.int64), b[keep].astype(np.int64)))
    want = _brute_force(hh.tolist(), k, 300, 500, graphs)
    st, lab = solve_region(hh, k, 300, 500, graphs, det_time=5.0)
    assert st in ("FEASIBLE", "INFEASIBLE")
    assert (st == "FEASIBLE") == want
    if st == "FEASIBLE":
        parts = [np.flatnonzero(lab == j) for j in range(k)]
        assert all(len(p) for p in parts)
        assert all(300 <= hh[p].sum() <= 500 for p in parts)


def _sparse_connected(rng, n, extra):
    """A random tree on n nodes plus ``extra`` random edges (articulation points are likely)."""
    a, b = [], []
    for v in range(1, n):
        a.append(int(rng.integers(v)))
        b.append(v)
    for _ in range(extra):
        x, y = sorted(rng.choice(n, 2, replace=False).tolist())
        a.append(x)
        b.append(y)
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_must_merge_groups_hold_in_every_valid_partition(seed):
    """Pocket contraction is sound: every valid partition keeps each group in one grid, and a
    group above the maximum means no valid partition exists (brute force, small graphs)."""
    from geo.partition.exact import must_merge

    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(4, 9))
    hh = rng.choice([0, 60, 120, 180, 240], n).astype(np.int64)
    while hh.sum() >= 1200:  # so that 1..3 grids are every count that could fit the band
        hh = rng.choice([0, 60, 120, 180, 240], n).astype(np.int64)
    graphs = [_sparse_connected(rng, n, int(rng.integers(0, 3))) for _ in range(2)]
    groups, over = must_merge(hh, graphs, 300, 500)
    any_valid = False
    for k in range(1, 4):
        for lab in _valid_labellings(hh.tolist(), k, 300, 500, graphs):
            any_valid = True
            for g in range(int(groups.max()) + 1):
                assert len({lab[i] for i in np.flatnonzero(groups == g)}) == 1, (groups, lab)
    if over >= 0:
        assert hh[groups == over].sum() > 500
        assert not any_valid


def test_pocket_above_maximum_proves_region_infeasible():
    # a row: the 120-household end blocks hang from 400-household blocks, so each must share
    # its neighbour's grid (520 > 500) although counting alone allows 3 or 4 grids
    b, com = blocks(6, 1, [120, 400, 120, 120, 400, 120])
    plan = rebalance(b, com, seed=0)
    tot = plan.report["totals"]
    assert tot["feasible"] is False
    [reg] = tot["infeasible_regions"]
    assert (reg["k_min"], reg["k_max"]) == (3, 4)
    assert "must share one grid" in reg["reason"] and "520 households" in reg["reason"]
    assert all("infeasible_region" in r["flags"] for r in plan.report["grids"])
    check_rules_1_to_3(b, com, plan)


@pytest.mark.parametrize("seed", [0, 1, 2, -1])
def test_tree_cuts_limit_keeps_the_first_cuts(seed):
    """Cuts asked with ``limit`` are the first ones of the full list, in the same order
    (seed -1: equal households on a square lattice)."""
    from geo.partition.cells import building_cells
    from geo.partition.graph import build_graph
    from geo.partition.search import Params, make_units, tree_cuts

    rng = np.random.default_rng(abs(seed))
    b, com = blocks(6, 6, 20) if seed < 0 else blocks(8, 6, rng.integers(0, 60, 48).tolist())
    cells = building_cells(b.geometry, com)
    fps = np.asarray(b.geometry.to_crs(UTM).values, dtype=object)
    G = build_graph(fps, np.asarray(cells.to_crs(UTM).values, dtype=object))
    hh = b["households"].to_numpy(np.int64)
    U = make_units(G, hh, np.full(len(b), -1), np.arange(len(b)))
    prm = Params(400, 300, 500)
    nodes = list(range(U.n))
    for k1, k2, lim in ((1, 1, 1), (1, 1, 6), (2, 3, 1), (3, 2, 4)):
        full = tree_cuts(U, nodes, k1, k2, prm, np.random.default_rng([abs(seed), k1, k2]))
        some = tree_cuts(U, nodes, k1, k2, prm, np.random.default_rng([abs(seed), k1, k2]), limit=lim)
        assert len(full) > lim
        assert some == full[:lim]


def _ring(n):
    a = np.arange(n, dtype=np.int64)
    return a, (a + 1) % n


def test_cover_relaxation_proves_what_neither_count_nor_pockets_can():
    """Three 250-household blocks on a ring with empty blocks between: 750 households allow
    exactly 2 grids by counting, the ring has no cut node (no pockets), yet one grid would
    hold a single 250-household block."""
    from geo.partition.exact import cover_relaxation, must_merge

    hh = np.array([250, 0, 250, 0, 250, 0])
    graphs = [_ring(6), _ring(6)]
    groups, over = must_merge(hh, graphs, 300, 500)
    assert over == -1 and int(groups.max()) + 1 == 6
    assert cover_relaxation(hh, 300, 500, graphs) == "INFEASIBLE"
    assert not list(_valid_labellings(hh.tolist(), 2, 300, 500, graphs))
    # four such blocks pair up: the relaxation has a cover and proves nothing
    assert cover_relaxation(np.array([250, 0] * 4), 300, 500, [_ring(8), _ring(8)]) == "RELAXED"
    # a limit reached is not a proof
    assert cover_relaxation(hh, 300, 500, graphs, max_subsets=2) == "UNKNOWN"
    with pytest.raises(ValueError):
        cover_relaxation(hh, 0, 500, graphs)


def _random_region(seed):
    """Households (some zero, fewer than 1,500 in all) and two connected rule graphs on 4..8
    nodes."""
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.integers(4, 9))
    hh = rng.choice([0, 0, 150, 200, 250, 350], n).astype(np.int64)
    while hh.sum() >= 1500 or hh.sum() == 0:
        hh = rng.choice([0, 0, 150, 200, 250, 350], n).astype(np.int64)
    return hh, [_sparse_connected(rng, n, int(rng.integers(0, 3))) for _ in range(2)]


@pytest.mark.parametrize("seed", range(40))
def test_cover_relaxation_is_sound(seed):
    """Brute force on small random graphs with household-less nodes: whenever a partition in
    band, connected in both graphs, exists for some grid count, the relaxation proves nothing;
    on the seeds where no partition exists it must prove infeasibility some of the time."""
    from geo.partition.exact import cover_relaxation

    hh, graphs = _random_region(seed)
    exists = any(next(iter(_valid_labellings(hh.tolist(), k, 300, 500, graphs)), None) is not None for k in range(1, 5))
    got = cover_relaxation(hh, 300, 500, graphs)
    assert got in ("INFEASIBLE", "RELAXED")
    if exists:
        assert got == "RELAXED", (hh, graphs)


def test_cover_relaxation_decides_some_random_infeasible_cases():
    """The soundness test above is not vacuous: over its seeds, some regions have no partition
    and the relaxation proves it."""
    from geo.partition.exact import cover_relaxation

    regions = [_random_region(seed) for seed in range(40)]
    proved = sum(cover_relaxation(hh, 300, 500, graphs) == "INFEASIBLE" for hh, graphs in regions)
    assert proved >= 5


def test_engine_names_a_region_the_cover_relaxation_proves_infeasible():
    # three 250-household blocks among empty ones: 2 grids by counting, no pocket, but one
    # grid would hold a single 250-household block
    b, com = blocks(3, 3, [250, 0, 250, 0, 0, 0, 0, 250, 0])
    plan = rebalance(b, com, seed=0)
    tot = plan.report["totals"]
    assert tot["feasible"] is False
    [reg] = tot["infeasible_regions"]
    assert (reg["households"], reg["k_min"], reg["k_max"]) == (750, 2, 2)
    assert "household-less buildings free to join any grid" in reg["reason"]
    assert all("infeasible_region" in r["flags"] for r in plan.report["grids"])
    check_rules_1_to_3(b, com, plan)


def test_region_without_households_is_named_plainly():
    b, com = blocks(3, 1, [600, 0, 0])
    plan = rebalance(b, com, seed=0)
    regs = plan.report["totals"]["infeasible_regions"]
    assert any(r["households"] == 0 and r["reason"].startswith("no households") for r in regs), regs


def _units_of(b, com):
    from geo.partition.cells import building_cells
    from geo.partition.graph import build_graph
    from geo.partition.search import make_units

    cells = building_cells(b.geometry, com)
    fps = np.asarray(b.geometry.to_crs(UTM).values, dtype=object)
    G = build_graph(fps, np.asarray(cells.to_crs(UTM).values, dtype=object))
    hh = b["households"].to_numpy(np.int64)
    return make_units(G, hh, np.full(len(b), -1), np.arange(len(b)))


def test_mend_band_changes_the_grid_count_locally():
    """Six blocks of 150 households in a row, drawn as four grids (300, 150, 300, 150): no
    re-split at four grids can fit the band (4 x 300 > 900).  Each grid of 150 joins its
    neighbour of 300 as one grid of 450."""
    from geo.partition.mend import mend_band
    from geo.partition.search import Params, exact_ok

    b, com = blocks(6, 1, 150)
    U = _units_of(b, com)
    nodes = list(range(U.n))
    lab = np.array([0, 0, 1, 2, 2, 3])
    new, k = mend_band(U, nodes, lab, 4, Params(400, 300, 500), 0)
    assert k == 2
    assert sorted(set(new.tolist())) == [0, 1]
    assert np.bincount(new, weights=U.hh).tolist() == [450, 450]
    assert all(exact_ok(U, np.flatnonzero(new == g)) for g in range(k))
    assert lab.tolist() == [0, 0, 1, 2, 2, 3]  # the input is left alone
    # asked for four grids: nothing fits, nothing changes
    same, k4 = mend_band(U, nodes, lab, 4, Params(400, 300, 500), 0, fixed_k=True)
    assert k4 == 4 and same.tolist() == lab.tolist()


def test_mend_band_adds_a_grid_where_one_is_above_the_maximum():
    """Nine blocks of 100 households in a row as two grids (700, 200): a grid above the
    maximum tries one grid more first, and three grids of 300 fit."""
    from geo.partition.mend import mend_band
    from geo.partition.search import Params, exact_ok

    b, com = blocks(9, 1, 100)
    U = _units_of(b, com)
    lab = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    new, k = mend_band(U, list(range(U.n)), lab, 2, Params(400, 300, 500), 0)
    assert k == 3
    assert np.bincount(new, weights=U.hh, minlength=k).tolist() == [300, 300, 300]
    assert all(exact_ok(U, np.flatnonzero(new == g)) for g in range(k))


def test_mend_band_leaves_what_it_cannot_mend():
    """Three blocks of 150 (450) drawn as grids of 300 and 150: one grid of 450 fits; asked to
    keep two grids, nothing can (2 x 300 > 450), so the labels come back unchanged."""
    from geo.partition.mend import mend_band
    from geo.partition.search import Params

    b, com = blocks(3, 1, 150)
    U = _units_of(b, com)
    lab = np.array([0, 0, 1])
    same, k = mend_band(U, [0, 1, 2], lab, 2, Params(400, 300, 500), 0, fixed_k=True)
    assert k == 2 and same.tolist() == [0, 0, 1]
    one, k1 = mend_band(U, [0, 1, 2], lab, 2, Params(400, 300, 500), 0)
    assert k1 == 1 and one.tolist() == [0, 0, 0]
    assert lab.tolist() == [0, 0, 1]  # the input is left alone


def test_mend_band_on_a_real_community():
    """Regression: on 990100005001 four grids at the end of a long corridor fit the band only
    as three (one held 234 households), and a grid of 524 households in the north-east fits
    only as four grids with two of its neighbours.  The search alone leaves both."""
    from tests.unit.test_partition import _demo_community

    bld, poly = _demo_community("990100005001")
    plan = rebalance(bld, poly, compound="compound_code", seed=0)
    bad = [(r["code"], r["households"], r["failed_rules"]) for r in plan.report["grids"] if not r["valid"]]
    assert not bad, bad
    assert plan.report["totals"]["feasible"] is True


def test_blobs_join_household_less_nodes_of_one_grid_paired_in_every_graph():
    from geo.partition.mend import _blobs

    hh = np.array([0, 0, 5, 0, 0])
    lab = np.array([0, 0, 0, 1, 0])
    fp = (np.array([0, 1, 1, 2]), np.array([1, 3, 2, 4]))  # 0-1, 1-3, 1-2, 2-4
    cell = (np.array([1, 3, 2]), np.array([0, 1, 4]))  # 0-1, 1-3, 2-4 (no 1-2)
    g = _blobs(hh, lab, [fp, cell])
    # 0-1: both empty, same grid, in both graphs; 1-3: other grid; 2 has households
    assert g.tolist() == [0, 0, 1, 2, 3]


def test_exact_cover_agrees_with_enumeration():
    """The engine's plain exact-cover search (its last cover proof) answers as trying every
    choice of sets does, and says UNKNOWN when its node budget runs out."""
    import itertools

    from geo.partition.exact import exact_cover

    rng = np.random.default_rng(21)
    seen = set()
    for _ in range(200):
        n = int(rng.integers(1, 8))
        cols = sorted({int(x) for x in rng.integers(1, 1 << n, int(rng.integers(1, 10)))})
        truth = any(sum(c) == (1 << n) - 1 and all(a & b == 0 for a, b in itertools.combinations(c, 2))
                    for r in range(1, len(cols) + 1) for c in itertools.combinations(cols, r))
        got = exact_cover(cols, n, 10**6)
        assert got == ("FEASIBLE" if truth else "INFEASIBLE")
        seen.add(got)
    assert seen == {"FEASIBLE", "INFEASIBLE"}
    # pairs cover 12 nodes; they cannot cover 11, which a budget of 5 nodes cannot show
    pairs = [(1 << i) | (1 << j) for i, j in itertools.combinations(range(12), 2)]
    assert exact_cover(pairs, 12, 10**6) == "FEASIBLE"
    odd = [(1 << i) | (1 << j) for i, j in itertools.combinations(range(11), 2)]
    assert exact_cover(odd, 11, 10**6) == "INFEASIBLE"
    assert exact_cover(odd, 11, 5) == "UNKNOWN"
