"""The street rebalance's communities (``layouts.plan_street.street_communities``) on the
demo district: a street inside the planner's scope lists its communities in code order; a
street outside the scope, or a value that is not a street code, is refused with a message."""

from __future__ import annotations

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from layouts.plan_street import street_communities


def test_a_street_in_scope_lists_its_communities(demo_db):
    want = demo_db.scalar("SELECT array_agg(code ORDER BY code) FROM communities WHERE left(code, 9) = '990100004'")
    street, rows = street_communities(Principal("p", "planner", "990100"), "990100004")
    assert street == "990100004" and [r["code"] for r in rows] == want and len(want) >= 2


def test_a_street_planner_sees_only_their_street(demo_db):
    who = Principal("p", "planner", "990100005")
    assert all(r["code"].startswith("990100005") for r in street_communities(who, "990100005")[1])
    with pytest.raises(PermissionDenied):
        street_communities(who, "990100004")


@pytest.mark.parametrize("bad", [None, "", "99010000", "9901000041", "99010000x", ["990100004"]])
def test_not_a_street_code_is_refused(demo_db, bad):
    with pytest.raises(GridAtlasError):
        street_communities(Principal("p", "planner", "990100"), bad)
