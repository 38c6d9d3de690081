"""Minimal change as an objective (geo.partition.minimal), code keeping (geo.planning.codes)
and the one Band (geo.planning.band); no database.

The held-out cases are random towns drawn here (jittered blocks of random size and
households, some without households), never the demo: the engine was not tuned on them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.partition.engine import rebalance
from geo.planning import codes
from geo.planning.band import DEFAULT, Band, BandError

UTM = "EPSG:32650"


def town(seed: int, nx: int = 12, ny: int = 10):
    """A random town: ``nx`` x ``ny`` jittered buildings, households 0..90 (15% none)."""
    rng = np.random.default_rng([seed, 2024])
    geoms, hh = [], []
    for j in range(ny):
        for i in range(nx):
            w, h = rng.uniform(12, 28, size=2)
            x = 450000.0 + i * 36 + rng.uniform(0, 6)
            y = 4420000.0 + j * 36 + rng.uniform(0, 6)
            geoms.append(shapely.box(x, y, x + w, y + h))
            hh.append(0 if rng.random() < 0.15 else int(rng.integers(10, 91)))
    b = gpd.GeoDataFrame({"households": hh}, geometry=geoms, crs=UTM).to_crs(4326)
    outline = shapely.box(450000.0 - 10, 4420000.0 - 10, 450000.0 + nx * 36 + 10, 4420000.0 + ny * 36 + 10)
    return b, gpd.GeoSeries([outline], crs=UTM).to_crs(4326).iloc[0]


def _grid(i: int, j: int) -> shapely.Polygon:
    x, y = 450000.0 + i * 30, 4420000.0 + j * 30
    return shapely.box(x, y, x + 20, y + 20)


def test_valid_grids_move_nothing_and_keep_every_code():
    # 4 x 3 buildings of 100 households; current grids: the four columns (300 each)
    b = gpd.GeoDataFrame({"households": [100] * 12}, geometry=[_grid(i, j) for j in range(3) for i in range(4)],
                         crs=UTM).to_crs(4326)
    com = gpd.GeoSeries([shapely.box(449990, 4419990, 450120, 4420090)], crs=UTM).to_crs(4326).iloc[0]
    cur = pd.Series([f"A{k % 4}" for k in range(12)], index=b.index)
    plan = rebalance(b, com, current=cur, mode="minimal", seed=0)
    assert (plan.labels == cur).all()
    assert plan.report["churn"]["households_moved"] == 0


def test_an_overfull_grid_hands_its_smallest_fitting_boundary_building_to_a_neighbour():
    # columns of 3 buildings; column A0 gains 120 households in one building: 100+220+100 = 420 > 400
    hh = [100] * 12
    hh[4] = 220  # row 1, column 0
    b = gpd.GeoDataFrame({"households": hh}, geometry=[_grid(i, j) for j in range(3) for i in range(4)],
                         crs=UTM).to_crs(4326)
    com = gpd.GeoSeries([shapely.box(449990, 4419990, 450120, 4420090)], crs=UTM).to_crs(4326).iloc[0]
    cur = pd.Series([f"A{k % 4}" for k in range(12)], index=b.index)
    plan = rebalance(b, com, current=cur, mode="minimal", seed=0, target=300, min_hh=200, max_hh=400)
    assert plan.report["totals"]["share_valid"] == 1.0
    # one building of 100 households moves (the cheapest fix); every code is kept
    assert plan.report["churn"]["households_moved"] == 100
    assert plan.report["churn"]["buildings_moved"] == 1
    assert set(plan.labels) == {"A0", "A1", "A2", "A3"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_held_out_towns_keep_codes_after_three_buildings_gain_150(seed):
    b, com = town(seed)
    fresh = rebalance(b, com, seed=0)
    cur = fresh.labels.copy()
    same = rebalance(b, com, current=cur, mode="minimal", seed=0)
    assert same.report["churn"]["households_moved"] == 0
    assert (same.labels == cur).all()
    rng = np.random.default_rng([seed, 7])
    b2 = b.copy()
    pick = rng.choice(np.flatnonzero(b2["households"].to_numpy() > 0), size=3, replace=False)
    b2.loc[b2.index[pick], "households"] += 150
    plan = rebalance(b2, com, current=cur, mode="minimal", seed=0)
    hh = dict(zip(b2.index, b2["households"], strict=True))
    succ = codes.successors(cur.to_dict(), plan.labels.to_dict(), hh)
    n_before = cur.nunique()
    assert len(succ) >= 0.8 * n_before, (len(succ), n_before)
    assert plan.report["churn"]["households_moved"] <= 0.10 * b2["households"].sum()
    was_valid = fresh.report["totals"]["share_valid"] == 1.0
    if was_valid:
        assert plan.report["totals"]["share_valid"] == 1.0


# ------------------------------------------------------------------------------- codes


def test_successor_needs_more_than_half_of_the_old_grids_households():
    hh = {1: 100, 2: 100, 3: 100, 4: 100}
    a = {1: "X", 2: "X", 3: "Y", 4: "Y"}
    # X keeps 1 and 2 in P; Y splits evenly: no successor
    assert codes.successors(a, {1: "P", 2: "P", 3: "Q", 4: "R"}, hh) == {"X": "P"}
    # Y's majority (3 of 4 households... here 2 of 2 buildings) in P, but P goes to X first
    # (larger flow, then code order), so Y has none
    assert codes.successors(a, {1: "P", 2: "P", 3: "P", 4: "P"}, hh) == {"X": "P"}


def test_successor_of_a_grid_without_households_counts_buildings():
    hh = {1: 0, 2: 0, 3: 0}
    assert codes.successors({1: "Z", 2: "Z", 3: "Z"}, {1: "P", 2: "P", 3: "Q"}, hh) == {"Z": "P"}


def test_assign_codes_keeps_the_code_of_a_changed_grid_holding_most_households():
    base = {"990100001001001": frozenset({1, 2, 3}), "990100001001002": frozenset({4, 5})}
    groups = {"a": frozenset({1, 2}), "b": frozenset({3, 4, 5})}
    hh = {1: 200, 2: 150, 3: 50, 4: 100, 5: 100}
    xy = {"a": (0.0, 0.0), "b": (1.0, 0.0)}
    out = codes.assign_codes(groups, base, community_code="990100001001", used_seqs=[1, 2, 7],
                             xy=xy, row_height=1.0, households=hh)
    assert out["a"].code == "990100001001001" and out["a"].status == "kept"
    assert out["b"].code == "990100001001002" and out["b"].status == "kept"
    # a third grid would be minted above every number ever used (7), never reusing one
    groups["c"] = frozenset({5})
    groups["b"] = frozenset({3, 4})
    xy["c"] = (2.0, 0.0)
    out = codes.assign_codes(groups, base, community_code="990100001001", used_seqs=[1, 2, 7],
                             xy=xy, row_height=1.0, households=hh)
    assert out["b"].status == "new" and out["c"].status == "new"
    assert {out["b"].code, out["c"].code} == {"990100001001008", "990100001001009"}


# ------------------------------------------------------------------------------- band


def test_band_is_validated_and_measures_signed_deviation():
    assert DEFAULT == Band(400, 300, 500)
    with pytest.raises(BandError):
        Band(400, 0, 500)
    with pytest.raises(BandError):
        Band(200, 300, 500)
    with pytest.raises(BandError):
        Band(400, 300, 350)
    band = Band(400, 300, 500)
    assert band.deviation_signed(346) == pytest.approx(-0.135)
    assert band.deviation(346) == pytest.approx(0.135)
    assert [band.state(h) for h in (299, 300, 500, 501)] == ["under", "ok", "ok", "over"]
    assert band.override(min_hh=350).min == 350
    with pytest.raises(BandError):
        band.override(max_hh=100)
    with pytest.raises(BandError):
        Band.from_row({"code": "990100001001", "target_households": 400, "min_households": 0,
                       "max_households": 500})
    assert Band.from_row({"target_households": 300, "min_households": 200,
                          "max_households": 450}).as_params() == {
        "target": 300.0, "min_hh": 200.0, "max_hh": 450.0}


# ------------------------------------------------------------------------------- oversized and local fixes


def test_an_oversized_building_keeps_its_code_and_a_newly_oversized_one_takes_its_grids_code():
    # 4 x 3 buildings; building 0 (south-west) holds 450 > max 400 alone in grid T; the
    # columns 1..3 are grids A1..A3 of 300; building 4 (column 0, row 1) then grows to 450
    hh = [450, 100, 100, 100, 100, 100, 100, 100, 200, 100, 100, 100]
    b = gpd.GeoDataFrame({"households": hh}, geometry=[_grid(i, j) for j in range(3) for i in range(4)],
                         crs=UTM).to_crs(4326)
    com = gpd.GeoSeries([shapely.box(449990, 4419990, 450120, 4420090)], crs=UTM).to_crs(4326).iloc[0]
    cur = pd.Series(["T" if k == 0 else ("A0" if k % 4 == 0 else f"A{k % 4}") for k in range(12)], index=b.index)
    kw = {"mode": "minimal", "seed": 0, "target": 300, "min_hh": 200, "max_hh": 400}
    same = rebalance(b, com, current=cur, **kw)
    assert same.labels.iloc[0] == "T"
    assert same.report["churn"]["households_moved"] == 0
    b2 = b.copy()
    b2.loc[b2.index[4], "households"] = 450  # A0 was 100 + 200 (k=4, k=8): now 450 + 200
    plan = rebalance(b2, com, current=cur, **kw)
    # the grown building holds most of A0's households: it keeps A0 (one building moves, the
    # 200 left behind join a neighbour or a new grid), and T is untouched
    assert plan.labels.iloc[0] == "T"
    assert plan.labels.iloc[4] == "A0"
    assert plan.report["minimal"]["regions"] >= 1


def tower_town(seed: int):
    """A random high-rise strip: 30 x 3 lots, towers of 275-480 households among
    household-less sheds and small housing."""
    rng = np.random.default_rng([seed, 99])
    geoms, hh = [], []
    for j in range(3):
        for i in range(30):
            x, y = 450000.0 + i * 40 + rng.uniform(0, 6), 4420000.0 + j * 40 + rng.uniform(0, 6)
            r = rng.random()
            w, h = rng.uniform(14, 30, size=2)
            geoms.append(shapely.box(x, y, x + w, y + h))
            hh.append(int(rng.integers(275, 481)) if r < 0.1 else (0 if r < 0.55 else int(rng.integers(8, 120))))
    b = gpd.GeoDataFrame({"households": hh}, geometry=geoms, crs=UTM).to_crs(4326)
    outline = shapely.box(450000.0 - 10, 4420000.0 - 10, 450000.0 + 30 * 40 + 10, 4420000.0 + 3 * 40 + 10)
    return b, gpd.GeoSeries([outline], crs=UTM).to_crs(4326).iloc[0]


@pytest.mark.parametrize("seed", [11, 12])
def test_held_out_tower_strips_stay_in_band_moving_little(seed):
    b, com = tower_town(seed)
    fresh = rebalance(b, com, seed=0)
    cur = fresh.labels.copy()
    rng = np.random.default_rng([seed, 7])
    b2 = b.copy()
    pick = rng.choice(np.flatnonzero(b2["households"].to_numpy() > 0), size=3, replace=False)
    b2.loc[b2.index[pick], "households"] += 150
    plan = rebalance(b2, com, current=cur, mode="minimal", seed=0)
    hh = dict(zip(b2.index, b2["households"], strict=True))
    assert len(codes.successors(cur.to_dict(), plan.labels.to_dict(), hh)) >= 0.8 * cur.nunique()
    assert plan.report["churn"]["households_moved"] <= 0.10 * b2["households"].sum()

    def out(p):
        return sum(1 for g in p.report["grids"]
                   if "band" in g["failed_rules"] and "oversized_building" not in g["flags"])

    assert out(plan) <= max(out(fresh), out(rebalance(b2, com, seed=0)))
