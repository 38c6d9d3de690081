"""The schema on a real PostGIS: migrations, constraints, coverage rule, audit log."""

from __future__ import annotations

import json

import psycopg2
import pytest

from geo import db
from tests.conftest import run_cli

# A tiny hand-drawn place hierarchy (near Beijing, so numbers are easy to check).
COMMUNITY = "POLYGON((116.0 40.0, 116.002 40.0, 116.002 40.001, 116.0 40.001, 116.0 40.0))"
WEST = "POLYGON((116.0 40.0, 116.001 40.0, 116.001 40.001, 116.0 40.001, 116.0 40.0))"
EAST = "POLYGON((116.001 40.0, 116.002 40.0, 116.002 40.001, 116.001 40.001, 116.001 40.0))"
EAST_OVERLAP = "POLYGON((116.0009 40.0, 116.002 40.0, 116.002 40.001, 116.0009 40.001, 116.0009 40.0))"
EAST_SHORT = "POLYGON((116.001 40.0, 116.0019 40.0, 116.0019 40.001, 116.001 40.001, 116.001 40.0))"
OUTSIDE = "POLYGON((116.001 40.0, 116.0025 40.0, 116.0025 40.001, 116.001 40.001, 116.001 40.0))"


@pytest.fixture(scope="module")
def place(empty_db):
    """district 990100 > street 990100001 > community 990100001001."""
    with empty_db.connect() as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO districts (code, name, geom, source)
               VALUES ('990100', '测试区', ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')
               RETURNING id""", (COMMUNITY,))
        district = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO streets (district_id, code, name, geom, source)
               VALUES (%s, '990100001', '测试街道', ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')
               RETURNING id""", (district, COMMUNITY))
        street = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO communities (street_id, district_id, code, name, geom, source)
               VALUES (%s, %s, '990100001001', '测试社区', ST_Multi(ST_GeomFromText(%s, 4326)),
                       'synthetic') RETURNING id""", (street, district, COMMUNITY))
        community = cur.fetchone()[0]
    conn.close()
    return {"district": district, "street": street, "community": community}


def _write_version(tdb, community: int, grids: list[tuple[str, str]]) -> int:
    """Insert a grid version with (code, wkt) grids in one transaction."""
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                """INSERT INTO grid_versions (community_id, version_no, source)
                   VALUES (%s, (SELECT coalesce(max(version_no), 0) + 1 FROM grid_versions
                                 WHERE community_id = %s), 'synthetic') RETURNING id""",
                (community, community))
            version = cur.fetchone()[0]
            for code, wkt in grids:
                cur.execute(
                    """INSERT INTO grids (version_id, community_id, code, seq, geom, source)
                       VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')""",
                    (version, community, code, int(code[-3:]), wkt))
        conn.commit()
        return version
    finally:
        conn.close()


def test_all_migrations_applied_from_empty(empty_db):
    versions = [v for v, _, _ in db.migration_files()]
    assert db.schema_version() == max(versions)
    applied = empty_db.scalar("SELECT array_agg(version ORDER BY version) FROM schema_version")
    assert applied == versions
    # a second run applies nothing
    assert db.migrate(empty_db.admin_url) == []


def test_geometry_columns_are_typed_4326_and_indexed(empty_db):
    rows = empty_db.scalar(
        """SELECT json_agg(json_build_object('t', f_table_name, 'c', f_geometry_column,
                                             'srid', srid, 'type', type))
             FROM geometry_columns WHERE f_table_schema = 'public'""")
    assert len(rows) >= 12
    for r in rows:
        assert r["srid"] == 4326, r
        # POLYGON: the pieces of a network's polygons kept as a search index (0012)
        assert r["type"] in {"MULTIPOLYGON", "POINT", "MULTILINESTRING", "POLYGON"}, r
    gist = empty_db.scalar(
        """SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%%gist%%'""")
    assert gist >= len(rows)


def test_every_data_table_has_a_source_column(empty_db):
    missing = empty_db.scalar(
        """SELECT coalesce(array_agg(t.table_name::text), ARRAY[]::text[]) FROM information_schema.tables t
            WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND t.table_name NOT IN ('schema_version', 'spatial_ref_sys')
              AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                               WHERE c.table_name = t.table_name AND c.column_name = 'source')""")
    assert missing == []


def test_bad_rows_are_refused(empty_db, place):
    conn = empty_db.connect()
    cases = [
        # negative households
        ("""INSERT INTO buildings (code, households, community_id, geom, pt, source)
            VALUES ('B1', -1, %s, ST_Multi(ST_GeomFromText(%s, 4326)),
                    ST_PointOnSurface(ST_GeomFromText(%s, 4326)), 'osm')""",
         (place["community"], WEST, WEST), "households"),
        # unknown source
        ("""INSERT INTO departments (code, name, source) VALUES ('D1', '测试', 'guess')""",
         (), "data_source"),
        # geometry of the wrong type
        ("""INSERT INTO cameras (code, geom, source)
            VALUES ('C1', ST_GeomFromText(%s, 4326), 'synthetic')""", (WEST,), "Geometry type"),
        # wrong SRID
        ("""INSERT INTO cameras (code, geom, source)
            VALUES ('C2', ST_SetSRID(ST_MakePoint(116, 40), 3857), 'synthetic')""", (), "SRID"),
        # camera status outside online/offline/fault
        ("""INSERT INTO cameras (code, status, geom, source)
            VALUES ('C3', 'broken', ST_SetSRID(ST_MakePoint(116, 40), 4326), 'synthetic')""",
         (), "status"),
        # invalid (self-intersecting) polygon
        ("""INSERT INTO districts (code, name, geom, source)
            VALUES ('990200', 'x', ST_Multi(ST_GeomFromText(
              'POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))', 4326)), 'synthetic')""", (), "geom_check"),
        # a street code that is not 9 digits
        ("""INSERT INTO streets (district_id, code, name, geom, source)
            VALUES (%s, '12', 'x', ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')""",
         (place["district"], WEST), "code_check"),
        # a non-admin user without a scope
        ("""INSERT INTO users (username, password_hash, role) VALUES ('u', 'h', 'planner')""",
         (), "users_check"),
    ]
    for query, params, expected in cases:
        with pytest.raises(psycopg2.Error) as info:
            with conn.cursor() as cur:
                cur.execute(query, params)
        conn.rollback()
        assert expected in str(info.value), (query, str(info.value))
    conn.close()


def test_grid_outside_its_community_is_refused(empty_db, place):
    with pytest.raises(psycopg2.Error) as info:
        _write_version(empty_db, place["community"],
                       [("990100001001001", WEST), ("990100001001002", OUTSIDE)])
    msg = str(info.value)
    assert "990100001001002" in msg and "outside its community 990100001001" in msg


def test_coverage_overlap_and_gap_name_the_grids(empty_db, place):
    with pytest.raises(psycopg2.Error) as info:
        _write_version(empty_db, place["community"],
                       [("990100001001001", WEST), ("990100001001002", EAST_OVERLAP)])
    msg = str(info.value)
    assert "does not tile its community" in msg
    assert "overlap" in msg and "990100001001001, 990100001001002" in msg

    with pytest.raises(psycopg2.Error) as info:
        _write_version(empty_db, place["community"],
                       [("990100001001001", WEST), ("990100001001002", EAST_SHORT)])
    msg = str(info.value)
    assert "gap of" in msg and "990100001001002" in msg
    # nothing of the refused versions remains
    assert empty_db.scalar("SELECT count(*) FROM grid_versions") == 0


def test_a_tiling_version_commits_and_counts(empty_db, place):
    version = _write_version(empty_db, place["community"],
                             [("990100001001001", WEST), ("990100001001002", EAST)])
    with empty_db.connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE grid_versions SET is_current = true WHERE id = %s", (version,))
    conn.close()
    proc = run_cli("stats", "--json", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["grids"] == 2 and stats["grid_versions"] == 1 and stats["communities"] == 1
    assert set(stats) == {
        "districts", "streets", "communities", "grids", "grid_versions", "compounds",
        "buildings", "cameras", "police_rooms", "grid_workers", "incidents", "incidents_open",
        "departments", "users", "audit_log"}
    assert all(isinstance(v, int) for v in stats.values())


def test_audit_log_is_append_only(empty_db):
    with empty_db.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO audit_log (actor, action) VALUES ('tester', 'test') RETURNING id")
    conn.close()
    # the app's role has no DELETE grant
    conn = empty_db.connect()
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with conn.cursor() as cur:
            cur.execute("DELETE FROM audit_log")
    conn.rollback()
    conn.close()
    # and even a superuser is stopped by the trigger
    conn = empty_db.connect(admin=True)
    for stmt in ("DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'", "TRUNCATE audit_log"):
        with pytest.raises(psycopg2.Error) as info:
            with conn.cursor() as cur:
                cur.execute(stmt)
        conn.rollback()
        assert "append-only" in str(info.value)
    conn.close()
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE actor = 'tester'") == 1


def test_app_role_is_not_superuser(empty_db):
    assert empty_db.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False


def test_timezone_defines_today(empty_db):
    assert empty_db.scalar("SHOW timezone") in {"Asia/Shanghai", "PRC"}
    with db.transaction() as cur:
        cur.execute("SHOW timezone")
        assert cur.fetchone()["TimeZone"] == "Asia/Shanghai"


def test_parallel_query_is_off_on_the_embedded_cluster(empty_db, pg_server):
    if pg_server.external:
        pytest.skip("an external server is configured elsewhere")
    assert empty_db.scalar("SHOW max_parallel_workers_per_gather") == "0"
