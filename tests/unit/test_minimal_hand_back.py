"""Minimal change's hand-back pass, the local model's extent and the parts of its piece
search (geo.partition.minimal): the cut-off test, the units touching a grid, the parts of a
large set and the remembered pieces, each against the plain way of finding the same answer,
on tiny unit graphs whose answers can be counted by hand or on random lattices; no database."""

from __future__ import annotations

import numpy as np
import pytest

from geo.partition.search import Params, Units, adj_components


def _units(hh: list[float], fadj: list[list[int]], cadj: list[list[int]]) -> Units:
    """Units with two rule graphs (footprint ``fadj``, cells ``cadj``); the search graph is
    their union."""
    n = len(hh)
    adj = [sorted(set(fadj[u]) | set(cadj[u])) for u in range(n)]
    return Units(n, np.asarray(hh, dtype=float), np.ones(n), np.full(n, 4.0),
                 np.c_[np.arange(n, dtype=float), np.zeros(n)], adj, [{v: 1.0 for v in a} for a in adj],
                 np.arange(n), [np.array([u]) for u in range(n)], fadj, cadj).finish()


def _line(hh: list[float]) -> Units:
    adj = [[v for v in (u - 1, u + 1) if 0 <= v < len(hh)] for u in range(len(hh))]
    return _units(hh, adj, [list(a) for a in adj])


def test_a_building_moved_without_need_goes_back_and_the_count_falls():
    from geo.partition.minimal import hand_back
    from geo.partition.minimal_grids import _Grids

    prm = Params(300.0, 200.0, 400.0)
    # A = units 0-2, B = units 3-5 at the start; unit 2 went to B (A 200, B 400): its return
    # leaves both in band (300, 300) and both connected
    U = _line([100] * 6)
    G = _Grids(U, list(range(6)), np.array([0, 0, 0, 1, 1, 1]))
    G.move(2, 1)
    assert hand_back(G, prm) == 100
    assert G.lab[:6].tolist() == [0, 0, 0, 1, 1, 1]
    assert [G.h[0], G.h[1]] == [300, 300]


def test_a_moved_piece_comes_back_from_its_outer_edge_in():
    from geo.partition.minimal import hand_back
    from geo.partition.minimal_grids import _Grids

    prm = Params(300.0, 100.0, 500.0)
    # units 2 and 3 went from A to B; unit 3 touches A only once unit 2 is back
    U = _line([100] * 7)
    G = _Grids(U, list(range(7)), np.array([0, 0, 0, 0, 1, 1, 1]))
    G.move(2, 1)
    G.move(3, 1)
    assert hand_back(G, prm) == 200
    assert G.lab[:7].tolist() == [0, 0, 0, 0, 1, 1, 1]
    # the inner unit heavier, so tried first in a pass: one pass (MinimalConfig.hand_back_passes)
    # brings back the outer unit only, and the plan stays valid; two bring back both
    U = _line([100, 100, 100, 120, 100, 100, 100])
    for passes, back, lab in ((1, 100, [0, 0, 0, 1, 1, 1, 1]), (2, 220, [0, 0, 0, 0, 1, 1, 1])):
        G = _Grids(U, list(range(7)), np.array([0, 0, 0, 0, 1, 1, 1]))
        G.move(2, 1)
        G.move(3, 1)
        assert hand_back(G, Params(300.0, 100.0, 600.0), passes=passes) == back
        assert G.lab[:7].tolist() == lab


def test_nothing_goes_back_that_would_leave_the_band_or_cut_a_grid():
    from geo.partition.minimal import hand_back
    from geo.partition.minimal_grids import _Grids

    # the band: A (200) would reach 300, above this maximum of 250
    U = _line([100] * 6)
    G = _Grids(U, list(range(6)), np.array([0, 0, 0, 1, 1, 1]))
    G.move(2, 1)
    assert hand_back(G, Params(225.0, 200.0, 250.0)) == 0
    assert G.lab[:6].tolist() == [0, 0, 1, 1, 1, 1]
    # connectivity: unit 1 of a T (footprint 0-1-2 and 1-3, cells the same) went from A
    # (unit 0) to B (1, 2, 3); its return would split B into 2 and 3
    T = [[1], [0, 2, 3], [1], [1]]
    U = _units([100] * 4, T, [list(a) for a in T])
    G = _Grids(U, list(range(4)), np.array([0, 0, 1, 1]))
    G.move(1, 1)
    assert hand_back(G, Params(200.0, 50.0, 400.0)) == 0
    assert G.lab[:4].tolist() == [0, 1, 1, 1]


def _reference_block(U: Units, rest: np.ndarray, u: int) -> list[int] | None:
    """``u`` and what its leaving cuts off from the heaviest part of ``rest``, the slow way:
    every part listed in each rule graph until nothing more is cut."""
    keep = rest.copy()
    keep[u] = False
    if not keep.any():
        return None
    changed = True
    while changed:
        changed = False
        for adj in (U.fadj, U.cadj):
            parts = adj_components(adj, np.flatnonzero(keep).tolist())
            if len(parts) > 1:
                best = max(parts, key=lambda c: (float(U.hh[c].sum()), len(c), -min(c)))
                for c in parts:
                    if c is not best:
                        keep[c] = False
                changed = True
    return [u] + [int(v) for v in np.flatnonzero(rest) if v != u and not keep[v]]


@pytest.mark.parametrize("seed", range(6))
def test_the_cut_off_test_finds_what_listing_every_part_finds(seed):
    from geo.partition.minimal_grids import _block, _mask_connected

    # a 12 x 12 lattice; each rule graph drops a random fifth of its edges (so a unit may cut
    # the rest apart in one graph and not in the other); parts small and large
    rng = np.random.default_rng([seed, 31])
    side = 12
    n = side * side

    def graph():
        adj: list[list[int]] = [[] for _ in range(n)]
        for i in range(side):
            for j in range(side):
                u = i * side + j
                for v in ((u + 1) if j + 1 < side else None, (u + side) if i + 1 < side else None):
                    if v is not None and rng.random() > 0.2:
                        adj[u].append(v)
                        adj[v].append(u)
        return [sorted(a) for a in adj]

    U = _units(rng.integers(0, 60, size=n).tolist(), graph(), graph())
    checked = 0
    for _ in range(40):
        rest = np.zeros(n, dtype=bool)
        rest[rng.choice(n, size=int(rng.integers(20, n)), replace=False)] = True
        # the largest part connected in both graphs stands for a grid
        for adj in (U.fadj, U.cadj):
            parts = adj_components(adj, np.flatnonzero(rest).tolist())
            rest[:] = False
            rest[max(parts, key=len)] = True
        if rest.sum() < 3 or not _mask_connected(U, rest):
            continue
        for u in np.flatnonzero(rest)[:: max(1, int(rest.sum()) // 12)].tolist():
            want = _reference_block(U, rest, u)
            got = _block(U, rest, u, connected=True)
            assert (None if got is None else sorted(got)) == (None if want is None else sorted(want))
            checked += 1
    assert checked > 20


def test_the_units_touching_a_grid_are_those_each_unit_test_finds():
    from geo.partition.minimal_grids import _Grids, _touches, _touching

    rng = np.random.default_rng(5)
    side = 10
    n = side * side

    def graph():
        adj: list[list[int]] = [[] for _ in range(n)]
        for u in range(n):
            for v in ((u + 1) if (u + 1) % side else None, (u + side) if u + side < n else None):
                if v is not None and rng.random() > 0.3:
                    adj[u].append(v)
                    adj[v].append(u)
        return adj

    U = _units(rng.integers(0, 60, size=n).tolist(), graph(), graph())
    # four grids in quarters, a few units outside the region
    lab = np.array([(u // side >= side // 2) * 2 + (u % side >= side // 2) for u in range(n)])
    nodes = [u for u in range(n) if u % 17]
    G = _Grids(U, nodes, lab)
    found = 0
    for g in range(4):
        for d in range(4):
            if g != d:
                want = [u for u in G.members(g) if _touches(G, u, d)]
                assert np.flatnonzero(_touching(G, g, d)).tolist() == want
                found += len(want)
    assert found > 0


@pytest.mark.parametrize("seed", range(3))
def test_large_sets_split_into_the_same_parts_by_the_compiled_labelling(seed):
    from geo.partition.minimal_grids import PARTS_COMPILED, _parts

    rng = np.random.default_rng([seed, 77])
    side = 60
    n = side * side
    adj: list[list[int]] = [[] for _ in range(n)]
    for u in range(n):
        for v in ((u + 1) if (u + 1) % side else None, (u + side) if u + side < n else None):
            if v is not None and rng.random() > 0.45:
                adj[u].append(v)
                adj[v].append(u)
    U = _units([1.0] * n, adj, [list(a) for a in adj])
    for share in (0.4, 0.7, 0.95):
        keep = rng.random(n) < share
        assert keep.sum() > PARTS_COMPILED
        got = _parts(U, U.fadj, keep, (U.fa, U.fb))
        want = adj_components(U.fadj, np.flatnonzero(keep).tolist())
        assert sorted(got) == sorted(want)
        assert len(want) > 1


def test_a_piece_asked_again_from_the_same_labels_is_the_one_made_before():
    from geo.partition.minimal_grids import _Grids, _make_piece, _piece

    U = _line([100, 50, 80, 120, 60, 100, 100, 100])
    G = _Grids(U, list(range(8)), np.array([0, 0, 0, 0, 0, 1, 1, 1]))
    first = _piece(G, 0, 1, 100, 250)
    assert first == _make_piece(G, 0, 1, 100, 250)
    assert first is not None and sorted(first[0]) == [3, 4] and first[1] == 180
    assert len(G.pieces) == 1
    # the same question: remembered, and a copy (the caller may keep or change it)
    first[0].append(99)
    assert _piece(G, 0, 1, 100, 250) == _make_piece(G, 0, 1, 100, 250)
    assert len(G.pieces) == 1
    # other labels: asked afresh
    G.move(4, 1)
    assert _piece(G, 0, 1, 100, 250) == _make_piece(G, 0, 1, 100, 250)
    assert len(G.pieces) == 2
    # a second run over the same units and labels (the engine's run without the local model)
    # finds the pieces of the first; another region's units ask afresh
    G2 = _Grids(U, list(range(8)), np.array([0, 0, 0, 0, 0, 1, 1, 1]))
    assert G2.pieces is G.pieces
    assert _piece(G2, 0, 1, 100, 250) == _make_piece(G2, 0, 1, 100, 250)
    assert len(G.pieces) == 2
    G3 = _Grids(U, list(range(7)), np.array([0, 0, 0, 0, 0, 1, 1, -1]))
    assert _piece(G3, 0, 1, 100, 250) == _make_piece(G3, 0, 1, 100, 250)
    assert len(G.pieces) == 3


# ------------------------------------------------------------------------------- give_back


def test_a_new_grid_out_of_band_goes_back_when_no_more_grids_are_out_of_band():
    from geo.partition.minimal import give_back

    prm = Params(400.0, 300.0, 500.0)
    # a tower (498) and two small buildings (86, 70) were grid A; B is units 3-5. The repair
    # put the tower alone (A, in band) and the small ones in a new grid of 156 (out of band):
    # giving them back leaves A at 654, one grid out of band as before, and nothing moved
    U = _line([70, 86, 498, 150, 150, 150])
    nodes = list(range(6))
    cur = np.array(["A", "A", "A", "B", "B", "B"], dtype=object)
    lab = np.array([2, 2, 0, 1, 1, 1])
    out, k = give_back(U, nodes, lab, 3, cur, ["A", "B", None], prm)
    assert (out[:6].tolist(), k) == ([0, 0, 0, 1, 1, 1], 2)


def test_a_new_grid_stays_when_in_band_or_when_its_return_puts_more_grids_out_of_band():
    from geo.partition.minimal import give_back

    nodes = list(range(6))
    cur = np.array(["A", "A", "A", "B", "B", "B"], dtype=object)
    # the repair left A = unit 2 (450), B = units 3-5 (450) and a new grid of units 0, 1 (300)
    U = _line([150, 150, 450, 150, 150, 150])
    lab = np.array([2, 2, 0, 1, 1, 1])
    # in band (300-500): it stays
    out, k = give_back(U, nodes, lab, 3, cur, ["A", "B", None], Params(400.0, 300.0, 500.0))
    assert (out[:6].tolist(), k) == (lab.tolist(), 3)
    # below a minimum of 320: back in A (750) it leaves one grid out of band for one, so it goes
    out, k = give_back(U, nodes, lab, 3, cur, ["A", "B", None], Params(400.0, 320.0, 500.0))
    assert (out[:6].tolist(), k) == ([0, 0, 0, 1, 1, 1], 2)
    # a new grid of units 0, 1 (from A) and 3 (from B), 300: back, A would hold 650 and B 550,
    # two grids out of band for one, so it stays
    U = _line([100, 100, 450, 100, 225, 225])
    lab = np.array([2, 2, 0, 2, 1, 1])
    out, k = give_back(U, nodes, lab, 3, cur, ["A", "B", None], Params(400.0, 320.0, 500.0))
    assert (out[:6].tolist(), k) == (lab.tolist(), 3)


def test_a_new_grid_stays_when_its_return_would_cut_its_starting_grid():
    from geo.partition.minimal import give_back

    # unit 0 touches unit 1 only; 1 touches 0, 2 and 3. A started as 0, 1, 2; the repair made
    # unit 0 a new grid (100, below 150) and gave unit 1 to B (1, 3): back in A, unit 0 would
    # touch no unit of A (2)
    g = [[1], [0, 2, 3], [1], [1]]
    U = _units([100, 100, 300, 300], g, [list(a) for a in g])
    cur = np.array(["A", "A", "A", "B"], dtype=object)
    lab = np.array([2, 1, 0, 1])
    out, k = give_back(U, list(range(4)), lab, 3, cur, ["A", "B", None], Params(300.0, 150.0, 500.0))
    assert (out[:4].tolist(), k) == (lab.tolist(), 3)


# ------------------------------------------------------------------------------- local model


def _blocks(sizes: list[int], per_unit: float) -> tuple[Units, np.ndarray]:
    """A line of units, ``per_unit`` households each, cut into grids of ``sizes`` units."""
    n = sum(sizes)
    lab = np.repeat(np.arange(len(sizes)), sizes)
    return _line([per_unit] * n), lab


def test_a_small_local_model_reaches_a_third_ring_and_a_large_one_does_not():
    from dataclasses import replace

    from geo.partition.minimal import DEFAULT
    from geo.partition.minimal_grids import _Grids
    from geo.partition.minimal_local import _rings

    # five grids in a line; grid 0 at one end: two rings hold 0, 1, 2
    U, lab = _blocks([11, 10, 10, 6, 6], 50.0)
    G = _Grids(U, list(range(U.n)), lab)
    cfg = replace(DEFAULT, rings=2, wide_rings=3, wide_units=200)
    assert _rings(G, 0, cfg) == [0, 1, 2, 3]  # 31 units in two rings: a third is taken
    assert _rings(G, 0, replace(cfg, wide_units=30)) == [0, 1, 2]  # more than 30: not
    assert _rings(G, 0, replace(cfg, wide_rings=2)) == [0, 1, 2]
    assert _rings(G, 0, replace(cfg, max_grids=3)) == [0, 1, 2]


def test_households_pass_along_three_grids_in_a_small_local_model():
    from dataclasses import replace

    from geo.partition.minimal import DEFAULT, local_solve
    from geo.partition.minimal_grids import _Grids

    prm = Params(450.0, 400.0, 500.0)
    # grid 0 holds 550, grids 1 and 2 are full (500), grid 3 has room (400); no grid more
    # fits (five grids need 2,000): only households passed 0 -> 1 -> 2 -> 3 bring grid 0
    # into band, which a model of two rings cannot see
    U, lab = _blocks([11, 10, 10, 8], 50.0)
    narrow = replace(DEFAULT, rings=2, wide_rings=2)
    G = _Grids(U, list(range(U.n)), lab)
    assert not local_solve(G, 0, prm, narrow)
    G = _Grids(U, list(range(U.n)), lab)
    assert local_solve(G, 0, prm, replace(narrow, wide_rings=3))
    assert all(400 <= h <= 500 for h in G.h)
    assert float(U.hh[G.lab != lab].sum()) == 150.0  # one unit over each of the three borders


def test_a_new_grid_is_cut_across_grids_none_of_which_holds_two_grids_worth():
    from geo.partition.minimal import DEFAULT, local_solve
    from geo.partition.minimal_grids import _Grids

    prm = Params(400.0, 300.0, 500.0)
    # three grids of 520, 520 and 480 in a line: together 1,520, more than three grids hold,
    # and none holds the 600 a new grid of its own would need; a new grid made of the two
    # first grids' units brings all four into band, each grid keeping most of its households
    U, lab = _blocks([26, 26, 24], 20.0)
    G = _Grids(U, list(range(U.n)), lab)
    assert local_solve(G, 0, prm, DEFAULT)
    assert G.k == 4 and all(300 <= h <= 500 for h in G.h)
    for g, start in ((0, 520), (1, 520), (2, 480)):
        assert float(U.hh[(G.lab == g) & (lab == g)].sum()) > start / 2
    assert all(len(c) == 1 for c in (adj_components(U.adj, G.members(g)) for g in range(4)))
