"""What a commit writes, and where its cost falls: grid polygons unioned on the committing
process (writers.union_cells) are the database's union of the same cells, and tile their
community; the coarse map copies rewrite only the rows of the community committed, and tile
each community and the district."""

from __future__ import annotations

import psycopg2.extras
import pytest
import shapely

from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import api
from geo.repository.writers import GridSpec, union_cells, write_grid_version

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


def test_a_commit_points_every_building_of_its_community_at_the_new_grids(demo_db):
    """buildings.grid_id is rewritten for the community's own buildings (found by its index,
    not by a join over the whole table): each one points at a grid of the new version, and
    no building of another community is touched (same physical row)."""
    others = "SELECT id, grid_id, ctid::text FROM buildings WHERE community_id <> %s ORDER BY id"
    cid = demo_db.scalar("SELECT id FROM communities WHERE code = '990100002003'")
    before = [tuple(r) for r in _all(demo_db, others, (cid,))]
    prop = api.propose(ADMIN, "990100002003", mode="fresh", seed=7)
    res = api.commit(ADMIN, prop, note="grid ids", allow_out_of_band=True)
    assert demo_db.scalar("""SELECT count(*) FROM buildings b JOIN building_grid bg
                               ON bg.building_id = b.id AND bg.version_id = %s
                              WHERE b.community_id = %s AND b.grid_id = bg.grid_id""",
                          (res.version_id, cid)) == len(prop.labels)
    assert demo_db.scalar("SELECT count(*) FROM buildings WHERE community_id = %s", (cid,)) == len(prop.labels)
    assert [tuple(r) for r in _all(demo_db, others, (cid,))] == before


def test_a_version_given_another_communitys_building_is_refused(demo_db):
    """A grid version whose assignment holds a building of another community is refused
    (buildings.grid_id is written for the community's own buildings only, so a building
    beyond them would be left pointing at an old grid); the caller's transaction rolls back."""
    conn = demo_db.connect()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT id FROM communities WHERE code = '990100002003'")
            cid = int(cur.fetchone()["id"])
            cur.execute("""SELECT bg.building_id, g.code FROM building_grid bg
                             JOIN grids g ON g.id = bg.grid_id
                             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                            WHERE v.community_id = %s""", (cid,))
            assignment = {int(r["building_id"]): r["code"] for r in cur.fetchall()}
            cur.execute("SELECT id FROM buildings WHERE community_id <> %s ORDER BY id LIMIT 1", (cid,))
            foreign = int(cur.fetchone()["id"])
            # without its cell the grids' polygons stay inside the community (a cell outside
            # it is refused by the grids' own check), so only the assignment itself tells
            cur.execute("DELETE FROM building_cells WHERE building_id = %s", (foreign,))
            assignment[foreign] = next(iter(assignment.values()))
            specs = [GridSpec(code=c, seq=int(c[-3:])) for c in sorted(set(assignment.values()))]
            with pytest.raises(GridAtlasError, match="not buildings of that community"):
                write_grid_version(cur, cid, specs, assignment=assignment, source="derived",
                                   relocate_points=False)
        conn.rollback()
    finally:
        conn.close()


def test_a_commit_rewrites_only_the_coarse_rows_of_its_community(demo_db):
    """A community's commit fits its own grids to its outline: the rows of every other
    community's grids stay untouched (same physical row), the new grids get theirs, and the
    copies still tile each community and the district."""
    others = """SELECT gc.grid_id, gc.tolerance_m, gc.ctid::text FROM grid_coarse gc
                  JOIN grids g ON g.id = gc.grid_id WHERE left(g.code, 12) <> '990100002003' ORDER BY 1, 2"""
    places = "SELECT level, code, tolerance_m, ctid::text FROM place_coarse ORDER BY 1, 2, 3"
    before, places_before = [tuple(r) for r in _all(demo_db, others)], [tuple(r) for r in _all(demo_db, places)]
    assert len(before) > 600
    prop = api.propose(ADMIN, "990100002003", mode="fresh", seed=5)
    res = api.commit(ADMIN, prop, note="coarse rows", allow_out_of_band=True)
    assert [tuple(r) for r in _all(demo_db, others)] == before
    assert [tuple(r) for r in _all(demo_db, places)] == places_before
    assert demo_db.scalar("""SELECT count(*) FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
                              WHERE g.version_id = %s""", (res.version_id,)) == 2 * len(prop.grids)
    # and none left for grids no longer current
    assert demo_db.scalar("""SELECT count(*) FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
                              JOIN grid_versions v ON v.id = g.version_id WHERE NOT v.is_current""") == 0
    _assert_copies_tile(demo_db)
    # a refresh of the whole district computes the same rows: nothing is rewritten
    all_rows = "SELECT grid_id, tolerance_m, ctid::text FROM grid_coarse ORDER BY 1, 2"
    kept = [tuple(r) for r in _all(demo_db, all_rows)]
    _refresh(demo_db, None)
    assert [tuple(r) for r in _all(demo_db, all_rows)] == kept


def test_outlines_stored_another_way_are_fitted_again_at_the_next_commit(demo_db):
    """Copies made before the outlines were simplified on their own (an older release), or
    communities changed since: the next commit finds the stored outlines differ and fits
    every community's grids again, so none is left fitted to an old outline."""
    conn = demo_db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""UPDATE place_coarse SET geom = ST_Multi(ST_Buffer(geom, 0.0001))
                            WHERE level = 'community' AND code = '990100006001'""")
            cur.execute("""UPDATE grid_coarse gc SET geom = ST_Multi(ST_Buffer(gc.geom, 0.0001)) FROM grids g
                            WHERE g.id = gc.grid_id AND left(g.code, 12) = '990100006001'""")
    finally:
        conn.close()
    _refresh(demo_db, ["990100001001"])
    _assert_copies_tile(demo_db)


def _refresh(tdb, communities):
    from geo import coarse

    conn = tdb.connect()
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            coarse.refresh("990100", cur, communities)
    finally:
        conn.close()


def _assert_copies_tile(tdb):
    """Per tolerance, each community's current grid copies cover its outline copy without gap
    or overlap, and the outlines cover the district: to a hundred-thousandth of the area (a
    copy crossing itself by a hair once in EPSG:4326 loses a square metre or so to
    ``make_valid``; an unfitted community misses a thousandth at 30 m)."""
    rows = _all(tdb, """
        WITH g AS (SELECT left(g.code, 12) AS com, gc.tolerance_m AS tol, gc.geom
                     FROM grid_coarse gc JOIN grids g ON g.id = gc.grid_id
                     JOIN grid_versions v ON v.id = g.version_id AND v.is_current),
             s AS (SELECT com, tol, sum(ST_Area(geom::geography)) AS summed, ST_Union(geom) AS geom
                     FROM g GROUP BY com, tol)
        SELECT pc.code, pc.tolerance_m, ST_Area(pc.geom::geography),
               s.summed, ST_Area(ST_SymDifference(s.geom, pc.geom)::geography)
          FROM place_coarse pc JOIN s ON s.com = pc.code AND s.tol = pc.tolerance_m
         WHERE pc.level = 'community'""")
    assert len(rows) >= 2 * 34
    for code, tol, area, summed, sym in rows:
        assert abs(summed - area) < 1e-5 * area and sym < 1e-5 * area, (code, tol, area, summed, sym)
    rows = _all(tdb, """
        SELECT d.tolerance_m, ST_Area(d.geom::geography), sum(ST_Area(c.geom::geography))
          FROM place_coarse d JOIN place_coarse c ON c.level = 'community' AND c.tolerance_m = d.tolerance_m
         WHERE d.level = 'district' GROUP BY d.tolerance_m, d.geom""")
    assert len(rows) == 2
    for tol, area, summed in rows:
        assert abs(summed - area) < 1e-5 * area, (tol, area, summed)


def _all(tdb, query, params=None):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
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
