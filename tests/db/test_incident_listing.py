"""The incident list: the scope first, then filters, pages and the capped total."""

from __future__ import annotations

from datetime import timedelta

import pytest

from geo.incidents import listing, service
from tests.db.incident_fixtures import P1, P_GRID2, T0, seed_incident_world


@pytest.fixture(scope="module")
def world(empty_db):
    actors = seed_incident_world(empty_db, "l")
    op = actors["operator"]
    made = []
    for i, (pt, cat) in enumerate([(P1, "C1"), (P1, "C2"), (P_GRID2, "C1"), (P_GRID2, "C2")]):
        case = service.report(op, lon=pt[0], lat=pt[1], category=cat, severity="ordinary",
                              title=f"列表 {i} 井盖" if cat == "C2" else f"列表 {i}",
                              level="district", now=T0 + timedelta(minutes=i))
        made.append(case["code"])
    service.transition(op, made[0], "filed", now=T0 + timedelta(minutes=5))
    service.transition(op, made[0], "dispatched", now=T0 + timedelta(minutes=6))  # due at T0+66m
    return actors, made


def _codes(actor, **kw):
    return [r["code"] for r in listing.list_cases(actor, listing.CaseFilter(**kw),
                                                  now=T0 + timedelta(hours=3))["rows"]]


def test_scope_comes_first(world):
    actors, made = world
    assert _codes(actors["operator"]) == made[::-1]
    assert _codes(actors["grid_worker"]) == [made[1], made[0]]  # grid 001 only
    assert _codes(actors["grid_worker2"], category="C1") == [made[2]]
    with pytest.raises(service.Denied):
        _codes(actors["grid_worker"], grid="990100001001002")


def test_filters_sort_and_pages(world):
    actors, made = world
    op = actors["operator"]
    assert _codes(op, category="P2") == [made[3], made[1]]  # a parent includes its children
    assert _codes(op, grid="990100001001002") == [made[3], made[2]]
    assert _codes(op, department="D1", states=["dispatched"]) == [made[0]]
    assert _codes(op, overdue=True) == [made[0]]
    assert _codes(op, text="井盖") == [made[3], made[1]]
    assert _codes(op, text="%") == []  # a wildcard is a character
    assert _codes(op, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == made[1:3][::-1]
    assert _codes(op, sort="reported_asc", page=2, page_size=3) == [made[3]]
    out = listing.list_cases(op, listing.CaseFilter(page_size=1))
    assert out["total"] == 4 and not out["total_capped"] and len(out["rows"]) == 1
    assert "reporter_phone" not in out["rows"][0] and "reporter_name" not in out["rows"][0]


@pytest.mark.parametrize("kw", [{"states": ["nope"]}, {"sort": "random()"}, {"page": 0},
                                {"page_size": 201}, {"category": "NOPE"}, {"street": "990100999"},
                                {"department": "NOPE"}])
def test_bad_filters_are_refused(world, kw):
    with pytest.raises(service.Refused):
        _codes(world[0]["operator"], **kw)


def test_roles_without_the_view_are_refused(world):
    with pytest.raises(service.Denied):
        _codes(world[0]["planner"])
