"""The incident service on PostGIS: reports, the loop, refusals that write nothing, routing,
deferral, the tick, events that are not transitions, photos, duplicates and a race between
two real connections. Tiny hand-made place (tests.conftest.create_tiny_place)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from geo.gcj02 import wgs84_to_gcj02
from geo.incidents import service as svc
from tests.db.incident_fixtures import (
    M_PER_DEG_LON,
    OUTSIDE,
    P1,
    P_GRID2,
    T0,
    counts,
    scalar,
    seed_incident_world,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture(scope="module")
def A(empty_db):
    return seed_incident_world(empty_db)


def new_case(A, *, by="grid_worker", at=T0, category="C1", severity="ordinary", pt=P1, **kw):
    return svc.report(A[by], lon=pt[0], lat=pt[1], category=category, severity=severity,
                      title="占道经营", now=at, **kw)


def to_district(A, code, at=T0):
    """Escalate a grid case to the district and file it."""
    svc.transition(A["grid_worker"], code, "escalated", now=at)
    svc.transition(A["community_staff"], code, "escalated", now=at)
    svc.transition(A["street_operator"], code, "escalated", now=at)
    return svc.transition(A["operator"], code, "filed", now=at)


def dispatched(A, at=T0, **kw):
    case = new_case(A, at=at, **kw)
    to_district(A, case["code"], at)
    return svc.transition(A["operator"], case["code"], "dispatched", now=at)


def test_report_locates_the_case_and_writes_event_and_audit(empty_db, A):
    before = counts(empty_db)
    case = new_case(A)
    assert case["state"] == "reported" and case["level"] == "grid"
    assert (case["grid_code"], case["community_code"], case["street_code"], case["district_code"]) == (
        "990100001001001", "990100001001", "990100001", "990100")
    assert case["code"].startswith("SJ20260302") and case["version"] == 0
    assert [(e["kind"], e["from_state"], e["to_state"], e["actor"]) for e in case["events"]] == [
        ("transition", None, "reported", "i_grid_worker")]
    after = counts(empty_db)
    assert after[0] == before[0] + 1 and after[1] >= before[1] + 1 and after[2] == before[2] + 1
    assert scalar(empty_db, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == "incident.create"
    # the same case by its numeric id and by its code
    assert svc.show(A["admin"], case["id"])["code"] == svc.show(A["admin"], case["code"])["code"]


@pytest.mark.parametrize(("who", "kw", "rule"), [
    ("grid_worker", {"pt": OUTSIDE}, "location.outside"),
    ("grid_worker", {"category": "NOPE"}, "category.unknown"),
    ("grid_worker", {"pt": P_GRID2}, "location.grid"),
    ("grid_worker", {"severity": "urgent"}, "severity"),
    ("grid_worker", {"level": "district"}, "level"),
    ("leader", {}, "role"),
    ("planner", {}, "role"),
])
def test_bad_reports_are_refused_and_write_nothing(empty_db, A, who, kw, rule):
    before = counts(empty_db)
    with pytest.raises(svc.Refused) as err:
        new_case(A, by=who, **kw)
    assert err.value.rule == rule
    assert " / " in err.value.user_msg and f"[{rule}]" in err.value.user_msg  # Chinese / English
    assert counts(empty_db) == before


def test_gcj02_coordinates_are_stored_as_wgs84(empty_db, A):
    gx, gy = wgs84_to_gcj02(*P1)
    assert abs(gx - P1[0]) > 1e-3  # the shift is hundreds of metres: the point would be outside
    case = new_case(A, pt=(gx, gy), crs="gcj02")
    assert abs(case["lon"] - P1[0]) < 1e-7 and abs(case["lat"] - P1[1]) < 1e-7
    assert case["grid_code"] == "990100001001001"


def test_the_whole_loop_with_rework_and_evaluation(empty_db, A):
    case = dispatched(A, severity="major")
    code = case["code"]
    assert case["state"] == "dispatched" and case["department"] == "D1"  # routed by category
    assert case["dispatched_at"] == T0.isoformat().replace("+00:00", "+00:00") or case["dispatched_at"]
    due = case["due_at"]
    t = T0 + timedelta(hours=2)
    svc.transition(A["department"], code, "accepted", now=t)
    svc.transition(A["department"], code, "handled", now=t + timedelta(hours=1))
    back = svc.transition(A["operator"], code, "returned", note="未清理干净", now=t + timedelta(hours=2))
    assert back["state"] == "returned" and back["handled_at"] is None and back["due_at"] == due
    again = svc.transition(A["department"], code, "handled", now=t + timedelta(hours=3))
    assert again["due_at"] == due  # rework keeps the deadline
    svc.transition(A["operator"], code, "verified", now=t + timedelta(hours=4))
    closed = svc.transition(A["operator"], code, "closed", now=t + timedelta(hours=5))
    assert closed["closed_level"] == "district" and closed["closed_at"]
    done = svc.evaluate(A["operator"], code, "基本满意", comment="还行", now=t + timedelta(hours=6))
    assert (done["state"], done["evaluation"], done["evaluation_comment"]) == (
        "evaluated", "basically_satisfied", "还行")
    steps = [e["to_state"] for e in done["events"] if e["kind"] == "transition"]
    assert steps == ["reported", "escalated", "escalated", "escalated", "filed", "dispatched",
                     "accepted", "handled", "returned", "handled", "verified", "closed", "evaluated"]
    assert done["version"] == len(steps) - 1
    audit_rows = scalar(empty_db, "SELECT count(*) FROM audit_log WHERE target = %s", (code,))
    assert audit_rows == len(steps)


def test_deadline_is_dispatch_plus_limit(empty_db, A):
    for sev, hours in (("ordinary", 1), ("major", 24), ("complex", 24 * 7)):
        case = dispatched(A, severity=sev)
        assert scalar(empty_db, "SELECT due_at - dispatched_at FROM incidents WHERE code = %s",
                      (case["code"],)) == timedelta(hours=hours)


def test_illegal_steps_and_other_departments_are_refused(empty_db, A):
    case = dispatched(A)
    code = case["code"]
    before = counts(empty_db)
    version = case["version"]
    for who, to, rule in [
        ("department2", "accepted", "department.other"),   # dispatched to D1, not D2
        ("nodept", "accepted", "department.none"),
        ("operator", "accepted", "role"),
        ("department", "closed", "state"),                  # skipping the loop
        ("department", "deferred", "deferral.request"),     # goes through the request
        ("operator", "duplicate", "duplicate.merge"),
        ("operator", "evaluated", "evaluation.grade"),
    ]:
        with pytest.raises(svc.Refused) as err:
            svc.transition(A[who], code, to, now=T0)
        assert err.value.rule == rule, (who, to, err.value.user_msg)
    assert counts(empty_db) == before
    assert svc.show(A["admin"], code)["version"] == version


def test_local_levels_and_scope(empty_db, A):
    case = new_case(A)
    code = case["code"]
    with pytest.raises(svc.Denied) as err:  # the case is at grid level
        svc.transition(A["community_staff"], code, "resolved", now=T0)
    assert err.value.rule == "level"
    with pytest.raises(svc.NotFound):  # another grid's worker does not even see it
        svc.transition(A["grid_worker2"], code, "resolved", now=T0)
    done = svc.transition(A["grid_worker"], code, "resolved", note="已劝离", now=T0)
    assert (done["state"], done["closed_level"]) == ("resolved", "grid")


def test_routing_override_per_street_is_audited(empty_db, A):
    case = new_case(A)
    filed = to_district(A, case["code"])
    assert filed["proposed_department"] == "D1"
    with pytest.raises(svc.Denied):
        svc.set_route(A["operator"], category="C1", street="990100001", department="D2")
    svc.set_route(A["admin"], category="C1", street="990100001", department="D2")
    assert svc.proposed_department(A["operator"], case["code"])["code"] == "D2"
    with pytest.raises(svc.NotFound):  # a case outside the asker's scope is not there for them
        svc.proposed_department(A["grid_worker2"], case["code"])
    assert svc.proposed_department(A["operator"], svc.show(A["admin"], case["code"]))["via"] == "street"
    out = svc.transition(A["operator"], case["code"], "dispatched", now=T0)
    assert out["department"] == "D2"
    assert scalar(empty_db, "SELECT detail->>'after' FROM audit_log WHERE action = 'incident.route'"
                            " ORDER BY id DESC LIMIT 1") == "D2"
    svc.set_route(A["admin"], category="C1", street="990100001", department=None)
    assert svc.proposed_department(A["operator"], case["code"])["code"] == "D1"
    # a category without its own department inherits its parent's
    other = new_case(A, category="C2")
    assert svc.proposed_department(A["operator"], other["code"])["code"] == "D2"
    # the operator may name another department when dispatching
    to_district(A, other["code"])
    assert svc.transition(A["operator"], other["code"], "dispatched", department="D1",
                          now=T0)["department"] == "D1"


def test_deferral_request_decision_expiry_and_tick(empty_db, A):
    case = dispatched(A)  # ordinary: due T0 + 1 h
    code = case["code"]
    due0 = scalar(empty_db, "SELECT due_at FROM incidents WHERE code = %s", (code,))
    t_req = T0 + timedelta(minutes=10)
    with pytest.raises(svc.Denied):
        svc.request_deferral(A["department2"], code, reason="缺材料", until=T0 + timedelta(days=1),
                             now=t_req)
    svc.request_deferral(A["department"], code, reason="等待配件", until=T0 + timedelta(days=1),
                         now=t_req)
    with pytest.raises(svc.Refused, match="deferral.pending"):
        svc.request_deferral(A["department"], code, reason="again", until=T0 + timedelta(days=1),
                             now=t_req)
    with pytest.raises(svc.Denied):
        svc.decide_deferral(A["department"], code, approve=True, now=t_req)
    t_ok = T0 + timedelta(minutes=20)
    out = svc.decide_deferral(A["operator"], code, approve=True, now=t_ok)
    assert out["state"] == "deferred" and out["deferral"]["approved"] is True
    assert out["overdue"] is False
    # not yet expired: the tick leaves it; overdue is not counted while deferred
    svc.tick(T0 + timedelta(hours=5))
    assert svc.show(A["admin"], code)["state"] == "deferred"
    res = svc.tick(T0 + timedelta(days=2))
    assert res["deferrals_ended"] >= 1
    back = svc.show(A["admin"], code, now=T0 + timedelta(days=2))
    assert back["state"] == "dispatched"  # back to the state it was deferred from
    until = T0 + timedelta(days=1)
    due1 = scalar(empty_db, "SELECT due_at FROM incidents WHERE code = %s", (code,))
    assert due1 - due0 == until - t_ok  # time deferred extends the deadline
    again = svc.tick(T0 + timedelta(days=2))
    assert again == {**again, "overdue_marked": 0, "deferrals_ended": 0}
    # a rejected request changes nothing but leaves an event
    svc.request_deferral(A["department"], code, reason="再等等", until=T0 + timedelta(days=5),
                         now=T0 + timedelta(days=2))
    out = svc.decide_deferral(A["operator"], code, approve=False, note="不同意",
                              now=T0 + timedelta(days=2))
    assert out["state"] == "dispatched"
    assert out["events"][-1]["kind"] == "deferral_rejected"


def test_tick_marks_overdue_once(empty_db, A):
    case = dispatched(A)
    code = case["code"]
    first = svc.tick(T0 + timedelta(hours=3))
    assert first["overdue_marked"] >= 1
    n = scalar(empty_db, "SELECT count(*) FROM incident_events e JOIN incidents i ON i.id = e.incident_id"
                         " WHERE i.code = %s AND e.kind = 'overdue'", (code,))
    assert n == 1
    assert svc.tick(T0 + timedelta(hours=3))["overdue_marked"] == 0
    assert svc.tick(T0 + timedelta(hours=4))["overdue_marked"] == 0
    shown = svc.show(A["admin"], code, now=T0 + timedelta(hours=3))
    assert shown["overdue"] is True and shown["urgency"] == "overdue"


def test_urge_comment_photo_are_events_not_state_changes(empty_db, A):
    case = dispatched(A)
    code, version = case["code"], case["version"]
    out = svc.urge(A["leader"], code, "请尽快处理", now=T0)
    out = svc.comment(A["department"], code, "已安排人员", now=T0)
    out = svc.attach_photo(A["department"], code, PNG, note="现场", now=T0)
    kinds = [(e["kind"], e["from_state"], e["to_state"]) for e in out["events"][-3:]]
    assert kinds == [("urge", "dispatched", "dispatched"), ("comment", "dispatched", "dispatched"),
                     ("photo", "dispatched", "dispatched")]
    assert out["state"] == "dispatched" and out["version"] == version
    ctype, data = svc.photo(A["operator"], out["events"][-1]["photo_id"])
    assert (ctype, data) == ("image/png", PNG)
    with pytest.raises(svc.Denied):
        svc.urge(A["grid_worker"], code, "快点", now=T0)


def test_photos_are_checked(empty_db, A, monkeypatch):
    case = dispatched(A)
    before = counts(empty_db)
    with pytest.raises(svc.Refused, match="photo.type"):
        svc.attach_photo(A["department"], case["code"], b"GIF89a" + b"\x00" * 20, now=T0)
    with pytest.raises(svc.Refused, match="photo.type"):
        svc.attach_photo(A["department"], case["code"], PNG, content_type="image/jpeg", now=T0)
    with pytest.raises(svc.Refused, match="photo.empty"):
        svc.attach_photo(A["department"], case["code"], b"", now=T0)
    from geo.settings import get_settings

    monkeypatch.setenv("INCIDENT_PHOTO_MAX_BYTES", "1024")
    get_settings.cache_clear()
    try:
        with pytest.raises(svc.Refused, match="photo.size"):
            svc.attach_photo(A["department"], case["code"], JPEG + b"\x00" * 2000, now=T0)
        with pytest.raises(svc.Refused, match="photo.size"):
            new_case(A, photo=JPEG + b"\x00" * 2000)
    finally:
        monkeypatch.delenv("INCIDENT_PHOTO_MAX_BYTES")
        get_settings.cache_clear()
    assert counts(empty_db) == before
    ok = new_case(A, photo=JPEG)
    assert ok["events"][0]["photo_id"] is not None


def test_duplicates_within_and_beyond_50_m(empty_db, A):
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:  # a category of its own: no other test's cases nearby
        cur.execute("""INSERT INTO incident_categories (code, class, name, name_en, source)
                       VALUES ('C3', 'component', '路灯', 'Street light', 'synthetic')""")
    conn.close()
    base_pt = (116.0008, 40.0003)  # grid 001; 40 m east is in grid 002
    first = new_case(A, by="operator", pt=base_pt, category="C3")
    near = (base_pt[0] + 40 / M_PER_DEG_LON, base_pt[1])
    far = (base_pt[0] - 60 / M_PER_DEG_LON, base_pt[1])  # 100 m from `near`
    d_near = scalar(empty_db, "SELECT ST_Distance(ST_MakePoint(%s, %s)::geography,"
                              " ST_MakePoint(%s, %s)::geography)", (*base_pt, *near))
    assert 39 < d_near < 41
    cands = svc.duplicate_candidates(A["operator"], lon=near[0], lat=near[1], category="C3")
    assert [c["code"] for c in cands] == [first["code"]]
    assert 39 < cands[0]["distance_m"] < 41
    assert svc.duplicate_candidates(A["operator"], lon=far[0], lat=far[1], category="C3") == []
    assert first["code"] not in [c["code"] for c in svc.duplicate_candidates(
        A["operator"], lon=near[0], lat=near[1], category="C1")]  # another category
    # a new report nearby is stored, flagged, never swallowed
    second = new_case(A, by="operator", pt=near, category="C3")
    assert second["possible_duplicate_of"] == first["code"]
    assert [c["code"] for c in second["duplicate_candidates"]] == [first["code"]]
    assert second["events"][-1]["kind"] == "possible_duplicate"
    third = new_case(A, by="operator", pt=far, category="C3")
    assert third["possible_duplicate_of"] is None
    # attaching a report to the existing case instead: an event, no new case
    n = counts(empty_db)[0]
    att = svc.attach_report(A["grid_worker"], first["code"], note="又有人反映", now=T0)
    assert att["events"][-1]["kind"] == "duplicate_report" and counts(empty_db)[0] == n
    # the operator merges: the duplicate is closed, linked, out of the KPIs
    with pytest.raises(svc.Denied):
        svc.merge_duplicates(A["grid_worker"], first["code"], [second["code"]], now=T0)
    kept = svc.merge_duplicates(A["operator"], first["code"], [second["code"]], note="同一井盖",
                                now=T0 + timedelta(minutes=5))
    assert kept["events"][-1]["kind"] == "merged"
    dup = svc.show(A["admin"], second["code"])
    assert (dup["state"], dup["duplicate_of"], dup["closed_level"]) == ("duplicate", first["code"], "district")
    with pytest.raises(svc.Refused, match="duplicate.closed"):
        svc.merge_duplicates(A["operator"], first["code"], [second["code"]], now=T0)
    with pytest.raises(svc.Refused, match="duplicate.self"):
        svc.merge_duplicates(A["operator"], first["code"], [first["code"]], now=T0)


def test_two_connections_racing_on_one_case(empty_db, A):
    """Both saw version v; one accepts, the other tries to defer-decide... exactly one wins."""
    case = dispatched(A)
    code, version = case["code"], case["version"]
    # hold the row from a third connection so both service calls really wait on each other
    blocker = empty_db.connect()
    cur = blocker.cursor()
    cur.execute("SELECT id FROM incidents WHERE code = %s FOR UPDATE", (code,))
    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def act(name: str) -> None:
        start.wait()
        try:
            results[name] = svc.transition(A["department"], code, "accepted",
                                           expected_version=version, note=name, now=T0)
        except svc.Refused as exc:
            results[name] = exc

    threads = [threading.Thread(target=act, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    waiting = scalar(empty_db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND wait_event_type = 'Lock'")
    blocker.commit()
    blocker.close()
    for t in threads:
        t.join(timeout=30)
    assert waiting == 2  # both service transactions were blocked on the row at once
    wins = [r for r in results.values() if isinstance(r, dict)]
    losses = [r for r in results.values() if isinstance(r, svc.CaseChanged)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "changed under you" in losses[0].user_msg and "已被他人更新" in losses[0].user_msg
    final = svc.show(A["admin"], code)
    accepted = [e for e in final["events"] if e["to_state"] == "accepted" and e["kind"] == "transition"]
    assert len(accepted) == 1 and final["version"] == version + 1
