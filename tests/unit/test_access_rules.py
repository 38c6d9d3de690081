"""Scopes, the permission check and masking (pure, no database)."""

from __future__ import annotations

import pytest

from geo.access.permissions import PermissionDenied, check, page_action
from geo.access.privacy import mask_name, mask_phone
from geo.access.roles import WALL, Principal, scope_level


def test_scope_levels_follow_code_length():
    assert [scope_level(c) for c in ("990100", "990100001", "990100001001",
                                     "990100001001001")] == ["district", "street", "community", "grid"]
    with pytest.raises(ValueError):
        scope_level("99010")


def test_scope_covers_descendants_and_sees_ancestors():
    staff = Principal("s", "community_staff", "990100001001")
    assert staff.covers("990100001001003") and not staff.covers("990100001002001")
    assert staff.sees("990100001") and staff.sees("990100") and not staff.sees("990100002")


def test_unknown_actions_and_anonymous_are_refused():
    with pytest.raises(PermissionDenied, match="not registered"):
        check(Principal("a", "admin", None), "launch.missiles")
    with pytest.raises(PermissionDenied, match="sign in"):
        check(None, "view.command")
    with pytest.raises(PermissionDenied, match="read-only"):
        check(WALL, "incident.transition")
    check(WALL, "view.command")


def test_page_actions():
    assert page_action("/") == "view.command" and page_action("/plan/") == "view.plan"
    assert page_action("/nowhere") is None


def test_masking_depends_on_the_role():
    worker = Principal("w", "grid_worker", "990100001001001")
    operator = Principal("o", "operator", "990100")
    assert mask_phone("13912345678", worker) == "139****5678"
    assert mask_phone("13912345678", operator) == "13912345678"
    assert mask_phone("13912345678", WALL) == "139****5678"
    assert mask_name("张小明", worker) == "张**" and mask_name("张小明", operator) == "张小明"
