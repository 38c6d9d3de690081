"""The wall's tick (geo.repository.wall.tick): walls of the same scope and filter share one
read for WALL_CACHE_SECONDS; another scope, filter or level is read apart and gets only its
own figures; with 0 every refresh reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from geo.access.roles import Principal
from geo.repository import wall
from geo.repository.scope import Scope
from geo.settings import get_settings

A, B = "990100001", "990100002"  # two streets of the demo


@pytest.fixture()
def cache(monkeypatch, demo_db):
    def set_seconds(value: str) -> None:
        monkeypatch.setenv("WALL_CACHE_SECONDS", value)
        get_settings.cache_clear()
    set_seconds("30")
    yield set_seconds
    monkeypatch.undo()
    get_settings.cache_clear()


def streets(got) -> set[str]:
    return {r["code"] for r in got["by_street"]}


def test_walls_of_one_scope_share_a_read_and_other_scopes_never_do(cache):
    now = datetime.now(UTC)
    op_a, op_a2 = Principal("t:a1", "operator", A), Principal("t:a2", "street_operator", A)
    first = wall.tick(Scope.of(op_a), wall.ANY, None, 12, now)
    memo = wall._memo()
    n = memo.computed
    again = wall.tick(Scope.of(op_a2), wall.ANY, None, 12, now)  # another wall of street A
    assert again is first and memo.computed == n
    assert streets(first) == {A}
    other = wall.tick(Scope.of(Principal("t:b", "operator", B)), wall.ANY, None, 12, now)
    assert memo.computed == n + 1 and streets(other) == {B}
    assert other["kpis"] != first["kpis"] or other["cameras"] != first["cameras"]
    # a filter, a level or the density layer is a read of its own
    wall.tick(Scope.of(op_a), wall.IncidentFilter(severity="major"), None, 12, now)
    wall.tick(Scope.of(op_a), wall.ANY, None, 14, now)
    wall.tick(Scope.of(op_a), wall.ANY, None, 12, now, density=True)
    assert memo.computed == n + 4
    # the whole district (an operator without narrowing) sees every street
    whole = wall.tick(Scope.of(Principal("t:d", "operator", "990100")), wall.ANY, None, 12, now)
    assert {A, B} <= streets(whole)


def test_zero_reads_every_time(cache):
    cache("0")
    now = datetime.now(UTC)
    scope = Scope.of(Principal("t:a", "operator", A))
    wall.tick(scope, wall.ANY, None, 12, now)
    n = wall._memo().computed
    wall.tick(scope, wall.ANY, None, 12, now)
    assert wall._memo().computed == n + 1
