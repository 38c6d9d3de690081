"""Work budgets of the pocket search and the mend, and minimal mode's windowed fresh fallback
(geo.partition.exact.must_merge, geo.partition.mend.mend_band, geo.partition.engine_fresh._fresh_window);
tiny hand-countable rows of blocks, no database."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from geo.partition import engine, engine_fresh
from geo.partition.config import DEFAULT
from geo.partition.exact import must_merge
from geo.partition.search import Params, exact_ok
from tests.unit.test_partition import blocks
from tests.unit.test_partition_regions import _sparse_connected, _units_of, _valid_labellings

BAND = Params(400, 300, 500)


def _path(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n - 1, dtype=np.int64), np.arange(1, n, dtype=np.int64)


def test_must_merge_stops_at_its_work_budget_and_says_so():
    # a path of 60-household nodes: each round joins the two ends to their neighbours (a
    # pocket below the minimum hangs from each), so the contraction takes many rounds
    hh = np.full(40, 60)
    g = _path(40)
    full: dict = {}
    groups_full, _ = must_merge(hh, [g, g], 300, 500, stats=full)
    assert not full["cut"]
    small: dict = {}
    groups_cut, over = must_merge(hh, [g, g], 300, 500, work=full["work"] // 4, stats=small)
    assert small["cut"]
    assert small["work"] <= full["work"] // 4
    # fewer merges than the complete contraction, each one of them a merge it also makes
    assert groups_cut.max() > groups_full.max()
    for grp in range(int(groups_cut.max()) + 1):
        assert len(set(groups_full[groups_cut == grp].tolist())) == 1
    # nothing is claimed from a cut search on a region that fits the band (2400 = 6 x 400)
    assert over == -1
    # no work at all: nothing merged, nothing claimed
    none: dict = {}
    g0, o0 = must_merge(hh, [g, g], 300, 500, work=0, stats=none)
    assert none["cut"] and none["work"] == 0 and o0 == -1 and g0.tolist() == list(range(40))


@pytest.mark.parametrize("seed", range(30))
def test_a_pocket_search_cut_by_its_budget_is_still_sound(seed):
    """Whatever the budget, the groups hold in every valid partition and a group above the
    maximum only where no valid partition exists (brute force, small graphs)."""
    rng = np.random.default_rng(5000 + seed)
    n = int(rng.integers(4, 9))
    hh = rng.choice([0, 60, 120, 180, 240], n).astype(np.int64)
    while hh.sum() >= 1200:
        hh = rng.choice([0, 60, 120, 180, 240], n).astype(np.int64)
    graphs = [_sparse_connected(rng, n, int(rng.integers(0, 3))) for _ in range(2)]
    stats: dict = {}
    groups, over = must_merge(hh, graphs, 300, 500, work=int(rng.integers(0, 60)), stats=stats)
    assert stats["work"] <= 60
    any_valid = False
    for k in range(1, 4):
        for lab in _valid_labellings(hh.tolist(), k, 300, 500, graphs):
            any_valid = True
            for g in range(int(groups.max()) + 1):
                assert len({lab[i] for i in np.flatnonzero(groups == g)}) == 1, (groups, lab)
    if over >= 0:
        assert not any_valid


def _mend_case():
    from geo.partition.mend import mend_band

    b, com = blocks(6, 1, 150)
    U = _units_of(b, com)
    return mend_band, U, list(range(U.n)), np.array([0, 0, 1, 2, 2, 3])


def test_the_mend_re_solves_within_its_budgets(monkeypatch):
    """The mend's pocket work and CP-SAT models are counted: with none left it changes
    nothing; with the defaults it mends (four grids of 300, 150, 300, 150 become two of 450)."""
    import geo.partition.mend as mend

    mend_band, U, nodes, lab = _mend_case()
    new, k = mend_band(U, nodes, lab, 4, BAND, 0)
    assert k == 2 and np.bincount(new, weights=U.hh).tolist() == [450, 450]
    for knob in ({"mend_merge_work": 0}, {"mend_max_solves": 0}):
        monkeypatch.setattr(mend, "DEFAULT", replace(DEFAULT, **knob))
        same, k4 = mend_band(U, nodes, lab, 4, BAND, 0)
        assert k4 == 4 and same.tolist() == lab.tolist(), knob


def _row_case(hh: list[int], current: list[int]):
    b, com = blocks(len(hh), 1, hh)
    U = _units_of(b, com)
    assert U.n == len(hh)  # one unit per block
    final = np.array([f"C{c}" for c in current], dtype=object)
    return U, final


def test_fresh_fallback_plans_the_window_around_a_grid_out_of_band_only():
    # 30 blocks of 100 in a row; grids C0..C3 and C5..C7 of four blocks (400), C4 of two
    # (200, out of band).  The window (C4 and its neighbours C3, C5: 10 of the 30 units,
    # 1000 households) is planned fresh; every grid away from it keeps its label
    cur = [g for g in range(8) for _ in range(2 if g == 4 else 4)]
    U, final = _row_case([100] * 30, cur)
    lab_f, flags_f, claims = engine_fresh._fresh_window(
        U, [list(range(30))], [False], final, {}, BAND, 0, 4, np.zeros(U.n, dtype=bool), rings=(1,))
    assert claims == []
    assert lab_f[:12].tolist() == final[:12].tolist() and lab_f[22:].tolist() == final[22:].tolist()
    window = sorted(set(lab_f[12:22].tolist()))
    assert all(c.startswith("\x00w") for c in window)
    for c in window:
        members = np.flatnonzero(lab_f == c)
        assert 300 <= U.hh[members].sum() <= 500
        assert exact_ok(U, members)


def test_fresh_fallback_widens_a_window_that_cannot_fit_the_band():
    # C0..C3 = four blocks each (400), C4 = one block of 150 (out of band): the window C3 +
    # C4 (5 of 17 units) holds 550 households, which no grid count fits (2 x 300 > 550 >
    # 500); the whole region (1750) does
    U, final = _row_case([100] * 16 + [150], [g for g in range(4) for _ in range(4)] + [4])
    lab_f, _, claims = engine_fresh._fresh_window(
        U, [list(range(17))], [False], final, {}, BAND, 0, 4, np.zeros(U.n, dtype=bool), rings=(1,))
    assert claims == []
    assert all(c.startswith("\x00w") for c in lab_f.tolist())
    sums = sorted(U.hh[lab_f == c].sum() for c in set(lab_f.tolist()))
    assert all(300 <= s <= 500 for s in sums), sums


def test_fresh_fallback_claims_only_whole_regions_and_leaves_them_to_the_checker():
    """A region whose pockets exceed the maximum is claimed at once (no search), its grids
    flagged in the fresh labelling; in the engine the claim goes to the independent checker
    and minimal's grids there carry ``infeasible_region``."""
    hh = [120, 400, 120, 120, 400, 120]
    U, final = _row_case(hh, [0, 0, 1, 1, 2, 2])
    lab_f, flags_f, claims = engine_fresh._fresh_window(
        U, [list(range(6))], [False], final, {}, BAND, 0, 4, np.zeros(U.n, dtype=bool))
    assert [(ci, rec["proof"]) for ci, rec in claims] == [(0, "pockets")]
    assert lab_f.tolist() == final.tolist()
    assert all(flags_f[c] == ["infeasible_region"] for c in ("C0", "C1", "C2"))

    b, com = blocks(6, 1, hh)
    cur = pd.Series(["C0", "C0", "C1", "C1", "C2", "C2"], index=b.index)
    plan = engine.rebalance(b, com, current=cur, mode="minimal", seed=0)
    regs = plan.report["totals"]["infeasible_regions"]
    assert [(r["proof"], r["check"]) for r in regs] == [("pockets", "checked")]
    assert all("infeasible_region" in g["flags"] for g in plan.report["grids"])
    assert plan.report["minimal"]["fresh_checked"]
