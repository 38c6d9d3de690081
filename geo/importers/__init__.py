"""Importing boundaries, buildings, assets, incidents and household counts from files.

:func:`import_file` reads a GeoPackage / GeoJSON / Shapefile / CSV / XLSX, maps its columns
onto the KIND's canonical fields (:mod:`geo.importers.fields`), brings the geometry to
EPSG:4326 (:mod:`geo.importers.crs`), checks and repairs it (:mod:`geo.importers.validate`)
and writes everything in one transaction (:mod:`geo.importers.writers`) with an audit row.
A refused import writes nothing.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

__all__ = ["ImportReport", "import_file", "KIND_NAMES"]

KIND_NAMES = (
    "districts", "streets", "communities", "grids", "compounds", "buildings", "cameras",
    "police-rooms", "departments", "incidents", "households", "roads",
)


@dataclass
class ImportReport:
    """What a committed import did.

    Attributes
    ----------
    kind, file:
        What was imported from where.
    counts:
        Rows written (per table) and other figures; also stored in the audit row.
    repaired:
        One line per geometry repaired with ``ST_MakeValid``-style repair.
    notes:
        Decisions taken on the way (encoding, CRS, layer).
    """

    kind: str
    file: str
    counts: dict = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_actor() -> str:
    """The OS user running the import."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def import_file(
    kind: str,
    path: str | Path,
    *,
    layer: str | None = None,
    fields: list[str] | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    actor: str | None = None,
) -> ImportReport:
    """Import one file of ``kind`` in one transaction.

    Parameters
    ----------
    kind:
        One of :data:`KIND_NAMES`.
    path:
        The file.
    layer:
        Layer (GeoPackage) or sheet (XLSX).
    fields:
        ``canonical=COLUMN`` mappings.
    crs:
        CRS of the coordinates when the file has none or a wrong one.
    encoding:
        Text encoding of a shapefile without ``.cpg`` (e.g. ``gbk``) or of a CSV.
    actor:
        Who is recorded in the audit log (default: the OS user).

    Returns
    -------
    ImportReport

    Raises
    ------
    GridAtlasError
        On any refusal; the message names file, feature and field. Nothing is written.
    """
    from geo import db
    from geo.importers.crs import to_wgs84
    from geo.importers.fields import KINDS, parse_field_options, resolve_columns
    from geo.importers.readers import read_source
    from geo.importers.validate import check_features
    from geo.importers.writers import WRITERS, ImportContext
    from geo.repository.writers import audit
    from geo.settings import get_settings

    if kind not in KINDS:
        raise GridAtlasError(f"unknown KIND {kind!r}; choose one of {', '.join(KIND_NAMES)}")
    spec = KINDS[kind]
    mapping = parse_field_options(fields, spec)
    src = read_source(path, layer=layer, encoding=encoding)
    label = src.label
    frame = src.frame
    notes = list(src.notes)
    if spec.geometry is not None and src.has_geometry:
        from geo.importers.crs import WGS84

        default = WGS84 if Path(path).suffix.lower() in (".csv", ".xlsx", ".xls") else None
        frame, crs_notes = to_wgs84(frame, label, crs_override=crs, default_crs=default)
        notes += crs_notes
    geom_col = frame.geometry.name if src.has_geometry else None
    attr_columns = [str(c) for c in frame.columns if c != geom_col]
    columns = resolve_columns(attr_columns, spec, mapping, label)
    checked = check_features(frame, spec, columns, label, timezone=get_settings().timezone)
    who = actor or default_actor()
    ctx = ImportContext(label=label, actor=who, notes=notes)
    report = ImportReport(kind=kind, file=Path(path).name, repaired=list(checked.repaired),
                          notes=notes)
    try:
        with db.transaction() as cur:
            report.counts = WRITERS[kind](cur, checked, ctx)
            audit(
                cur, actor=who, action="import", target=kind,
                detail={
                    "file": Path(path).name, "layer": layer, "features": len(checked),
                    "counts": report.counts, "repaired": len(checked.repaired),
                    "repairs": checked.repaired[:50], "notes": notes,
                    "fields": columns,
                },
                source="imported",
            )
    except psycopg2.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        raise GridAtlasError(f"{label}: the database refused the import: {primary.strip()}") \
            from exc
    log.info("imported %s from %s: %s", kind, label, report.counts)
    return report
