"""吹哨报到 in a department's lists: a department summoned by a whistle finds the case in its
list and in its inbox (待办) until it reports in; a department not summoned does not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from geo.incidents import desk, listing, whistles
from geo.incidents import service as svc
from geo.incidents.listing import CaseFilter
from tests.db.incident_fixtures import P1, T0, seed_incident_world


@pytest.fixture(scope="module")
def A(empty_db):
    return seed_incident_world(empty_db, prefix="s")


def codes(actor, flt):
    return {r["code"] for r in listing.list_cases(actor, flt, now=T0 + timedelta(hours=1))["rows"]}


def listed(actor):
    return codes(actor, desk.scoped_filter(actor, CaseFilter()))


def inbox(actor):
    return codes(actor, desk.inbox_filter(actor, desk.scoped_filter(actor, CaseFilter())))


def test_a_summoned_department_sees_the_case_until_it_reports_in(empty_db, A):
    d1, d2 = A["department"], A["department2"]
    # C2 routes to D2; D1 has nothing to do with this case until a whistle calls it
    case = svc.report(A["grid_worker"], lon=P1[0], lat=P1[1], category="C2", severity="major",
                      title="井盖缺失", now=T0)
    code = case["code"]
    # its own case: D1's dispatched case is in its list and inbox
    own = svc.report(A["grid_worker"], lon=P1[0], lat=P1[1], category="C1", severity="ordinary",
                     title="占道经营", now=T0)["code"]
    for who in ("grid_worker", "community_staff", "street_operator"):
        svc.transition(A[who], own, "escalated", now=T0)
    svc.transition(A["operator"], own, "filed", now=T0)
    svc.transition(A["operator"], own, "dispatched", now=T0)
    assert own in listed(d1) and own in inbox(d1) and own not in listed(d2)
    assert code not in listed(d1) and code not in inbox(d1)

    whistles.blow(A["street_operator"], code, "quick", ["D1"], now=T0 + timedelta(minutes=5))
    assert code in listed(d1) and code in inbox(d1)
    assert code not in listed(d2) and code not in inbox(d2)  # D2 was not summoned
    # the state filter still narrows D1's own cases in its inbox; the summons stays
    assert own in inbox(d1) and code in inbox(d1)

    whistles.report_in(d1, code, note="已到场", now=T0 + timedelta(minutes=20))
    assert code in listed(d1)       # still its business: in the list
    assert code not in inbox(d1)    # nothing left to do: out of the inbox
    assert own in inbox(d1)


def test_the_summons_filter_needs_a_department_and_a_known_mode(empty_db, A):
    with pytest.raises(svc.Refused):
        listing.list_cases(A["operator"], CaseFilter(summoned="any"))
    with pytest.raises(svc.Refused):
        listing.list_cases(A["operator"], CaseFilter(department="D1", summoned="all"))
