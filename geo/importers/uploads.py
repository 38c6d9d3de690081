"""Imports of uploaded files, for the /import page and its background job.

An uploaded file is kept in the database (``import_uploads``, migration 0017), not on a
disk: the job that imports it may run on a Celery worker on another machine. Every read of
an upload checks the ``data.import`` permission and that the upload is the caller's own.

:func:`run_import` reads, converts and checks the file exactly as
:func:`geo.importers.import_file` does (the same reader, CRS conversion, field mapping,
checks and writers), reports its progress (rows read, validated, written) and writes
everything in one transaction with its audit row. A principal with a scope (a district
operator) may only write places inside it: after the writer has run, and before the commit,
every row this transaction wrote to a table of places is checked against the scope
(:func:`_refuse_outside_scope`); one row outside refuses the whole import. Nothing is written
by a refused, cancelled or killed import (the transaction never commits), and the upload is
deleted in the same transaction as a committed import.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import psycopg2
from psycopg2 import sql

from geo.access.permissions import PermissionDenied, check
from geo.access.roles import Principal
from geo.errors import DatabaseUnavailable, GridAtlasError
from geo.importers import KIND_NAMES, ImportReport

log = logging.getLogger(__name__)

__all__ = [
    "UPLOAD_SUFFIXES", "Upload", "Preview", "max_upload_bytes", "store", "get", "discard",
    "preview", "run_import", "CITY_WIDE_KINDS",
]

#: Files the page accepts: one file each (a shapefile comes zipped with its .dbf/.shx/.prj).
UPLOAD_SUFFIXES = (".gpkg", ".geojson", ".json", ".zip", ".fgb", ".csv", ".xlsx")
#: Kinds that belong to the whole city, not to a place: only an unscoped principal imports them.
CITY_WIDE_KINDS = frozenset({"departments", "roads"})
#: Features the preview checks (the first ones; the import checks them all). Reading is
#: cheap, checking is not: about 15 s per 200,000 buildings on a loaded 2-core machine, too
#: long for a web request at the upload limit.
PREVIEW_ROWS = 20_000
#: Hours an upload is kept when its job never finished (cancelled, lost with its worker).
UPLOAD_TTL_HOURS = 24
_MB = 1024 * 1024

Progress = Callable[[str, int, int], None]


@lru_cache(maxsize=1)
def max_upload_bytes() -> int:
    """``IMPORT_MAX_MB`` (default 200, 1..1024) in bytes, read once."""
    from geo.settings import _int

    return _int("IMPORT_MAX_MB", 200, 1, 1024) * _MB


@dataclass(frozen=True)
class Upload:
    """One stored upload (without its bytes unless read with ``with_data``)."""

    id: str
    owner: str
    kind: str
    file_name: str
    size_bytes: int
    sha256: str
    created_at: datetime
    data: bytes | None = None


@dataclass
class Preview:
    """What a dry run of an upload found (nothing written).

    Attributes
    ----------
    rows:
        Features (rows) read.
    crs:
        The file's coordinate system as read (``None`` for attribute-only files).
    geometry:
        Geometry types found (e.g. ``MultiPolygon``), empty for attribute-only files.
    columns:
        canonical field -> file column used.
    notes:
        Decisions of the reader and the CRS conversion.
    checked:
        Features checked (the first :data:`PREVIEW_ROWS`; the import checks every one).
    repaired:
        Geometries that will be repaired (among those checked).
    problem:
        Why the import would be refused (the first problem found), or ``None``.
    """

    rows: int = 0
    crs: str | None = None
    geometry: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checked: int = 0
    repaired: int = 0
    problem: str | None = None


def _require(principal: Principal | None) -> Principal:
    check(principal, "data.import")
    assert principal is not None
    return principal


def _kind(kind: object) -> str:
    if not isinstance(kind, str) or kind not in KIND_NAMES:
        raise GridAtlasError(f"未知的数据类型 / unknown kind {str(kind)[:20]!r}; "
                             f"choose one of {', '.join(KIND_NAMES)}")
    return kind


def _kind_for(principal: Principal, kind: object) -> str:
    """The kind, refused for a scoped principal when it belongs to the whole city."""
    kind = _kind(kind)
    if principal.scope_code is not None and kind in CITY_WIDE_KINDS:
        raise PermissionDenied(
            f"「{kind}」属于全市数据，只能由不限范围的管理员导入 / {kind} belong to the whole "
            f"city: only an administrator without a scope imports them (your scope: "
            f"{principal.scope_code})",
            reason="scope", role=principal.role, action="data.import", scope=principal.scope_code)
    return kind


_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def _file_name(name: object) -> str:
    """The upload's file name without any folder, refused unless its suffix is accepted."""
    if not isinstance(name, str) or not name.strip():
        raise GridAtlasError("缺少文件名 / the file has no name")
    base = re.split(r"[\\/]", name.strip())[-1][:200]
    if Path(base).suffix.lower() not in UPLOAD_SUFFIXES:
        raise GridAtlasError(
            f"不支持的文件类型：{base[:60]}（可用 {' '.join(UPLOAD_SUFFIXES)}；Shapefile 请连同 "
            f".dbf/.shx/.prj 打包为 .zip）/ unsupported file {base[:60]!r} (accepted: "
            f"{' '.join(UPLOAD_SUFFIXES)}; zip a shapefile with its .dbf, .shx and .prj)")
    return base


def _upload_id(value: object) -> str:
    try:
        return str(uuid.UUID(str(value))) if isinstance(value, str) else _bad_id()
    except ValueError:
        return _bad_id()


def _bad_id() -> str:
    raise GridAtlasError("上传文件编号无效 / not an upload id")


def store(principal: Principal | None, kind: object, file_name: object, data: object) -> Upload:
    """Keep an uploaded file for ``principal``'s import; returns the stored upload.

    Uploads older than :data:`UPLOAD_TTL_HOURS` are purged in the same transaction.

    Raises
    ------
    PermissionDenied
        Without ``data.import``, or for a city-wide kind and a scoped principal.
    GridAtlasError
        For an empty or too large file, or a file type the importer does not read.
    """
    principal = _require(principal)
    kind = _kind_for(principal, kind)
    name = _file_name(file_name)
    if not isinstance(data, bytes | bytearray) or len(data) == 0:
        raise GridAtlasError(f"{name}: 文件为空 / the file is empty")
    limit = max_upload_bytes()
    if len(data) > limit:
        raise GridAtlasError(
            f"{name}: 文件过大（{len(data) / _MB:.1f} MB，上限 {limit // _MB} MB）/ the file is "
            f"too large ({len(data) / _MB:.1f} MB; at most {limit // _MB} MB, IMPORT_MAX_MB)")
    from geo import db

    digest = hashlib.sha256(data).hexdigest()
    key = str(uuid.uuid4())
    with db.transaction() as cur:
        _purge(cur)
        cur.execute(
            """INSERT INTO import_uploads (id, owner, kind, file_name, size_bytes, sha256, data)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING created_at""",
            (key, principal.username, kind, name, len(data), digest, psycopg2.Binary(bytes(data))),
        )
        created = cur.fetchone()["created_at"]
    log.info("upload %s stored for %s: %s (%d bytes, %s)", key, principal.username, name,
             len(data), kind)
    return Upload(key, principal.username, kind, name, len(data), digest, created)


def _purge(cur) -> int:
    cur.execute("DELETE FROM import_uploads WHERE created_at < now() - make_interval(hours => %s)",
                (UPLOAD_TTL_HOURS,))
    return cur.rowcount


def get(principal: Principal | None, upload_id: object, *, with_data: bool = False) -> Upload:
    """The caller's own upload (its bytes too with ``with_data``).

    Raises
    ------
    PermissionDenied
        Without ``data.import``.
    GridAtlasError
        For a malformed id, or an upload that is not the caller's, was imported or expired
        (the same message: another user's upload is not told apart from a missing one).
    """
    principal = _require(principal)
    key = _upload_id(upload_id)
    from geo import db

    cols = sql.SQL(", ").join(sql.Identifier(c) for c in (
        "id", "owner", "kind", "file_name", "size_bytes", "sha256", "created_at",
        *(("data",) if with_data else ())))
    with db.transaction(readonly=True) as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM import_uploads WHERE id = %s AND owner = %s"
                    " AND created_at >= now() - make_interval(hours => %s)").format(cols),
            (key, principal.username, UPLOAD_TTL_HOURS))
        row = cur.fetchone()
    if row is None:
        raise GridAtlasError("找不到上传的文件（已导入、已过期或不属于您），请重新上传 / the uploaded "
                             "file is not there (imported, expired or not yours); upload it again")
    data = bytes(row["data"]) if with_data else None
    return Upload(str(row["id"]), row["owner"], row["kind"], row["file_name"],
                  int(row["size_bytes"]), row["sha256"], row["created_at"], data)


def discard(principal: Principal | None, upload_id: object) -> bool:
    """Delete the caller's own upload; False when there was none."""
    principal = _require(principal)
    key = _upload_id(upload_id)
    from geo import db

    with db.transaction() as cur:
        cur.execute("DELETE FROM import_uploads WHERE id = %s AND owner = %s",
                    (key, principal.username))
        return cur.rowcount > 0


@contextmanager
def _staged(upload: Upload) -> Iterator[Path]:
    """The upload's bytes as a file of this machine (a private temporary folder, removed
    afterwards), named like the upload so the reader picks its format by suffix."""
    assert upload.data is not None
    with tempfile.TemporaryDirectory(prefix="gridatlas-import-") as tmp:
        name = _UNSAFE.sub("_", upload.file_name).lstrip(".") or "upload"
        path = Path(tmp) / name
        if path.suffix.lower() not in UPLOAD_SUFFIXES:  # the suffix never leaves the list
            path = path.with_name(path.name + Path(upload.file_name).suffix.lower())
        path.write_bytes(upload.data)
        yield path


def _fields(fields: object) -> list[str]:
    """``canonical=COLUMN`` mappings from the page (a list of strings, or None)."""
    if fields is None:
        return []
    if not isinstance(fields, list | tuple) or len(fields) > 40 or not all(
            isinstance(f, str) and 0 < len(f) <= 200 for f in fields):
        raise GridAtlasError("字段对应无效（每行一个 字段=列名）/ field mappings must be "
                             "canonical=COLUMN lines")
    return list(fields)


_ENCODINGS = (None, "utf-8", "gbk")


@dataclass
class _Read:
    kind: str
    label: str
    frame: object
    notes: list[str]
    columns: dict[str, str]
    crs: str | None


def _read(path: Path, kind: str, fields: list[str], encoding: str | None,
          crs_override: str | None) -> _Read:
    """Read, convert to EPSG:4326 and map the columns, as ``import_file`` does."""
    from geo.importers.crs import WGS84, to_wgs84
    from geo.importers.fields import KINDS, parse_field_options, resolve_columns
    from geo.importers.readers import read_source

    spec = KINDS[kind]
    mapping = parse_field_options(fields, spec)
    src = read_source(path, encoding=encoding)
    frame, notes = src.frame, list(src.notes)
    crs = None
    if spec.geometry is not None and src.has_geometry:
        crs = frame.crs.to_string() if frame.crs is not None else None
        default = WGS84 if path.suffix.lower() in (".csv", ".xlsx") else None
        frame, crs_notes = to_wgs84(frame, src.label, crs_override=crs_override,
                                    default_crs=default)
        notes += crs_notes
        crs = crs_override or crs or "EPSG:4326"
    geom_col = frame.geometry.name if src.has_geometry else None
    attrs = [str(c) for c in frame.columns if c != geom_col]
    columns = resolve_columns(attrs, spec, mapping, src.label)
    return _Read(kind, src.label, frame, notes, columns, crs)


def _encoding(value: object) -> str | None:
    if value in ("", None):
        return None
    if value not in _ENCODINGS:
        raise GridAtlasError(f"文字编码无效 / unknown encoding {str(value)[:20]!r}")
    return value  # type: ignore[return-value]


def _crs(value: object) -> str | None:
    if value in ("", None):
        return None
    if not isinstance(value, str) or len(value) > 40 or not re.fullmatch(r"(EPSG:)?\d{4,6}", value.strip(), re.I):
        raise GridAtlasError(f"坐标系应写作 EPSG:代码，例如 EPSG:4549 / write the CRS as EPSG:CODE, "
                             f"e.g. EPSG:4549 (got {str(value)[:20]!r})")
    return value.strip().upper()


# Errors of pandas, pyogrio, shapely and pyproj on a file they cannot make sense of: the
# file's problem, said as such (anything else is a fault of ours and surfaces).
def _file_errors() -> tuple[type[BaseException], ...]:
    import shapely.errors
    from pyproj.exceptions import CRSError

    return (ValueError, TypeError, KeyError, IndexError, OSError, UnicodeError,
            shapely.errors.ShapelyError, CRSError)


def _unreadable(label: str, exc: BaseException) -> GridAtlasError:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    log.info("import of %s: file refused: %r", label, exc)
    return GridAtlasError(f"{label}: cannot read this file ({text})")


def preview(principal: Principal | None, upload_id: object, kind: object,
            fields: object = None, encoding: object = None, crs: object = None) -> Preview:
    """A dry run of the caller's upload as ``kind``: read and map every feature, check the
    first :data:`PREVIEW_ROWS`, write nothing.

    The checks that need the database (parents, codes already there, the scope) run only
    at import, as do those of the features beyond the first. A problem of the file is
    returned in :attr:`Preview.problem`.

    Raises
    ------
    PermissionDenied, GridAtlasError
        Not allowed, or no such upload of the caller's; bad page values.
    """
    from geo.importers.validate import check_features
    from geo.settings import get_settings

    principal = _require(principal)
    kind = _kind_for(principal, kind)
    fields, encoding, crs = _fields(fields), _encoding(encoding), _crs(crs)
    upload = get(principal, upload_id, with_data=True)
    out = Preview()
    with _staged(upload) as path:
        try:
            read = _read(path, kind, fields, encoding, crs)
            out.rows, out.crs, out.notes, out.columns = (
                len(read.frame), read.crs, read.notes, read.columns)
            if read.crs is not None:
                out.geometry = sorted({str(g) for g in read.frame.geometry.geom_type.dropna()})
            sample = read.frame.iloc[:PREVIEW_ROWS]
            checked = check_features(sample, _spec(kind), read.columns, read.label,
                                     timezone=get_settings().timezone)
            out.checked, out.repaired = len(sample), len(checked.repaired)
        except GridAtlasError as exc:
            out.problem = exc.user_msg
        except _file_errors() as exc:
            out.problem = _unreadable(upload.file_name, exc).user_msg
    return out


def _spec(kind: str):
    from geo.importers.fields import KINDS

    return KINDS[kind]


def run_import(principal: Principal | None, upload_id: object, kind: object, *,
               fields: object = None, encoding: object = None, crs: object = None,
               progress: Progress | None = None) -> ImportReport:
    """Import the caller's upload as ``kind`` in one transaction, as ``principal``.

    Parameters
    ----------
    principal:
        Who imports (the signed user of the job); needs ``data.import``, and with a scope
        every place written must lie inside it.
    upload_id:
        The caller's upload (:func:`store`).
    kind:
        One of :data:`geo.importers.KIND_NAMES`.
    fields:
        ``canonical=COLUMN`` mappings, as the command line's ``--field``.
    encoding:
        ``utf-8`` or ``gbk`` for a shapefile without ``.cpg`` or a CSV; ``None``: the file's.
    crs:
        The coordinates' CRS when the file has none or a wrong one (``EPSG:4549``), as the
        command line's ``--crs``.
    progress:
        Called as ``progress(stage, done, total)`` with stage ``read``, ``validated``,
        ``writing`` (the transaction begins), ``committing`` (inside it, every row written)
        and ``written`` (committed).

    Returns
    -------
    ImportReport

    Raises
    ------
    PermissionDenied
        Not allowed, or a place outside the scope (nothing written).
    GridAtlasError
        The file is refused (nothing written); the upload is deleted, since the same file
        would be refused again.
    """
    from geo import db
    from geo.importers.validate import check_features
    from geo.importers.writers import WRITERS, ImportContext
    from geo.repository.writers import audit
    from geo.settings import get_settings

    principal = _require(principal)
    kind = _kind_for(principal, kind)
    fields, encoding, crs = _fields(fields), _encoding(encoding), _crs(crs)
    upload = get(principal, upload_id, with_data=True)
    report_progress = progress or (lambda *_: None)
    try:
        with _staged(upload) as path:
            try:
                read = _read(path, kind, fields, encoding, crs)
            except _file_errors() as exc:
                raise _unreadable(upload.file_name, exc) from exc
        n = len(read.frame)
        report_progress("read", n, n)
        try:
            checked = check_features(read.frame, _spec(kind), read.columns, read.label,
                                     timezone=get_settings().timezone)
        except _file_errors() as exc:
            raise _unreadable(upload.file_name, exc) from exc
        report_progress("validated", n, n)
        ctx = ImportContext(label=read.label, actor=principal.username, notes=read.notes)
        report = ImportReport(kind=kind, file=upload.file_name, repaired=list(checked.repaired),
                              notes=read.notes)
        report_progress("writing", 0, n)
        try:
            with db.transaction() as cur:
                report.counts = WRITERS[kind](cur, checked, ctx)
                _refuse_outside_scope(cur, principal, read.label)
                audit(
                    cur, actor=principal.username, role=principal.role, action="import",
                    target=kind, scope_code=principal.scope_code,
                    detail={
                        "file": upload.file_name, "sha256": upload.sha256,
                        "bytes": upload.size_bytes, "via": "web", "features": len(checked),
                        "counts": report.counts, "repaired": len(checked.repaired),
                        "repairs": checked.repaired[:50], "notes": read.notes,
                        "fields": read.columns,
                    },
                    source="imported",
                )
                cur.execute("DELETE FROM import_uploads WHERE id = %s", (upload.id,))
                report_progress("committing", n, n)  # every row is written, not yet committed
        except psycopg2.Error as exc:
            primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
            raise GridAtlasError(
                f"{read.label}: the database refused the import: {primary.strip()}") from exc
    except (PermissionDenied, DatabaseUnavailable):
        raise  # a scope refusal or an outage, not the file's fault: kept for a new run
    except GridAtlasError:
        _drop_quietly(upload.id)  # the same file would be refused again
        raise
    report_progress("written", n, n)
    log.info("imported %s from upload %s by %s: %s", kind, upload.id, principal.username,
             report.counts)
    return report


def _drop_quietly(key: str) -> None:
    from geo import db

    try:
        with db.transaction() as cur:
            cur.execute("DELETE FROM import_uploads WHERE id = %s", (key,))
    except GridAtlasError as exc:  # the database went away: the purge removes it later
        log.warning("upload %s not deleted: %s", key, exc.user_msg)


# The place each table's rows belong to: the finest code known for the row (``t`` is the
# table), what names the row in a message, and the joins. Rows without a place are refused
# for a scope. Fixed SQL fragments, never user input.
_COMMUNITY = "LEFT JOIN communities c ON c.id = t.community_id"
_PLACE_OF: dict[str, tuple[str, str, str]] = {
    "districts": ("t.code", "t.code", ""),
    "streets": ("t.code", "t.code", ""),
    "communities": ("t.code", "t.code", ""),
    "grids": ("t.code", "t.code", ""),
    "grid_versions": ("c.code", "c.code || ' v' || t.version_no", _COMMUNITY),
    "compounds": ("c.code", "t.code", _COMMUNITY),
    "buildings": ("coalesce(c.code, cc.code)", "t.code",
                  _COMMUNITY + " LEFT JOIN compounds p ON p.id = t.compound_id"
                  " LEFT JOIN communities cc ON cc.id = p.community_id"),
    "cameras": ("coalesce(g.code, d.code)", "t.code",
                "LEFT JOIN grids g ON g.id = t.grid_id LEFT JOIN districts d ON d.id = t.district_id"),
    "police_rooms": ("c.code", "t.code", _COMMUNITY),
    "incidents": ("coalesce(g.code, c.code, s.code, d.code)", "t.code",
                  "LEFT JOIN grids g ON g.id = t.grid_id " + _COMMUNITY +
                  " LEFT JOIN streets s ON s.id = t.street_id"
                  " LEFT JOIN districts d ON d.id = t.district_id"),
}


def _refuse_outside_scope(cur, principal: Principal, label: str) -> None:
    """Refuse (PermissionDenied, so the transaction rolls back) when this transaction wrote
    a row of a place table that lies outside ``principal``'s scope, or belongs to no place.

    The rows written (inserted or updated) by the current transaction are those whose
    ``xmin`` is its id, whatever the writer did to find their parents.
    """
    scope = principal.scope_code
    if scope is None:
        return
    for table, (place, name, joins) in _PLACE_OF.items():
        cur.execute(
            sql.SQL("SELECT {place} AS place, {name} AS code, count(*) OVER () AS n FROM {table} t "
                    "{joins} WHERE t.xmin = pg_current_xact_id()::xid"
                    " AND NOT coalesce(starts_with({place}, %s), false) LIMIT 1").format(
                place=sql.SQL(place), name=sql.SQL(name), table=sql.Identifier(table),
                joins=sql.SQL(joins)),
            (scope,))
        row = cur.fetchone()
        if row is None:
            continue
        where = row["place"] or "无所属地区 / no place"
        log.warning("import of %s by %s refused: %s %s lies in %s, outside %s", label,
                    principal.username, table, row["code"], where, scope)
        raise PermissionDenied(
            f"{label}: {row['code']} 位于 {where}，不在您的管辖范围 {scope} 内，整个文件未导入"
            f"（共 {row['n']} 条）/ {label}: {row['code']} lies in {where}, outside your scope "
            f"{scope} ({row['n']} such row(s) in {table}); nothing was imported",
            reason="scope", role=principal.role, action="data.import", target=row["place"],
            scope=scope)
