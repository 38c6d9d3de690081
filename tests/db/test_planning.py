"""The planner's workbench on PostGIS (demo district): commit, restore, conflicts, manual
moves, exports, permissions and the command line.

One small community (东湖社区, 114 buildings, 11 grids) carries most tests; the module's
database is a clone of the demo, and tests run in file order on it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import geopandas as gpd
import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import api, export
from geo.planning.model import PlanConflict, PlanRejected, Proposal
from tests.conftest import run_cli

COMM = "990100002003"  # 东湖社区
CLI_COMM = "990100005007"  # 中山社区 (31 buildings)
ADMIN = Principal("test:admin", "admin", None)
PLANNER = Principal("test:planner", "planner", "990100002")  # the street of COMM


def rows(tdb, query, params=()):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def snapshot(tdb, code=COMM) -> dict:
    """What a commit may change, read from outside the planner's code."""
    (cid,), = rows(tdb, "SELECT id FROM communities WHERE code = %s", (code,))
    (vid, vno), = rows(tdb, "SELECT id, version_no FROM grid_versions "
                            "WHERE community_id = %s AND is_current", (cid,))
    grids = {r[0]: (r[1], r[2]) for r in rows(
        tdb, "SELECT code, id, households FROM grids WHERE version_id = %s", (vid,))}
    bgrid = dict(rows(tdb, """SELECT b.id, g.code FROM buildings b JOIN grids g ON g.id = b.grid_id
                              WHERE b.community_id = %s""", (cid,)))
    hh = dict(rows(tdb, "SELECT id, households FROM buildings WHERE community_id = %s", (cid,)))
    workers = dict(rows(tdb, """SELECT w.code, g.code FROM grid_workers w JOIN grids g
                                  ON g.id = w.grid_id WHERE g.community_id = %s""", (cid,)))
    open_inc = dict(rows(tdb, "SELECT id, grid_id FROM incidents WHERE community_id = %s "
                              "AND closed_at IS NULL", (cid,)))
    closed_inc = dict(rows(tdb, "SELECT id, grid_id FROM incidents WHERE community_id = %s "
                                "AND closed_at IS NOT NULL", (cid,)))
    return {
        "cid": cid, "vid": vid, "vno": vno, "grids": grids, "bgrid": bgrid, "hh": hh,
        "workers": workers, "open": open_inc, "closed": closed_inc,
        "seqs": {r[0] for r in rows(tdb, "SELECT seq FROM grids WHERE community_id = %s",
                                    (cid,))},
        "versions": rows(tdb, "SELECT count(*) FROM grid_versions")[0][0],
        "audit": rows(tdb, "SELECT count(*) FROM audit_log")[0][0],
        "lineage": rows(tdb, "SELECT count(*) FROM grid_lineage")[0][0],
    }


def test_commit_writes_one_complete_version(demo_db):
    before = snapshot(demo_db)
    prop = api.propose(ADMIN, COMM, mode="fresh", seed=0)
    assert prop.base_version_id == before["vid"]
    assert not prop.blocking(allow_out_of_band=True), prop.gate
    # the page keeps proposals as JSON: commit what comes back from it
    prop = Proposal.from_json(json.loads(json.dumps(json.loads(prop.to_json()))))
    t = time.perf_counter()
    res = api.commit(ADMIN, prop, note="test redraw", allow_out_of_band=True)
    print(f"\ncommit of {COMM}: {time.perf_counter() - t:.2f} s")
    after = snapshot(demo_db)

    # the version: current, numbered, one current per community
    assert after["vid"] == res.version_id != before["vid"]
    assert after["vno"] == res.version_no == before["vno"] + 1
    assert rows(demo_db, "SELECT count(*) FROM grid_versions WHERE community_id = %s "
                         "AND is_current", (before["cid"],))[0][0] == 1
    (by, note, parent), = rows(demo_db, "SELECT created_by, note, parent_id FROM grid_versions "
                                        "WHERE id = %s", (res.version_id,))
    assert (by, note, parent) == ("test:admin", "test redraw", before["vid"])

    # codes: a kept code's grid holds more than half of the old grid's households (or is
    # unchanged); every other code never used before
    assert sorted(after["grids"]) == sorted(res.codes) == prop.grid_codes()
    old_sets, new_sets = defaultdict(set), defaultdict(set)
    for b, c in before["bgrid"].items():
        old_sets[c].add(b)
    for b, c in after["bgrid"].items():
        new_sets[c].add(b)
    for c in res.codes:
        assert len(c) == 15 and c.startswith(COMM)
        if c in res.kept_codes:
            old_hh = sum(before["hh"][b] for b in old_sets[c])
            stay = sum(before["hh"][b] for b in old_sets[c] & new_sets[c])
            assert new_sets[c] == old_sets[c] or 2 * stay > old_hh
        else:
            assert int(c[-3:]) > max(before["seqs"])
    assert res.new_codes and set(res.removed_codes) == set(before["grids"]) - set(res.codes)

    # buildings: every one in its planned grid, in building_grid too; households per grid
    assert after["bgrid"] == {b: prop.labels[b] for b in before["hh"]}
    assert rows(demo_db, "SELECT count(*) FROM building_grid WHERE version_id = %s",
                (res.version_id,))[0][0] == len(before["hh"])
    assert rows(demo_db, """SELECT count(*) FROM buildings b JOIN grids g ON g.id = b.grid_id
                             WHERE b.community_id = %s AND NOT ST_Intersects(g.geom, b.pt)""",
                (before["cid"],))[0][0] == 0
    planned = dict(zip(prop.grids["code"], prop.grids["households"], strict=False))
    assert {c: v[1] for c, v in after["grids"].items()} == planned

    # validity period: old grids end when the new ones start
    ends = {r[0] for r in rows(demo_db, "SELECT valid_to FROM grids WHERE version_id = %s",
                               (before["vid"],))}
    starts = {r[0] for r in rows(demo_db, "SELECT valid_from FROM grids WHERE version_id = %s",
                                 (res.version_id,))}
    assert len(ends) == 1 and ends == starts
    assert rows(demo_db, "SELECT count(*) FROM grids WHERE version_id = %s "
                         "AND valid_to IS NOT NULL", (res.version_id,))[0][0] == 0

    # lineage: households passing from each old grid to each new one
    lin = {(r[0], r[1]): r[2] for r in rows(demo_db, """
        SELECT o.code, n.code, l.households_moved FROM grid_lineage l
          JOIN grids o ON o.id = l.old_grid_id JOIN grids n ON n.id = l.new_grid_id
         WHERE l.version_id = %s""", (res.version_id,))}
    flow = defaultdict(int)
    for b, old in before["bgrid"].items():
        flow[(old, after["bgrid"][b])] += before["hh"][b]
    assert lin == dict(flow)
    assert {o for o, _ in lin} == set(before["grids"])
    assert sum(lin.values()) == sum(before["hh"].values())

    # open incidents follow their point, history kept; closed ones stay where they were
    assert after["closed"] == before["closed"]
    new_ids = {v[0]: c for c, v in after["grids"].items()}
    for inc, gid in after["open"].items():
        (holder,), = rows(demo_db, """SELECT g.id FROM grids g, incidents i
                                       WHERE i.id = %s AND g.version_id = %s
                                         AND ST_Intersects(g.geom, i.geom)
                                       ORDER BY g.code LIMIT 1""", (inc, res.version_id))
        assert gid == holder and gid in new_ids
    hist = {r[0]: (r[1], r[2]) for r in rows(
        demo_db, "SELECT incident_id, old_grid_id, new_grid_id FROM incident_grid_history "
                 "WHERE version_id = %s", (res.version_id,))}
    assert set(hist) == {i for i in before["open"] if before["open"][i] != after["open"][i]}
    for inc, (old, new) in hist.items():
        assert (old, new) == (before["open"][inc], after["open"][inc])
    assert res.relocated["open_incidents"] == len(hist)

    # workers follow the new grid with the largest household overlap; the rest is vacant
    for worker, old_code in before["workers"].items():
        share = defaultdict(lambda: [0, 0])
        for b in old_sets[old_code]:
            share[after["bgrid"][b]][0] += before["hh"][b]
            share[after["bgrid"][b]][1] += 1
        best = min(share, key=lambda c: (-share[c][0], -share[c][1], c))
        assert after["workers"][worker] == best
    assert res.vacant_grids == sorted(set(res.codes) - set(after["workers"].values()))
    assert {w["worker"]: w["to"] for w in res.workers} == after["workers"]
    # named as the preview names them (the page lists them by name after the commit too)
    names = dict(rows(demo_db, "SELECT code, name FROM grid_workers"))
    assert {w["worker"]: w["name"] for w in res.workers} == {w: names[w] for w in after["workers"]}
    assert all(w["name"] for w in res.workers)

    # coarse copies for the map, one audit entry
    assert rows(demo_db, """SELECT count(DISTINCT gc.grid_id) FROM grid_coarse gc
                              JOIN grids g ON g.id = gc.grid_id WHERE g.version_id = %s""",
                (res.version_id,))[0][0] == len(res.codes)
    (actor, role, scope, target, b_ids, a_ids, detail), = rows(demo_db, """
        SELECT actor, role, scope_code, target, before_ids, after_ids, detail FROM audit_log
         WHERE id = %s AND action = 'grids.commit'""", (res.audit_id,))
    assert (actor, role, scope, target) == ("test:admin", "admin", COMM, COMM)
    assert sorted(x["code"] for x in b_ids) == sorted(before["grids"])
    assert sorted(x["code"] for x in a_ids) == sorted(res.codes)
    assert {x["id"] for x in b_ids} == {v[0] for v in before["grids"].values()}
    assert detail["version_id"] == res.version_id and detail["mode"] == "fresh"
    assert after["audit"] == before["audit"] + 1


def test_minimal_mode_keeps_locked_and_unchanged_grids(demo_db):
    before = snapshot(demo_db)
    locked = sorted(before["grids"])[0]
    prop = api.propose(ADMIN, COMM, mode="minimal", locked_codes=[locked])
    g = prop.grids.set_index("code")
    assert g.at[locked, "status"] == "kept" and bool(g.at[locked, "locked"])
    for code, st in zip(prop.grids["code"], prop.grids["status"], strict=False):
        if st == "new":
            assert int(code[-3:]) > max(before["seqs"])
        else:
            assert code in before["grids"]
    res = api.commit(ADMIN, prop, allow_out_of_band=True)
    assert locked in res.kept_codes
    (same,), = rows(demo_db, """SELECT ST_Equals(a.geom, b.geom) FROM grids a, grids b
                                 WHERE a.version_id = %s AND b.version_id = %s
                                   AND a.code = %s AND b.code = %s""",
                    (before["vid"], res.version_id, locked, locked))
    assert same


def test_second_planner_gets_a_conflict_and_loses_nothing(demo_db):
    first = api.propose(ADMIN, COMM, mode="minimal", seed=3)
    second = api.propose(PLANNER, COMM, mode="fresh", seed=5)
    api.commit(ADMIN, first, allow_out_of_band=True)
    before = snapshot(demo_db)
    with pytest.raises(PlanConflict) as exc:
        api.commit(PLANNER, second, allow_out_of_band=True)
    msg = exc.value.user_msg
    assert "changed since this plan was computed" in msg and "test:admin" in msg
    assert "Nothing was written" in msg
    after = snapshot(demo_db)
    for key in ("vid", "versions", "audit", "lineage", "bgrid", "workers", "open"):
        assert after[key] == before[key], key
    # the second plan is intact: it can be compared with what is current now
    cmp = api.compare(after["vid"], second, principal=PLANNER)
    assert cmp["b"]["kind"] == "proposal" and sorted(cmp["added"]) == sorted(
        set(second.grid_codes()) - set(after["grids"]))


def test_restore_writes_a_new_version_copying_the_old_one(demo_db):
    before = snapshot(demo_db)
    (v1,), = rows(demo_db, "SELECT id FROM grid_versions WHERE community_id = %s "
                           "AND version_no = 1", (before["cid"],))
    res = api.restore(PLANNER, f"{COMM}@1", note="back to the original")
    after = snapshot(demo_db)
    assert after["vid"] == res.version_id and after["vno"] == before["vno"] + 1
    v1_codes = [r[0] for r in rows(demo_db, "SELECT code FROM grids WHERE version_id = %s "
                                            "ORDER BY code", (v1,))]
    assert sorted(after["grids"]) == v1_codes == res.codes
    assert rows(demo_db, """SELECT bool_and(ST_Equals(a.geom, b.geom)), count(*)
                              FROM grids a JOIN grids b ON a.code = b.code
                             WHERE a.version_id = %s AND b.version_id = %s""",
                (v1, res.version_id))[0] == (True, len(v1_codes))
    v1_assign = dict(rows(demo_db, """SELECT bg.building_id, g.code FROM building_grid bg
                                        JOIN grids g ON g.id = bg.grid_id
                                       WHERE bg.version_id = %s""", (v1,)))
    assert after["bgrid"] == v1_assign
    assert rows(demo_db, "SELECT count(*) FROM grid_lineage WHERE version_id = %s",
                (res.version_id,))[0][0] > 0
    (action, actor, detail), = rows(demo_db, "SELECT action, actor, detail FROM audit_log "
                                             "WHERE id = %s", (res.audit_id,))
    assert (action, actor, detail["restored_version_id"]) == ("grids.restore", "test:planner",
                                                              v1)
    versions = api.list_versions(PLANNER, COMM)
    assert versions[0]["id"] == res.version_id and versions[0]["is_current"]
    assert versions[0]["note"] == "back to the original"
    assert [v["version_no"] for v in versions] == sorted(
        (v["version_no"] for v in versions), reverse=True)
    assert sum(v["is_current"] for v in versions) == 1
    with pytest.raises(Exception, match="already the current one"):
        api.restore(PLANNER, res.version_id)
    cmp = api.compare(v1, res.version_id, principal=PLANNER)
    assert cmp["moved"] == [] and cmp["added"] == [] and cmp["removed"] == []


def _moves(prop):
    """Candidate manual moves: (building id, neighbouring grid) for every building."""
    for b in sorted(prop.labels):
        for g in api.neighbour_grids(PLANNER, prop, b):
            yield b, g


def test_manual_moves_are_checked_by_rule(demo_db):
    prop = api.propose(PLANNER, COMM, mode="fresh", seed=0)
    refused = moved = None
    for tries, (b, g) in enumerate(_moves(prop)):
        if tries > 150 or (refused and moved):
            break
        try:
            out = api.move_building(PLANNER, prop, b, g)
        except PlanRejected as exc:
            if "contiguity" in exc.rules and refused is None:
                refused = exc
            continue
        if moved is None:
            moved = (b, g, out)
    assert refused is not None, "no contiguity-breaking move found"
    assert "contiguity" in refused.user_msg and "refused" in refused.user_msg
    assert moved is not None
    b, g, out = moved
    assert out.labels[b] in set(out.grid_codes()) and prop.labels[b] != out.labels[b]
    assert out.moves[-1]["building_id"] == b
    # a grid the building does not touch is refused by name
    far = sorted(set(prop.grid_codes()) - set(api.neighbour_grids(PLANNER, prop, b)) - {prop.labels[b]})
    with pytest.raises(PlanRejected) as exc:
        api.move_building(PLANNER, prop, b, far[0])
    assert exc.value.rules == ["neighbour"]
    # the adjusted plan commits as adjusted
    res = api.commit(PLANNER, Proposal.from_json(out.to_json()), allow_out_of_band=True)
    (code,), = rows(demo_db, "SELECT g.code FROM buildings b JOIN grids g ON g.id = b.grid_id "
                             "WHERE b.id = %s", (b,))
    assert code == out.labels[b] and res.version_id


def test_exports_of_a_version_in_cgcs2000(demo_db, tmp_path):
    (vid,), = rows(demo_db, """SELECT v.id FROM grid_versions v JOIN communities c
                                 ON c.id = v.community_id WHERE c.code = %s AND v.is_current""",
                   (COMM,))
    codes = sorted(r[0] for r in rows(demo_db, "SELECT code FROM grids WHERE version_id = %s",
                                      (vid,)))
    g = gpd.read_file(export.export(vid, "gpkg", tmp_path / "v.gpkg", "EPSG:4490"))
    assert g.crs.to_epsg() == 4490 and sorted(g["code"]) == codes
    shp = export.export(f"{COMM}@1", "shp", tmp_path / "v.shp", "EPSG:4490",
                        principal=PLANNER)
    assert shp.with_suffix(".cpg").read_text().strip() == "GBK"
    s = gpd.read_file(shp, encoding="gbk")
    assert s.crs.to_epsg() == 4490 and s["name"].str.startswith("东湖社区").all()
    csv = export.export(vid, "csv", tmp_path / "v.csv")
    assert csv.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert "东湖社区" in csv.read_text(encoding="utf-8-sig")
    gj = gpd.read_file(export.export(vid, "geojson", tmp_path / "v.geojson"))
    assert gj.crs.to_epsg() == 4326 and len(gj) == len(codes)


def test_permissions_are_checked_before_acting(demo_db):
    elsewhere = Principal("test:other", "planner", "990100001")
    leader = Principal("test:leader", "leader", None)
    for who in (elsewhere, leader):
        with pytest.raises(PermissionDenied):
            api.propose(who, COMM)
        with pytest.raises(PermissionDenied):
            api.restore(who, f"{COMM}@1")
    with pytest.raises(PermissionDenied):
        api.list_versions(elsewhere, COMM)
    assert api.list_versions(leader, COMM)  # leaders may look
    prop = api.propose(PLANNER, COMM, mode="minimal")
    with pytest.raises(PermissionDenied):
        api.commit(elsewhere, prop)
    with pytest.raises(PermissionDenied):
        export.export(prop, "csv", "/tmp/never.csv", principal=elsewhere)
    # another community's plan: not viewed, not adjusted, not exported (nothing written)
    b = sorted(prop.labels)[0]
    with pytest.raises(PermissionDenied):
        api.load_proposal(elsewhere, prop.to_json())
    with pytest.raises(PermissionDenied):
        api.neighbour_grids(elsewhere, prop, b)
    with pytest.raises(PermissionDenied):
        api.move_building(elsewhere, prop, b, prop.labels[b])
    with pytest.raises(PermissionDenied):
        api.compare(prop, f"{COMM}@1", principal=elsewhere)
    with pytest.raises(PermissionDenied):
        export.download(elsewhere, prop, "csv")
    with pytest.raises(PermissionDenied):
        api.move_building(leader, prop, b, prop.labels[b])  # leaders only look
    assert api.load_proposal(leader, prop.to_json()).community_code == COMM
    # a pattern is never a community: refused before any read
    for pattern in ("9", "%", "_", COMM[:-1] + "%", [COMM], {"code": COMM}):
        with pytest.raises(PermissionDenied):
            api.list_versions(PLANNER, pattern)
        with pytest.raises(PermissionDenied):
            api.propose(PLANNER, pattern)


def test_export_download_leaves_nothing_behind(demo_db):
    import glob
    import tempfile

    prop = api.propose(PLANNER, COMM, mode="minimal")
    pattern = tempfile.gettempdir() + "/gridatlas-export-*"
    before = set(glob.glob(pattern))
    for fmt in ("gpkg", "geojson", "csv", "shp"):
        name, content = export.download(PLANNER, prop, fmt, "EPSG:4490")
        assert name.startswith(f"plan-{COMM}.") and len(content) > 100
    with pytest.raises(GridAtlasError, match="export format"):
        export.download(PLANNER, prop, "kml")
    with pytest.raises(GridAtlasError, match="export format"):
        export.download(PLANNER, prop, ["csv"])
    assert set(glob.glob(pattern)) == before


def test_command_line(demo_db):
    out = run_cli("rebalance", "--community", CLI_COMM, "--seed", "2", url=demo_db.url)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["seed"] == 2 and rep["communities"][0]["community"] == CLI_COMM
    row = rep["grids"][0]
    assert {"code", "households", "deviation", "pp", "n_buildings", "valid",
            "failed_rules"} <= set(row)
    assert {"totals", "churn", "timings"} <= set(rep)
    before = snapshot(demo_db, CLI_COMM)
    out = run_cli("rebalance", "--community", CLI_COMM, "--seed", "2", "--apply",
                  "--allow-out-of-band", "--note", "cli test", url=demo_db.url)
    assert out.returncode == 0, out.stderr
    applied = json.loads(out.stdout)["communities"][0]["applied"]
    after = snapshot(demo_db, CLI_COMM)
    assert after["vid"] == applied["version_id"] != before["vid"]
    (actor,), = rows(demo_db, "SELECT actor FROM audit_log WHERE id = %s",
                     (applied["audit_id"],))
    assert actor.startswith("cli:")
    out = run_cli("grids", "versions", "--community", CLI_COMM, url=demo_db.url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("*") and "cli test" in lines[1]
    out = run_cli("grids", "restore", f"{CLI_COMM}@1", url=demo_db.url)
    assert out.returncode == 0, out.stderr
    assert snapshot(demo_db, CLI_COMM)["bgrid"] == before["bgrid"]
    out = run_cli("grids", "restore", "999999999999@1", url=demo_db.url)
    assert out.returncode == 2 and "does not exist" in out.stderr
