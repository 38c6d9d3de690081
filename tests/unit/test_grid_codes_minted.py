"""Codes of new grids are minted by the planner (geo.planning.codes.ShortCodes), not by the
engine: the codes of small hand-countable fixtures are pinned here, for the engine called
with the planner's scheme and for ``rebalance-file`` (geo.planning.file_cli)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

from geo.partition.engine import rebalance
from geo.partition.naming import Labels
from geo.planning.codes import ShortCodes
from tests.unit.test_partition import blocks


def test_short_codes_number_new_grids_and_avoid_codes_in_use():
    s = ShortCodes("C-")
    assert s.name("fresh", 1, set()) == "C-G01"
    assert s.name("fresh", 12, set()) == "C-G12"
    # a fresh grid keeps its rank's number: the others do not move when one is in use
    assert s.name("fresh", 1, {"C-G01", "C-G01b"}) == "C-G01bb"
    assert s.name("new", 1, {"C-N01", "C-N02", "C-N04"}) == "C-N03"
    assert s.name("oversized", 1, {"C-N01"}) == "C-X01"
    assert s.name("oversized", 1, {"C-X01"}) == "C-X02"
    assert ShortCodes().name("new", 1, set()) == "N01"
    with pytest.raises(ValueError):
        s.name("tower", 1, set())


def test_labels_name_without_codes():
    lab = Labels()
    assert lab.name("fresh", 2, set()) == "fresh-02"
    assert lab.name("fresh", 2, {"fresh-02"}) == "fresh-02+"
    assert lab.name("new", 1, {"new-01"}) == "new-02"
    assert lab.name("oversized", 1, set()) == "oversized-01"
    with pytest.raises(ValueError):
        lab.name("G", 1, set())


def _tower(i: int, h: int, base: int = 100, n: int = 12) -> list[int]:
    hh = [base] * n
    hh[i] = h
    return hh


def test_fresh_codes_run_in_reading_order_and_a_tower_is_x():
    """4 x 3 buildings of 100 (south-west first) with a tower of 620 at index 5: three grids
    numbered north to south, the tower alone as X01."""
    b, com = blocks(4, 3, _tower(5, 620))
    p = rebalance(b, com, seed=0, names=ShortCodes("C-"))
    assert p.labels.tolist() == ["C-G03", "C-G03", "C-G03", "C-G03", "C-G01", "C-X01",
                                 "C-G02", "C-G02", "C-G01", "C-G01", "C-G02", "C-G02"]
    assert [(r["code"], r["households"], r["flags"]) for r in p.report["grids"]] == [
        ("C-G01", 300, []), ("C-G02", 400, []), ("C-G03", 400, []), ("C-X01", 620, ["oversized_building"])]
    assert set(p.grids["code"]) == set(p.labels)


def test_fresh_codes_in_use_take_a_suffix():
    """Fresh mode with current codes (for churn): a G code already in use gets a ``b``."""
    b, com = blocks(4, 3, 100)
    cur = pd.Series(["C-G01"] * 6 + ["C-G03"] * 6, index=b.index)
    p = rebalance(b, com, seed=0, current=cur, names=ShortCodes("C-"))
    assert p.labels.tolist() == ["C-G02", "C-G02", "C-G03b", "C-G03b", "C-G02", "C-G02",
                                 "C-G03b", "C-G03b", "C-G01b", "C-G01b", "C-G01b", "C-G01b"]


def test_minimal_mode_keeps_successor_codes_and_mints_n_for_the_rest():
    """Current grid A (800 households) is over the band: minimal change carves the least it
    can, a new grid of the band's minimum (300, N01), and A keeps its code with the rest
    (500, more than half of its households); B is unchanged and keeps its code."""
    b, com = blocks(4, 3, 100)
    cur = pd.Series(["C-A"] * 8 + ["C-B"] * 4, index=b.index)
    p = rebalance(b, com, seed=0, current=cur, mode="minimal", names=ShortCodes("C-"))
    assert p.labels.tolist() == ["C-A", "C-A", "C-A", "C-N01", "C-A", "C-A", "C-N01", "C-N01",
                                 "C-B", "C-B", "C-B", "C-B"]
    assert sorted((r["code"], r["households"]) for r in p.report["grids"]) == [
        ("C-A", 500), ("C-B", 400), ("C-N01", 300)]


def test_minimal_mode_towers_keep_their_grids_code_or_take_a_free_x():
    # towers holding most of their current grid keep its code (lineage, not minting)
    b, com = blocks(4, 3, [600] + [100] * 10 + [700])
    cur = pd.Series(["C-A"] * 6 + ["C-B"] * 6, index=b.index)
    p = rebalance(b, com, seed=0, current=cur, mode="minimal", names=ShortCodes("C-"))
    assert p.labels.tolist() == ["C-A"] + ["C-N01"] * 5 + ["C-N02"] * 5 + ["C-B"]
    # a tower holding less than half of its grid is new: X01 stays with the grid's majority
    # (it is in use), so the tower takes X02
    b, com = blocks(4, 3, _tower(5, 520))
    cur = pd.Series(["C-X01"] * 8 + ["C-B"] * 4, index=b.index)
    p = rebalance(b, com, seed=0, current=cur, mode="minimal", names=ShortCodes("C-"))
    assert p.labels.tolist() == ["C-X01", "C-X01", "C-X01", "C-N01", "C-X01", "C-X02",
                                 "C-N01", "C-N01", "C-B", "C-B", "C-B", "C-B"]


def test_rebalance_file_mints_community_prefixed_codes(tmp_path, capsys):
    """The file path names each community's grids ``<community>-G01``... (and its towers
    ``-X01``) through the planner's short codes."""
    from geo.planning.file_cli import main

    frames, polys = [], []
    for k, (code, hh) in enumerate([("K1", _tower(5, 620)), ("K2", [100] * 12)]):
        b, com = blocks(4, 3, hh, x0=450000.0 + 400.0 * k)
        b["comm"] = code
        frames.append(b)
        polys.append({"code": code, "geometry": com})
    src, out = tmp_path / "in.gpkg", tmp_path / "out.gpkg"
    gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326).to_file(src, layer="bld", driver="GPKG")
    gpd.GeoDataFrame(polys, crs=4326).to_file(src, layer="com", driver="GPKG")
    rc = main(["rebalance-file", str(src), "--layer", "bld", "--households-field", "households",
               "--community-field", "comm", "--community-layer", "com", "--jobs", "1", "--out", str(out)])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert [(g["community"], g["code"]) for g in rep["grids"]] == [
        ("K1", "K1-G01"), ("K1", "K1-G02"), ("K1", "K1-G03"), ("K1", "K1-X01"),
        ("K2", "K2-G01"), ("K2", "K2-G02"), ("K2", "K2-G03")]
    ob = gpd.read_file(out, layer="buildings")
    assert ob["grid"].tolist()[:12] == ["K1-G03", "K1-G03", "K1-G03", "K1-G03", "K1-G01", "K1-X01",
                                        "K1-G02", "K1-G02", "K1-G01", "K1-G01", "K1-G02", "K1-G02"]
    assert sorted(gpd.read_file(out, layer="grids")["code"]) == sorted(g["code"] for g in rep["grids"])
