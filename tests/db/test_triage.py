"""三事分流 on PostGIS: the triage proposed by the category (or its parent), set at the report
or at filing, a self case never dispatched (refused, nothing written), resolved in the
community, and the KPIs split by triage against hand counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from geo.incidents import kpi
from geo.incidents import service as svc
from geo.incidents import triage as tri
from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, T0, counts, scalar, seed_incident_world


@pytest.fixture(scope="module")
def A(empty_db):
    actors = seed_incident_world(empty_db, prefix="t")
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:  # C2 inherits 'self' from its parent P2; C1 proposes none
        cur.execute("UPDATE incident_categories SET triage = 'self' WHERE code = 'P2'")
    conn.close()
    return actors


def new_case(A, category="C1", at=T0, **kw):
    return svc.report(A["grid_worker"], lon=P1[0], lat=P1[1], category=category,
                      severity="ordinary", title="楼道堆物", now=at, **kw)


def to_filed(A, code, at=T0, **kw):
    svc.transition(A["grid_worker"], code, "escalated", now=at)
    svc.transition(A["community_staff"], code, "escalated", now=at)
    svc.transition(A["street_operator"], code, "escalated", now=at)
    return svc.transition(A["operator"], code, "filed", now=at, **kw)


def test_the_category_proposes_and_the_reporter_may_name_another(empty_db, A):
    assert new_case(A, "C1")["triage"] == "public"  # no proposal anywhere: public
    assert new_case(A, "C2")["triage"] == "self"  # inherited from the parent category
    assert new_case(A, "C2", triage="shared")["triage"] == "shared"
    with pytest.raises(svc.Refused) as err:
        new_case(A, "C1", triage="private")
    assert err.value.rule == "triage"


def test_a_self_case_is_never_dispatched(empty_db, A):
    code = new_case(A, "C2")["code"]
    filed = to_filed(A, code)
    assert (filed["state"], filed["triage"]) == ("filed", "self")
    before = counts(empty_db)
    with pytest.raises(svc.Refused) as err:
        svc.transition(A["operator"], code, "dispatched", now=T0)
    assert err.value.rule == "triage.self" and "自我事务" in err.value.user_msg
    assert counts(empty_db) == before
    # only the filing desk changes it, only while filed
    with pytest.raises(svc.Denied):
        tri.set_triage(A["street_operator"], code, "public", now=T0)
    public = tri.set_triage(A["operator"], code, "public", note="涉及公共设施", now=T0)
    assert public["triage"] == "public" and public["version"] == filed["version"] + 1
    ev = [e for e in public["events"] if e["kind"] == "triage"]
    assert [e["detail"] for e in ev] == [{"before": "self", "after": "public"}]
    assert scalar(empty_db, "SELECT count(*) FROM audit_log WHERE action = 'incident.triage'"
                            " AND target = %s", (code,)) == 1
    assert svc.transition(A["operator"], code, "dispatched", now=T0)["state"] == "dispatched"
    with pytest.raises(svc.Refused) as err:
        tri.set_triage(A["operator"], code, "self", now=T0)
    assert err.value.rule == "triage.state"


def test_the_triage_is_set_at_filing(empty_db, A):
    code = new_case(A, "C1")["code"]
    with pytest.raises(svc.Refused) as err:  # only when filing
        svc.transition(A["grid_worker"], code, "escalated", triage="self", now=T0)
    assert err.value.rule == "triage.state"
    filed = to_filed(A, code, triage="self")
    assert filed["triage"] == "self"
    step = [e for e in filed["events"] if e["to_state"] == "filed"][0]
    assert step["detail"]["triage"] == {"before": "public", "after": "self"}
    with pytest.raises(svc.Refused) as err:
        svc.transition(A["operator"], code, "dispatched", now=T0)
    assert err.value.rule == "triage.self"


def test_kpis_split_by_triage(empty_db, A):
    # a fresh day: hand counts. Two public cases dispatched (one handled in time, one late),
    # one shared case dispatched and handled in time, two self cases resolved in the community.
    day = T0 + timedelta(days=10)
    d = day.astimezone(svc.zoneinfo.ZoneInfo("Asia/Shanghai")).date()
    pub = [new_case(A, "C1", at=day)["code"] for _ in range(2)]
    shared = new_case(A, "C1", at=day, triage="shared")["code"]
    selfs = [new_case(A, "C2", at=day)["code"] for _ in range(2)]
    for code, late in ((pub[0], False), (pub[1], True), (shared, False)):
        to_filed(A, code, at=day)
        svc.transition(A["operator"], code, "dispatched", now=day)
        svc.transition(A["department"], code, "accepted", now=day + timedelta(minutes=10))
        svc.transition(A["department"], code, "handled",
                       now=day + timedelta(minutes=90 if late else 30))
    for code in selfs:
        svc.transition(A["grid_worker"], code, "escalated", now=day)
        svc.transition(A["community_staff"], code, "resolved", note="与居民协商解决",
                       now=day + timedelta(hours=1))
    by = tri.kpi_by_triage(A["admin"], "990100", d, d, now=day + timedelta(hours=3))
    got = {t: (k["due"], k["closed_on_time"], k["on_time_rate"], k["closed"]) for t, k in by.items()}
    assert got == {"public": (2, 1, 0.5, 0), "shared": (1, 1, 1.0, 0), "self": (0, 0, None, 2)}
    assert by["self"]["closed_level"]["community"] == 1.0
    total = kpi.kpi(A["admin"], "990100", d, d, now=day + timedelta(hours=3))
    assert total["due"] == 3 and total["closed"] == 2 and "triage" not in total
    with pytest.raises(svc.Refused):
        kpi.kpi(A["admin"], "990100", d, d, triage="mine")
    proc = run_cli("incidents", "kpi", "--scope", "990100", "--from", d.isoformat(), "--to",
                   d.isoformat(), "--json", "--triage", "public", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["due"] == 2
