"""The importer's messages on the /import page: Chinese in Chinese mode (names kept), the
page's options instead of the command line's in English, a bilingual message cut in two."""

from __future__ import annotations

import pytest

from layouts.import_text import say

CASES = [
    ("buildings.gpkg: feature 2 (code 990200001001B002), field 'households' (column 'HH_COUNT'): "
     "-5 is negative (must be >= 0)",
     "buildings.gpkg：第 2 个要素（编码 990200001001B002），字段「户数」（households，列 HH_COUNT）："
     "-5 为负数（须不小于 0）"),
    ("a.geojson: feature 3, field 'code': duplicate code X1 (also feature 1)",
     "a.geojson：第 3 个要素，字段「编码」（code）：编码 X1 重复（与第 1 个要素相同）"),
    ("a.geojson: feature 2, field 'geometry': its point lies outside the district (990200)",
     "a.geojson：第 2 个要素，字段「几何」（geometry）：位置不在区县（990200）范围内"),
    ("a.geojson: required field 'households' is missing for buildings (columns: A, B); "
     "map one with --field households=COLUMN",
     "a.geojson：缺少必填字段「户数」（households）（文件的列：A，B）；请在“高级选项”的字段对应中填写 households=列名"),
    ("b.shp: unknown CRS (the file does not say which coordinate system it uses); pass --crs, "
     "e.g. --crs EPSG:4326 or --crs EPSG:4549",
     "b.shp：坐标系未知（文件未说明所用坐标系）；请在“高级选项”中填写坐标系，例如 EPSG:4326 或 EPSG:4549"),
    ("e.geojson: the file holds no feature (empty file)", "e.geojson：文件中没有任何要素（空文件）"),
    ("l.geojson: feature 1 (code L1), field 'geometry': wrong geometry type LineString; "
     "a Polygon or MultiPolygon is needed",
     "l.geojson：第 1 个要素（编码 L1），字段「几何」（geometry）："
     "几何类型为线，需要面"),
    ("h.csv: feature 2, field 'building_code': no building with code NOPE in the database",
     "h.csv：第 2 个要素，字段「楼栋编码」（building_code）：数据库中没有编码为 NOPE 的楼栋"),
    ("g.geojson: feature 1, field 'geometry': its point lies in no community in the database; import the "
     "community first or map --field community_code=COLUMN",
     "g.geojson：第 1 个要素，字段「几何」（geometry）："
     "所在位置不在数据库中的任何社区内；请先导入社区，或在字段对应中填写 "
     "community_code=列名"),
    ("reprojected from EPSG:4549 to EPSG:4326", "坐标已从 EPSG:4549 转换为 EPSG:4326"),
]


@pytest.mark.parametrize("english, chinese", CASES)
def test_importer_messages_in_chinese(english, chinese):
    assert say(english, "zh") == chinese


def test_english_names_the_page_options_not_the_command_line():
    text = say(CASES[3][0], "en")
    assert "--field" not in text and "Options: households=COLUMN" in text
    assert "--crs" not in say(CASES[4][0], "en")


def test_bilingual_message_is_cut_to_the_page_language():
    msg = "找不到上传的文件 / the uploaded file is not there"
    assert say(msg, "zh") == "找不到上传的文件" and say(msg, "en") == "the uploaded file is not there"
