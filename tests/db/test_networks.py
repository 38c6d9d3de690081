"""Department networks on the demo district: import (and refusals), crosswalk against SQL
written here independently, alignment, and grid roles following a redraw."""

from __future__ import annotations

import csv
import json
import math

import geopandas as gpd
import numpy as np
import psycopg2
import pytest
import shapely

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.networks import crosswalk, roles, store
from tests.conftest import run_cli

ADMIN = Principal("tester", "admin", None)
PLANNER = Principal("planner1", "planner", "990100")
UTM = "EPSG:32642"
COMM = "990100002003"  # the community redrawn by tests/db/test_planning.py too


def _grids(tdb) -> gpd.GeoDataFrame:
    conn = psycopg2.connect(tdb.url)
    try:
        return gpd.read_postgis(
            """SELECT g.code, g.geom FROM grids g JOIN grid_versions v ON v.id = g.version_id
                WHERE v.is_current ORDER BY g.code""", conn, geom_col="geom")
    finally:
        conn.close()


def _rows(tdb, query: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(tdb.url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def files(demo_db, tmp_path_factory) -> dict:
    """Network files made from the demo: its grids shifted 40 m east and 25 m south and
    simplified (as another department would have drawn them), the grids themselves, and a
    500 m square grid over the district in UTM."""
    out = tmp_path_factory.mktemp("networks")
    grids = _grids(demo_db)
    utm = grids.to_crs(UTM)
    moved = utm.geometry.translate(40, -25).simplify(3)
    shifted = gpd.GeoDataFrame({"BH": [f"CG{i:04d}" for i in range(len(grids))],
                                "MC": [f"城管网格{i}" for i in range(len(grids))]},
                               geometry=list(moved), crs=UTM).to_crs(4326)
    same = gpd.GeoDataFrame({"code": [f"S{c}" for c in grids.code],
                             "name": list(grids.code)}, geometry=list(grids.geom), crs=4326)
    district = shapely.union_all(utm.geometry.values)
    x0, y0, x1, y1 = district.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, 500.0), np.arange(y0, y1, 500.0))
    boxes = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 500, ys.ravel() + 500)
    boxes = boxes[shapely.intersects(district, boxes)]
    squares = gpd.GeoDataFrame({"code": [f"Q{i:03d}" for i in range(len(boxes))],
                                "name": [f"方格{i}" for i in range(len(boxes))]},
                               geometry=list(boxes), crs=UTM)
    paths = {"shifted": out / "cg.gpkg", "same": out / "same.geojson",
             "squares": out / "squares.gpkg"}
    shifted.to_file(paths["shifted"], layer="grids")
    same.to_file(paths["same"], driver="GeoJSON")
    squares.to_file(paths["squares"], layer="squares")
    paths["dir"] = out
    paths["n"] = {"shifted": len(shifted), "same": len(same), "squares": len(squares)}
    return paths


@pytest.fixture(scope="module")
def imported(demo_db, files) -> dict:
    proc = run_cli("networks", "import", "城管", str(files["shifted"]), "--field", "code=BH",
                   "--field", "name=MC", "--actor", "tester", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    reps = {"城管": proc.stdout,
            "same": store.import_network(ADMIN, "同网", files["same"]),
            "squares": store.import_network(ADMIN, "综治", files["squares"])}
    return reps


def _state(tdb) -> tuple:
    return _rows(tdb, """SELECT (SELECT count(*) FROM networks), (SELECT count(*) FROM
                         network_grids), (SELECT count(*) FROM network_grid_parts),
                         (SELECT count(*) FROM audit_log)""")[0]


def test_import_and_list(demo_db, files, imported):
    proc = run_cli("networks", "list", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    listed = {n["name"]: n for n in json.loads(proc.stdout)}
    assert set(listed) == {"城管", "同网", "综治"}
    assert listed["城管"]["count"] == files["n"]["shifted"]
    assert listed["综治"]["count"] == files["n"]["squares"]
    assert listed["综治"]["crs"] == UTM and listed["城管"]["imported_at"]
    assert _rows(demo_db, "SELECT name FROM network_grids WHERE code = 'CG0001'")[0][0] \
        == "城管网格1"
    audit = _rows(demo_db, "SELECT actor, target, detail FROM audit_log "
                           "WHERE action = 'networks.import' ORDER BY id")
    assert [(a, t) for a, t, _ in audit] == [("tester", "城管"), ("tester", "同网"),
                                            ("tester", "综治")]
    assert audit[0][2]["features"] == files["n"]["shifted"]
    # a second import of a name is refused unless replacing
    before = _state(demo_db)
    with pytest.raises(GridAtlasError, match="exists already"):
        store.import_network(ADMIN, "综治", files["squares"])
    assert _state(demo_db) == before
    with pytest.raises(PermissionDenied):
        store.import_network(PLANNER, "规划", files["squares"])
    with pytest.raises(PermissionDenied):
        store.list_networks(Principal("w", "grid_worker", "990100002003001"))


def _independent(tdb, network: str) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(old code, unified code) -> (households, buildings), by whole-polygon containment and,
    in gaps, the geodesic distance to the polygon (no polygon pieces, no closest points)."""
    rows = _rows(tdb, """
        WITH n AS (SELECT id FROM networks WHERE name = %s),
        inside AS (
            SELECT b.id, min(ng.code) AS code
              FROM buildings b JOIN network_grids ng
                ON ng.network_id = (SELECT id FROM n) AND ST_Covers(ng.geom, b.pt)
             GROUP BY b.id),
        gap AS (
            SELECT b.id, (SELECT ng.code FROM network_grids ng
                           WHERE ng.network_id = (SELECT id FROM n)
                             AND ng.geom && ST_Expand(b.pt, 0.001)
                             AND ST_DWithin(ng.geom::geography, b.pt::geography, 20)
                           ORDER BY ST_Distance(ng.geom::geography, b.pt::geography), ng.code
                           LIMIT 1) AS code
              FROM buildings b WHERE b.id NOT IN (SELECT id FROM inside)),
        every AS (SELECT * FROM inside UNION ALL SELECT * FROM gap WHERE code IS NOT NULL)
        SELECT e.code, g.code, sum(b.households), count(*)
          FROM every e JOIN buildings b ON b.id = e.id LEFT JOIN grids g ON g.id = b.grid_id
         GROUP BY 1, 2""", (network,))
    return {(a, b): (int(h), int(n)) for a, b, h, n in rows}


@pytest.mark.parametrize("network", ["城管", "综治", "同网"])
def test_crosswalk_shares_and_households_match_sql(demo_db, imported, network):
    rows = crosswalk.crosswalk_rows(ADMIN, network)
    got = {(r["network_code"], r["grid_code"]): (r["households"], r["buildings"]) for r in rows}
    assert got == _independent(demo_db, network)
    sums: dict[str, float] = {}
    for r in rows:
        sums[r["network_code"]] = sums.get(r["network_code"], 0) + r["share_of_network_households"]
    assert all(math.isclose(s, 1.0, abs_tol=1e-9) for s in sums.values())
    # every building with a unified grid and inside the network is counted exactly once
    assert sum(n for _, n in got.values()) == len({r for r in _rows(
        demo_db, "SELECT id FROM buildings")}) - _outside(demo_db, network)
    if network == "同网":  # the grids themselves: one unified grid per old grid, share 1
        assert all(r["share_of_network_households"] == 1.0 for r in rows)
        assert all(r["network_code"] == "S" + r["grid_code"] for r in rows)
    else:
        assert any(r["share_of_network_households"] < 1 for r in rows)


def _outside(tdb, network: str) -> int:
    return int(_rows(tdb, """
        SELECT count(*) FROM buildings b WHERE NOT EXISTS (
            SELECT 1 FROM network_grids ng JOIN networks n ON n.id = ng.network_id
             WHERE n.name = %s AND ng.geom && ST_Expand(b.pt, 0.001)
               AND ST_DWithin(ng.geom::geography, b.pt::geography, 20))""",
        (network,))[0][0])


def test_crosswalk_csv_from_the_command_line(demo_db, imported, tmp_path):
    out = tmp_path / "cw.csv"
    proc = run_cli("networks", "crosswalk", "城管", "--out", str(out), url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert lines[0] == list(crosswalk.CROSSWALK_COLUMNS)
    assert len(lines) - 1 == len(crosswalk.crosswalk_rows(ADMIN, "城管"))
    proc = run_cli("networks", "crosswalk", "无此网", "--out", str(out), url=demo_db.url)
    assert proc.returncode == 2 and "无此网" in proc.stderr


def test_crosswalk_of_one_community_and_scope(demo_db, imported):
    rows = crosswalk.crosswalk_rows(ADMIN, "综治", community_code=COMM)
    sums: dict[str, float] = {}
    for r in rows:
        sums[r["network_code"]] = sums.get(r["network_code"], 0) + r["share_of_network_households"]
    assert rows and all(math.isclose(s, 1.0, abs_tol=1e-9) for s in sums.values())
    assert any(r["grid_code"] and r["grid_code"].startswith(COMM) for r in rows)
    street = Principal("p2", "planner", COMM[:9])
    scoped = crosswalk.crosswalk_rows(street, "综治")
    assert scoped and all(r["grid_code"].startswith(COMM[:9]) for r in scoped)


def test_alignment(demo_db, imported):
    same = crosswalk.alignment(ADMIN, "同网")
    assert same.total["share_aligned"] == 1.0 and same.worst == []
    moved = crosswalk.alignment(ADMIN, "城管")
    assert 0 < moved.total["share_aligned"] < 1
    cuts = [w["households_cut"] for w in moved.worst]
    assert cuts == sorted(cuts, reverse=True) and all(w["unified_grids"] >= 2 for w in moved.worst)
    one = crosswalk.alignment(ADMIN, "城管", community_code=COMM)
    assert [c["community_code"] for c in one.communities] == [COMM]
    row = next(c for c in moved.communities if c["community_code"] == COMM)
    assert one.communities[0] == row
    # a redraw evaluated before it is committed: every building of the community in one grid
    bids = [r[0] for r in _rows(demo_db, "SELECT b.id FROM buildings b JOIN communities c ON "
                                         "c.id = b.community_id WHERE c.code = %s", (COMM,))]
    lumped = crosswalk.alignment(ADMIN, "同网", community_code=COMM,
                                 assignment={b: COMM + "901" for b in bids})
    assert lumped.communities[0]["share_aligned"] == 1.0
    with pytest.raises(PermissionDenied):
        crosswalk.alignment(Principal("x", "planner", "990100001"), "城管", community_code=COMM)


def _alignment_pairs():
    import pandas as pd

    return pd.DataFrame(
        [("A", "甲", "C1", "G1", 100, 2), ("A", "甲", "C1", "G2", 50, 1),
         ("B", "乙", "C1", "G2", 30, 1), ("C", "丙", "C2", "G3", 20, 1),
         ("C", "丙", "C2", None, 5, 1)],
        columns=["network_code", "network_name", "community_code", "grid_code", "households",
                 "buildings"])


def test_alignment_from_pairs_by_hand():
    communities, total, worst = crosswalk.alignment_from_pairs(_alignment_pairs())
    assert communities == [
        {"community_code": "C1", "households": 180, "aligned_households": 30,
         "share_aligned": 30 / 180, "old_grids": 2, "split_old_grids": 1},
        {"community_code": "C2", "households": 25, "aligned_households": 0,
         "share_aligned": 0.0, "old_grids": 1, "split_old_grids": 1}]
    assert total["households"] == 205 and total["split_old_grids"] == 2
    assert [(w["network_code"], w["households_cut"], w["grid_codes"]) for w in worst] == [
        ("A", 50, ["G1", "G2"]), ("C", 5, ["G3"])]


# ----------------------------------------------------------------------------- refusals


def _refused(tdb, match: str, *args: str):
    before = _state(tdb)
    proc = run_cli("networks", "import", *args, url=tdb.url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert match in proc.stderr, proc.stderr
    assert _state(tdb) == before
    return proc.stderr


def test_bad_files_are_refused_whole(demo_db, imported, files):
    d = files["dir"]
    src = gpd.read_file(files["same"])
    # bad geometry: the 5th feature is a line
    bad = src.copy()
    bad.loc[4, "geometry"] = shapely.LineString([(116.0, 40.0), (116.001, 40.001)])
    bad.to_file(d / "bad_geom.geojson", driver="GeoJSON")
    err = _refused(demo_db, "feature 5", "坏几何", str(d / "bad_geom.geojson"))
    assert "'geometry'" in err and "LineString" in err
    # missing code field
    src.drop(columns=["code"]).to_file(d / "no_code.geojson", driver="GeoJSON")
    _refused(demo_db, "required field 'code' is missing", "无编码", str(d / "no_code.geojson"))
    # duplicate codes: the 7th feature repeats the 2nd's code
    dup = src.copy()
    dup.loc[6, "code"] = dup.loc[1, "code"]
    dup.to_file(d / "dup.geojson", driver="GeoJSON")
    err = _refused(demo_db, "feature 7, field 'code': duplicate code", "重复", str(d / "dup.geojson"))
    assert "feature 2" in err
    # wrong CRS: metres labelled as degrees, and a CRS that puts the layer elsewhere
    utm = src.to_crs(UTM)
    utm.set_crs(4326, allow_override=True).to_file(d / "wrong_crs.gpkg", layer="g")
    _refused(demo_db, "not longitude/latitude", "错坐标", str(d / "wrong_crs.gpkg"))
    utm.to_file(d / "utm.gpkg", layer="g")
    _refused(demo_db, "outside every district", "别处", str(d / "utm.gpkg"), "--crs",
             "EPSG:32633")
    # a GBK shapefile without .cpg: refused as mis-decoded, read right with --encoding gbk
    shp = d / "gbk.shp"
    chinese = gpd.read_file(files["shifted"]).head(20)
    chinese.to_file(shp, encoding="gbk")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    fields = ["--field", "code=BH", "--field", "name=MC"]
    _refused(demo_db, "--encoding gbk", "公安", str(shp), *fields)
    proc = run_cli("networks", "import", "公安", str(shp), "--encoding", "gbk", "--json",
                   *fields, url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["grids"] == 20
    names = {r[0] for r in _rows(demo_db, "SELECT ng.name FROM network_grids ng JOIN networks n"
                                          " ON n.id = ng.network_id WHERE n.name = '公安'")}
    assert names == set(chinese.MC) and all(n.startswith("城管网格") for n in names)
    bad_name = _refused(demo_db, "invalid network name", "a/b", str(files["same"]))
    assert "网络名称" in bad_name


# ----------------------------------------------------------------------------- grid roles


def test_grid_roles_set_import_and_follow_a_redraw(demo_db, tmp_path):
    from geo.planning import api

    grids = [r[0] for r in _rows(demo_db, """
        SELECT g.code FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
         WHERE g.code LIKE %s ORDER BY g.code""", (COMM + "%",))]
    assert len(grids) >= 3
    out = roles.set_role(ADMIN, grids[0], "网格长", "张伟", phone="13800000000")
    assert out["role"] == "leader" and out["previous"] is None
    with pytest.raises(PermissionDenied):
        roles.set_role(PLANNER, grids[0], "leader", "李四")
    with pytest.raises(PermissionDenied):
        roles.set_role(Principal("a2", "admin", "990100001"), grids[0], "leader", "李四")
    with pytest.raises(GridAtlasError, match="unknown role"):
        roles.set_role(ADMIN, grids[0], "mayor", "李四")
    table = tmp_path / "roles.csv"
    table.write_text("网格编码,角色,名称,电话\n"
                     + "".join(f"{g},网格长,网格长{i},\n{g},党支部,第{i}党支部,\n"
                               for i, g in enumerate(grids[1:], start=1)),
                     encoding="utf-8")
    proc = run_cli("grids", "roles", "import", str(table), "--field", "grid_code=网格编码",
                   "--field", "role=角色", "--field", "name=名称", "--field", "phone=电话",
                   url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"rows": 2 * (len(grids) - 1),
                                       "new": 2 * (len(grids) - 1), "replaced": 0}
    # a duplicate slot is refused whole
    table.write_text(f"grid_code,role,name\n{grids[0]},党小组,一组\n{grids[0]},党支部,二支部\n",
                     encoding="utf-8")
    before = _rows(demo_db, "SELECT count(*) FROM grid_roles")[0][0]
    proc = run_cli("grids", "roles", "import", str(table), url=demo_db.url)
    assert proc.returncode == 2 and "feature 2" in proc.stderr, proc.stderr
    assert _rows(demo_db, "SELECT count(*) FROM grid_roles")[0][0] == before
    listed = roles.list_roles(Principal("w", "grid_worker", grids[0]))
    assert [(r["grid_code"], r["role"], r["name"]) for r in listed] == [
        (grids[0], "leader", "张伟")]

    # the redraw: each row goes to the new grid holding most of its old grid's households
    prop = api.propose(ADMIN, COMM, mode="fresh", seed=1)
    old_of = {r[0]: (r[1], r[2]) for r in _rows(demo_db, """
        SELECT r.id, g.code, r.role FROM grid_roles r JOIN grids g ON g.id = r.grid_id""")}
    hh = dict(_rows(demo_db, "SELECT id, households FROM buildings"))
    old_assign = dict(_rows(demo_db, """SELECT b.id, g.code FROM buildings b
                                         JOIN grids g ON g.id = b.grid_id"""))
    res = api.commit(ADMIN, prop, allow_out_of_band=True)
    flows: dict[str, dict[str, list]] = {}
    for bid, new in prop.labels.items():
        old = old_assign.get(int(bid))
        f = flows.setdefault(old, {}).setdefault(new, [0, 0])
        f[0] += hh[int(bid)]
        f[1] += 1
    now = {r[0]: (r[1], r[2]) for r in _rows(demo_db, """
        SELECT r.id, g.code, r.last_grid_code FROM grid_roles r
          LEFT JOIN grids g ON g.id = r.grid_id""")}
    taken: dict[tuple[str, str], int] = {}
    for rid, (old_code, slot) in old_of.items():
        best = min(flows[old_code].items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[0]
        new_code, last = now[rid]
        assert last == old_code
        assert new_code in (best, None)
        if new_code is not None:
            assert (new_code, slot) not in taken
            taken[(new_code, slot)] = rid
    assert all(code in res.codes for code, _ in taken)
    audit = _rows(demo_db, "SELECT detail FROM audit_log WHERE action = 'grids.commit' "
                           "ORDER BY id DESC LIMIT 1")[0][0]
    assert len(audit["grid_roles"]) == len(old_of)


def test_a_building_added_later_is_placed_by_the_database(demo_db, imported):
    conn = demo_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT min(u.id) FROM network_grid_buildings a, unnest(a.building_ids)
                        AS u(id) JOIN networks n ON n.name = '城管' WHERE n.id = a.network_id""")
        b0 = cur.fetchone()[0]
        cur.execute("""INSERT INTO buildings (code, households, community_id, geom, pt, source)
                       SELECT 'LATER-1', 7, community_id, geom, pt, 'imported' FROM buildings
                        WHERE id = %s RETURNING id""", (b0,))
        b1 = cur.fetchone()[0]
        cur.execute("""SELECT n.name, u.id, a.network_grid_id FROM network_grid_buildings a
                         JOIN networks n ON n.id = a.network_id, unnest(a.building_ids) AS u(id)
                        WHERE u.id IN (%s, %s) ORDER BY 1, 2""", (b0, b1))
        rows = cur.fetchall()
        cur.execute("""UPDATE network_grid_buildings SET building_ids = array_remove(building_ids,
                       %s)""", (b1,))
        cur.execute("DELETE FROM buildings WHERE id = %s", (b1,))
    conn.close()
    by_net: dict[str, dict[int, int]] = {}
    for name, bid, ng in rows:
        by_net.setdefault(name, {})[bid] = ng
    assert "城管" in by_net and "综治" in by_net
    for name, placed in by_net.items():
        assert placed[b1] == placed[b0], name
