"""Checks and conversions of imported features, each failure naming file, feature, field.

Features are numbered from 1 in file order; a feature with a code is also named by it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import GridAtlasError
from geo.importers.fields import DISTRICT_TOLERANCE_M, Field, KindSpec

log = logging.getLogger(__name__)

_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class Checked:
    """Validated features: canonical values per field and repaired geometry.

    Attributes
    ----------
    values:
        canonical field -> list of Python values (``None`` where absent), one per feature.
    geometry:
        EPSG:4326 geometries (``None`` for attribute-only kinds).
    repaired:
        One line per repaired geometry ("feature 3 (code X): Self-intersection ... repaired").
    """

    values: dict[str, list]
    geometry: np.ndarray | None
    repaired: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else (
            0 if self.geometry is None else len(self.geometry))


def feature_name(pos: int, code: object = None) -> str:
    """``feature 3`` or ``feature 3 (code 990200001)``; ``pos`` is 0-based."""
    return f"feature {pos + 1}" + (f" (code {code})" if code not in (None, "") else "")


def check_features(
    frame: pd.DataFrame,
    kind: KindSpec,
    columns: Mapping[str, str],
    label: str,
    *,
    timezone: str = "Asia/Shanghai",
) -> Checked:
    """Convert and check every mapped field, then the geometry.

    Parameters
    ----------
    frame:
        The file's features (EPSG:4326 when it has geometry).
    kind:
        The KIND imported.
    columns:
        canonical field -> file column (from :func:`geo.importers.fields.resolve_columns`).
    label:
        File name for messages.
    timezone:
        Zone of date-times written without an offset.

    Returns
    -------
    Checked

    Raises
    ------
    GridAtlasError
        On the first bad value, missing required value, duplicate code or bad geometry.
    """
    n = len(frame)
    values: dict[str, list] = {}
    codes_raw = frame[columns["code"]].tolist() if "code" in columns else [None] * n
    for f in kind.fields:
        if f.name not in columns:
            continue
        raw = frame[columns[f.name]].tolist()
        out = []
        for pos, v in enumerate(raw):
            try:
                out.append(convert(v, f, timezone))
            except ValueError as exc:
                raise GridAtlasError(
                    f"{label}: {feature_name(pos, _plain(codes_raw[pos]))}, field {f.name!r}"
                    f" (column {columns[f.name]!r}): {exc}"
                ) from None
            if f.required and out[-1] is None:
                raise GridAtlasError(
                    f"{label}: {feature_name(pos, _plain(codes_raw[pos]))}, field {f.name!r}"
                    f" (column {columns[f.name]!r}): a value is required"
                )
        values[f.name] = out
    for key in ("code", "building_code"):
        if key in values:
            _refuse_duplicates(values[key], key, label)
    checked = Checked(values=values, geometry=None)
    if kind.geometry is not None:
        if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
            raise GridAtlasError(
                f"{label}: {kind.name} need {kind.geometry} geometry, but the file has none "
                "(for CSV/XLSX give lon/lat columns)"
            )
        codes = values.get("code", [None] * n)
        checked.geometry, checked.repaired = check_geometry(
            frame.geometry.to_numpy(), kind.geometry, label, codes
        )
    return checked


def _plain(v: object) -> object:
    try:
        return convert(v, Field("code", "code"), "UTC")
    except ValueError:
        return v


def _refuse_duplicates(codes: list, key: str, label: str) -> None:
    seen: dict[object, int] = {}
    for pos, c in enumerate(codes):
        if c is None:
            continue
        if c in seen:
            raise GridAtlasError(
                f"{label}: {feature_name(pos)}, field {key!r}: duplicate code {c} "
                f"(also {feature_name(seen[c])})"
            )
        seen[c] = pos


def _missing(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and v.strip() == "":
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def convert(value: object, f: Field, timezone: str) -> object:
    """One raw value as the field's Python type (``None`` when empty).

    Raises
    ------
    ValueError
        With a short reason when the value does not fit the field.
    """
    if _missing(value):
        return None
    if f.type == "text":
        return str(value).strip()
    if f.type == "code":
        if isinstance(value, (float, np.floating)):
            if not float(value).is_integer():
                raise ValueError(f"code {value!r} is not a whole number or text")
            value = int(value)
        text = str(value).strip()
        if re.fullmatch(r"\d+\.0+", text):
            text = text.split(".")[0]
        if f.pattern_digits and not re.fullmatch(rf"\d{{{f.pattern_digits}}}", text):
            raise ValueError(f"{text!r} must be exactly {f.pattern_digits} digits")
        return text
    if f.type == "int":
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{value!r} is not a whole number")
        if isinstance(value, (int, np.integer)):
            number = int(value)
        else:
            try:
                as_float = float(str(value).strip().replace(",", ""))
            except ValueError:
                raise ValueError(f"{value!r} is not a whole number") from None
            if not as_float.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            number = int(as_float)
        if f.minimum is not None and number < f.minimum:
            what = "negative" if number < 0 and f.minimum == 0 else f"below {f.minimum}"
            raise ValueError(f"{number} is {what} (must be >= {f.minimum})")
        return number
    if f.type == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    if f.type == "choice":
        text = str(value).strip().lower()
        if text not in f.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(f.choices)}")
        return text
    if f.type == "datetime":
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a date-time (use ISO 8601)") from None
        if pd.isna(ts):
            return None
        if ts.tzinfo is None:
            ts = ts.tz_localize(timezone)
        return ts.tz_convert("UTC").to_pydatetime()
    raise AssertionError(f.type)


def check_geometry(
    geoms: np.ndarray, want: str, label: str, codes: list
) -> tuple[np.ndarray, list[str]]:
    """Refuse missing or wrong-type geometry; repair invalid polygons and report them.

    Parameters
    ----------
    geoms:
        Shapely geometries in EPSG:4326.
    want:
        ``polygon``, ``point`` or ``line``.
    label:
        File name for messages.
    codes:
        Feature codes (or ``None``) for messages.

    Returns
    -------
    (numpy.ndarray, list of str)
        The geometries (2D; MultiPolygons for ``polygon``, MultiLineStrings for ``line``)
        and one line per repair.
    """
    out = np.empty(len(geoms), dtype=object)
    repaired: list[str] = []
    for pos, g in enumerate(geoms):
        name = feature_name(pos, codes[pos])
        if g is None or g.is_empty:
            raise GridAtlasError(f"{label}: {name}, field 'geometry': the geometry is empty")
        g = shapely.force_2d(g)
        gtype = g.geom_type
        if want == "point":
            if gtype == "MultiPoint" and len(g.geoms) == 1:
                g = g.geoms[0]
            elif gtype != "Point":
                raise GridAtlasError(
                    f"{label}: {name}, field 'geometry': wrong geometry type {gtype}; "
                    "a Point is needed"
                )
            out[pos] = g
            continue
        if want == "line":
            out[pos] = _line(g, f"{label}: {name}, field 'geometry'")
            continue
        if gtype not in _POLYGONAL:
            raise GridAtlasError(
                f"{label}: {name}, field 'geometry': wrong geometry type {gtype}; "
                "a Polygon or MultiPolygon is needed"
            )
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = _polygonal(shapely.make_valid(g))
            if fixed.is_empty or fixed.area <= 0:
                raise GridAtlasError(
                    f"{label}: {name}, field 'geometry': invalid geometry ({reason}) that "
                    "cannot be repaired into a polygon"
                )
            repaired.append(f"{name}: {reason}; repaired")
            g = fixed
        if g.geom_type == "Polygon":
            g = shapely.MultiPolygon([g])
        out[pos] = g
    for line in repaired:
        log.warning("%s: %s", label, line)
    return out, repaired


def _line(g: shapely.Geometry, where: str) -> shapely.MultiLineString:
    """A LineString or MultiLineString as a MultiLineString of parts with length; refuses
    other types and lines that are a single point."""
    if g.geom_type not in ("LineString", "MultiLineString"):
        raise GridAtlasError(
            f"{where}: wrong geometry type {g.geom_type}; a LineString or MultiLineString "
            "is needed"
        )
    parts = [p for p in shapely.get_parts(g) if not p.is_empty and p.length > 0]
    if not parts:
        raise GridAtlasError(f"{where}: the line has no length (all its points coincide)")
    return shapely.MultiLineString(parts)


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(g) if p.geom_type in _POLYGONAL]
    if not parts:
        return shapely.MultiPolygon()
    u = shapely.union_all(parts)
    return u if u.geom_type in _POLYGONAL else shapely.MultiPolygon()


def check_in_district(
    geoms: np.ndarray,
    districts: gpd.GeoDataFrame,
    label: str,
    codes: list,
) -> np.ndarray:
    """The district (position in ``districts``) holding each feature's point on surface.

    A feature whose point lies in no district, or that extends more than
    :data:`~geo.importers.fields.DISTRICT_TOLERANCE_M` beyond its district, stops the import.

    Returns
    -------
    numpy.ndarray of int
    """
    from geo.repository.lookup import locate

    if len(districts) == 0:
        raise GridAtlasError(
            f"{label}: there is no district in the database yet; import districts first "
            "(python -m geo import districts FILE)"
        )
    pts = shapely.point_on_surface(geoms)
    where = locate(pts, districts)
    bad = np.flatnonzero(where < 0)
    if len(bad):
        pos = int(bad[0])
        raise GridAtlasError(
            f"{label}: {feature_name(pos, codes[pos])}, field 'geometry': its point lies "
            f"outside the district ({', '.join(districts.code.astype(str))})"
            + (f"; {len(bad) - 1} more feature(s) too" if len(bad) > 1 else "")
        )
    utm = districts.estimate_utm_crs()
    d_m = districts.to_crs(utm).geometry.to_numpy()
    f_m = np.asarray(gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(utm).values, dtype=object)
    for di in np.unique(where):
        members = np.flatnonzero(where == di)
        zone = d_m[di]
        shapely.prepare(zone)
        out = members[~shapely.covers(zone, f_m[members])]
        if not len(out):
            continue
        wide = shapely.buffer(zone, DISTRICT_TOLERANCE_M, quad_segs=16)
        shapely.prepare(wide)
        far = out[~shapely.covers(wide, f_m[out])]
        if not len(far):
            continue
        pos = int(far[0])
        reach = max(zone.distance(shapely.Point(c)) for c in shapely.get_coordinates(f_m[pos]))
        raise GridAtlasError(
            f"{label}: {feature_name(pos, codes[pos])}, field 'geometry': extends "
            f"{max(reach, DISTRICT_TOLERANCE_M):.0f} m beyond district "
            f"{districts.code.iloc[di]} (at most {DISTRICT_TOLERANCE_M:.0f} m allowed)"
            + (f"; {len(far) - 1} more feature(s) too" if len(far) > 1 else "")
        )
    return where
