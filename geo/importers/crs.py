"""Coordinate reference systems of import files.

Everything is stored in EPSG:4326. CGCS2000 (EPSG:4490) differs from WGS 84 by centimetres
and is relabelled with a note; projected systems such as the CGCS2000 Gauss-Kruger zones
(EPSG:4491-4554) are reprojected. A file without a CRS needs ``--crs`` (a CSV with
``lon``/``lat`` columns is taken as EPSG:4326).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj
from pyproj.exceptions import CRSError

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

WGS84 = pyproj.CRS.from_epsg(4326)
CGCS2000 = pyproj.CRS.from_epsg(4490)


def parse_crs(text: str, label: str) -> pyproj.CRS:
    """A CRS from ``--crs`` text (``EPSG:4549``, ``4549``, a WKT or PROJ string)."""
    value = text.strip()
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        return pyproj.CRS.from_user_input(value)
    except CRSError:
        raise GridAtlasError(f"{label}: unknown CRS {text!r} given with --crs") from None


def to_wgs84(
    frame: gpd.GeoDataFrame,
    label: str,
    *,
    crs_override: str | None = None,
    default_crs: pyproj.CRS | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Return ``frame`` in EPSG:4326 and notes on what was done.

    Parameters
    ----------
    frame:
        Features with geometry.
    label:
        File name for messages.
    crs_override:
        ``--crs``: replaces the file's CRS (the coordinates are taken to be in it).
    default_crs:
        CRS to assume when the file has none (CSV coordinates); ``None`` refuses.

    Raises
    ------
    GridAtlasError
        When the CRS is unknown, or the coordinates are not plausible for it.
    """
    notes: list[str] = []
    if crs_override:
        crs = parse_crs(crs_override, label)
        if frame.crs is not None and not frame.crs.equals(crs):
            notes.append(f"file CRS {frame.crs.to_string()} replaced by --crs {crs.to_string()}")
        frame = frame.set_crs(crs, allow_override=True)
    elif frame.crs is None:
        if default_crs is None:
            raise GridAtlasError(
                f"{label}: unknown CRS (the file does not say which coordinate system it uses);"
                " pass --crs, e.g. --crs EPSG:4326 or --crs EPSG:4549"
            )
        frame = frame.set_crs(default_crs)
        notes.append(f"coordinates taken as {default_crs.to_string()}")
    crs = frame.crs
    epsg = crs.to_epsg()
    if epsg == 4490 or (crs.is_geographic and crs.equals(CGCS2000)):
        frame = frame.set_crs(WGS84, allow_override=True)
        notes.append("CGCS2000 (EPSG:4490) coordinates stored as EPSG:4326 (they differ by "
                     "centimetres)")
    elif epsg != 4326:
        try:
            frame = frame.to_crs(WGS84)
        except CRSError as exc:
            raise GridAtlasError(
                f"{label}: cannot reproject from {crs.to_string()}: {exc}"
            ) from exc
        notes.append(f"reprojected from {crs.to_string()} to EPSG:4326")
    _check_lonlat(frame, label)
    return frame, notes


def _check_lonlat(frame: gpd.GeoDataFrame, label: str) -> None:
    geoms = frame.geometry
    ok = ~(geoms.isna() | geoms.is_empty)
    if not ok.any():
        return
    b = geoms[ok].bounds
    bad = ~(np.isfinite(b.values).all(axis=1)
            & (b.minx >= -180) & (b.maxx <= 180) & (b.miny >= -90) & (b.maxy <= 90))
    if bad.any():
        pos = int(np.flatnonzero(ok.to_numpy())[int(np.flatnonzero(bad.to_numpy())[0])]) + 1
        raise GridAtlasError(
            f"{label}: feature {pos}: coordinates are not longitude/latitude after "
            "conversion; the CRS is wrong or unknown, pass the right one with --crs"
        )
