"""Workload replay (geo.planning.workload) on the demo district: incidents per grid of the
current grids, of a proposal and of an older version, counted by point in polygon."""

from __future__ import annotations

import datetime as dt

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import api
from geo.planning.workload import replay

ADMIN = Principal("test:admin", "admin", None)
COMM = "990100002003"


def rows(tdb, query, params=()):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def _window(demo_db):
    (until,), = rows(demo_db, """SELECT max(i.reported_at) + interval '1 second' FROM incidents i
                                   JOIN communities c ON ST_Intersects(c.geom, i.geom)
                                  WHERE c.code = %s""", (COMM,))
    return until


def test_replay_counts_incidents_per_grid_for_current_proposal_and_old_version(demo_db):
    until = _window(demo_db)
    since = until.replace(year=until.year - 1)
    expect = dict(rows(demo_db, """
        SELECT g.code, count(i.id) FROM grids g
          JOIN grid_versions v ON v.id = g.version_id AND v.is_current
          JOIN communities c ON c.id = v.community_id AND c.code = %s
          LEFT JOIN incidents i ON ST_Intersects(g.geom, i.geom)
               AND i.reported_at >= %s AND i.reported_at < %s
         GROUP BY g.code""", (COMM, since, until)))
    assert sum(expect.values()) > 0, "the demo community has incidents in the window"
    prop = api.propose(ADMIN, COMM, mode="fresh", seed=0)
    rep = replay(ADMIN, COMM, proposal=prop, months=12, until=until)
    got = {r["code"]: r["incidents"] for r in rep["current"]["grids"]}
    assert got == expect
    assert {r["code"] for r in rep["other"]["grids"]} == set(prop.grids["code"])
    # both sets of grids tile the community: every incident is counted once in each
    assert rep["other"]["incidents"] + rep["other"]["outside"] == \
        rep["current"]["incidents"] + rep["current"]["outside"]
    hh = dict(zip(prop.grids["code"], prop.grids["households"], strict=True))
    assert {r["code"]: r["households"] for r in rep["other"]["grids"]} == hh

    old_no = rows(demo_db, """SELECT v.version_no FROM grid_versions v JOIN communities c
                                ON c.id = v.community_id WHERE c.code = %s AND v.is_current""",
                  (COMM,))[0][0]
    api.commit(ADMIN, prop, allow_out_of_band=True)
    back = replay(ADMIN, COMM, version=f"{COMM}@{old_no}", months=12, until=until)
    assert {r["code"]: r["incidents"] for r in back["other"]["grids"]} == expect
    assert {r["code"]: r["incidents"] for r in back["current"]["grids"]} == \
        {r["code"]: r["incidents"] for r in rep["other"]["grids"]}


def test_replay_window_and_refusals(demo_db):
    until = _window(demo_db)
    short = replay(ADMIN, COMM, months=1, until=until)
    long = replay(ADMIN, COMM, months=24, until=until)
    assert short["current"]["incidents"] <= long["current"]["incidents"]
    assert "other" not in short
    for bad in (0, 61, "12", True):
        with pytest.raises(GridAtlasError):
            replay(ADMIN, COMM, months=bad, until=until)
    with pytest.raises(GridAtlasError):
        replay(ADMIN, COMM, version="990100005007@1", until=until)
    with pytest.raises(PermissionDenied):
        replay(Principal("w", "grid_worker", "990100005007001"), COMM, until=until)
    with pytest.raises(PermissionDenied):
        replay(Principal("p", "planner", "990100005"), COMM, until=dt.datetime.now(dt.UTC))
