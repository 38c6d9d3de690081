"""What a commit writes, and where its cost falls: grid polygons unioned on the committing
process (writers.union_cells) are the database's union of the same cells, and tile their
community; the coarse map copies rewrite only the rows that changed."""

from __future__ import annotations

import psycopg2.extras
import shapely

from geo.access.roles import Principal
from geo.planning import api
from geo.repository.writers import union_cells

ADMIN = Principal("test:admin", "admin", None)


def test_union_cells_is_the_databases_union(demo_db):
    conn = demo_db.connect()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("""SELECT bg.building_id, g.code FROM building_grid bg
                             JOIN grids g ON g.id = bg.grid_id
                             JOIN grid_versions v ON v.id = g.version_id AND v.is_current""")
            assignment = {int(r["building_id"]): r["code"] for r in cur.fetchall()}
            assert len(assignment) > 1000
            ours = union_cells(cur, assignment)
            cur.execute("""SELECT a.code,
                                  ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_Union(bc.geom), 3))) AS wkb,
                                  ST_Area(ST_Transform(ST_Multi(ST_CollectionExtract(ST_Union(bc.geom), 3)),
                                                       gridatlas_utm_srid(ST_Union(bc.geom)))) AS m2
                             FROM unnest(%s::int[], %s::text[]) AS a(building_id, code)
                             JOIN building_cells bc USING (building_id)
                            WHERE NOT ST_IsEmpty(bc.geom)
                            GROUP BY a.code""", (list(assignment), list(assignment.values())))
            theirs = {r["code"]: (shapely.from_wkb(bytes(r["wkb"])), float(r["m2"])) for r in cur.fetchall()}
            assert set(ours) == set(theirs) and len(ours) > 300
            worst = 0.0
            for code, geom in ours.items():
                assert geom.geom_type == "MultiPolygon" and geom.is_valid, code
                db_geom, m2 = theirs[code]
                # the difference, in m² (degrees² scaled by the grid's own area ratio)
                diff = shapely.symmetric_difference(geom, db_geom).area / db_geom.area * m2
                worst = max(worst, diff)
            assert worst < 0.01, worst  # far under the coverage rule's 1 m²
    finally:
        conn.close()


def test_a_commit_unioned_by_the_writer_tiles_its_community(demo_db):
    prop = api.propose(ADMIN, "990100002003", mode="fresh", seed=3)
    res = api.commit(ADMIN, prop, note="union here", allow_out_of_band=True)
    assert demo_db.scalar("SELECT count(*) FROM grid_version_coverage_problems(%s, 0.01)",
                          (res.version_id,)) == 0
    assert demo_db.scalar("SELECT count(*) FROM grids WHERE version_id = %s", (res.version_id,)) == len(prop.grids)


def test_a_commit_rewrites_only_the_coarse_rows_that_changed(demo_db):
    """The district is simplified as one coverage, but a community's commit leaves the rows of
    grids far from it untouched (same physical row), and the new grids get theirs."""
    far = """SELECT gc.grid_id, gc.tolerance_m, gc.ctid::text FROM grid_coarse gc
               JOIN grids g ON g.id = gc.grid_id WHERE g.code LIKE '990100006%' ORDER BY 1, 2"""
    before = [tuple(r) for r in _all(demo_db, far)]
    assert len(before) > 20
    prop = api.propose(ADMIN, "990100002003", mode="fresh", seed=5)
    res = api.commit(ADMIN, prop, note="coarse rows", allow_out_of_band=True)
    assert [tuple(r) for r in _all(demo_db, far)] == before
    assert demo_db.scalar("""SELECT count(*) FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
                              WHERE g.version_id = %s""", (res.version_id,)) == 2 * len(prop.grids)
    # and none left for grids no longer current
    assert demo_db.scalar("""SELECT count(*) FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
                              JOIN grid_versions v ON v.id = g.version_id WHERE NOT v.is_current""") == 0


def _all(tdb, query):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def test_a_commit_in_progress_holds_up_no_report_but_another_commit(demo_db):
    """The commit's lock on its community lets a row that only refers to the community (the
    foreign key's KEY SHARE, as an Open311 report's incident takes) through at once, and
    still makes a second commit of the community wait."""
    import psycopg2.errors

    from geo.planning.versions import lock_community

    code = "990100002003"
    cid = demo_db.scalar("SELECT id FROM communities WHERE code = %s", (code,))
    committing = demo_db.connect()
    report = demo_db.connect()
    second = demo_db.connect()
    try:
        with committing.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            lock_community(cur, code)  # the transaction stays open: a commit in progress
        with report.cursor() as cur:
            cur.execute("SET lock_timeout = '3s'")
            cur.execute("SELECT 1 FROM communities WHERE id = %s FOR KEY SHARE", (cid,))
            assert cur.fetchone() == (1,)
        report.rollback()
        with second.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SET lock_timeout = '1s'")
            try:
                lock_community(cur, code)
            except psycopg2.errors.LockNotAvailable:
                pass
            else:
                raise AssertionError("a second commit of the community did not wait")
    finally:
        for conn in (committing, report, second):
            conn.rollback()
            conn.close()
