"""GCJ-02 shifting: known offsets in China, none outside, round trip within 1 cm."""

from __future__ import annotations

import math

from geo.gcj02 import gcj02_to_wgs84, transform_geojson, wgs84_to_gcj02


def _metres(a, b):
    dy = (a[1] - b[1]) * 111_320
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    return math.hypot(dx, dy)


def test_beijing_shifts_by_a_few_hundred_metres():
    tiananmen = (116.397428, 39.90923)
    shifted = wgs84_to_gcj02(*tiananmen)
    assert 100 < _metres(tiananmen, shifted) < 700
    # published reference: WGS-84 (116.397428, 39.90923) -> GCJ-02 ~ (116.403672, 39.910634)
    assert abs(shifted[0] - 116.40367) < 2e-4 and abs(shifted[1] - 39.91063) < 2e-4


def test_no_shift_outside_china():
    astana = (71.43, 51.13)
    assert wgs84_to_gcj02(*astana) == astana
    assert gcj02_to_wgs84(*astana) == astana


def test_round_trip_within_a_centimetre():
    for p in [(116.4, 39.9), (121.47, 31.23), (113.26, 23.13), (104.07, 30.67)]:
        back = gcj02_to_wgs84(*wgs84_to_gcj02(*p))
        assert _metres(p, back) < 0.01


def test_geojson_positions_are_all_mapped():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": 1},
         "geometry": {"type": "Polygon", "coordinates": [[[116.0, 40.0], [116.1, 40.0],
                                                          [116.1, 40.1], [116.0, 40.0]]]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                           "coordinates": [116.2, 40.2]}}]}
    out = transform_geojson(fc, wgs84_to_gcj02)
    assert out["features"][0]["properties"] == {"a": 1}
    assert out["features"][1]["geometry"]["coordinates"] != [116.2, 40.2]
    assert fc["features"][1]["geometry"]["coordinates"] == [116.2, 40.2]  # input untouched
