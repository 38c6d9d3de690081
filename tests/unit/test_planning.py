"""Hand-countable tests of the planner's core (geo.planning): codes, churn, proposals, manual
moves, JSON round trip and exports. No database: a 3 x 3 block of buildings."""

from __future__ import annotations

import json
import zipfile
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.errors import GridAtlasError
from geo.planning import codes
from geo.planning.data import CommunityInputs
from geo.planning.export import export
from geo.planning.model import PlanRejected, Proposal
from geo.planning.plan import apply_move, build_proposal, move_context, revalidate

UTM = "EPSG:32650"
COMMUNITY = "990100001001"
X0, Y0, STEP, SIZE = 450000.0, 4420000.0, 30.0, 20.0


def code(seq: int) -> str:
    return f"{COMMUNITY}{seq:03d}"


# Buildings 0..8 row-major from the south-west: 0 1 2 south row, 6 7 8 north row.
#   6 7 8      north
#   3 4 5
#   0 1 2      south
ROWS = {code(1): [6, 7, 8], code(2): [3, 4, 5], code(3): [0, 1, 2]}  # base: one grid per row
COLS = {"a": [0, 3, 6], "b": [1, 4, 7], "c": [2, 5, 8]}


def tiny_inputs(hh: int = 130) -> CommunityInputs:
    fps, cells = [], []
    for j in range(3):
        for i in range(3):
            x, y = X0 + i * STEP, Y0 + j * STEP
            fps.append(shapely.box(x + 5, y + 5, x + 5 + SIZE, y + 5 + SIZE))
            cells.append(shapely.box(x, y, x + STEP, y + STEP))
    idx = pd.Index(range(101, 110), name="building_id")
    b = gpd.GeoDataFrame(
        {"code": [f"B{i}" for i in range(9)], "households": [hh] * 9,
         "compound_code": [None] * 9},
        geometry=gpd.GeoSeries(fps, crs=UTM, index=idx).to_crs(4326), index=idx, crs=4326)
    c = gpd.GeoSeries(cells, crs=UTM, index=idx).to_crs(4326)
    com = gpd.GeoSeries([shapely.box(X0, Y0, X0 + 3 * STEP, Y0 + 3 * STEP)],
                        crs=UTM).to_crs(4326).iloc[0]
    current = pd.Series([None] * 9, index=idx, dtype=object)
    for gcode, members in ROWS.items():
        for m in members:
            current.iloc[m] = gcode
    grids = pd.DataFrame({"id": [1, 2, 3], "code": list(ROWS), "seq": [1, 2, 3],
                          "kind": ["basic"] * 3, "name": ["第1网格", "第2网格", "第3网格"],
                          "households": [3 * hh] * 3})
    return CommunityInputs(
        id=7, code=COMMUNITY, name="测试社区", district_code="990100", street_code="990100001",
        geom=com, target=400, min_hh=300, max_hh=500, version_id=11, version_no=1,
        grids=grids, buildings=b, cells=c, current=current, used_seqs={1, 2, 3})


def fake_plan(ci: CommunityInputs, groups: dict[str, list[int]]):
    """An engine-like result for a given grouping (positions 0..8)."""
    idx = ci.buildings.index
    labels = pd.Series([None] * 9, index=idx, dtype=object)
    rows = []
    for lab, members in groups.items():
        labels.iloc[members] = lab
        hh = int(ci.buildings["households"].iloc[members].sum())
        rows.append({"code": lab, "households": hh, "deviation": abs(hh - 400) / 400,
                     "pp": 0.5, "n_buildings": len(members), "valid": True, "failed_rules": [],
                     "flags": [],
                     "geometry": shapely.coverage_union_all(ci.cells.iloc[members].values)})
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    return SimpleNamespace(labels=labels, grids=grids,
                           report={"totals": {}, "timings": {"total_s": 0.0}})


PARAMS = {"target": 400.0, "min_hh": 300.0, "max_hh": 500.0, "mode": "fresh", "seed": 0,
          "grids": None, "locked_codes": [], "dedicated_codes": []}


def proposal(groups) -> tuple[Proposal, CommunityInputs]:
    ci = tiny_inputs()
    return build_proposal(ci, fake_plan(ci, groups), dict(PARAMS), set(), set()), ci


# ------------------------------------------------------------------------------ codes


def test_reading_order_is_rows_north_to_south_then_west_to_east():
    xy = {f"{r}{c}": (c * 100.0, -r * 100.0 + (3.0 if c == 1 else 0.0))
          for r in range(3) for c in range(3)}
    assert codes.reading_order(xy, row_height=50.0) == [
        "00", "01", "02", "10", "11", "12", "20", "21", "22"]


def test_new_codes_skip_every_number_ever_used():
    groups = {"x": frozenset({1, 2}), "y": frozenset({3}), "z": frozenset({4})}
    base = {code(1): frozenset({1, 2}), code(2): frozenset({3, 4})}
    out = codes.assign_codes(groups, base, community_code=COMMUNITY, used_seqs={1, 2, 7},
                             xy={"x": (0, 0), "y": (10, 0), "z": (0, -100)}, row_height=5)
    assert out["x"] == codes.CodedGrid(code(1), 1, "kept")
    assert (out["y"].code, out["y"].status) == (code(8), "new")
    assert out["z"].code == code(9)


def test_sequence_numbers_run_out_with_a_clear_message():
    with pytest.raises(GridAtlasError, match="999"):
        codes.make_code(COMMUNITY, 1000)


def test_churn_counts_households_not_from_the_matched_predecessor():
    a = {1: "A", 2: "A", 3: "B", 4: "B"}
    b = {1: "X", 2: "X", 3: "X", 4: "Y"}
    hh = {1: 10, 2: 10, 3: 5, 4: 7}
    per, tot = codes.churn(a, b, hh)
    assert per["X"] == {"predecessor": "A", "households_moved": 5, "buildings_moved": 1}
    assert per["Y"] == {"predecessor": "B", "households_moved": 0, "buildings_moved": 0}
    assert tot["households_moved"] == 5 and tot["codes_removed"] == ["A", "B"]


# ------------------------------------------------------------------------------ proposals


def test_unchanged_grids_keep_their_codes():
    prop, _ = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    assert prop.grid_codes() == [code(1), code(2), code(3)]
    assert set(prop.grids["status"]) == {"kept"}
    assert prop.churn["households_moved"] == 0
    assert list(prop.grids["name"]) == ["第1网格", "第2网格", "第3网格"]


def test_redrawn_grids_get_new_codes_west_to_east():
    prop, _ = proposal(COLS)
    by_code = dict(zip(prop.grids["code"], prop.grids["n_buildings"], strict=False))
    assert sorted(by_code) == [code(4), code(5), code(6)]
    # the west column is 004, the east one 006
    assert prop.labels[101] == code(4) and prop.labels[103] == code(6)
    assert set(prop.grids["status"]) == {"new"}
    assert prop.grids.set_index("code").at[code(5), "name"] == "测试社区第5网格"
    assert prop.churn["households_moved"] == 9 * 130 - 3 * 130  # one building stays per grid


def test_gate_names_rules_and_severity():
    prop, _ = proposal(COLS)
    g = prop.grids
    g.at[0, "failed_rules"] = ["band"]
    g.at[1, "failed_rules"] = ["contiguity"]
    assert prop.failed_rules == ["band", "contiguity"]
    assert [x["severity"] for x in prop.gate] == ["band", "error"]
    assert [x["rule"] for x in prop.blocking(allow_out_of_band=True)] == ["contiguity"]


def test_json_round_trip_keeps_everything():
    prop, _ = proposal(COLS)
    text = prop.to_json()
    json.loads(text)  # strict JSON (no NaN)
    back = Proposal.from_json(text)
    assert back.labels == prop.labels and back.base_labels == prop.base_labels
    assert back.grid_codes() == prop.grid_codes()
    assert back.churn == prop.churn and back.params == prop.params
    for g1, g2 in zip(back.grids.geometry, prop.grids.geometry, strict=False):
        assert g1.equals(g2)
    assert back.to_json() == text
    with pytest.raises(GridAtlasError, match="format"):
        Proposal.from_json('{"format": "other"}')


# ------------------------------------------------------------------------------ moves


def test_move_that_splits_a_grid_is_refused_with_the_rule_name():
    prop, ci = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    ctx = move_context(ci)
    # building 1 is the middle of the south row: without it, 0 and 2 are 40 m apart
    with pytest.raises(PlanRejected) as exc:
        apply_move(prop, ctx, 102, code(2))
    assert "contiguity" in exc.value.rules
    assert "contiguity" in exc.value.user_msg and code(3) in exc.value.user_msg


def test_move_to_a_grid_that_does_not_touch_the_building_is_refused():
    prop, ci = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    with pytest.raises(PlanRejected) as exc:
        apply_move(prop, move_context(ci), 101, code(1))
    assert exc.value.rules == ["neighbour"]


def test_move_warns_on_band_recodes_and_moving_back_restores_codes():
    prop, ci = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    ctx = move_context(ci)
    moved = apply_move(prop, ctx, 103, code(2))  # south-east corner joins the middle row
    assert prop.labels[103] == code(3)  # the input is untouched
    hh = dict(zip(moved.grids["code"], moved.grids["households"], strict=False))
    assert sorted(hh.values()) == [260, 390, 520]
    # the majority rule: each changed grid keeps most of its households, so its code
    assert hh == {code(1): 390, code(2): 520, code(3): 260}
    assert any("out of band" in w for w in moved.warnings)
    assert moved.failed_rules == ["band"]
    assert moved.churn["households_moved"] == 130 and moved.churn["grids_kept"] == 3
    back = apply_move(moved, ctx, 103, moved.labels[101])
    assert back.grid_codes() == [code(1), code(2), code(3)]
    assert back.is_valid and not any("out of band" in w for w in back.warnings)
    assert len(back.moves) == 2


def test_move_that_takes_most_of_a_grid_gives_it_a_new_code():
    # the south row (0, 1, 2) loses two of its three buildings to the middle row: the
    # middle row keeps its code, the remnant holds a third of the south row's households
    prop, ci = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    ctx = move_context(ci)
    moved = apply_move(prop, ctx, 103, code(2))
    moved = apply_move(moved, ctx, 102, moved.labels[103])
    codes = set(moved.grids["code"])
    assert code(1) in codes and code(2) in codes
    assert code(3) not in codes  # the south row's code did not follow a third of it
    assert any("new code" in w for w in moved.warnings)


def test_commit_does_not_trust_rules_written_in_the_proposal():
    prop, ci = proposal({"r1": [6, 7, 8], "r2": [3, 4, 5], "r3": [0, 1, 2]})
    forged = Proposal.from_json(prop.to_json())
    forged.labels[102] = code(2)  # splits the south row; the grids table still says valid
    forged.grids["locked"] = True  # and claims every grid is kept as it is
    checked = revalidate(forged, move_context(ci))
    rules = dict(zip(checked.grids["code"], checked.grids["failed_rules"], strict=False))
    assert "contiguity" in rules[code(3)]
    assert not checked.grids.set_index("code").at[code(3), "locked"]
    assert "contiguity" in checked.failed_rules
    assert checked.grids.set_index("code").at[code(1), "status"] == "kept"
    with pytest.raises(GridAtlasError, match="not codes of community"):
        bad = Proposal.from_json(prop.to_json())
        bad.labels = {b: "990100009009001" if c == code(1) else c for b, c in bad.labels.items()}
        bad.grids.loc[bad.grids["code"] == code(1), "code"] = "990100009009001"
        revalidate(bad, move_context(ci))


# ------------------------------------------------------------------------------ export


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490"])
def test_exports_are_readable(tmp_path, crs):
    prop, _ = proposal(COLS)
    epsg = int(crs.split(":")[1])
    gpkg = export(prop, "gpkg", tmp_path / "g.gpkg", crs)
    g = gpd.read_file(gpkg, layer="grids")
    assert g.crs.to_epsg() == epsg and sorted(g["code"]) == prop.grid_codes()
    gj = export(prop, "geojson", tmp_path / "g.geojson", crs)
    g = gpd.read_file(gj)
    assert g.crs.to_epsg() == epsg and len(g) == 3
    csv = export(prop, "csv", tmp_path / "g.csv", crs)
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype={"code": str})
    assert sorted(table["code"]) == prop.grid_codes()
    assert set(table["community_name"]) == {"测试社区"}
    shp = export(prop, "shp", tmp_path / "g.shp", crs)
    assert shp.with_suffix(".cpg").read_text().strip().upper() == "GBK"
    assert "测试社区".encode("gbk") in shp.with_suffix(".dbf").read_bytes()
    g = gpd.read_file(shp, encoding="gbk")
    assert g.crs.to_epsg() == epsg
    assert set(g["comm_name"]) == {"测试社区"} and set(g["name"]) >= {"测试社区第4网格"}
    z = export(prop, "shp", tmp_path / "g.zip", crs)
    with zipfile.ZipFile(z) as zf:
        assert {n.rsplit(".", 1)[1] for n in zf.namelist()} >= {"shp", "shx", "dbf", "prj",
                                                                 "cpg"}
    info = pyogrio.read_info(shp, encoding="gbk")
    assert info["features"] == 3


def test_export_refuses_unknown_format_and_crs(tmp_path):
    prop, _ = proposal(COLS)
    with pytest.raises(GridAtlasError, match="format"):
        export(prop, "kml", tmp_path / "g.kml")
    with pytest.raises(GridAtlasError, match="4490"):
        export(prop, "gpkg", tmp_path / "g.gpkg", "EPSG:3857")
