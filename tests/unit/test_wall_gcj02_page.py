"""With a GCJ-02 basemap the wall shifts its overlays and reads map bounds back to WGS-84
(points in China; nothing shifts outside China)."""

from __future__ import annotations

import math

import pytest

from geo.gcj02 import wgs84_to_gcj02
from geo.settings import get_settings


@pytest.fixture()
def gcj_basemap(monkeypatch):
    monkeypatch.setenv("BASEMAP_GCJ02", "1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused:x@127.0.0.1:1/none")
    get_settings.cache_clear()
    import app  # noqa: F401  (pages register only inside the app)

    yield
    get_settings.cache_clear()


def test_overlays_shift_and_bounds_come_back(gcj_basemap):
    from layouts import wall_common as command

    beijing = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "x"},
         "geometry": {"type": "Point", "coordinates": [116.397428, 39.90923]}}]}
    shifted = command.shift(beijing)["features"][0]["geometry"]["coordinates"]
    expected = wgs84_to_gcj02(116.397428, 39.90923)
    assert shifted == [round(expected[0], 6), round(expected[1], 6)]
    # the map reports bounds in the basemap's datum; queries get WGS-84 back
    gcj_sw, gcj_ne = wgs84_to_gcj02(116.3, 39.8), wgs84_to_gcj02(116.5, 40.0)
    w, s, e, n = command.bbox([[gcj_sw[1], gcj_sw[0]], [gcj_ne[1], gcj_ne[0]]])
    assert math.isclose(w, 116.3, abs_tol=1e-6) and math.isclose(s, 39.8, abs_tol=1e-6)
    assert math.isclose(e, 116.5, abs_tol=1e-6) and math.isclose(n, 40.0, abs_tol=1e-6)


def test_no_shift_outside_china(gcj_basemap):
    from layouts import wall_common as command

    astana = {"type": "Feature", "properties": {},
              "geometry": {"type": "Point", "coordinates": [71.43, 51.13]}}
    assert command.shift(astana)["geometry"]["coordinates"] == [71.43, 51.13]


def test_no_shift_without_the_setting(monkeypatch):
    import app  # noqa: F401
    from layouts import wall_common as command

    monkeypatch.delenv("BASEMAP_GCJ02", raising=False)
    get_settings.cache_clear()
    fc = {"type": "Feature", "properties": {},
          "geometry": {"type": "Point", "coordinates": [116.4, 39.9]}}
    assert command.shift(fc) is fc
    get_settings.cache_clear()
