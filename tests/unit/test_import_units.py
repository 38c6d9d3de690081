"""Importer pieces without a database: fields, values, geometry, CRS, encodings."""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Polygon, box

from geo.errors import GridAtlasError
from geo.importers.crs import to_wgs84
from geo.importers.fields import KINDS, Field, parse_field_options, resolve_columns
from geo.importers.gridfit import fill_slivers, fit_grids
from geo.importers.readers import read_source
from geo.importers.validate import check_features, check_geometry, convert
from geo.importers.writers import _reading_order

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_fixtures  # noqa: E402


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    return make_fixtures.build(tmp_path_factory.mktemp("fx"))


# ------------------------------------------------------------------------- fields


def test_field_mapping_explicit_then_name_then_alias():
    spec = KINDS["buildings"]
    cols = resolve_columns(["HH_COUNT", "Code", "层数"], spec,
                           parse_field_options(["households=HH_COUNT"], spec), "b.gpkg")
    assert cols == {"households": "HH_COUNT", "code": "Code", "floors": "层数"}


def test_missing_required_field_names_file_and_field():
    with pytest.raises(GridAtlasError, match=r"b\.gpkg: required field 'households'"):
        resolve_columns(["code"], KINDS["buildings"], {}, "b.gpkg")


def test_unknown_canonical_field_and_absent_column_are_refused():
    with pytest.raises(GridAtlasError, match="no field 'colour'"):
        parse_field_options(["colour=C"], KINDS["buildings"])
    with pytest.raises(GridAtlasError, match="no column 'HH'"):
        resolve_columns(["x"], KINDS["buildings"], {"households": "HH"}, "b.gpkg")


def test_households_need_a_key():
    with pytest.raises(GridAtlasError, match="building_code' or 'address"):
        resolve_columns(["households"], KINDS["households"], {}, "h.csv")


@pytest.mark.parametrize("raw, expected", [(12, 12), ("12", 12), (12.0, 12), ("1,200", 1200)])
def test_int_values(raw, expected):
    assert convert(raw, Field("households", "int", minimum=0), "UTC") == expected


@pytest.mark.parametrize("raw, reason", [(-5, "negative"), ("2.5", "whole number"),
                                         ("many", "whole number")])
def test_bad_int_values(raw, reason):
    with pytest.raises(ValueError, match=reason):
        convert(raw, Field("households", "int", minimum=0), "UTC")


def test_codes_keep_text_and_drop_float_noise():
    f = Field("code", "code", pattern_digits=6)
    assert convert(990200.0, f, "UTC") == "990200"
    assert convert(" 990200 ", f, "UTC") == "990200"
    with pytest.raises(ValueError, match="6 digits"):
        convert("99020", f, "UTC")


def test_naive_times_are_local_and_stored_in_utc():
    v = convert("2026-03-01 08:00", Field("t", "datetime"), "Asia/Shanghai")
    assert v.isoformat() == "2026-03-01T00:00:00+00:00"


def test_feature_errors_name_feature_code_and_field():
    frame = gpd.GeoDataFrame({"code": ["A", "B"], "HH": [1, -3]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    with pytest.raises(GridAtlasError) as err:
        check_features(frame, KINDS["buildings"], {"households": "HH", "code": "code"}, "f.shp")
    assert "f.shp: feature 2 (code B), field 'households'" in err.value.user_msg
    assert "negative" in err.value.user_msg


def test_duplicate_codes_in_a_file_are_refused():
    frame = gpd.GeoDataFrame({"code": ["A", "A"], "households": [1, 1]},
                             geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    with pytest.raises(GridAtlasError, match="feature 2, field 'code': duplicate code A"):
        check_features(frame, KINDS["buildings"], {"households": "households", "code": "code"},
                       "f.shp")


# ------------------------------------------------------------------------- geometry


def test_self_intersecting_polygon_is_repaired_and_reported():
    bow = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    out, repaired = check_geometry([bow], "polygon", "f.geojson", ["X"])
    assert out[0].is_valid and out[0].geom_type == "MultiPolygon"
    assert out[0].area == pytest.approx(0.5)
    assert repaired and "feature 1 (code X)" in repaired[0] and "Self-intersection" in repaired[0]


def test_wrong_geometry_type_is_refused():
    with pytest.raises(GridAtlasError, match="feature 1, field 'geometry': wrong geometry type "
                                             "LineString"):
        check_geometry([shapely.LineString([(0, 0), (1, 1)])], "polygon", "f", [None])
    with pytest.raises(GridAtlasError, match="Point is needed"):
        check_geometry([box(0, 0, 1, 1)], "point", "f", [None])


def test_reading_order_is_north_to_south_then_west_to_east():
    cells = [box(1, 0, 2, 1), box(0, 0, 1, 1), box(1, 1, 2, 2), box(0, 1, 1, 2)]
    assert _reading_order(cells) == [4, 3, 2, 1]


def test_sliver_gaps_merge_into_the_grid_with_the_longest_shared_edge():
    community = box(0, 0, 1000, 1000)  # metres
    grids = [box(0, 0, 500, 1000), box(500, 0, 1000, 999.99)]  # 1 cm x 500 m gap
    fixed, n = fill_slivers(grids, community)
    assert n == 1
    assert shapely.union_all(fixed).equals(community)
    big_gap = [box(0, 0, 500, 1000), box(500, 0, 1000, 990)]
    assert fill_slivers(big_gap, community)[1] == 0


def test_grids_drawn_in_degrees_are_fitted_where_the_database_measures():
    """A vertex on a 2 km community edge, straight in degrees, is mm off it in UTM."""
    community = box(120.10, 30.20, 120.12, 30.215)
    grids = [box(120.10, 30.20, 120.11, 30.215), box(120.11, 30.20, 120.12, 30.2150001)]
    fit = fit_grids(grids, community, label="g", names=["a", "b"], community_code="c")
    assert fit.trimmed >= 1
    assert shapely.union_all(fit.geoms).difference(community).area < 1e-14
    with pytest.raises(GridAtlasError, match="g: b, field 'geometry': extends"):
        fit_grids([box(120.10, 30.20, 120.12, 30.216)], community, label="g", names=["b"],
                  community_code="c")


# ------------------------------------------------------------------------- files, CRS


def test_gauss_kruger_file_is_reprojected_within_a_metre(fx):
    src = read_source(fx["communities_4549.gpkg"])
    assert src.frame.crs.to_epsg() == 4549
    out, notes = to_wgs84(src.frame, src.label)
    assert any("EPSG:4549" in n for n in notes)
    want = gpd.GeoSeries([box(*make_fixtures.COMMUNITIES[c][1]) for c in out["code"]], crs=4326)
    utm = want.estimate_utm_crs()
    dist = out.geometry.to_crs(utm).hausdorff_distance(want.to_crs(utm))
    assert dist.max() < 1.0


def test_cgcs2000_is_relabelled_with_a_note():
    frame = gpd.GeoDataFrame(geometry=[box(120.1, 30.2, 120.2, 30.3)], crs=4490)
    out, notes = to_wgs84(frame, "f")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].equals(box(120.1, 30.2, 120.2, 30.3))
    assert "CGCS2000" in notes[0]


def test_unknown_crs_is_refused(fx):
    src = read_source(fx["bad_no_crs.shp"])
    with pytest.raises(GridAtlasError, match="bad_no_crs.shp: unknown CRS"):
        to_wgs84(src.frame, src.label)
    with pytest.raises(GridAtlasError, match="unknown CRS 'EPSG:999999'"):
        to_wgs84(src.frame, src.label, crs_override="EPSG:999999")


def test_gbk_shapefile_without_cpg_needs_an_encoding(fx):
    with pytest.raises(GridAtlasError, match=r"streets_gbk_nocpg.shp: feature 1, field 'NAME'"
                                             r".*--encoding gbk"):
        read_source(fx["streets_gbk_nocpg.shp"])
    src = read_source(fx["streets_gbk_nocpg.shp"], encoding="gbk")
    assert src.frame["NAME"].tolist() == ["西街道", "东街道"]


def test_gbk_shapefile_with_cpg_reads_chinese(fx):
    src = read_source(fx["police_rooms_gbk.shp"])
    assert src.frame["name"].tolist() == ["西街派出所"]
    assert any(".cpg" in n for n in src.notes)


def test_empty_file_and_missing_file_are_refused(fx, tmp_path):
    with pytest.raises(GridAtlasError, match="bad_empty.geojson: the file holds no feature"):
        read_source(fx["bad_empty.geojson"])
    with pytest.raises(GridAtlasError, match="nope.gpkg: file not found"):
        read_source(tmp_path / "nope.gpkg")


def test_csv_with_lon_lat_becomes_points(fx):
    src = read_source(fx["cameras.csv"])
    assert src.has_geometry and src.frame.geometry.iloc[0].geom_type == "Point"
    assert "lon" not in src.frame.columns


def test_docs_list_every_canonical_field():
    text = (Path(__file__).resolve().parents[2] / "docs" / "IMPORT.md").read_text()
    for kind in KINDS.values():
        section = text.split(f"### `{kind.name}`", 1)[1].split("###", 1)[0]
        for f in kind.fields:
            assert f"| `{f.name}` |" in section, (kind.name, f.name)
