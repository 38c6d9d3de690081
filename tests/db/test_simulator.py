"""The demo simulator and the minute tick on a demo clone: it creates cases and moves only
its own; the tick runs in exactly one process, also with the simulator turned off."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from geo.access.roles import Principal
from geo.incidents import service, simulate
from tests.conftest import run_cli

OTHERS = """SELECT i.id, i.code, i.state, i.level, i.version, i.due_at, i.closed_at,
                   i.department_id, i.overdue_marked_due,
                   (SELECT count(*) FROM incident_events e WHERE e.incident_id = i.id)
              FROM incidents i WHERE i.reported_by IS DISTINCT FROM %s ORDER BY i.id"""


def _rows(tdb, query, params=()):
    conn = tdb.connect()
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def test_simulator_creates_cases_and_moves_only_its_own(demo_db):
    # a case a person reported, open and dispatched: the simulator must leave it alone
    op = service.Actor(Principal("sim_test_operator", "operator", "990100"))
    lon, lat = _rows(demo_db, "SELECT ST_X(pt), ST_Y(pt) FROM buildings ORDER BY id LIMIT 1")[0]
    cat = _rows(demo_db, """SELECT c.code FROM incident_categories c
                              LEFT JOIN incident_categories p ON p.id = c.parent_id
                             WHERE coalesce(c.department_id, p.department_id) IS NOT NULL
                               AND NOT EXISTS (SELECT 1 FROM incident_categories k
                                                WHERE k.parent_id = c.id)
                             ORDER BY c.code LIMIT 1""")[0][0]
    mine = service.report(op, lon=lon, lat=lat, category=cat, severity="ordinary", title="人工上报",
                          level="district")
    service.transition(op, mine["id"], "filed")
    before = _rows(demo_db, OTHERS, (simulate.REPORTER,))
    assert len(before) > 100
    assert not _rows(demo_db, "SELECT 1 FROM incidents WHERE reported_by = %s", (simulate.REPORTER,))

    # the tick changes other cases by design (overdue marks): tested below, off here
    done = run_cli("demo", "simulate", "--speed", "3000", "--seconds", "6", "--seed", "7",
                   "--no-tick", url=demo_db.url, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["reported"] >= 5 and counts["moved"] >= 5, counts

    own = _rows(demo_db, "SELECT state, count(*) FROM incidents WHERE reported_by = %s GROUP BY 1",
                (simulate.REPORTER,))
    states = dict(own)
    assert sum(states.values()) == counts["reported"]
    # they went through the loop: dispatched or further, some closed already
    assert set(states) - {"reported", "filed"}, states
    assert states.get("closed", 0) + states.get("evaluated", 0) >= 1, states
    # every step was the service's: events by the simulator's actors, audited
    actors = {r[0] for r in _rows(demo_db, """SELECT DISTINCT e.actor FROM incident_events e
                                              JOIN incidents i ON i.id = e.incident_id
                                             WHERE i.reported_by = %s""", (simulate.REPORTER,))}
    assert actors <= {"simulator:12345", "simulator:operator", "simulator:department"}, actors
    assert _rows(demo_db, "SELECT count(*) FROM audit_log WHERE actor LIKE 'simulator:%%'")[0][0] \
        >= counts["reported"] + counts["moved"]
    # nobody else's case changed in any way (row, version, events)
    assert _rows(demo_db, OTHERS, (simulate.REPORTER,)) == before


def test_the_tick_runs_in_one_process_only(demo_db):
    calls = []
    a = simulate.TickLeader(every=0, tick=lambda: calls.append("a") or {"overdue_marked": 0})
    b = simulate.TickLeader(every=0, tick=lambda: calls.append("b") or {"overdue_marked": 0})
    try:
        assert a.maybe_tick() is not None and a.leader
        for _ in range(3):
            assert b.maybe_tick() is None and not b.leader
            a.maybe_tick()
        assert calls == ["a"] * 4
        a.release()  # the ticking process ends: another takes over
        assert b.maybe_tick() is not None and b.leader
        assert a.maybe_tick() is None
    finally:
        a.release()
        b.release()


def test_the_tick_marks_overdue_cases_with_the_simulator_off(demo_db, monkeypatch):
    op = service.Actor(Principal("sim_test_operator2", "operator", "990100"))
    lon, lat = _rows(demo_db, "SELECT ST_X(pt), ST_Y(pt) FROM buildings ORDER BY id DESC LIMIT 1")[0]
    cat = _rows(demo_db, """SELECT c.code FROM incident_categories c
                              LEFT JOIN incident_categories p ON p.id = c.parent_id
                             WHERE coalesce(c.department_id, p.department_id) IS NOT NULL
                             ORDER BY c.code DESC LIMIT 1""")[0][0]
    past = datetime.now(UTC) - timedelta(hours=3)
    case = service.report(op, lon=lon, lat=lat, category=cat, severity="ordinary", title="超时测试",
                          level="district", now=past)
    service.transition(op, case["id"], "filed", now=past)
    service.transition(op, case["id"], "dispatched", now=past)  # due an hour later: overdue now
    own = _rows(demo_db, "SELECT count(*) FROM incidents WHERE reported_by = %s", (simulate.REPORTER,))
    monkeypatch.setenv("DEMO_SIMULATOR", "0")
    done = run_cli("demo", "simulate", "--background", "--seconds", "2", url=demo_db.url, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == {"ticks": 1}, counts  # ticked, simulated nothing
    marked = _rows(demo_db, """SELECT count(*) FROM incident_events WHERE incident_id = %s
                                AND kind = 'overdue'""", (case["id"],))[0][0]
    assert marked == 1
    assert _rows(demo_db, "SELECT count(*) FROM incidents WHERE reported_by = %s",
                 (simulate.REPORTER,)) == own
