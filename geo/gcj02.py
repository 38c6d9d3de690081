"""WGS-84 <-> GCJ-02 (the offset datum of AMap and Tencent basemaps).

Standard published transform; points outside mainland China are not shifted (the usual
rough bounding-box rule). ``gcj02_to_wgs84`` inverts by fixed-point iteration (< 1 cm).
"""

from __future__ import annotations

import math
from collections.abc import Callable

_A = 6378245.0
_EE = 0.00669342162296594323


def out_of_china(lng: float, lat: float) -> bool:
    """The conventional rule: outside 72.004-137.8347 E, 0.8293-55.8271 N nothing shifts."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlng(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Shift a WGS-84 point onto GCJ-02 (unchanged outside China)."""
    if out_of_china(lng, lat):
        return lng, lat
    dlat = _dlat(lng - 105.0, lat - 35.0)
    dlng = _dlng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Invert :func:`wgs84_to_gcj02` (iterative; unchanged outside China)."""
    if out_of_china(lng, lat):
        return lng, lat
    x, y = lng, lat
    for _ in range(30):
        gx, gy = wgs84_to_gcj02(x, y)
        dx, dy = gx - lng, gy - lat
        x, y = x - dx, y - dy
        if abs(dx) < 1e-10 and abs(dy) < 1e-10:
            break
    return x, y


def transform_geojson(obj: dict, fn: Callable[[float, float], tuple[float, float]]) -> dict:
    """A copy of a GeoJSON FeatureCollection/Feature/geometry with every position mapped."""

    def coords(c):
        if isinstance(c[0], (int, float)):
            x, y = fn(c[0], c[1])
            return [round(x, 6), round(y, 6)]
        return [coords(p) for p in c]

    kind = obj.get("type")
    if kind == "FeatureCollection":
        return {**obj, "features": [transform_geojson(f, fn) for f in obj["features"]]}
    if kind == "Feature":
        geom = obj.get("geometry")
        return {**obj, "geometry": transform_geojson(geom, fn) if geom else geom}
    if kind == "GeometryCollection":
        return {**obj, "geometries": [transform_geojson(g, fn) for g in obj["geometries"]]}
    return {**obj, "coordinates": coords(obj["coordinates"])}
