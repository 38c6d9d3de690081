"""Review figures per area against kpi() and against SQL written here, independently of the
page's queries, for every street, community and grid of the demo district."""

from __future__ import annotations

from datetime import date

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import SYSTEM, Principal
from geo.incidents.kpi import kpi
from geo.repository import review as rv
from geo.repository.scope import Scope

TABLE = {"street": "streets", "community": "communities", "grid": "grids"}
PERIOD = rv.period_of("range", "2026-09-01", "2026-12-31")


@pytest.fixture(scope="module")
def scope(demo_db):
    return Scope.of(SYSTEM)


@pytest.mark.parametrize("level", ["street", "community", "grid"])
def test_incident_figures_agree_with_kpi(demo_db, scope, level):
    figs = rv.incident_figures(scope, "990100", level, PERIOD)
    assert figs, "the demo holds incidents in the period"
    codes = sorted(figs)[:8] if level == "grid" else sorted(figs)
    for code in codes:
        k = kpi(SYSTEM, code, PERIOD.start, PERIOD.end)
        f = figs[code]
        for key in ("due", "deferred", "closed_on_time", "on_time_rate", "closed", "closure_rate",
                    "rework", "median_hours_to_close"):
            assert f[key] == k[key], (code, key)
        assert f["grid_share"] == k["closed_level"]["grid"], code


def test_figures_against_independent_sql(demo_db, scope):
    street = demo_db.scalar("SELECT min(code) FROM streets")
    community = demo_db.scalar("SELECT min(code) FROM communities WHERE left(code, 9) = %s", (street,))
    grid = demo_db.scalar("""SELECT min(g.code) FROM grids g JOIN grid_versions v ON v.id = g.version_id
                              AND v.is_current WHERE left(g.code, 12) = %s""", (community,))
    for code, level, parent in ((street, "street", "990100"), (community, "community", street),
                                (grid, "grid", community)):
        f = rv.figures(scope, parent, level, PERIOD)[code]
        hh = demo_db.scalar("""SELECT sum(g.households) FROM grids g JOIN grid_versions v
                                ON v.id = g.version_id AND v.is_current
                               WHERE g.code LIKE %s || '%%'""", (code,))
        assert f["households"] == hh
        reported = demo_db.scalar(
            f"""SELECT count(*) FROM incidents i JOIN {TABLE[level]} k ON k.id = i.{level}_id
                 WHERE k.code = %s AND i.duplicate_of IS NULL
                   AND i.reported_at >= '2026-09-01 00:00+08' AND i.reported_at < '2027-01-01 00:00+08'""",
            (code,))
        assert f["reported"] == reported
        assert f["incidents_per_1000"] == round(1000 * reported / hh, 2)
        uncovered = demo_db.scalar(
            """SELECT count(*) FROM buildings b JOIN grids g ON g.id = b.grid_id
                WHERE g.code LIKE %s || '%%' AND NOT EXISTS (
                  SELECT 1 FROM cameras c WHERE c.status = 'online'
                     AND ST_Distance(c.geom::geography, b.pt::geography) <= 300)""", (code,))
        assert f["uncovered_buildings"] == uncovered
        # cameras by the current grid they are assigned to (as the wall counts them)
        cams = demo_db.scalar(
            """SELECT count(*) FROM cameras c JOIN grids g ON g.id = c.grid_id
                JOIN grid_versions v ON v.id = g.version_id AND v.is_current
               WHERE c.status = 'online' AND g.code LIKE %s || '%%'""", (code,))
        assert f["cameras"] == cams


def test_periods_and_comparisons():
    p = rv.period_of("month", on=date(2026, 3, 31))
    assert (p.start, p.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (p.previous().start, p.previous().end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert (p.year_ago().start, p.year_ago().end) == (date(2025, 3, 1), date(2025, 3, 31))
    q = rv.period_of("quarter", on=date(2026, 5, 2))
    assert (q.start, q.end, q.previous().start) == (date(2026, 4, 1), date(2026, 6, 30), date(2026, 1, 1))
    w = rv.period_of("week", on=date(2026, 12, 6))  # a Sunday
    assert (w.start, w.end) == (date(2026, 11, 30), date(2026, 12, 6))
    with pytest.raises(rv.ReviewError):
        rv.period_of("range", "2026-02-01", "2026-01-01")
    with pytest.raises(rv.ReviewError):
        rv.period_of("decade")


def test_classes_rank_and_red_black():
    assert rv.breaks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5) == [2, 4, 6, 8]
    assert rv.classify(5, [2, 4, 6, 8]) == 2 and rv.classify(None, [1]) is None
    figs = {c: {"code": c, "on_time_rate": r, "due": d}
            for c, r, d in (("a", 0.9, 12), ("b", 0.5, 30), ("c", 1.0, 3), ("d", 0.7, 10))}
    assert rv.rank_of(figs, "b", "on_time_rate") == (4, 4)
    lists = rv.red_black(figs, n=2)
    assert [f["code"] for f in lists["red"]] == ["a", "d"]  # c has too few due cases
    assert [f["code"] for f in lists["black"]] == ["b", "d"]


def test_scope_is_enforced(demo_db):
    op = Scope.of(Principal("rv_street_op", "street_operator", "990100001"))
    with pytest.raises(PermissionDenied):
        rv.figures(op, "990100002", "community", PERIOD)
    assert set(rv.figures(op, None, "community", PERIOD)) == {
        c for c in rv.figures(Scope.of(SYSTEM), "990100001", "community", PERIOD)}
    with pytest.raises(PermissionDenied):
        rv.figures(Scope.of(Principal("rv_worker", "grid_worker", "990100001001001")), None, "grid", PERIOD)
