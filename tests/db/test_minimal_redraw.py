"""Minimal change on PostGIS (demo district): a committed plan is kept as it is, a few
buildings gaining households move few households and keep codes, and the band is each
community's own.

The database is a clone of the demo; tests run in file order on it.
"""

from __future__ import annotations

import json

from geo.access.roles import Principal
from geo.planning import api, codes
from geo.planning.band import community_band
from tests.conftest import run_cli

ADMIN = Principal("test:admin", "admin", None)
COMMS = ("990100002003", "990100005007", "990100001002")


def rows(tdb, query, params=()):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_minimal_mode_on_committed_grids_moves_nothing(demo_db):
    for code in COMMS:
        fresh = api.propose(ADMIN, code, mode="fresh", seed=0)
        api.commit(ADMIN, fresh, allow_out_of_band=True)
        prop = api.propose(ADMIN, code, mode="minimal", seed=0)
        assert prop.churn["households_moved"] == 0, code
        assert prop.churn["grids_kept"] == prop.churn["grids_before"] == prop.churn["grids_after"]
        assert prop.labels == prop.base_labels
        assert set(prop.grids["status"]) == {"kept"}


def test_three_buildings_gaining_150_keep_codes_and_move_few(demo_db, tmp_path):
    for code in COMMS:
        picked = rows(demo_db, """SELECT b.code, b.households FROM buildings b
                                    JOIN communities c ON c.id = b.community_id
                                   WHERE c.code = %s AND b.households > 0
                                   ORDER BY md5(b.code) LIMIT 3""", (code,))
        reg = tmp_path / f"register-{code}.csv"
        reg.write_text("building_code,households\n"
                       + "".join(f"{b},{h + 150}\n" for b, h in picked), encoding="utf-8")
        res = run_cli("import", "households", str(reg), url=demo_db.url)
        assert res.returncode == 0, res.stderr
        prop = api.propose(ADMIN, code, mode="minimal", seed=0)
        total = sum(prop.households.values())
        assert prop.churn["households_moved"] <= 0.10 * total, (code, prop.churn)
        assert prop.churn["grids_kept"] >= 0.8 * prop.churn["grids_before"], (code, prop.churn)
        # no band failure that a fresh plan of the same data would not have as well
        fresh = api.propose(ADMIN, code, mode="fresh", seed=0)
        assert {g["rule"] for g in prop.blocking()} <= {g["rule"] for g in fresh.blocking()} | set()
        committed = api.commit(ADMIN, prop, allow_out_of_band=True)
        assert len(committed.kept_codes) == prop.churn["grids_kept"]
        # the commit's own check agrees: each kept code holds most of its grid's households
        succ = codes.successors(prop.base_labels, prop.labels, prop.households)
        assert sorted(committed.kept_codes) == sorted(c for c, g in succ.items() if c == g)


def test_rebalance_uses_each_communitys_own_band_and_keeps_its_report_keys(demo_db):
    code = "990100005007"
    conn = demo_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE communities SET target_households = 350, min_households = 250, "
                    "max_households = 450 WHERE code = %s", (code,))
    conn.close()
    band = community_band(ADMIN, code)
    assert (band.target, band.min, band.max) == (350, 250, 450)
    res = run_cli("rebalance", "--community", code, "--mode", "minimal", url=demo_db.url)
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    (com,) = rep["communities"]
    assert com["band"] == {"target": 350.0, "min": 250.0, "max": 450.0}
    for key in ("community", "households", "totals", "gate", "churn", "applied"):
        assert key in com
    assert com["applied"] is None
    for key in ("n_grids", "n_valid", "share_contiguous", "share_one_piece", "feasible",
                "infeasible_regions"):
        assert key in com["totals"]
    for key in ("households_moved", "buildings_moved", "grids_before", "grids_after",
                "grids_kept"):
        assert key in com["churn"]
    assert "total_s" in rep["timings"]
    for g in rep["grids"]:
        assert {"community", "code", "households", "deviation", "valid", "failed_rules"} <= set(g)
        assert g["deviation"] >= 0
        assert abs(g["deviation_signed"]) == g["deviation"] or \
            abs(abs(g["deviation_signed"]) - g["deviation"]) < 1e-6
        assert (g["deviation_signed"] < 0) == (g["households"] < 350)
