"""Roads on a real PostGIS: ``import roads`` (good files in, bad files refused whole), the read
by zoom and box (geo.repository.roads), and the demo's OSM roads after ``demo load``.

The tiny place (tests.conftest.create_tiny_place) is district 990100 = community
990100001001, lon 116.000-116.002, lat 40.000-40.001 (about 170 m x 110 m).
"""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiLineString, Polygon

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.importers import import_file
from geo.repository.roads import DEMO_CLASSES, roads_in_view, view_zoom
from geo.repository.wall import BadRequest
from tests.conftest import create_tiny_place, run_cli

ADMIN = Principal("t", "admin", None)
STAFF = Principal("s", "community_staff", "990100001001")
TINY = [115.999, 39.999, 116.003, 40.002]  # the place's box with a margin

ROADS = [  # class as the file spells it, name, geometry
    ("primary", "长安街", LineString([(115.999, 40.0005), (116.001, 40.0005), (116.003, 40.0005)])),
    ("次干路", "建国路", LineString([(116.0005, 39.999), (116.0005, 40.002)])),
    ("Residential", "小巷", MultiLineString([[(116.0015, 40.0), (116.0015, 40.001)],
                                            [(116.0016, 40.0), (116.0019, 40.0)]])),
    ("service", None, LineString([(116.0002, 40.0002), (116.0008, 40.0002)])),
    # ~850 m east of the place: inside the 1 km reach, outside a community reader's box
    ("primary", "东环路", LineString([(116.012, 40.0), (116.012, 40.001)])),
]


def _write(tmp_path, name: str, rows: list[tuple], columns=("highway", "name")):
    frame = gpd.GeoDataFrame(
        {columns[0]: [r[0] for r in rows], columns[1]: [r[1] for r in rows]},
        geometry=[r[2] for r in rows], crs="EPSG:4326")
    path = tmp_path / name
    frame.to_file(path, driver="GeoJSON")
    return path


@pytest.fixture(scope="module")
def place(empty_db):
    return create_tiny_place(empty_db)


@pytest.fixture(scope="module")
def imported(empty_db, place, tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("roads"), "roads.geojson", ROADS)
    return import_file("roads", path, actor="tester")


def _state(tdb) -> tuple:
    return (tdb.scalar("SELECT count(*) FROM roads"), tdb.scalar("SELECT count(*) FROM audit_log"))


def test_import_writes_lines_with_class_and_name(empty_db, imported):
    assert imported.counts["roads"] == 5 and imported.counts["named"] == 4
    assert imported.counts["classes"] == {"primary": 2, "residential": 1, "secondary": 1,
                                          "service": 1}
    rows = empty_db.scalar(
        """SELECT json_agg(json_build_object('c', class, 'n', name, 't', GeometryType(geom),
                                             'parts', ST_NumGeometries(geom), 's', source)
                           ORDER BY id) FROM roads""")
    assert [r["c"] for r in rows] == ["primary", "secondary", "residential", "service", "primary"]
    assert [r["n"] for r in rows] == ["长安街", "建国路", "小巷", None, "东环路"]
    assert {r["t"] for r in rows} == {"MULTILINESTRING"} and {r["s"] for r in rows} == {"imported"}
    assert rows[2]["parts"] == 2
    detail = empty_db.scalar("SELECT detail FROM audit_log WHERE action = 'import'"
                             " AND target = 'roads'")
    assert detail["fields"] == {"class": "highway", "name": "name"}


@pytest.mark.parametrize("case, rows, columns, needle", [
    ("polygon", ROADS[:2] + [("primary", "面", Polygon([(116.0, 40.0), (116.001, 40.0),
                                                         (116.001, 40.001)]))],
     ("highway", "name"), "feature 3, field 'geometry': wrong geometry type Polygon"),
    ("bad class", [ROADS[0], ("主 路?", "x", ROADS[1][2])], ("highway", "name"),
     "feature 2, field 'class'"),
    ("no class column", ROADS[:2], ("kind", "name"), "required field 'class' is missing"),
    ("too far", ROADS[:3] + [("primary", "远", LineString([(116.05, 40.0), (116.06, 40.0)]))],
     ("highway", "name"), "feature 4, field 'geometry': lies 4"),
    ("no length", [ROADS[0], ("service", None, LineString([(116.001, 40.0), (116.001, 40.0)]))],
     ("highway", "name"), "feature 2, field 'geometry': the line has no length"),
])
def test_bad_files_are_refused_whole(empty_db, imported, tmp_path, case, rows, columns, needle):
    before = _state(empty_db)
    path = _write(tmp_path, "bad.geojson", rows, columns)
    with pytest.raises(GridAtlasError) as err:
        import_file("roads", path)
    assert "bad.geojson" in err.value.user_msg and needle in err.value.user_msg, err.value.user_msg
    assert _state(empty_db) == before


def test_cli_imports_and_refuses(empty_db, imported, tmp_path):
    before = _state(empty_db)
    bad = _write(tmp_path, "bad.geojson", [ROADS[0], ("?!", None, ROADS[1][2])], ("fclass", "name"))
    proc = run_cli("import", "roads", str(bad), url=empty_db.url)
    assert proc.returncode != 0 and "feature 2, field 'class'" in proc.stderr + proc.stdout
    assert _state(empty_db) == before
    good = _write(tmp_path, "good.geojson", [ROADS[0]], ("fclass", "名称"))
    proc = run_cli("import", "roads", str(good), "--json", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["roads"] == 1
    assert _state(empty_db) == (before[0] + 1, before[1] + 1)
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:  # back to the module's five roads
        cur.execute("DELETE FROM roads WHERE id = (SELECT max(id) FROM roads)")
    conn.close()


def _names(fc: dict) -> dict[str, str]:
    return {f["properties"]["name"] or f"({f['properties']['class']})": f["properties"]["class"]
            for f in fc["features"]}


def test_major_classes_only_at_low_zoom(empty_db, imported):
    assert _names(roads_in_view(ADMIN, TINY, 12)) == {"长安街": "primary", "建国路": "secondary"}
    assert _names(roads_in_view(ADMIN, TINY, 14)) == {
        "长安街": "primary", "建国路": "secondary", "小巷": "residential"}
    z16 = roads_in_view(ADMIN, TINY, 16)
    assert _names(z16) == {"长安街": "primary", "建国路": "secondary", "小巷": "residential",
                           "(service)": "service"}
    # drawing order: most important first
    assert [f["properties"]["rank"] for f in z16["features"]] == [2, 3, 5, 6]
    for f in z16["features"]:  # the pieces of a road merge into lines, never a collection
        assert f["geometry"]["type"] in ("LineString", "MultiLineString") \
            and f["geometry"]["coordinates"], f
    assert roads_in_view(ADMIN, TINY, 9)["features"] == []


def test_labels_by_zoom(empty_db, imported):
    def labelled(zoom):
        return sorted(f["properties"]["name"] for f in roads_in_view(ADMIN, TINY, zoom)["features"]
                      if "label" in f["properties"])

    assert labelled(12) == ["长安街"]
    assert labelled(14) == ["建国路", "长安街"]
    assert labelled(16) == ["小巷", "建国路", "长安街"]  # the unnamed service road has none
    lon, lat = next(f["properties"]["label"] for f in roads_in_view(ADMIN, TINY, 16)["features"]
                    if f["properties"]["name"] == "长安街")
    assert lat == pytest.approx(40.0005) and 115.999 <= lon <= 116.003


def test_bbox_limits_the_lines(empty_db, imported):
    west = [115.9995, 39.9995, 116.0008, 40.0015]  # crosses 长安街, 建国路 and the service road
    assert set(_names(roads_in_view(ADMIN, west, 16))) == {"长安街", "建国路", "(service)"}
    east = [116.011, 39.999, 116.013, 40.002]
    assert set(_names(roads_in_view(ADMIN, east, 16))) == {"东环路"}
    # whole lines are returned (not clipped), simplified: 长安街 keeps its ends
    line = next(f for f in roads_in_view(ADMIN, west, 16)["features"]
                if f["properties"]["name"] == "长安街")["geometry"]
    coords = line["coordinates"] if line["type"] == "LineString" else line["coordinates"][0]
    assert coords[0] == [115.999, 40.0005] and coords[-1] == [116.003, 40.0005]


def test_a_wide_box_is_read_at_the_zoom_that_fits_it(empty_db, imported):
    wide = [115.0, 39.0, 117.0, 41.0]
    fc = roads_in_view(ADMIN, wide, 16)
    assert fc["zoom"] == round(view_zoom(wide, 16), 2) < 12
    assert "(service)" not in _names(fc) and "小巷" not in _names(fc)


def test_scope_first(empty_db, imported):
    everything = [115.99, 39.99, 116.02, 40.01]
    assert "东环路" in _names(roads_in_view(ADMIN, everything, 16))
    seen = _names(roads_in_view(STAFF, everything, 16))
    assert "长安街" in seen and "东环路" not in seen
    with pytest.raises(PermissionDenied):
        roads_in_view(None, TINY, 14)
    for bbox, zoom in [(TINY, "14"), (TINY, float("nan")), (TINY, 40), ([1, 2, 3], 14),
                       ([116.0, 41.0, 116.1, 40.0], 14), (None, 14), (["a", 1, 2, 3], 14)]:
        with pytest.raises(BadRequest):
            roads_in_view(ADMIN, bbox, zoom)


# ----------------------------------------------------------------------------- the demo
# (last in the module: demo_db points this process's geo code at the demo clone)


def test_demo_load_brings_its_osm_roads(demo_db):
    counts = demo_db.scalar(
        """SELECT json_build_object('n', count(*), 'named', count(name),
                                    'classes', array_agg(DISTINCT class),
                                    'sources', array_agg(DISTINCT source::text))
             FROM roads""")
    assert counts["n"] > 3000 and counts["named"] > 1000
    assert set(counts["classes"]) <= DEMO_CLASSES and "footway" not in counts["classes"]
    assert {"primary", "secondary", "residential", "service"} <= set(counts["classes"])
    assert counts["sources"] == ["osm"]


def test_demo_roads_read_by_zoom(demo_db):
    box = demo_db.scalar("SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)] FROM "
                         "(SELECT ST_Extent(geom) AS e FROM districts) x")
    mid = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    near = [mid[0] - 0.01, mid[1] - 0.005, mid[0] + 0.01, mid[1] + 0.005]
    z12, z16 = roads_in_view(ADMIN, box, 12), roads_in_view(ADMIN, near, 16)
    classes12 = {f["properties"]["class"] for f in z12["features"]}
    assert classes12 and classes12 <= {"motorway", "trunk", "primary", "secondary",
                                       "motorway_link", "trunk_link"}
    assert "service" in {f["properties"]["class"] for f in z16["features"]}
    # OSM names are kept as they are (Russian/Kazakh, Cyrillic)
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in f["properties"]["name"] or "")
               for f in z16["features"])


def test_a_demo_loaded_before_roads_gains_them(demo_db):
    n = demo_db.scalar("SELECT count(*) FROM roads")
    conn = demo_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM roads")
    conn.close()
    proc = run_cli("demo", "load", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    assert demo_db.scalar("SELECT count(*) FROM roads") == n
    proc = run_cli("demo", "load", url=demo_db.url)  # and only once
    assert proc.returncode == 0 and demo_db.scalar("SELECT count(*) FROM roads") == n
