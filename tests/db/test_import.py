"""The importer on a real PostGIS: a small fictional district imported file by file, then
every refusal leaves ``stats --json`` byte-identical."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo.importers import import_file
from tests.conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_fixtures  # noqa: E402

BLD = ["--field", "households=HH_COUNT", "--field", "code=BLD_CODE"]


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    return make_fixtures.build(tmp_path_factory.mktemp("fx"))


@pytest.fixture(scope="module")
def base(empty_db, fx):
    """The fixture district imported in order, in-process; returns the reports."""
    bld_fields = ["households=HH_COUNT", "code=BLD_CODE", "address=ADDR", "floors=FLOORS"]
    return {
        "districts": import_file("districts", fx["districts.geojson"], actor="tester"),
        "streets": import_file("streets", fx["streets_gbk_nocpg.shp"], encoding="gbk",
                               fields=["code=CODE", "name=NAME", "name_en=NAME_EN"]),
        "communities": import_file("communities", fx["communities_4549.gpkg"]),
        "buildings": import_file("buildings", fx["buildings.gpkg"], fields=bld_fields),
        "grids": import_file("grids", fx["grids_ok.geojson"]),
        "cameras": import_file("cameras", fx["cameras.csv"]),
        "police-rooms": import_file("police-rooms", fx["police_rooms_gbk.shp"]),
        "departments": import_file("departments", fx["departments.csv"]),
    }


def stats(db) -> str:
    proc = run_cli("stats", "--json", url=db.url)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_imports_write_rows_and_audit_each_file(empty_db, base):
    counts = json.loads(stats(empty_db))
    assert counts["districts"] == 1 and counts["streets"] == 2 and counts["communities"] == 4
    assert counts["buildings"] == 36 and counts["grids"] == 2 and counts["grid_versions"] == 1
    assert counts["cameras"] == 2 and counts["police_rooms"] == 1 and counts["departments"] == 1
    assert counts["audit_log"] == len(base)
    with empty_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT actor, target, detail FROM audit_log WHERE action = 'import'"
                    " ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    assert rows[0][0] == "tester" and rows[0][1] == "districts"
    assert rows[0][2]["file"] == "districts.geojson" and rows[0][2]["counts"] == {"districts": 1}
    assert [r[1] for r in rows] == list(base)
    assert all(r[0] for r in rows)  # the OS user when no --actor


def test_gbk_names_are_stored_as_chinese(empty_db, base):
    assert empty_db.scalar("SELECT string_agg(name, ',' ORDER BY code) FROM streets") \
        == "西街道,东街道"
    assert empty_db.scalar("SELECT name FROM police_rooms") == "西街派出所"


def test_gauss_kruger_communities_land_within_a_metre(empty_db, base):
    assert any("EPSG:4549" in n for n in base["communities"].notes)
    values = ", ".join(f"('{c}', {b[0]}, {b[1]}, {b[2]}, {b[3]})"
                       for c, (_, b) in make_fixtures.COMMUNITIES.items())
    worst = empty_db.scalar(
        f"""SELECT max(ST_HausdorffDistance(ST_Transform(c.geom, 32651),
                      ST_Transform(ST_MakeEnvelope(x0, y0, x1, y1, 4326), 32651)))
             FROM communities c JOIN (VALUES {values}) AS v(code, x0, y0, x1, y1) USING (code)""")
    assert worst < 1.0


def test_grids_place_buildings_and_cameras(empty_db, base):
    assert empty_db.scalar(
        "SELECT count(*) FROM buildings b JOIN communities c ON c.id = b.community_id "
        "WHERE c.code = '990200001001' AND b.grid_id IS NOT NULL") == 9
    assert empty_db.scalar("SELECT sum(households) FROM grids") == 900
    assert empty_db.scalar("SELECT count(*) FROM cameras WHERE grid_id IS NOT NULL") == 2
    assert empty_db.scalar("SELECT string_agg(code, ',' ORDER BY seq) FROM grids") \
        == "990200001001001,990200001001002"
    assert empty_db.scalar("SELECT count(*) FROM grid_version_coverage_problems("
                           "(SELECT id FROM grid_versions WHERE is_current))") == 0
    from geo.coarse import TOLERANCES_M

    assert empty_db.scalar("SELECT count(*) FROM grid_coarse") == 2 * len(TOLERANCES_M)


def test_self_intersecting_footprint_is_repaired_and_reported(empty_db, base, fx):
    proc = run_cli("import", "buildings", str(fx["buildings_bowtie.geojson"]), *BLD,
                   url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    assert "repaired: feature 1 (code 990200001001B100): Self-intersection" in proc.stdout
    assert empty_db.scalar("SELECT ST_IsValid(geom) AND ST_NumGeometries(geom) = 2 "
                           "FROM buildings WHERE code = '990200001001B100'")
    assert empty_db.scalar("SELECT (detail->>'repaired')::int FROM audit_log "
                           "ORDER BY id DESC LIMIT 1") == 1


def test_household_register_updates_buildings_and_grids(empty_db, base, fx):
    before = empty_db.scalar("SELECT sum(households) FROM grids")
    proc = run_cli("import", "households", str(fx["households.csv"]), url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    assert empty_db.scalar("SELECT households FROM buildings WHERE code = '990200001001B001'") \
        == 150
    assert empty_db.scalar("SELECT sum(households) FROM grids") == before + 50 - 50
    import_file("households", fx["households.xlsx"])
    assert empty_db.scalar("SELECT households FROM buildings WHERE address = '测试路3号'") == 120


def test_incidents_are_located_in_their_grid(empty_db, base, tmp_path):
    with empty_db.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO incident_categories (code, class, name, name_en, source)"
                    " VALUES ('0101', 'event', '垃圾', 'Litter', 'imported')")
    conn.close()
    path = tmp_path / "incidents.csv"
    pd.DataFrame({"code": ["I1"], "category": ["0101"], "severity": ["ordinary"],
                  "state": ["reported"], "reported_at": ["2026-03-01 08:00"],
                  "lon": [120.105], "lat": [30.205]}).to_csv(path, index=False)
    import_file("incidents", path)
    row = empty_db.scalar(
        "SELECT g.code || ' ' || i.title || ' ' || to_char(i.reported_at AT TIME ZONE 'UTC',"
        " 'HH24:MI') FROM incidents i JOIN grids g ON g.id = i.grid_id")
    assert row == "990200001001001 垃圾 00:00"


REFUSALS = [
    ("missing-field", ["buildings", "bad_missing_field.geojson"],
     ["bad_missing_field.geojson", "required field 'households'"]),
    ("unknown-crs", ["buildings", "bad_no_crs.shp", *BLD], ["bad_no_crs.shp", "unknown CRS"]),
    ("empty", ["buildings", "bad_empty.geojson", *BLD], ["bad_empty.geojson", "no feature"]),
    ("wrong-geometry", ["buildings", "bad_wrong_geometry.geojson", *BLD],
     ["feature 1 (code L1), field 'geometry': wrong geometry type LineString"]),
    ("negative-households", ["buildings", "bad_negative_households.geojson", *BLD],
     ["feature 2 (code 990200001001B002), field 'households'", "negative"]),
    ("duplicate-in-file", ["buildings", "bad_duplicate_codes.geojson", *BLD],
     ["feature 3, field 'code': duplicate code X1 (also feature 1)"]),
    ("duplicate-in-db", ["buildings", "buildings.gpkg", *BLD],
     ["buildings.gpkg: feature 1 (code 990200001001B001), field 'code': duplicate code"]),
    ("outside-district", ["buildings", "bad_outside_district.geojson", *BLD],
     ["feature 2 (code N2), field 'geometry': its point lies outside the district"]),
    ("beyond-district", ["buildings", "bad_beyond_district.geojson", *BLD],
     ["feature 1 (code N3), field 'geometry': extends", "beyond district 990200"]),
    ("overlapping-grids", ["grids", "grids_bad.geojson"],
     ["grids_bad.geojson", "990200001001", "overlap", "gap",
      "990200001001001, 990200001001002"]),
    ("gbk-without-encoding", ["streets", "streets_gbk_nocpg.shp"],
     ["feature 1, field 'NAME'", "--encoding gbk"]),
    ("unknown-building", ["households", "unknown_building.csv"],
     ["unknown_building.csv: feature 2, field 'building_code': no building with code NOPE"]),
    ("bad-field-option", ["buildings", "buildings.gpkg", "--field", "colour=HH_COUNT"],
     ["no field 'colour'"]),
]


@pytest.mark.parametrize("name, args, fragments", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_imports_write_nothing(empty_db, base, fx, tmp_path, name, args, fragments):
    if name == "unknown-building":
        pd.DataFrame({"building_code": ["990200001001B001", "NOPE"],
                      "households": [1, 2]}).to_csv(tmp_path / args[1], index=False)
        path = tmp_path / args[1]
    else:
        path = fx[args[1]]
    before = stats(empty_db)
    proc = run_cli("import", args[0], str(path), *args[2:], url=empty_db.url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert stats(empty_db) == before
