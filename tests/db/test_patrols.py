"""Patrols on PostGIS: start, check-ins (flagged outside the grid), one open patrol, cases
linked, the tick ending a forgotten patrol, who is on patrol now, and coverage on the tiny
grids with hand-placed buildings and tracks (50 m from the polyline, on the spheroid)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.incidents import service as svc
from geo.patrols import service as patrols
from tests.conftest import run_cli
from tests.db.incident_fixtures import OUTSIDE, P1, T0, scalar, seed_incident_world

M_LAT = 111_035.0  # metres per degree of latitude at 40 N
DAY1 = date(2026, 3, 2)  # T0's local date
TRACK_Y = 40.0001  # the first day's walk, along the south of grid 001

# (code, lower-left corner lon, metres north of TRACK_Y, grid)
BUILDINGS = [
    ("PB1", 116.0005, 35.0, "990100001001001"),  # within 50 m of the line, 55 m from its ends
    ("PB2", 116.0005, 45.0, "990100001001001"),  # the same, 45 m
    ("PB3", 116.0005, 55.0, "990100001001001"),  # beyond 50 m
    ("PB4", 116.0005, 80.0, "990100001001001"),  # beyond 50 m
    ("PB5", 116.0012, 0.0, "990100001001002"),   # 17 m east of the line's end, in grid 002
]


def _square(x: float, y: float, side_m: float = 2.0) -> str:
    dx, dy = side_m / 85_394.0, side_m / M_LAT
    return (f"MULTIPOLYGON((({x} {y}, {x + dx} {y}, {x + dx} {y + dy}, {x} {y + dy}, {x} {y})))")


@pytest.fixture(scope="module")
def A(empty_db):
    actors = seed_incident_world(empty_db, prefix="p")
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        for code, x, north, grid in BUILDINGS:
            y = TRACK_Y + north / M_LAT
            cur.execute(
                """INSERT INTO buildings (code, community_id, grid_id, geom, pt, source)
                   SELECT %s, g.community_id, g.id, ST_GeomFromText(%s, 4326),
                          ST_PointOnSurface(ST_GeomFromText(%s, 4326)), 'synthetic'
                     FROM grids g WHERE g.code = %s""", (code, _square(x, y), _square(x, y), grid))
    conn.close()
    return actors


def test_a_patrol_from_start_to_end_with_a_case_linked(empty_db, A):
    gw = A["grid_worker"]
    p = patrols.start(gw, lon=116.0, lat=TRACK_Y, now=T0)
    assert p["open"] and p["grid_code"] == "990100001001001" and len(p["checkins"]) == 1
    assert scalar(empty_db, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == "patrol.start"
    with pytest.raises(svc.Refused) as err:  # at most one open patrol
        patrols.start(gw, lon=116.0, lat=TRACK_Y, now=T0 + timedelta(minutes=1))
    assert err.value.rule == "patrol.open"
    case = svc.report(gw, lon=P1[0], lat=P1[1], category="C1", severity="ordinary", title="占道",
                      now=T0 + timedelta(minutes=5))
    assert case["patrol_id"] == p["id"]
    assert svc.show(A["admin"], case["code"])["patrol_id"] == p["id"]
    p = patrols.checkin(gw, lon=116.001, lat=TRACK_Y, now=T0 + timedelta(minutes=10))
    assert [c["flagged"] for c in p["checkins"]] == [False, False] and p["incidents"] == [case["code"]]
    with pytest.raises(svc.Refused) as err:
        patrols.checkin(gw, lon=116.0005, lat=TRACK_Y, now=T0 + timedelta(minutes=9))
    assert err.value.rule == "patrol.time"
    done = patrols.end(gw, now=T0 + timedelta(minutes=20))
    assert not done["open"] and done["ended_reason"] == "worker"
    assert datetime.fromisoformat(done["ended_at"]) == T0 + timedelta(minutes=20)
    later = svc.report(gw, lon=P1[0], lat=P1[1], category="C1", severity="ordinary", title="占道",
                       now=T0 + timedelta(minutes=30))
    assert later["patrol_id"] is None  # no open patrol: no link
    with pytest.raises(svc.Refused) as err:
        patrols.checkin(gw, lon=116.0, lat=TRACK_Y, now=T0 + timedelta(minutes=40))
    assert err.value.rule == "patrol.none"


def test_only_grid_workers_patrol(empty_db, A):
    for role in ("admin", "operator", "community_staff", "department", "leader"):
        with pytest.raises(svc.Denied):
            patrols.start(A[role], lon=116.0, lat=TRACK_Y, now=T0)
    assert scalar(empty_db, "SELECT count(*) FROM patrols WHERE username NOT LIKE 'p_grid_worker%%'") == 0


def test_checkins_outside_the_grid_are_flagged_and_the_track_breaks(empty_db, A):
    gw = A["grid_worker"]
    day2 = T0 + timedelta(days=1)
    y = TRACK_Y + 0.0005  # ~55 m north of the first day's track, through PB3 and near PB4
    p = patrols.start(gw, lon=115.9995, lat=y, now=day2)  # 43 m west of the grid: tolerated
    p = patrols.checkin(gw, lon=OUTSIDE[0], lat=OUTSIDE[1], now=day2 + timedelta(minutes=5))
    p = patrols.checkin(gw, lon=116.0015, lat=y, now=day2 + timedelta(minutes=10))  # in grid 002
    flags = [(c["flagged"], round(c["outside_m"])) for c in p["checkins"]]
    assert [f for f, _ in flags] == [False, True, False]
    assert 40 <= flags[0][1] <= 46 and flags[1][1] > 1000 and 40 <= flags[2][1] <= 46
    patrols.end(gw, now=day2 + timedelta(minutes=15))
    # the flagged check-in breaks the line: its ends are 85 m from PB1..PB4, so nothing is
    # covered that day (a line joining the good ends would have covered all four)
    day = (day2 + timedelta(hours=1)).date()
    assert patrols.coverage(Principal("t", "admin", None), "990100001001001", day, day)["covered"] == 0


def test_coverage_by_hand(empty_db, A):
    admin = Principal("t", "admin", None)
    one = patrols.coverage(admin, "990100001001001", DAY1, DAY1)
    # the first day's line along TRACK_Y from 116.0 to 116.001: PB1 (35 m) and PB2 (45 m) are
    # covered by the line only (their nearest corner is 55 m and 61 m from both check-ins)
    assert (one["buildings"], one["covered"], one["share"], one["distance_m"]) == (4, 2, 0.5, 50.0)
    both = patrols.coverage_by_grid(admin, "990100001001", DAY1, DAY1 + timedelta(days=1))
    assert [(r["grid"], r["buildings"], r["covered"]) for r in both] == [
        ("990100001001001", 4, 2), ("990100001001002", 1, 1)]
    none = patrols.coverage(admin, "990100001001001", DAY1 - timedelta(days=3), DAY1 - timedelta(days=1))
    assert (none["covered"], none["share"]) == (0, 0.0)
    # scope: a street operator of another street is refused; a community staff reads its own
    with pytest.raises(PermissionDenied):
        patrols.coverage_by_grid(Principal("x", "street_operator", "990100002"), "990100001", DAY1, DAY1)
    assert len(patrols.coverage_by_grid(A["community_staff"].principal, "990100001001", DAY1, DAY1)) == 2
    with pytest.raises(svc.Refused):
        patrols.coverage(admin, "99010000100100", DAY1, DAY1)


def test_on_patrol_now_and_the_tick_ends_a_forgotten_patrol(empty_db, A):
    gw, gw2 = A["grid_worker"], A["grid_worker2"]
    t = T0 + timedelta(days=5)
    patrols.start(gw, lon=116.0002, lat=40.0005, now=t)
    patrols.checkin(gw, lon=116.0004, lat=40.0005, now=t + timedelta(hours=1))
    patrols.start(gw2, lon=116.0015, lat=40.0005, now=t + timedelta(hours=2))
    now = patrols.on_patrol_now(A["community_staff"].principal, now=t + timedelta(hours=3))
    assert [(r["worker"], r["grid_code"], r["checkins"]) for r in now] == [
        ("p_grid_worker", "990100001001001", 2), ("p_grid_worker2", "990100001001002", 1)]
    assert abs(now[0]["lon"] - 116.0004) < 1e-9
    assert patrols.on_patrol_now(Principal("x", "street_operator", "990100002"),
                                 now=t + timedelta(hours=3)) == []
    with pytest.raises(PermissionDenied):
        patrols.on_patrol_now(gw.principal, now=t)
    patrols.end(gw2, now=t + timedelta(hours=4))
    # 13 hours after the start (PATROL_MAX_HOURS 12): the tick ends it at its last check-in
    first = svc.tick(t + timedelta(hours=13))
    second = svc.tick(t + timedelta(hours=13))
    assert (first["patrols_ended"], second["patrols_ended"]) == (1, 0)
    row = patrols.show(A["admin"], now[0]["patrol_id"])
    assert row["ended_reason"] == "timeout"
    assert datetime.fromisoformat(row["ended_at"]) == t + timedelta(hours=1)
    assert patrols.on_patrol_now(A["admin"].principal, now=t + timedelta(hours=13)) == []


def test_cli_patrol_contract(empty_db, A):
    def cli(*args, ok=True):
        proc = run_cli("patrols", *args, url=empty_db.url)
        if ok:
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)
        return proc

    start = cli("start", "--as", "p_grid_worker2", "--lon", "116.0015", "--lat", "40.0005")
    assert {"id", "checkins"} <= set(start) and len(start["checkins"]) == 1
    again = cli("start", "--as", "p_grid_worker2", "--lon", "116.0015", "--lat", "40.0005", ok=False)
    assert again.returncode == 2 and "patrol.open" in again.stderr
    mid = cli("checkin", "--as", "p_grid_worker2", "--lon", "116.0016", "--lat", "40.0006")
    assert mid["id"] == start["id"] and len(mid["checkins"]) == 2
    end = cli("end", "--as", "p_grid_worker2")
    assert end["id"] == start["id"] and end["ended_at"]
    cov = cli("coverage", "--grid", "990100001001001", "--from", DAY1.isoformat(), "--to",
              DAY1.isoformat(), "--json")
    assert (cov["buildings"], cov["covered"], cov["share"]) == (4, 2, 0.5)
