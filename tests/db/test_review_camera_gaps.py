"""Camera coverage kept by the database (migration 0014: ``camera_gaps``) and the review's
figures read in one pass (``view_figures``), against SQL written here on the demo district.

Every change that moves coverage is made as the product or an operator would (SQL on the
tables): a camera going offline and back, moved, added, removed, a heartbeat, a building
added and moved, a change of more than 1,000 cameras at once (the whole table refreshed).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from geo.access.roles import SYSTEM
from geo.repository import review as rv
from geo.repository.scope import Scope

PERIOD = rv.period_of("range", "2026-09-01", "2026-12-31")

# buildings with no online camera within 300 m, by a plain reading of the rule (no index box)
LIVE = """SELECT b.id FROM buildings b
           WHERE (%(box)s::geometry IS NULL OR ST_DWithin(b.pt::geography, %(box)s::geography, 700))
             AND NOT EXISTS (SELECT 1 FROM cameras c WHERE c.status = 'online'
                               AND c.geom && ST_Expand(b.pt, 0.01)  -- about 1 km: generous
                               AND ST_Distance(c.geom::geography, b.pt::geography) <= 300)"""
KEPT = """SELECT x.building_id FROM camera_gaps x JOIN buildings b ON b.id = x.building_id
           WHERE %(box)s::geometry IS NULL OR ST_DWithin(b.pt::geography, %(box)s::geography, 700)"""


@pytest.fixture(scope="module")
def admin(demo_db):
    conn = demo_db.connect(admin=True)
    conn.autocommit = True
    yield conn
    conn.close()


def _ids(conn, query: str, near=None) -> set[int]:
    with conn.cursor() as cur:
        cur.execute(query, {"box": near})
        return {r[0] for r in cur.fetchall()}


def _same_near(conn, point_wkt: str) -> set[int]:
    """The kept gaps and the plain rule agree within 700 m of the point; returns the gaps."""
    kept, live = _ids(conn, KEPT, f"SRID=4326;{point_wkt}"), _ids(conn, LIVE, f"SRID=4326;{point_wkt}")
    assert kept == live, (sorted(kept - live)[:10], sorted(live - kept)[:10])
    return kept


def _one(conn, query: str, params=()):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchone()


def test_the_migration_filled_the_gaps(admin):
    kept, live = _ids(admin, KEPT), _ids(admin, LIVE)
    assert live, "the demo has buildings far from any online camera"
    assert kept == live


def test_camera_status_position_and_rows_keep_the_gaps(admin):
    # a camera that alone covers some building: going offline opens a gap there
    cam_id, wkt = _one(admin, """
        SELECT c.id, ST_AsText(c.geom) FROM cameras c JOIN buildings b
            ON ST_DWithin(c.geom::geography, b.pt::geography, 300)
         WHERE c.status = 'online' AND NOT EXISTS (
               SELECT 1 FROM cameras o WHERE o.status = 'online' AND o.id <> c.id
                  AND ST_DWithin(o.geom::geography, b.pt::geography, 300))
         ORDER BY c.id LIMIT 1""")
    before = _same_near(admin, wkt)
    with admin.cursor() as cur:
        cur.execute("UPDATE cameras SET status = 'offline' WHERE id = %s", (cam_id,))
    offline = _same_near(admin, wkt)
    assert offline > before
    with admin.cursor() as cur:  # a heartbeat changes no position: nothing to do, still right
        cur.execute("UPDATE cameras SET last_heartbeat = now() WHERE id = %s", (cam_id,))
        cur.execute("UPDATE cameras SET status = 'online' WHERE id = %s", (cam_id,))
    assert _same_near(admin, wkt) == before
    # moved 2 km east: its old neighbourhood opens, the new one closes
    with admin.cursor() as cur:
        cur.execute("UPDATE cameras SET geom = ST_Translate(geom, 0.024, 0) WHERE id = %s", (cam_id,))
        new_wkt = _one(admin, "SELECT ST_AsText(geom) FROM cameras WHERE id = %s", (cam_id,))[0]
    assert _same_near(admin, wkt) == offline
    _same_near(admin, new_wkt)
    with admin.cursor() as cur:
        cur.execute("UPDATE cameras SET geom = ST_Translate(geom, -0.024, 0) WHERE id = %s", (cam_id,))
    assert _same_near(admin, wkt) == before
    # deleted, then added again at the same place
    row = _one(admin, "SELECT code, type, district_id, grid_id, geom, source FROM cameras WHERE id = %s",
               (cam_id,))
    with admin.cursor() as cur:
        cur.execute("DELETE FROM cameras WHERE id = %s", (cam_id,))
    assert _same_near(admin, wkt) == offline
    with admin.cursor() as cur:
        cur.execute("""INSERT INTO cameras (code, type, status, district_id, grid_id, geom, source)
                       VALUES (%s, %s, 'online', %s, %s, %s, %s)""", row)
    assert _same_near(admin, wkt) == before


def test_buildings_added_and_moved_keep_the_gaps(admin):
    # a copy of a covered building: covered; moved 5 km north (no camera there): a gap
    bid, wkt = _one(admin, """SELECT b.id, ST_AsText(b.pt) FROM buildings b
                               WHERE NOT EXISTS (SELECT 1 FROM camera_gaps x WHERE x.building_id = b.id)
                               ORDER BY b.id LIMIT 1""")
    new = _one(admin, """INSERT INTO buildings (code, households, community_id, grid_id, geom, pt, source)
                         SELECT code || '-T', households, community_id, grid_id, geom, pt, 'synthetic'
                           FROM buildings WHERE id = %s RETURNING id""", (bid,))[0]
    assert new not in _same_near(admin, wkt)
    with admin.cursor() as cur:
        cur.execute("""UPDATE buildings SET pt = ST_Translate(pt, 0, 0.045),
                              geom = ST_Translate(geom, 0, 0.045) WHERE id = %s""", (new,))
    far = _one(admin, "SELECT ST_AsText(pt) FROM buildings WHERE id = %s", (new,))[0]
    assert new in _same_near(admin, far)
    with admin.cursor() as cur:
        cur.execute("DELETE FROM buildings WHERE id = %s", (new,))
    assert _one(admin, "SELECT count(*) FROM camera_gaps WHERE building_id = %s", (new,))[0] == 0


def test_a_building_moved_and_back_and_a_grid_change_keep_the_gaps(admin):
    """Migration 0018: a moved point is rechecked row by row (also in a statement that moves
    one building and not another); an update that leaves the points (a grid version's
    commit sets grid_id) runs no camera-gap function at all."""
    bid, wkt = _one(admin, """SELECT b.id, ST_AsText(b.pt) FROM buildings b
                               WHERE NOT EXISTS (SELECT 1 FROM camera_gaps x WHERE x.building_id = b.id)
                               ORDER BY b.id LIMIT 1""")
    other = _one(admin, "SELECT id FROM buildings WHERE id > %s ORDER BY id LIMIT 1", (bid,))[0]
    with admin.cursor() as cur:
        cur.execute("""UPDATE buildings SET pt = CASE WHEN id = %s THEN ST_Translate(pt, 0, 0.045) ELSE pt END
                        WHERE id IN (%s, %s)""", (bid, bid, other))
    far = _one(admin, "SELECT ST_AsText(pt) FROM buildings WHERE id = %s", (bid,))[0]
    assert bid in _same_near(admin, far)
    with admin.cursor() as cur:
        cur.execute("UPDATE buildings SET pt = ST_Translate(pt, 0, -0.045) WHERE id = %s", (bid,))
    assert bid not in _same_near(admin, wkt)
    assert _one(admin, "SELECT ST_AsText(pt) FROM buildings WHERE id = %s", (bid,))[0] == wkt
    gap = _one(admin, "SELECT building_id FROM camera_gaps ORDER BY building_id LIMIT 1")[0]
    with admin.cursor() as cur:
        cur.execute("SET track_functions = 'pl'")
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("""SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions
                        WHERE funcname LIKE 'camera_gap%%'""")
        calls = cur.fetchone()[0]
        cur.execute("UPDATE buildings SET grid_id = grid_id WHERE community_id = "
                    "(SELECT community_id FROM buildings WHERE id = %s)", (gap,))
        assert cur.rowcount > 1
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("""SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions
                        WHERE funcname LIKE 'camera_gap%%'""")
        assert cur.fetchone()[0] == calls
        cur.execute("RESET track_functions")
    assert _one(admin, "SELECT count(*) FROM camera_gaps WHERE building_id = %s", (gap,))[0] == 1


def test_a_large_change_refreshes_the_whole_table(admin):
    n = _one(admin, "SELECT count(*) FROM cameras WHERE status = 'online'")[0]
    assert n > 1000, "the demo has more online cameras than the incremental limit"
    with admin.cursor() as cur:
        cur.execute("CREATE TEMP TABLE was_online AS SELECT id FROM cameras WHERE status = 'online'")
        cur.execute("UPDATE cameras SET status = 'offline' WHERE id IN (SELECT id FROM was_online)")
    assert _ids(admin, KEPT) == _ids(admin, "SELECT id FROM buildings")
    with admin.cursor() as cur:
        cur.execute("UPDATE cameras SET status = 'online' WHERE id IN (SELECT id FROM was_online)")
    assert _ids(admin, KEPT) == _ids(admin, LIVE)


def test_view_figures_equal_the_separate_reads(demo_db):
    """Asset figures added up from communities are the ones read per level."""
    scope = Scope.of(SYSTEM)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    street = demo_db.scalar("SELECT min(code) FROM streets")
    community = demo_db.scalar("SELECT min(code) FROM communities WHERE code LIKE %s || '%%'", (street,))
    for a, lv in (("990100", "street"), ("990100", "community"), (street, "community"), (street, "grid"),
                  (community, "grid")):
        v = rv.view_figures(scope, a, lv, PERIOD, now=now)
        assert v["figs"] == rv.figures(scope, a, lv, PERIOD, now=now), (a, lv)
        assert v["key"] == rv.area_figures(scope, a, PERIOD, now=now), (a, lv)
        if len(a) == 6:
            assert v["streets"] == rv.figures(scope, a, "street", PERIOD, now=now)
        if len(a) <= 9:
            assert v["communities"] == rv.figures(scope, a, "community", PERIOD, now=now)


def test_ranking_figures_are_the_views(demo_db):
    """The rankings read on their own (the page loads them after the map) are the ones the
    one-pass read gives, for a district and a street; a community has none."""
    scope = Scope.of(SYSTEM)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    street = demo_db.scalar("SELECT min(code) FROM streets")
    community = demo_db.scalar("SELECT min(code) FROM communities WHERE code LIKE %s || '%%'", (street,))
    for a, lv in (("990100", "street"), (street, "community")):
        v = rv.view_figures(scope, a, lv, PERIOD, now=now)
        r = rv.ranking_figures(scope, a, PERIOD, now=now)
        assert r["streets"] == v["streets"] and r["communities"] == v["communities"], a
        assert r["communities"] and bool(r["streets"]) == (a == "990100")
    assert rv.ranking_figures(scope, community, PERIOD, now=now) == {
        "area": community, "streets": {}, "communities": {}}


def test_another_distance_is_counted_on_the_spot(demo_db):
    scope = Scope.of(SYSTEM)
    community = demo_db.scalar("SELECT min(code) FROM communities")
    f = rv.asset_figures(scope, community, "community", distance_m=150)[community]
    want = demo_db.scalar(
        """SELECT count(*) FROM buildings b JOIN grids g ON g.id = b.grid_id
             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
            WHERE g.code LIKE %s || '%%' AND NOT EXISTS (
                  SELECT 1 FROM cameras c WHERE c.status = 'online'
                     AND ST_Distance(c.geom::geography, b.pt::geography) <= 150)""", (community,))
    assert f["uncovered"] == want
    assert f["uncovered"] >= rv.asset_figures(scope, community, "community")[community]["uncovered"]
