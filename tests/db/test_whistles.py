"""吹哨报到 on PostGIS: whistle timing (on time, late, never), refusals that write nothing
(a department not summoned, roles, unknown departments, closed cases), the time to report
from the settings, and the CLI contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from geo.incidents import service as svc
from geo.incidents import whistles
from geo.settings import get_settings
from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, T0, counts, scalar, seed_incident_world


@pytest.fixture(scope="module")
def A(empty_db):
    return seed_incident_world(empty_db, prefix="w")


def new_case(A, at=T0):
    return svc.report(A["grid_worker"], lon=P1[0], lat=P1[1], category="C1", severity="ordinary",
                      title="积水", now=at)


def ts(text):
    return datetime.fromisoformat(text)


def deps(case):
    return [{(d["code"], d["status"]) for d in w["departments"]} for w in case["whistles"]]


def test_whistle_timing_on_time_late_and_never(empty_db, A):
    code = new_case(A)["code"]
    before = counts(empty_db)
    case = whistles.blow(A["street_operator"], code, "emergency", "D1,D2", note="积水严重", now=T0)
    assert counts(empty_db)[1:3] == (before[1] + 1, before[2] + 1)  # one event, one audit entry
    [w] = case["whistles"]
    assert (w["kind"], w["level"], w["blown_by"]) == ("emergency", "street", "w_street_operator")
    assert ts(w["blown_at"]) == T0 and ts(w["due_at"]) == T0 + timedelta(minutes=30)
    assert [(d["code"], d["reported_at"]) for d in w["departments"]] == [("D1", None), ("D2", None)]
    assert deps(case) == [{("D1", "waiting"), ("D2", "waiting")}]
    # D1 comes after 20 minutes (on time), D2 after 45 (late)
    on = whistles.report_in(A["department"], code, note="已到场", now=T0 + timedelta(minutes=20))
    assert deps(on) == [{("D1", "on_time"), ("D2", "waiting")}]
    late = whistles.report_in(A["department2"], code, now=T0 + timedelta(minutes=45))
    assert deps(late) == [{("D1", "on_time"), ("D2", "late")}]
    assert late["whistles"][0]["late"] == ["D2"]
    d1 = late["whistles"][0]["departments"][0]
    assert (d1["reported_by"], d1["note"]) == ("w_department", "已到场")
    assert ts(d1["reported_at"]) == T0 + timedelta(minutes=20)
    # a tough whistle D1 never answers: waiting within the day, missed after it
    whistles.blow(A["street_operator"], code, "tough", ["D1"], now=T0 + timedelta(hours=1))
    within = svc.show(A["admin"], code, now=T0 + timedelta(hours=20))
    assert deps(within)[1] == {("D1", "waiting")}
    after = svc.show(A["admin"], code, now=T0 + timedelta(days=2))
    assert deps(after)[1] == {("D1", "missed")} and after["whistles"][1]["late"] == ["D1"]
    kinds = [e["kind"] for e in after["events"] if e["kind"] in ("whistle", "report_in")]
    assert kinds == ["whistle", "report_in", "report_in", "whistle"]
    assert scalar(empty_db, "SELECT count(*) FROM audit_log WHERE target = %s AND action IN "
                            "('incident.whistle', 'incident.report_in')", (code,)) == 4
    # whistles change neither the state nor the version
    assert (after["state"], after["version"]) == ("reported", 0)


def test_one_report_answers_every_pending_summons(empty_db, A):
    code = new_case(A)["code"]
    whistles.blow(A["street_operator"], code, "emergency", "D1", now=T0)
    whistles.blow(A["community_staff"], code, "quick", "D1", now=T0 + timedelta(minutes=10))
    case = whistles.report_in(A["department"], code, now=T0 + timedelta(minutes=40))
    assert [w["level"] for w in case["whistles"]] == ["street", "community"]
    assert deps(case) == [{("D1", "late")}, {("D1", "on_time")}]
    with pytest.raises(svc.Refused) as err:
        whistles.report_in(A["department"], code, now=T0 + timedelta(minutes=50))
    assert err.value.rule == "whistle.reported"


def test_a_department_not_summoned_is_refused_and_nothing_written(empty_db, A):
    code = new_case(A)["code"]
    whistles.blow(A["street_operator"], code, "quick", "D1", now=T0)
    before = counts(empty_db)
    for who, rule in (("department2", "whistle.not_summoned"), ("nodept", "department.none")):
        with pytest.raises(svc.Denied) as err:
            whistles.report_in(A[who], code, now=T0 + timedelta(minutes=5))
        assert err.value.rule == rule and " / " in err.value.user_msg
    with pytest.raises(svc.Denied) as err:  # a department reports for itself only
        whistles.report_in(A["department"], code, department="D2", now=T0 + timedelta(minutes=5))
    assert err.value.rule == "department.other"
    assert counts(empty_db) == before
    assert scalar(empty_db, "SELECT count(*) FROM incident_whistle_departments wd JOIN incident_whistles"
                            " w ON w.id = wd.whistle_id JOIN incidents i ON i.id = w.incident_id"
                            " WHERE i.code = %s AND wd.reported_at IS NOT NULL", (code,)) == 0
    # an admin names the department
    case = whistles.report_in(A["admin"], code, department="D1", now=T0 + timedelta(minutes=5))
    assert deps(case) == [{("D1", "on_time")}]


@pytest.mark.parametrize(("who", "kind", "departments", "rule"), [
    ("grid_worker", "quick", "D1", "role"),
    ("operator", "quick", "D1", "role"),
    ("department", "quick", "D1", "role"),
    ("leader", "quick", "D1", "role"),
    ("street_operator", "loud", "D1", "whistle.kind"),
    ("street_operator", "quick", "D1,NOPE", "department.unknown"),
    ("street_operator", "quick", "D1,D1", "whistle.departments"),
    ("street_operator", "quick", " , ", "whistle.departments"),
])
def test_bad_whistles_are_refused_and_write_nothing(empty_db, A, who, kind, departments, rule):
    code = new_case(A)["code"]
    before = counts(empty_db)
    with pytest.raises(svc.Refused) as err:
        whistles.blow(A[who], code, kind, departments, now=T0)
    assert err.value.rule == rule
    assert counts(empty_db) == before
    assert scalar(empty_db, "SELECT count(*) FROM incident_whistles w JOIN incidents i"
                            " ON i.id = w.incident_id WHERE i.code = %s", (code,)) == 0


def test_scope_and_closed_cases(empty_db, A):
    from geo.access.roles import Principal

    code = new_case(A)["code"]
    elsewhere = svc.Actor(Principal("w_other_street", "street_operator", "990100002"))
    with pytest.raises(svc.NotFound):  # outside the scope: answered as missing
        whistles.blow(elsewhere, code, "quick", "D1", now=T0)
    whistles.blow(A["street_operator"], code, "quick", "D1", now=T0)
    svc.transition(A["grid_worker"], code, "resolved", now=T0 + timedelta(minutes=5))
    with pytest.raises(svc.Refused) as err:
        whistles.blow(A["street_operator"], code, "quick", "D2", now=T0 + timedelta(minutes=6))
    assert err.value.rule == "case.closed"
    with pytest.raises(svc.Refused) as err:
        whistles.report_in(A["department"], code, now=T0 + timedelta(minutes=7))
    assert err.value.rule == "case.closed"
    assert deps(svc.show(A["admin"], code, now=T0 + timedelta(hours=3))) == [{("D1", "missed")}]


def test_time_to_report_comes_from_the_settings(empty_db, A, monkeypatch):
    monkeypatch.setenv("WHISTLE_LIMIT_EMERGENCY", "10m")
    get_settings.cache_clear()
    try:
        case = whistles.blow(A["street_operator"], new_case(A)["code"], "emergency", "D1", now=T0)
        assert ts(case["whistles"][0]["due_at"]) == T0 + timedelta(minutes=10)
        monkeypatch.setenv("WHISTLE_LIMIT_TOUGH", "soon")
        get_settings.cache_clear()
        from geo.errors import ConfigError

        with pytest.raises(ConfigError, match="WHISTLE_LIMIT_TOUGH"):
            get_settings()
    finally:
        monkeypatch.delenv("WHISTLE_LIMIT_EMERGENCY")
        monkeypatch.delenv("WHISTLE_LIMIT_TOUGH", raising=False)
        get_settings.cache_clear()
    assert whistles.limit("quick") == timedelta(hours=2)


def test_cli_whistle_and_report_in_contract(empty_db, A):
    code = new_case(A)["code"]
    proc = run_cli("incidents", "whistle", code, "--kind", "quick", "--departments", "D1,D2",
                   "--as", "w_street_operator", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    case = json.loads(proc.stdout)
    assert case["code"] == code and case["triage"] == "public"
    [w] = case["whistles"]
    assert {"kind", "blown_at", "due_at", "departments"} <= set(w)
    assert [(d["code"], d["reported_at"]) for d in w["departments"]] == [("D1", None), ("D2", None)]
    ok = run_cli("incidents", "report-in", code, "--as", "w_department", "--note", "到场",
                 url=empty_db.url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["whistles"][0]["departments"][0]["reported_at"] is not None
    other = new_case(A)["code"]
    run_cli("incidents", "whistle", other, "--kind", "emergency", "--departments", "D1",
            "--as", "w_street_operator", url=empty_db.url)
    refused = run_cli("incidents", "report-in", other, "--as", "w_department2", url=empty_db.url)
    assert refused.returncode == 2 and "whistle.not_summoned" in refused.stderr
    show = json.loads(run_cli("incidents", "show", other, url=empty_db.url).stdout)
    assert show["whistles"][0]["kind"] == "emergency" and "triage" in show and "patrol_id" in show
