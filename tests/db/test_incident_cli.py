"""The ``python -m geo incidents`` contracts other tools call, run as real subprocesses."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, PW, scalar, seed_incident_world

KPI_KEYS = {"due", "deferred", "closed_on_time", "on_time_rate", "closed", "closure_rate",
            "overdue_now", "rework", "median_hours_to_close", "closed_level"}


@pytest.fixture(scope="module")
def world(empty_db):
    return seed_incident_world(empty_db, prefix="c")


def cli(tdb, *args, ok=True):
    proc = run_cli(*args, url=tdb.url)
    if ok:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    return proc


def test_users_add_ties_a_department_account(empty_db, world):
    proc = run_cli("users", "add", "c_dept_cli", "--role", "department", "--scope", "990100",
                   "--department", "D2", "--password-stdin", url=empty_db.url, stdin=PW + "\n")
    assert proc.returncode == 0, proc.stderr
    assert scalar(empty_db, "SELECT d.code FROM users u JOIN departments d ON d.id = u.department_id"
                            " WHERE u.username = 'c_dept_cli'") == "D2"
    bad = run_cli("users", "add", "c_dept_bad", "--role", "department", "--scope", "990100",
                  "--department", "NOPE", "--password-stdin", url=empty_db.url, stdin=PW + "\n")
    assert bad.returncode == 2 and "unknown department" in bad.stderr
    wrong = run_cli("users", "add", "c_op_dept", "--role", "operator", "--scope", "990100",
                    "--department", "D1", "--password-stdin", url=empty_db.url, stdin=PW + "\n")
    assert wrong.returncode == 2
    assert scalar(empty_db, "SELECT count(*) FROM users WHERE username IN ('c_dept_bad', 'c_op_dept')") == 0


def test_report_transition_show_contract(empty_db, world):
    case = cli(empty_db, "incidents", "report", "--lon", str(P1[0]), "--lat", str(P1[1]),
               "--category", "C1", "--severity", "ordinary", "--title", "占道经营",
               "--as", "c_operator", "--level", "grid")
    for key in ("id", "code", "state", "level", "grid_code", "community_code", "street_code"):
        assert key in case
    assert (case["state"], case["level"], case["grid_code"], case["community_code"],
            case["street_code"]) == ("reported", "grid", "990100001001001", "990100001001",
                                     "990100001")
    code, cid = case["code"], str(case["id"])
    # by code and by numeric id
    for ref, who, to in ((code, "c_grid_worker", "escalated"), (cid, "c_community_staff", "escalated"),
                         (code, "c_street_operator", "escalated"), (cid, "c_operator", "filed")):
        out = cli(empty_db, "incidents", "transition", ref, "--to", to, "--as", who)
        assert out["state"] == to and out["code"] == code
    assert out["proposed_department"] == "D1"
    out = cli(empty_db, "incidents", "transition", code, "--to", "dispatched", "--as", "c_operator",
              "--department", "D2", "--note", "水务负责")
    assert (out["state"], out["department"]) == ("dispatched", "D2")  # the override wins
    assert out["events"][-1]["note"] == "水务负责"
    # refused: exit 2 with the rule's message, nothing written
    n = scalar(empty_db, "SELECT count(*) FROM incident_events")
    refused = cli(empty_db, "incidents", "transition", code, "--to", "accepted", "--as",
                  "c_department", ok=False)
    assert refused.returncode == 2
    assert "department.other" in refused.stderr and "其他部门" in refused.stderr
    illegal = cli(empty_db, "incidents", "transition", code, "--to", "closed", "--as", "c_operator",
                  ok=False)
    assert illegal.returncode == 2 and "[state]" in illegal.stderr
    assert scalar(empty_db, "SELECT count(*) FROM incident_events") == n
    shown = cli(empty_db, "incidents", "show", code)
    assert shown["state"] == "dispatched" and shown["id"] == case["id"]
    assert [e["to_state"] for e in shown["events"]][:2] == ["reported", "escalated"]
    missing = cli(empty_db, "incidents", "show", "SJ00000000000000", ok=False)
    assert missing.returncode == 2 and "no case" in missing.stderr


def test_tick_is_idempotent_and_kpi_prints_the_contract(empty_db, world):
    first = cli(empty_db, "incidents", "tick", "--now", "2099-01-01T00:00:00+08:00")
    second = cli(empty_db, "incidents", "tick", "--now", "2099-01-01T00:00:00+08:00")
    assert first["overdue_marked"] >= 1
    assert (second["overdue_marked"], second["deferrals_ended"]) == (0, 0)
    today = date.today()  # the CLI's report above ran on the real clock
    k = cli(empty_db, "incidents", "kpi", "--scope", "990100", "--from",
            str(today - timedelta(days=30)), "--to", str(today + timedelta(days=30)), "--json",
            "--now", "2099-01-01T00:00:00+08:00")
    assert KPI_KEYS <= set(k)
    assert set(k["closed_level"]) == {"grid", "community", "street", "district"}
    assert k["due"] >= 1 and k["overdue_now"] >= 1
    for key in ("on_time_rate", "closure_rate"):
        assert k[key] is None or 0 <= k[key] <= 1
    bad = cli(empty_db, "incidents", "kpi", "--scope", "990100", "--from", "2026-13-01",
              "--to", "2026-12-31", "--json", ok=False)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
