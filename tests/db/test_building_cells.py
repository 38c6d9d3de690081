"""Building cells computed at import and stored, on a real PostGIS: one valid cell per
building that tiles its community, recomputed when buildings are added, untouched by a
refused import, and rebuilt by ``python -m geo cells rebuild``."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import box

from geo.errors import GridAtlasError
from geo.importers import import_file
from tests.conftest import create_tiny_place, run_cli

COMMUNITY = "990100001001"
UTM = 32650  # the tiny place lies at 116°E, 40°N
W, H = 0.0002, 0.0002  # footprints of about 17 m x 22 m


def _square(x: float, y: float) -> object:
    return box(x - W / 2, y - H / 2, x + W / 2, y + H / 2)


def _first_batch() -> gpd.GeoDataFrame:
    """3 x 2 footprints spread over the community, and an exact copy of the first one."""
    rows = []
    for i in range(3):
        for j in range(2):
            x, y = 116.0 + 0.002 * (i + 0.5) / 3, 40.0 + 0.001 * (j + 0.5) / 2
            rows.append({"code": f"{COMMUNITY}B{len(rows) + 1:03d}", "households": 70,
                         "geometry": _square(x, y)})
    rows.append({"code": f"{COMMUNITY}B099", "households": 5,
                 "geometry": rows[0]["geometry"]})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _second_batch() -> gpd.GeoDataFrame:
    """Two footprints in the gaps between the first batch's columns."""
    return gpd.GeoDataFrame(
        [{"code": f"{COMMUNITY}B{101 + k}", "households": 40,
          "geometry": _square(116.0 + 0.002 * (k + 1) / 3, 40.0005)} for k in range(2)],
        crs="EPSG:4326")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cells")
    paths = {"first": out / "first.geojson", "second": out / "second.geojson",
             "bad": out / "bad.geojson", "more": out / "more.geojson"}
    _first_batch().to_file(paths["first"], driver="GeoJSON")
    _second_batch().to_file(paths["second"], driver="GeoJSON")
    bad = _second_batch().assign(code=["N1", "N2"], households=[10, -5])
    bad.to_file(paths["bad"], driver="GeoJSON")
    more = gpd.GeoDataFrame([{"code": f"{COMMUNITY}B201", "households": 10,
                              "geometry": _square(116.00185, 40.0005)}], crs="EPSG:4326")
    more.to_file(paths["more"], driver="GeoJSON")
    return paths


@pytest.fixture(scope="module")
def first(empty_db, files):
    """The tiny place, then the first batch of buildings imported in-process."""
    create_tiny_place(empty_db)
    return import_file("buildings", files["first"], actor="tester")


def snapshot(db) -> tuple:
    """Every stored cell, byte for byte."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), md5(coalesce(string_agg(building_id || ':' || method"
                    " || ':' || encode(ST_AsEWKB(geom), 'hex'), ',' ORDER BY building_id),"
                    " '')) FROM building_cells")
        row = cur.fetchone()
    conn.close()
    return tuple(row)


def tiling(db, code: str = COMMUNITY) -> dict[str, float]:
    """Areas in m² (UTM): the community, the union of its cells and the sum of their areas."""
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT ST_Area(ST_Transform(c.geom, %(utm)s)),
                      ST_Area(ST_Transform(ST_Union(bc.geom), %(utm)s)),
                      sum(ST_Area(ST_Transform(bc.geom, %(utm)s)))
                 FROM communities c JOIN building_cells bc ON bc.community_id = c.id
                WHERE c.code = %(code)s GROUP BY c.id""", {"utm": UTM, "code": code})
        community, union, total = cur.fetchone()
    conn.close()
    return {"community": community, "union": union, "sum": total}


def cell_area(db, building_code: str) -> float:
    """Area in m² (UTM) of one building's stored cell."""
    return db.scalar("SELECT ST_Area(ST_Transform(bc.geom, %s)) FROM building_cells bc"
                     " JOIN buildings b ON b.id = bc.building_id WHERE b.code = %s",
                     (UTM, building_code))


def assert_tiles(db) -> None:
    a = tiling(db)
    assert abs(a["union"] - a["community"]) < 1.0, a  # no gap
    assert a["sum"] - a["union"] < 1.0, a  # no overlap


def test_import_stores_one_valid_cell_per_building(empty_db, first):
    assert first.counts["buildings"] == 7 and first.counts["cells"] == 6
    assert any("1 building(s) lie inside another footprint" in n for n in first.notes)
    rows = empty_db.scalar(
        """SELECT json_agg(json_build_object('code', b.code, 'cell', bc.building_id IS NOT NULL,
                  'valid', ST_IsValid(bc.geom), 'multi', GeometryType(bc.geom),
                  'covers', ST_Covers(bc.geom, b.geom), 'same', bc.community_id = b.community_id,
                  'method', bc.method, 'source', bc.source) ORDER BY b.code)
             FROM buildings b LEFT JOIN building_cells bc ON bc.building_id = b.id""")
    by_code = {r["code"]: r for r in rows}
    assert not by_code[f"{COMMUNITY}B099"]["cell"]  # the copy of B001 lies inside it
    stored = [r for r in rows if r["cell"]]
    assert len(stored) == 6
    assert all(r["valid"] and r["covers"] and r["same"] for r in stored), stored
    assert {(r["multi"], r["method"], r["source"]) for r in stored} \
        == {("MULTIPOLYGON", "voronoi", "derived")}
    assert empty_db.scalar("SELECT detail->'counts'->>'cells' FROM audit_log "
                           "WHERE action = 'import' ORDER BY id DESC LIMIT 1") == "6"


def test_cells_tile_the_community(empty_db, first):
    assert_tiles(empty_db)


def test_a_second_batch_recomputes_the_community_cells(empty_db, first, files):
    before = cell_area(empty_db, f"{COMMUNITY}B001")
    proc = run_cli("import", "buildings", str(files["second"]), url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    assert "cells 8" in proc.stdout
    assert empty_db.scalar("SELECT count(*) FROM building_cells") == 8
    after = cell_area(empty_db, f"{COMMUNITY}B001")
    assert after < before - 100  # its new neighbour took part of it
    assert_tiles(empty_db)


def test_a_refused_import_leaves_the_cells_unchanged(empty_db, first, files):
    before = snapshot(empty_db)
    proc = run_cli("import", "buildings", str(files["bad"]), url=empty_db.url)
    assert proc.returncode == 2 and "field 'households'" in proc.stderr, proc.stderr
    assert snapshot(empty_db) == before


def test_cells_that_cannot_be_computed_refuse_the_import(empty_db, first, files, monkeypatch):
    # A real degenerate community cannot be stored (the schema checks validity), so the
    # failure of the cell computation is injected where the importer calls it.
    from geo.partition import cells
    from geo.partition.errors import PartitionError

    def degenerate(*args, **kwargs):
        raise PartitionError("The community polygon is empty or degenerate: cannot build cells.")

    def state() -> tuple:
        return (snapshot(empty_db), empty_db.scalar("SELECT count(*) FROM buildings"),
                empty_db.scalar("SELECT count(*) FROM audit_log"))

    monkeypatch.setattr(cells, "building_cells", degenerate)
    before = state()
    with pytest.raises(GridAtlasError) as err:
        import_file("buildings", files["more"], actor="tester")
    msg = err.value.user_msg
    assert msg.startswith("more.geojson: the buildings are refused: community 990100001001:")
    assert "degenerate" in msg
    assert state() == before


def test_rebuild_restores_deleted_cells(empty_db, first):
    before = snapshot(empty_db)
    with empty_db.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM building_cells")
    conn.close()
    proc = run_cli("cells", "rebuild", "--district", "990100", "--json", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(c["code"], c["buildings"], c["cells"], c["empty"]) for c in report["communities"]] \
        == [(COMMUNITY, 9, 8, 1)]
    assert report["total"]["cells"] == 8 and report["total"]["seconds"] >= 0
    assert snapshot(empty_db) == before
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'cells_rebuild'"
                           " AND target = 'building_cells'") == 1


def test_rebuild_refuses_unknown_codes(empty_db, first):
    before = snapshot(empty_db)
    proc = run_cli("cells", "rebuild", "--community", COMMUNITY, "990100001999",
                   url=empty_db.url)
    assert proc.returncode == 2
    assert "no community with code 990100001999" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("cells", "rebuild", "--district", "990999", url=empty_db.url)
    assert proc.returncode == 2 and "no district with code 990999" in proc.stderr
    assert snapshot(empty_db) == before


def test_rebuild_prints_a_line_per_community_and_the_total(empty_db, first):
    proc = run_cli("cells", "rebuild", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:3] == [COMMUNITY, "9", "8"]
    assert lines[-1].startswith("total: 1 communities, 9 buildings, 8 cells in ")


def test_rebuild_reproduces_the_demo_loader_cells(demo_db):
    # the community with a building left without a cell, and the two smallest ones (a full
    # rebuild of the 34 demo communities takes about 16 s)
    codes = demo_db.scalar(
        """SELECT array_agg(code ORDER BY code) FROM (
               SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
                 LEFT JOIN building_cells bc ON bc.building_id = b.id
                WHERE bc.building_id IS NULL
               UNION
               (SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
                 GROUP BY c.code ORDER BY count(*), c.code LIMIT 2)) t""")
    assert len(codes) >= 3

    def cells() -> dict[int, object]:
        with demo_db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT bc.building_id, ST_AsBinary(bc.geom) FROM building_cells bc"
                        " JOIN communities c ON c.id = bc.community_id WHERE c.code = ANY(%s)",
                        (codes,))
            out = {int(i): shapely.from_wkb(bytes(w)) for i, w in cur.fetchall()}
        conn.close()
        return out

    total = demo_db.scalar("SELECT count(*) FROM building_cells")
    before = cells()
    proc = run_cli("cells", "rebuild", *[a for c in codes for a in ("--community", c)],
                   "--json", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["total"]["cells"] == len(before)
    assert sum(c["empty"] for c in report["communities"]) >= 1
    after = cells()
    assert after.keys() == before.keys()
    assert all(after[k].equals(before[k]) for k in before)
    assert demo_db.scalar("SELECT count(*) FROM building_cells") == total
