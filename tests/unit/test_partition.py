"""Hand-countable tests of the rebalancing engine (geo.partition); no database."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.partition.cells import building_cells
from geo.partition.engine import choose_k, rebalance
from geo.partition.errors import PartitionError
from geo.partition.metrics import polsby_popper

UTM = "EPSG:32650"  # Beijing area, metres


def blocks(nx: int, ny: int, hh, size: float = 20.0, gap: float = 10.0, compound=None, x0: float = 450000.0):
    """``nx`` x ``ny`` square buildings (row-major from south-west) and a community around them."""
    geoms, _rows = [], []
    step = size + gap
    for j in range(ny):
        for i in range(nx):
            x, y = x0 + i * step, 4420000.0 + j * step
            geoms.append(shapely.box(x, y, x + size, y + size))
    n = len(geoms)
    hh = list(hh) if not np.isscalar(hh) else [hh] * n
    data = {"households": hh}
    if compound is not None:
        data["compound"] = compound
    b = gpd.GeoDataFrame(data, geometry=geoms, crs=UTM).to_crs(4326)
    outline = shapely.box(x0 - gap, 4420000.0 - gap, x0 + nx * step, 4420000.0 + ny * step)
    com = gpd.GeoSeries([outline], crs=UTM).to_crs(4326).iloc[0]
    return b, com


def _metric(gs):
    return gpd.GeoSeries(gs, crs=4326).to_crs(UTM)


def check_rules_1_to_3(b, com, plan):
    assert plan.labels.notna().all()
    assert set(plan.labels) == set(plan.grids["code"])
    g = _metric(plan.grids.geometry)
    cm = _metric([com]).iloc[0]
    assert shapely.coverage_is_valid(g.values)
    assert abs(shapely.coverage_union_all(g.values).area - cm.area) < 1.0
    assert shapely.symmetric_difference(shapely.coverage_union_all(g.values), cm).area < 1.0
    for r in plan.report["grids"]:
        assert not {"inside_community", "contiguity", "one_piece", "coverage"} & set(r["failed_rules"]), r
    # every footprint lies within its grid polygon
    fm = _metric(b.geometry)
    poly = dict(zip(plan.grids["code"], g.values, strict=False))
    for geom, lab in zip(fm.values, plan.labels, strict=False):
        assert shapely.area(shapely.difference(shapely.intersection(geom, cm), poly[lab])) < 0.5


def test_cells_tile_and_contain_footprints():
    b, com = blocks(3, 3, 100)
    cells = building_cells(b.geometry, com)
    assert list(cells.index) == list(b.index)
    assert (cells.geom_type == "Polygon").all()
    assert shapely.coverage_is_valid(cells.values)
    cm, com_m = _metric(cells), _metric([com]).iloc[0]
    assert abs(shapely.coverage_union_all(cm.values).area - com_m.area) < 0.01
    fm = _metric(b.geometry)
    assert (shapely.area(shapely.difference(fm.values, cm.values)) < 1e-3).all()
    # the middle block's cell is the square around it (30 m pitch)
    assert abs(cm.iloc[4].area - 900.0) < 9.0  # within 1 % (boundary sampling)


def test_cells_footprint_outside_community_is_clipped():
    b, com = blocks(2, 1, 100)
    com = gpd.GeoSeries([com], crs=4326).to_crs(UTM).iloc[0]
    com = gpd.GeoSeries([shapely.box(*(np.array(com.bounds) + [0, 0, -15, 0]))], crs=UTM).to_crs(4326).iloc[0]
    cells = building_cells(b.geometry, com)
    assert (cells.geom_type == "Polygon").all() and not cells.is_empty.any()
    assert shapely.coverage_is_valid(cells.values)
    assert abs(shapely.coverage_union_all(_metric(cells).values).area - _metric([com]).iloc[0].area) < 0.01


def test_choose_k():
    assert choose_k(900, 400, 300, 500) == (2, True)
    assert choose_k(1350, 400, 300, 500) == (3, True)
    assert choose_k(550, 400, 300, 500) == (1, False)
    assert choose_k(1000, 400, 300, 500) == (2, True)  # round(2.5) -> 2 (banker's), in [2, 3]


def test_three_by_three_blocks():
    b, com = blocks(3, 3, 150)
    plan = rebalance(b, com, seed=0)
    assert sorted(r["households"] for r in plan.report["grids"]) == [450, 450, 450]
    assert all(r["n_buildings"] == 3 and r["valid"] for r in plan.report["grids"])
    assert plan.report["totals"]["share_valid"] == 1.0
    check_rules_1_to_3(b, com, plan)
    # compactness: three 30x90 m strips (PP = 4π·2700/240² ≈ 0.589) or better
    assert plan.report["totals"]["mean_pp"] >= 0.58


def test_building_above_maximum_is_own_flagged_grid():
    b, com = blocks(5, 1, [600, 150, 150, 150, 150])
    plan = rebalance(b, com, seed=0)
    rows = {r["code"]: r for r in plan.report["grids"]}
    big = [r for r in rows.values() if "oversized_building" in r["flags"]]
    assert len(big) == 1 and big[0]["households"] == 600 and big[0]["n_buildings"] == 1
    assert big[0]["failed_rules"] == ["band"]
    rest = [r for r in rows.values() if r is not big[0]]
    assert sorted(r["households"] for r in rest) == [300, 300] and all(r["valid"] for r in rest)
    check_rules_1_to_3(b, com, plan)


def test_infeasible_total_is_reported():
    b, com = blocks(2, 1, [275, 275])
    plan = rebalance(b, com, seed=0)
    assert plan.report["totals"]["feasible"] is False
    assert len(plan.report["grids"]) == 1
    assert plan.report["grids"][0]["failed_rules"] == ["band"]
    check_rules_1_to_3(b, com, plan)


def test_locked_grid_is_kept():
    b, com = blocks(3, 3, 150)
    left = [b.index[0], b.index[3], b.index[6]]
    plan = rebalance(b, com, locked={"L1": left}, seed=0)
    assert (plan.labels.loc[left] == "L1").all()
    assert (plan.labels.drop(left) != "L1").all()
    assert "locked" in plan.grids.set_index("code").loc["L1", "flags"]
    assert sorted(plan.report["grids"][i]["households"] for i in range(3)) == [450, 450, 450]
    check_rules_1_to_3(b, com, plan)


def test_compound_larger_than_band_and_compound_kept_whole():
    comp = ["A", "A", "A", None, None, None, "A", "B", "B"]  # A: 4 x 150 = 600 > 500
    b, com = blocks(3, 3, 150, compound=comp)
    plan = rebalance(b, com, compound="compound", seed=0)
    assert plan.report["totals"]["share_valid"] == 1.0
    assert plan.report["totals"]["compounds"] == 2
    assert plan.labels.iloc[7] == plan.labels.iloc[8]  # B fits: kept whole
    assert len(set(plan.labels.iloc[[0, 1, 2, 6]])) >= 2  # A cannot be whole
    check_rules_1_to_3(b, com, plan)


def test_disconnected_community_joined_by_mst():
    # two clusters of three blocks, 200 m apart: the footprint graph is joined by an MST edge
    b1, _ = blocks(3, 1, 150)
    b2, _ = blocks(3, 1, 150, x0=450000.0 + 290.0)
    b = pd.concat([b1, b2], ignore_index=True)
    com = gpd.GeoSeries([shapely.box(449990, 4419990, 450000 + 290 + 90, 4420030)], crs=UTM).to_crs(4326).iloc[0]
    plan = rebalance(b, com, seed=0)
    assert sorted(r["households"] for r in plan.report["grids"]) == [450, 450]
    assert plan.report["totals"]["share_valid"] == 1.0
    assert len(set(plan.labels.iloc[:3])) == 1 and len(set(plan.labels.iloc[3:])) == 1
    check_rules_1_to_3(b, com, plan)


def test_zero_household_buildings_go_somewhere():
    b, com = blocks(4, 2, [150, 0, 0, 150, 150, 0, 0, 150])
    plan = rebalance(b, com, seed=0)
    assert plan.report["totals"]["share_valid"] == 1.0
    assert sum(r["n_buildings"] for r in plan.report["grids"]) == 8
    check_rules_1_to_3(b, com, plan)


def test_minimal_change_keeps_a_valid_plan():
    b, com = blocks(3, 3, 150)
    cur = pd.Series(["C" + str(i % 3) for i in range(9)], index=b.index)  # three columns
    plan = rebalance(b, com, current=cur, mode="minimal", seed=0)
    assert (plan.labels == cur).all()
    assert plan.report["churn"]["households_moved"] == 0
    assert plan.report["churn"]["grids_changed"] == 0


def test_minimal_change_repairs_with_few_moves():
    b, com = blocks(3, 3, 150)
    cur = pd.Series(["C" + str(i % 3) for i in range(9)], index=b.index)
    cur.iloc[1] = "C0"  # C0 = 600 households, C1 = 300 -> repair moves one building back
    plan = rebalance(b, com, current=cur, mode="minimal", seed=0)
    assert plan.report["totals"]["share_valid"] == 1.0
    assert plan.report["churn"]["households_moved"] == 150
    assert plan.report["churn"]["buildings_moved"] == 1
    check_rules_1_to_3(b, com, plan)


def test_grids_override_and_errors():
    b, com = blocks(3, 3, 150)
    plan = rebalance(b, com, grids=2, seed=0)
    assert len(plan.report["grids"]) == 2
    with pytest.raises(PartitionError):
        rebalance(b, com, grids=20)
    bad = b.copy()
    bad.loc[bad.index[0], "households"] = -1
    with pytest.raises(PartitionError):
        rebalance(bad, com)
    with pytest.raises(PartitionError):
        rebalance(b, com, mode="minimal")
    with pytest.raises(PartitionError):
        rebalance(b, com, min_hh=500, max_hh=300)


def test_polsby_popper_square_and_pieces():
    assert abs(polsby_popper(shapely.box(0, 0, 10, 10)) - np.pi / 4) < 1e-12
    two = shapely.MultiPolygon([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)])
    assert abs(polsby_popper(two) - 4 * np.pi * 200 / 80**2) < 1e-12


def test_report_is_json_serialisable():
    b, com = blocks(3, 3, 150)
    plan = rebalance(b, com, seed=0)
    s = json.dumps(plan.report)
    assert '"grids"' in s and plan.report["seed"] == 0


def test_cli_rebalance_file(tmp_path, capsys):
    from geo.planning.file_cli import main

    b, _ = blocks(3, 3, 150, compound=["A", "A", None, "", -1, None, None, None, None])
    b["name"] = [f"b{i}" for i in range(9)]
    b["comm"] = ["X"] * 9
    src, out = tmp_path / "in.gpkg", tmp_path / "out.gpkg"
    b.to_file(src, layer="bld", driver="GPKG")
    rc = main([
        "rebalance-file", str(src), "--layer", "bld", "--households-field", "households",
        "--community-field", "comm", "--compound-field", "compound", "--out", str(out),
    ])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["totals"]["n_grids"] == 3 and rep["seed"] == 0
    ob = gpd.read_file(out, layer="buildings")
    og = gpd.read_file(out, layer="grids")
    assert list(ob.columns[:-1]) == [c for c in b.columns if c != "geometry"] + ["grid"] or "grid" in ob.columns
    assert set(ob["name"]) == set(b["name"]) and ob["grid"].str.startswith("X-").all()
    assert {"households", "deviation", "pp", "valid", "failed_rules"} <= set(og.columns)
    assert ob.crs == b.crs
    # bad input: unknown field -> non-zero
    assert main(["rebalance-file", str(src), "--layer", "bld", "--households-field", "nope", "--out", str(out)]) != 0
    missing = tmp_path / "missing.gpkg"
    assert main(
        ["rebalance-file", str(missing), "--layer", "bld", "--households-field", "households", "--out", str(out)]
    ) != 0


def _road_between_columns(nx: int = 3, ny: int = 3, size: float = 20.0, gap: float = 10.0, x0: float = 450000.0):
    """A straight road (EPSG:4326) down the gap between the first and second columns, slanted
    so that it is not the plain Voronoi boundary."""
    xa = x0 + size + gap / 2 - 3.0
    xb = x0 + size + gap / 2 + 3.0
    line = shapely.LineString([(xa, 4420000.0 - gap), (xb, 4420000.0 + ny * (size + gap))])
    return gpd.GeoSeries([line], crs=UTM).to_crs(4326)


def test_cells_bend_to_roads():
    b, com = blocks(3, 3, 150)
    roads = _road_between_columns()
    plain = _metric(building_cells(b.geometry, com).values)
    bent = _metric(building_cells(b.geometry, com, roads=roads).values)
    road_m = _metric(roads.values).iloc[0]
    on_plain = shapely.intersection(shapely.union_all(shapely.boundary(plain.values)), road_m.buffer(0.01)).length
    on_bent = shapely.intersection(shapely.union_all(shapely.boundary(bent.values)), road_m.buffer(0.01)).length
    # the road is a cell boundary along its whole length with roads, not without
    assert on_bent >= 0.99 * road_m.length
    assert on_plain < 0.5 * road_m.length
    assert shapely.coverage_is_valid(bent.values)
    assert abs(shapely.coverage_union_all(bent.values).area - _metric([com]).iloc[0].area) < 1.0


def test_cli_rebalance_file_with_roads(tmp_path, capsys):
    from geo.planning.file_cli import main

    b, _ = blocks(3, 3, 150)
    src, out = tmp_path / "in.gpkg", tmp_path / "out.gpkg"
    b.to_file(src, layer="bld", driver="GPKG")
    road_layer = gpd.GeoDataFrame({"name": ["r1"]}, geometry=_road_between_columns().values, crs=4326)
    road_layer.to_file(src, layer="roads", driver="GPKG")
    args = ["rebalance-file", str(src), "--layer", "bld", "--households-field", "households", "--out", str(out)]
    assert main(args + ["--roads-layer", "roads"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["cells"] == "roads" and rep["totals"]["n_grids"] == 3
    og = gpd.read_file(out, layer="grids")
    assert len(og) == 3
    # a roads layer that is not lines, or missing, is bad input
    assert main(args + ["--roads-layer", "bld"]) != 0
    assert main(args + ["--roads-layer", "nope"]) != 0


def test_bridge_ties_keep_a_stranded_building_with_a_legal_chain():
    """Building 5's only footprint neighbour (3) is not a cell neighbour; its only cell neighbour
    (0) is not a footprint neighbour.  The tie holds 5 with the chain 0-1-2-3 of pairs in both
    graphs: the smallest group connected in both rule graphs that reaches the rest."""
    from geo.partition.graph import BuildingGraph, bridge_ties

    line = [(0, 1), (1, 2), (2, 3), (3, 4)]
    cell = np.array(line + [(0, 5)], dtype=np.int64)
    fp = np.array(line + [(3, 5)], dtype=np.int64)
    n = 6
    g = BuildingGraph(
        n, np.ones(n), np.ones(n), np.zeros((n, 2)), cell, np.ones(len(cell)), fp, np.zeros((0, 2), np.int64), cell[:4]
    )
    hh = np.array([10, 10, 10, 10, 10, 0])
    ties = bridge_ties(g, hh, 500)
    assert sorted({v for t in ties for v in t}) == [0, 1, 2, 3, 5]
    # too many households on the chain, or a fixed building on it: no tie
    assert bridge_ties(g, np.array([10, 300, 10, 10, 10, 0]), 500) == []
    assert bridge_ties(g, hh, 500, fixed=np.array([False, False, True, False, False, False])) == []


def test_road_bent_cells_of_a_real_community_give_contiguous_grids():
    """Regression: with the demo's roads, community 990100004005 has footprint clusters whose
    cell neighbours are not their footprint neighbours; every grid must still be contiguous
    and one piece."""
    from geo.demo.dataset import read_layer

    bld = read_layer("buildings")
    bld = bld[bld["community_code"] == "990100004005"]
    com = read_layer("communities")
    poly = com.loc[com["code"] == "990100004005", "geometry"].iloc[0]
    roads = read_layer("roads")
    plan = rebalance(bld, poly, roads=roads.geometry, compound="compound_code", seed=0)
    bad = [r for r in plan.report["grids"] if {"contiguity", "one_piece"} & set(r["failed_rules"])]
    assert not bad, bad
    assert plan.report["totals"]["coverage_valid"]


def _demo_community(code):
    from geo.demo.dataset import read_layer

    bld = read_layer("buildings")
    com = read_layer("communities")
    return bld[bld["community_code"] == code], com.loc[com["code"] == code, "geometry"].iloc[0]


def test_a_real_community_the_cover_relaxation_proves_infeasible():
    """Regression: 990100002003 (5,020 households, 11..16 grids by counting, no pocket above
    the maximum) has no partition in band: its 37 units with households cannot be covered by
    connected sets in band even with the shops and schools free to join any grid."""
    bld, poly = _demo_community("990100002003")
    plan = rebalance(bld, poly, compound="compound_code", seed=0)
    tot = plan.report["totals"]
    assert tot["feasible"] is False
    [reg] = tot["infeasible_regions"]
    assert (reg["households"], reg["k_min"], reg["k_max"]) == (5020, 11, 16)
    assert "household-less buildings free to join any grid" in reg["reason"]


def test_band_repair_tries_enough_sets_of_grids_on_a_real_community():
    """Regression: on 990100003002 (1,581 buildings, most with one or two households) one grid
    stayed at 282 households until the repair tried more sets of neighbouring grids."""
    bld, poly = _demo_community("990100003002")
    plan = rebalance(bld, poly, compound="compound_code", seed=0)
    bad = [(r["code"], r["households"], r["failed_rules"]) for r in plan.report["grids"] if not r["valid"]]
    assert not bad, bad
    assert plan.report["totals"]["feasible"] is True


def test_rebalance_file_as_a_process_writes_everything_and_exits_with_its_code(tmp_path):
    """``python -m geo rebalance-file`` ends without interpreter teardown: the report, the
    output file and the exit code must all be complete when it does."""
    from tests.conftest import run_cli

    b, _ = blocks(3, 3, 150)
    src, out = tmp_path / "in.gpkg", tmp_path / "out.gpkg"
    b.to_file(src, layer="bld", driver="GPKG")
    proc = run_cli("rebalance-file", str(src), "--layer", "bld", "--households-field",
                   "households", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["totals"]["n_grids"] == 3 and rep["totals"]["n_valid"] == 3
    assert len(gpd.read_file(out, layer="buildings")) == 9
    assert len(gpd.read_file(out, layer="grids")) == 3
    proc = run_cli("rebalance-file", str(src), "--layer", "bld", "--households-field", "nope",
                   "--out", str(tmp_path / "never.gpkg"))
    assert proc.returncode == 2
    assert "field 'nope' not in layer 'bld'" in proc.stderr
    proc = run_cli("rebalance-file", str(src), "--layer", "bld", "--households-field",
                   "households", "--min", "600", "--out", str(tmp_path / "never.gpkg"))
    assert proc.returncode == 2
    assert "Band must satisfy 0 < min <= target <= max" in proc.stderr
    assert not (tmp_path / "never.gpkg").exists()
