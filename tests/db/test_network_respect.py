"""Respecting a department network when redrawing (geo.networks.respect): on networks made
from the demo's current grids, the respecting plan aligns at least as well as the plain one
and keeps every grid valid and in band where the plain one does; on a network drawn from an
earlier plan (valid old grids in band) it keeps them whole where the plain plan does not;
the command line's --respect-network prints both plans' figures."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import psycopg2
import pytest

from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.networks import store
from geo.networks.crosswalk import alignment
from geo.planning import api
from tests.conftest import run_cli

ADMIN = Principal("tester", "admin", None)
UTM = "EPSG:32642"
# two demo communities of different make: few large buildings, many small ones
COMMUNITIES = ("990100002003", "990100001002")
EARLIER = "990100005003"  # the community of the network drawn from an earlier plan


def _grids(tdb) -> gpd.GeoDataFrame:
    conn = psycopg2.connect(tdb.url)
    try:
        return gpd.read_postgis(
            """SELECT g.code, g.geom FROM grids g JOIN grid_versions v ON v.id = g.version_id
                WHERE v.is_current ORDER BY g.code""", conn, geom_col="geom")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def networks(demo_db, tmp_path_factory) -> dict:
    """公安: the demo's current grids as they are (another department kept them); 城管: the
    same grids shifted 40 m east and 25 m south and simplified (drawn by hand elsewhere)."""
    out = tmp_path_factory.mktemp("respect")
    grids = _grids(demo_db)
    same = gpd.GeoDataFrame({"code": [f"GA{c}" for c in grids.code],
                             "name": [f"警格{c[-3:]}" for c in grids.code]},
                            geometry=list(grids.geom), crs=4326)
    moved = grids.to_crs(UTM).geometry.translate(40, -25).simplify(3)
    shifted = gpd.GeoDataFrame({"code": [f"CG{i:04d}" for i in range(len(grids))],
                                "name": [f"城管{i}" for i in range(len(grids))]},
                               geometry=list(moved), crs=UTM).to_crs(4326)
    same.to_file(out / "police.gpkg", layer="grids")
    shifted.to_file(out / "cg.gpkg", layer="grids")
    store.import_network(ADMIN, "公安", out / "police.gpkg")
    store.import_network(ADMIN, "城管", out / "cg.gpkg")
    # 党建: the grids of a plan drawn earlier with another seed (never committed)
    earlier = api.propose(ADMIN, EARLIER, seed=11).grids
    party = gpd.GeoDataFrame({"code": [f"DJ{c}" for c in earlier.code],
                              "name": [f"党建{c[-3:]}" for c in earlier.code]},
                             geometry=list(earlier.geometry), crs=4326)
    party.to_file(out / "party.gpkg", layer="grids")
    store.import_network(ADMIN, "党建", out / "party.gpkg")
    return {"公安": out / "police.gpkg", "城管": out / "cg.gpkg", "党建": out / "party.gpkg"}


def _out_of_band(prop) -> set[str]:
    p = prop.params
    return {r["code"] for r in prop.report["grids"]
            if not p["min_hh"] <= r["households"] <= p["max_hh"]
            and "oversized_building" not in r["flags"]}


def _invalid(prop) -> set[str]:
    return {r["code"] for r in prop.report["grids"]
            if set(r["failed_rules"]) - {"band"}}


@pytest.mark.parametrize("network", ["公安", "城管"])
@pytest.mark.parametrize("community", COMMUNITIES)
def test_respecting_plan_aligns_at_least_as_well(demo_db, networks, network, community):
    plain = api.propose(ADMIN, community, seed=3)
    resp = api.propose(ADMIN, community, seed=3, respect_network=network)
    rep = resp.report["respect"]
    assert rep["network"] == network and resp.params["respect_network"] == network
    # the figures are those of the existing alignment measure, recomputed here
    a_plain = alignment(ADMIN, network, community_code=community, assignment=plain.labels)
    a_resp = alignment(ADMIN, network, community_code=community, assignment=resp.labels)
    assert rep["plain"]["share_aligned"] == pytest.approx(a_plain.total["share_aligned"])
    assert a_resp.total["share_aligned"] >= a_plain.total["share_aligned"]
    # every grid valid / in band where the plain plan's are
    assert len(_invalid(resp)) <= len(_invalid(plain))
    assert len(_out_of_band(resp)) <= len(_out_of_band(plain))
    if not _invalid(plain):
        assert not _invalid(resp)
    if not _out_of_band(plain):
        assert not _out_of_band(resp)
    assert rep["plain"]["grids"] == len(plain.grids)
    assert rep["respecting"]["in_band"] <= rep["respecting"]["grids"]
    # the kept plan is the respecting one unless the report says why not
    if rep["used"] == "respecting":
        assert rep["respecting"]["share_aligned"] == pytest.approx(a_resp.total["share_aligned"])
    else:
        assert rep["reason"]
    print(community, network, json.dumps({k: rep[k] for k in ("used", "kept_whole", "candidates", "retries",
                                                               "seconds")}),
          "plain", rep["plain"], "respecting", rep["respecting"])


def test_valid_old_grids_in_band_are_kept_whole(demo_db, networks):
    """A network whose old grids are valid grids in band (drawn from an earlier plan): the
    respecting plan keeps them whole, the plain plan with another seed does not."""
    plain = api.propose(ADMIN, EARLIER, seed=3)
    resp = api.propose(ADMIN, EARLIER, seed=3, respect_network="党建")
    rep = resp.report["respect"]
    assert rep["used"] == "respecting", rep
    # (buildings of the neighbours within the gap tolerance of the old grids count too: the
    # network covers this community only, so full alignment is not promised)
    assert rep["respecting"]["share_aligned"] > rep["plain"]["share_aligned"]
    assert rep["respecting"]["split_old_grids"] < rep["plain"]["split_old_grids"]
    assert rep["kept_whole"] == rep["candidates"] > 0
    assert rep["respecting"]["failed_hard"] == 0
    assert not _invalid(resp) and len(_out_of_band(resp)) <= len(_out_of_band(plain))
    # the grids kept whole are marked for the planner, and the plan commits like any other
    assert sum("network" in r["flags"] for r in resp.report["grids"]) == rep["kept_whole"]
    assert not resp.blocking(allow_out_of_band=False) or rep["respecting"]["in_band"] \
        < rep["respecting"]["grids"]


def test_respect_refusals(demo_db, networks):
    with pytest.raises(GridAtlasError, match="fresh"):
        api.propose(ADMIN, COMMUNITIES[0], mode="minimal", respect_network="公安")
    with pytest.raises(GridAtlasError, match="number of grids"):
        api.propose(ADMIN, COMMUNITIES[0], grids=12, respect_network="公安")
    with pytest.raises(GridAtlasError, match="没有|no network|not found|不存在"):
        api.propose(ADMIN, COMMUNITIES[0], respect_network="没有这个网络")
    worker = Principal("w", "grid_worker", "990100002003001")
    with pytest.raises(GridAtlasError):
        api.propose(worker, COMMUNITIES[0], respect_network="公安")


def test_command_line_prints_both_plans(demo_db, networks):
    proc = run_cli("rebalance", "--community", COMMUNITIES[0], "--respect-network", "公安",
                   url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rep = out["communities"][0]["respect"]
    assert rep["network"] == "公安"
    for side in ("plain", "respecting"):
        assert set(rep[side]) >= {"share_aligned", "in_band", "grids", "valid", "mean_deviation"}
    # the plan printed is the respecting one only where it aligns at least as well
    assert rep["used"] in ("respecting", "plain")
    if rep["used"] == "respecting":
        assert rep["respecting"]["share_aligned"] >= rep["plain"]["share_aligned"]
    else:
        assert rep["reason"]
    assert out["communities"][0]["failed_rules"] is not None
    bad = run_cli("rebalance", "--community", COMMUNITIES[0], "--respect-network", "无此网",
                  url=demo_db.url)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert np.isfinite(rep["respecting"]["mean_deviation"])
