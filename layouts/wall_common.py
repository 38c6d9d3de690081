"""Shared helpers of the command-centre wall (/): the page's filters, the basemap datum
shift, map bounds and digests. No SQL, no Dash callbacks here."""

from __future__ import annotations

import hashlib
import json

from dash_extensions.javascript import Namespace

from geo.gcj02 import gcj02_to_wgs84, transform_geojson, wgs84_to_gcj02
from geo.repository import wall
from geo.repository.scope import Scope
from geo.settings import get_settings
from layouts.auth import current_principal

MAP_NS = Namespace("gridatlas", "map")
WALL_NS = Namespace("gridatlas", "wall")


def to_float(value, lo, hi):
    """A number from the URL within [lo, hi], else None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if lo <= v <= hi else None


def in_scope(code):
    """A place code from the URL, kept only when it lies inside the viewer's scope."""
    principal = current_principal()
    return code if principal is not None and Scope.of(principal).covers(code) else None


def filters(stored):
    """(scope, incident filter) of the page's filters; GridAtlasError for a bad filter."""
    return wall.view_of(current_principal(), stored)


def shift(fc):
    """Overlays follow a GCJ-02 basemap when one is configured (no shift outside China)."""
    if fc is None or not get_settings().basemap_gcj02:
        return fc
    return transform_geojson(fc, wgs84_to_gcj02)


def shift_bounds(b):
    if b is None or not get_settings().basemap_gcj02:
        return b
    (s, w), (n, e) = b
    w2, s2 = wgs84_to_gcj02(w, s)
    e2, n2 = wgs84_to_gcj02(e, n)
    return [[s2, w2], [n2, e2]]


def bbox(bounds) -> list[float] | None:
    """Map bounds [[s, w], [n, e]] (basemap datum) -> WGS-84 [w, s, e, n] for queries;
    GridAtlasError for malformed bounds."""
    if not bounds:
        return None
    w, s, e, n = wall.bbox_of(bounds)
    if get_settings().basemap_gcj02:
        w, s = gcj02_to_wgs84(w, s)
        e, n = gcj02_to_wgs84(e, n)
    return [w, s, e, n]


def digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
