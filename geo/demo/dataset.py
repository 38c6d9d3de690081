"""Read the shipped demo district (``data/demo/``): the contract between builder and loader.

The demo is one GeoPackage zipped into ``data/demo/demo.gpkg.zip`` (read in place through
GDAL's ``/vsizip/``) plus ``data/demo/meta.json``.  Geometry layers come back as
GeoDataFrames in EPSG:4326 with a ``geometry`` column; attribute-only layers as DataFrames.
Times are UTC ISO-8601 strings (``...Z``) or ``None``; the loader shifts synthetic times by
``now - read_meta()["reference_time"]``.

Layers and columns
------------------
districts
    code, name, name_en, geometry (MultiPolygon)
streets
    code, district_code, name, name_en, geometry (MultiPolygon)
communities
    code, street_code, name, name_en, target_households, min_households, max_households,
    geometry (MultiPolygon)
compounds
    code, community_code, name, name_en, geometry (MultiPolygon)
buildings
    code, osm_id, name, address, households, floors (nullable), use, community_code,
    compound_code (nullable), grid_code, geometry (MultiPolygon)
grids (no geometry: a grid is the union of its buildings' cells)
    code, community_code, seq, kind, name
grid_workers
    code, grid_code, name, phone
cameras
    code, name, type, status, owner, last_heartbeat, stream_url, geometry (Point)
police_rooms
    code, name, name_en, address, phone, community_code, geometry (Point)
departments
    code, name, name_en, phone
incident_categories
    code, parent_code (nullable), class, name, name_en, department_code (nullable)
incidents
    code, category_code, title, description, severity, state, level, reported_at,
    dispatched_at, due_at, handled_at, closed_at, closed_level, department_code,
    reporter_name, reporter_phone, geometry (Point)
incident_events
    incident_code, at, from_state, to_state, level, actor, note
roads
    osm_id, highway, name, geometry (LineString)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.errors import GridAtlasError

DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "demo"
ARCHIVE = "demo.gpkg.zip"
LAYER_FILE = "demo.gpkg"
META_FILE = "meta.json"

LAYERS: tuple[str, ...] = (
    "districts",
    "streets",
    "communities",
    "compounds",
    "buildings",
    "grids",
    "grid_workers",
    "cameras",
    "police_rooms",
    "departments",
    "incident_categories",
    "incidents",
    "incident_events",
    "roads",
)

GEOMETRY_LAYERS = frozenset({
    "districts", "streets", "communities", "compounds", "buildings", "cameras",
    "police_rooms", "incidents", "roads",
})

# columns in contract order; the value is the pandas dtype to restore ("str" = text or None)
COLUMNS: dict[str, dict[str, str]] = {
    "districts": {"code": "str", "name": "str", "name_en": "str"},
    "streets": {"code": "str", "district_code": "str", "name": "str", "name_en": "str"},
    "communities": {
        "code": "str", "street_code": "str", "name": "str", "name_en": "str",
        "target_households": "int64", "min_households": "int64", "max_households": "int64",
    },
    "compounds": {"code": "str", "community_code": "str", "name": "str", "name_en": "str"},
    "buildings": {
        "code": "str", "osm_id": "int64", "name": "str", "address": "str",
        "households": "int64", "floors": "Int64", "use": "str", "community_code": "str",
        "compound_code": "str", "grid_code": "str",
    },
    "grids": {"code": "str", "community_code": "str", "seq": "int64", "kind": "str",
              "name": "str"},
    "grid_workers": {"code": "str", "grid_code": "str", "name": "str", "phone": "str"},
    "cameras": {
        "code": "str", "name": "str", "type": "str", "status": "str", "owner": "str",
        "last_heartbeat": "str", "stream_url": "str",
    },
    "police_rooms": {
        "code": "str", "name": "str", "name_en": "str", "address": "str", "phone": "str",
        "community_code": "str",
    },
    "departments": {"code": "str", "name": "str", "name_en": "str", "phone": "str"},
    "incident_categories": {
        "code": "str", "parent_code": "str", "class": "str", "name": "str", "name_en": "str",
        "department_code": "str",
    },
    "incidents": {
        "code": "str", "category_code": "str", "title": "str", "description": "str",
        "severity": "str", "state": "str", "level": "str", "reported_at": "str",
        "dispatched_at": "str", "due_at": "str", "handled_at": "str", "closed_at": "str",
        "closed_level": "str", "department_code": "str", "reporter_name": "str",
        "reporter_phone": "str",
    },
    "incident_events": {
        "incident_code": "str", "at": "str", "from_state": "str", "to_state": "str",
        "level": "str", "actor": "str", "note": "str",
    },
    "roads": {"osm_id": "int64", "highway": "str", "name": "str"},
}


def _archive(demo_dir: Path | None) -> Path:
    path = (demo_dir or DEMO_DIR) / ARCHIVE
    if not path.is_file():
        raise GridAtlasError(
            f"the demo dataset {path} is missing: rebuild it with "
            "`python -m geo demo build --from <OSM GeoPackage>`"
        )
    return path


def _vsi(demo_dir: Path | None) -> str:
    return f"/vsizip/{_archive(demo_dir)}/{LAYER_FILE}"


def read_layer(name: str, demo_dir: Path | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one layer of the shipped demo.

    Parameters
    ----------
    name:
        One of :data:`LAYERS`.
    demo_dir:
        Folder holding ``demo.gpkg.zip`` (default: the project's ``data/demo``).

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame
        EPSG:4326 GeoDataFrame for geometry layers, DataFrame for attribute-only ones;
        columns in contract order, missing values as ``None`` (``pd.NA`` for ``floors``).

    Raises
    ------
    GridAtlasError
        Unknown layer, or the dataset is missing or lacks the layer or a column.
    """
    if name not in COLUMNS:
        raise GridAtlasError(f"unknown demo layer {name!r}; layers: {', '.join(LAYERS)}")
    src = _vsi(demo_dir)
    try:
        frame = pyogrio.read_dataframe(src, layer=name)
    except pyogrio.errors.DataLayerError:
        raise GridAtlasError(f"{_archive(demo_dir)}: layer {name!r} is missing") from None
    cols = COLUMNS[name]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise GridAtlasError(
            f"{_archive(demo_dir)}: layer {name!r} lacks column(s) {', '.join(missing)}"
        )
    for col, dtype in cols.items():
        s = frame[col]
        if dtype == "str":
            frame[col] = s.astype(object).where(s.notna(), None)
        elif dtype == "Int64":
            frame[col] = pd.to_numeric(s).round().astype("Int64")
        else:
            frame[col] = s.astype(dtype)
    if name in GEOMETRY_LAYERS:
        out = gpd.GeoDataFrame(frame[list(cols)], geometry=frame.geometry.values, crs="EPSG:4326")
        return out
    return pd.DataFrame(frame[list(cols)])


def read_meta(demo_dir: Path | None = None) -> dict[str, Any]:
    """The demo's metadata: ``reference_time`` (UTC ISO), ``attribution``,
    ``households_rule``, ``district_code`` and notes on how it was derived.

    Raises
    ------
    GridAtlasError
        If ``meta.json`` is missing.
    """
    path = (demo_dir or DEMO_DIR) / META_FILE
    if not path.is_file():
        raise GridAtlasError(f"the demo metadata {path} is missing: rebuild the demo")
    return json.loads(path.read_text(encoding="utf-8"))


def read_all(demo_dir: Path | None = None) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """Every layer, keyed by name (in :data:`LAYERS` order)."""
    return {name: read_layer(name, demo_dir) for name in LAYERS}


__all__ = ["LAYERS", "read_layer", "read_meta", "read_all", "DEMO_DIR"]
