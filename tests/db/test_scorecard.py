"""The department scorecard against hand counts: whistles answered on time, the median minutes
to report, deadlines met, rework and satisfaction, the ranking, scope and the CLI contract."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from geo.incidents import scorecard, whistles
from geo.incidents import service as svc
from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, T0, seed_incident_world

DAY = "2026-03-02"  # T0's local date (09:00 in Asia/Shanghai)
KEYS = {"department", "whistles", "reported_on_time", "median_minutes_to_report", "due",
        "on_time_rate", "rework", "satisfaction"}


def m(minutes):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def A(empty_db):
    A = seed_incident_world(empty_db, prefix="s")
    op, st = A["operator"], A["street_operator"]

    def dispatched(category):
        code = svc.report(op, lon=P1[0], lat=P1[1], category=category, severity="ordinary",
                          title="案件", level="district", now=T0)["code"]
        svc.transition(op, code, "filed", now=T0)
        svc.transition(op, code, "dispatched", now=T0)  # due at T0 + 1 h
        return code

    c1, c2, c3 = dispatched("C1"), dispatched("C1"), dispatched("C2")  # D1, D1, D2
    # whistles: c1 emergency D1+D2 (D1 at 10 min: on time; D2 at 40: late), c2 tough D1
    # (never answered), c3 quick D2 (at 60 min: on time)
    whistles.blow(st, c1, "emergency", "D1,D2", now=T0)
    whistles.blow(st, c2, "tough", "D1", now=T0)
    whistles.blow(A["community_staff"], c3, "quick", "D2", now=T0)
    whistles.report_in(A["department"], c1, now=m(10))
    whistles.report_in(A["department2"], c1, now=m(40))
    whistles.report_in(A["department2"], c3, now=m(60))
    # c1 handled in time and 满意; c2 late, returned once, 不满意; c3 in time, 基本满意
    for code, dep, handled in ((c1, "department", 30), (c2, "department", 120), (c3, "department2", 20)):
        svc.transition(A[dep], code, "accepted", now=m(5))
        svc.transition(A[dep], code, "handled", now=m(handled))
    svc.transition(op, c2, "returned", now=m(130))
    svc.transition(A["department"], c2, "handled", now=m(150))
    for code, grade in ((c1, "满意"), (c2, "不满意"), (c3, "基本满意")):
        svc.transition(op, code, "verified", now=m(200))
        svc.transition(op, code, "closed", now=m(210))
        svc.evaluate(op, code, grade, now=m(220))
    return A


def test_the_scorecard_against_hand_counts(empty_db, A):
    from datetime import date

    rows = scorecard.scorecard(A["leader"], "990100", date(2026, 3, 2), date(2026, 3, 2))
    got = {r["department"]: r for r in rows}
    assert set(got) == {"D1", "D2"}
    d1, d2 = got["D1"], got["D2"]
    assert (d1["whistles"], d1["reported"], d1["reported_on_time"], d1["median_minutes_to_report"]) \
        == (2, 1, 1, 10.0)
    assert (d2["whistles"], d2["reported"], d2["reported_on_time"], d2["median_minutes_to_report"]) \
        == (2, 2, 1, 50.0)
    assert (d1["due"], d1["handled_on_time"], d1["on_time_rate"], d1["rework"]) == (2, 1, 0.5, 1)
    assert (d2["due"], d2["handled_on_time"], d2["on_time_rate"], d2["rework"]) == (1, 1, 1.0, 0)
    # satisfaction: the share graded 满意 or 基本满意
    assert (d1["evaluated"], d1["satisfaction"]) == (2, 0.5)
    assert (d2["evaluated"], d2["satisfaction"]) == (1, 1.0)
    assert [(r["rank"], r["department"]) for r in rows] == [(1, "D2"), (2, "D1")]
    assert (d1["reported_on_time_rate"], d2["reported_on_time_rate"]) == (0.5, 0.5)


def test_period_and_scope(empty_db, A):
    from datetime import date

    assert scorecard.scorecard(A["leader"], "990100", date(2026, 3, 3), date(2026, 3, 9)) == []
    street = scorecard.scorecard(A["street_operator"], "990100001", date(2026, 3, 2), date(2026, 3, 2))
    assert [r["department"] for r in street] == ["D2", "D1"]
    with pytest.raises(svc.Denied):  # the street operator reads their own street only
        scorecard.scorecard(A["street_operator"], "990100", date(2026, 3, 2), date(2026, 3, 2))
    with pytest.raises(svc.Denied):
        scorecard.scorecard(A["department"], "990100", date(2026, 3, 2), date(2026, 3, 2))
    with pytest.raises(svc.Refused):
        scorecard.scorecard(A["leader"], "990100", date(2026, 3, 5), date(2026, 3, 2))


def test_cli_scorecard_contract(empty_db, A):
    proc = run_cli("departments", "scorecard", "--scope", "990100", "--from", DAY, "--to", DAY,
                   "--json", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["department"] for r in rows] == ["D2", "D1"]
    assert all(KEYS <= set(r) for r in rows)
    table = run_cli("departments", "scorecard", "--scope", "990100", "--from", DAY, "--to", DAY,
                    url=empty_db.url)
    assert table.returncode == 0 and "D1" in table.stdout


def test_a_case_marked_evaluated_without_a_grade_is_not_a_dissatisfied_one(empty_db, A):
    """Imported histories may mark a case evaluated with no grade: it says nothing of
    satisfaction (counted, it showed 0% satisfaction for every department of the demo)."""
    from datetime import date

    conn = empty_db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""UPDATE incidents SET evaluation = NULL WHERE evaluation = 'satisfied'
                           RETURNING id""")
            ungraded = [r[0] for r in cur.fetchall()]
        rows = {r["department"]: r for r in
                scorecard.scorecard(A["leader"], "990100", date(2026, 3, 2), date(2026, 3, 2))}
        assert len(ungraded) == 1
        assert (rows["D1"]["evaluated"], rows["D1"]["satisfaction"]) == (1, 0.0)  # c2 不满意 only
        assert (rows["D2"]["evaluated"], rows["D2"]["satisfaction"]) == (1, 1.0)
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE incidents SET evaluation = 'satisfied' WHERE id = ANY(%s)", (ungraded,))
        conn.close()
