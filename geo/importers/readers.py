"""Reading import files: GeoPackage, GeoJSON, Shapefile (pyogrio) and CSV/XLSX (pandas).

Shapefile text is decoded with the ``.cpg`` file's code page, or ``--encoding`` (Chinese
shapefiles are often GBK without a ``.cpg``). CSV/XLSX cells are read as text so that codes
keep their leading zeros; a CSV/XLSX with ``lon``/``lat`` (or ``x``/``y``) columns becomes a
point layer.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xls")
_XY_COLUMNS = (("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"), ("x", "y"))
# Text that was decoded as Latin-1 but holds GBK/UTF-8 bytes: only U+0080..U+00FF letters.
_MOJIBAKE = re.compile(r"^[\x00-\x7f\x80-\xff]*[\x80-\xff][\x00-\x7f\x80-\xff]*$")


@dataclass
class SourceData:
    """A file read into memory.

    Attributes
    ----------
    frame:
        A GeoDataFrame (vector files, CSV with coordinates) or a DataFrame.
    label:
        The file name (and layer) for messages.
    notes:
        What the reader decided (encoding, layer, coordinates columns).
    """

    frame: pd.DataFrame
    label: str
    notes: list[str] = field(default_factory=list)

    @property
    def has_geometry(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame) and self.frame.geometry.name in self.frame


def read_source(
    path: str | Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
) -> SourceData:
    """Read an import file.

    Parameters
    ----------
    path:
        The file (``.gpkg``, ``.geojson``, ``.shp``, ``.csv``, ``.xlsx`` ...).
    layer:
        Layer of a multi-layer file (GeoPackage) or sheet of a workbook.
    encoding:
        Text encoding (e.g. ``gbk``) overriding a shapefile's ``.cpg``; for CSV the default
        is UTF-8 (with or without BOM).

    Returns
    -------
    SourceData

    Raises
    ------
    GridAtlasError
        When the file is missing, unreadable, has several layers and no ``layer`` was given,
        or holds no feature.
    """
    p = Path(path)
    label = p.name
    if not p.exists():
        raise GridAtlasError(f"{label}: file not found")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise GridAtlasError(f"{label}: unknown text encoding {encoding!r}") from None
    suffix = p.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        data = _read_table(p, layer, encoding)
    else:
        data = _read_vector(p, layer, encoding)
    if len(data.frame) == 0:
        raise GridAtlasError(f"{data.label}: the file holds no feature (empty file)")
    return data


def _read_vector(p: Path, layer: str | None, encoding: str | None) -> SourceData:
    label = p.name
    notes: list[str] = []
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio raises several DataSource errors; all mean unreadable
        raise GridAtlasError(f"{label}: cannot read this file as GIS data ({_short(exc)})") from exc
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if not names:
        raise GridAtlasError(f"{label}: the file holds no layer (empty file)")
    if layer is None:
        if len(names) > 1:
            raise GridAtlasError(
                f"{label}: the file has {len(names)} layers ({', '.join(names)}); "
                "choose one with --layer"
            )
        layer = names[0]
    elif layer not in names:
        raise GridAtlasError(f"{label}: no layer {layer!r} (layers: {', '.join(names)})")
    if len(names) > 1:
        label = f"{label} (layer {layer})"
    cpg = p.with_suffix(".cpg")
    is_shp = p.suffix.lower() == ".shp"
    kwargs = {}
    if encoding:
        kwargs["encoding"] = encoding
        notes.append(f"text decoded as {encoding}")
    elif is_shp and cpg.exists():
        notes.append(f"text decoded as {cpg.read_text(errors='replace').strip()} (.cpg)")
    try:
        frame = pyogrio.read_dataframe(p, layer=layer, **kwargs)
    except Exception as exc:
        raise GridAtlasError(f"{label}: cannot read layer {layer!r} ({_short(exc)})") from exc
    if is_shp and not encoding and not cpg.exists():
        _refuse_mojibake(frame, label)
    if not isinstance(frame, gpd.GeoDataFrame):
        frame = gpd.GeoDataFrame(frame)
    return SourceData(frame, label, notes)


def _refuse_mojibake(frame: pd.DataFrame, label: str) -> None:
    """A shapefile without ``.cpg`` read as Latin-1 while its bytes are GBK: stop early."""
    for col in frame.columns:
        if col == "geometry" or not (
            frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype)
        ):
            continue
        for pos, value in enumerate(frame[col].tolist(), start=1):
            if isinstance(value, str) and _MOJIBAKE.match(value):
                raise GridAtlasError(
                    f"{label}: feature {pos}, field {col!r}: text looks mis-decoded "
                    f"({value[:20]!r}); the shapefile has no .cpg file, so pass its encoding, "
                    "e.g. --encoding gbk (Chinese) or --encoding utf-8"
                )


def _read_table(p: Path, sheet: str | None, encoding: str | None) -> SourceData:
    label = p.name
    notes: list[str] = []
    try:
        if p.suffix.lower() == ".csv":
            frame = pd.read_csv(
                p, dtype=str, keep_default_na=False, na_values=[""],
                encoding=encoding or "utf-8-sig",
            )
        else:
            frame = pd.read_excel(p, sheet_name=sheet or 0, dtype=str)
    except UnicodeDecodeError as exc:
        raise GridAtlasError(
            f"{label}: the text is not {encoding or 'UTF-8'} ({_short(exc)}); "
            "pass --encoding gbk for a GBK file"
        ) from exc
    except pd.errors.EmptyDataError:
        raise GridAtlasError(f"{label}: the file holds no feature (empty file)") from None
    except (ValueError, OSError) as exc:
        raise GridAtlasError(f"{label}: cannot read this table ({_short(exc)})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    lower = {c.lower(): c for c in frame.columns}
    for xcol, ycol in _XY_COLUMNS:
        if xcol in lower and ycol in lower:
            x = pd.to_numeric(frame[lower[xcol]], errors="coerce")
            y = pd.to_numeric(frame[lower[ycol]], errors="coerce")
            bad = (x.isna() | y.isna()).to_numpy().nonzero()[0]
            if len(bad):
                raise GridAtlasError(
                    f"{label}: feature {bad[0] + 1}, field {lower[xcol]!r}/{lower[ycol]!r}: "
                    "coordinates are missing or not numbers"
                )
            geoms = shapely.points(x.to_numpy(), y.to_numpy())
            frame = gpd.GeoDataFrame(
                frame.drop(columns=[lower[xcol], lower[ycol]]), geometry=geoms, crs=None
            )
            notes.append(f"points from columns {lower[xcol]}/{lower[ycol]}")
            break
    return SourceData(frame, label, notes)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
