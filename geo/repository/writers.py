"""Transactional writes: bulk inserts with geometry, grid versions and audit rows.

Geometry travels as hex WKB (2D, EPSG:4326) bound as a parameter and is cast in SQL; a
MultiPolygon column gets ``ST_Multi`` so a Polygon input fits it. Values are always bound
parameters; table and column names are fixed by the callers and quoted by ``psycopg2.sql``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg2.extras
import shapely
from psycopg2 import sql

from geo.errors import CoverageError, GridAtlasError

log = logging.getLogger(__name__)

#: How a geometry column is written: ``multi`` (MultiPolygon), ``point`` (Point) or
#: ``pos`` (the point on surface of the polygon passed for that column).
GeomKind = str

_GEOM_TEMPLATES = {
    "multi": "ST_Multi(ST_SetSRID(%s::geometry, 4326))",
    "point": "ST_SetSRID(%s::geometry, 4326)",
    "pos": "ST_PointOnSurface(ST_SetSRID(%s::geometry, 4326))",
}


def to_hex_wkb(geoms: Sequence | np.ndarray) -> list[str | None]:
    """Hex WKB (2D) of each geometry; ``None`` for missing or empty ones.

    Parameters
    ----------
    geoms:
        Shapely geometries (a GeoSeries, array or list), in EPSG:4326.

    Returns
    -------
    list of str or None
    """
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    if len(arr) == 0:
        return []
    missing = np.array([g is None for g in arr], dtype=bool)
    out: list[str | None] = [None] * len(arr)
    ok = np.flatnonzero(~missing)
    if len(ok):
        flat = shapely.force_2d(arr[ok])
        empty = shapely.is_empty(flat)
        hexes = shapely.to_wkb(flat, hex=True)
        for i, h, e in zip(ok, hexes, empty, strict=False):
            out[i] = None if e else h
    return out


def py_value(value: object) -> object:
    """A value psycopg2 can adapt: numpy scalars to Python, NaN/NaT/NA to ``None``."""
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if isinstance(value, (dt.datetime, dt.date, str, int, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def insert_rows(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    geom: Mapping[str, GeomKind] | None = None,
    returning: Sequence[str] = (),
    page_size: int = 1000,
) -> list[dict]:
    """Insert many rows at once (``execute_values``), geometry as bound hex WKB.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction.
    table:
        Table name (a fixed identifier from the caller, never user input).
    columns:
        Column names, in the order of each row's values.
    rows:
        Row values; geometry columns hold hex WKB strings (see :func:`to_hex_wkb`).
    geom:
        Geometry columns and how to write them (``multi``, ``point`` or ``pos``).
    returning:
        Columns to return for each inserted row (e.g. ``("id", "code")``).
    page_size:
        Rows per statement.

    Returns
    -------
    list of dict
        The ``returning`` columns of each row in insertion order (empty when not asked).
    """
    geom = dict(geom or {})
    unknown = set(geom.values()) - set(_GEOM_TEMPLATES)
    if unknown:
        raise ValueError(f"unknown geometry kinds {sorted(unknown)}")
    rows = [[py_value(v) for v in r] for r in rows]
    if not rows:
        return []
    template = "(" + ", ".join(_GEOM_TEMPLATES.get(geom.get(c, ""), "%s") for c in columns) + ")"
    query = sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    if returning:
        query = sql.SQL("{} RETURNING {}").format(
            query, sql.SQL(", ").join(map(sql.Identifier, returning))
        )
    text = query.as_string(cur)
    result = psycopg2.extras.execute_values(
        cur, text, rows, template=template, page_size=page_size, fetch=bool(returning)
    )
    if not returning:
        return []
    return [dict(r) if isinstance(r, Mapping) else dict(zip(returning, r, strict=False)) for r in result]


def audit(
    cur: psycopg2.extensions.cursor,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: Mapping | None = None,
    scope_code: str | None = None,
    role: str | None = None,
    after_ids: Sequence[int] | None = None,
    source: str = "derived",
) -> None:
    """Append one ``audit_log`` row (the log is append-only)."""
    cur.execute(
        """INSERT INTO audit_log (actor, role, action, scope_code, target, after_ids, detail,
                                  source)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            actor, role, action, scope_code, target,
            psycopg2.extras.Json(list(after_ids)) if after_ids is not None else None,
            psycopg2.extras.Json(dict(detail)) if detail is not None else None,
            source,
        ),
    )


# ------------------------------------------------------------------------- grid versions


@dataclass(frozen=True)
class GridSpec:
    """One grid of a version to write.

    Attributes
    ----------
    code:
        15-digit grid code (community code + 3-digit sequence).
    seq:
        The sequence (1-999).
    kind:
        ``basic`` or ``dedicated``.
    name:
        Display name, optional.
    geometry:
        The grid polygon (EPSG:4326) when given; ``None`` builds it as the union of the
        building cells of the grid's buildings.
    """

    code: str
    seq: int
    kind: str = "basic"
    name: str | None = None
    geometry: object | None = None


@dataclass
class GridVersionResult:
    """What :func:`write_grid_version` wrote."""

    version_id: int
    version_no: int
    grid_ids: dict[str, int] = field(default_factory=dict)
    buildings_assigned: int = 0
    buildings_unassigned: int = 0


def write_grid_version(
    cur: psycopg2.extensions.cursor,
    community_id: int,
    grids: Sequence[GridSpec],
    *,
    assignment: Mapping[int, str] | None = None,
    source: str,
    created_by: str | None = None,
    note: str | None = None,
    relocate_points: bool = True,
) -> GridVersionResult:
    """Write a new current grid version of one community.

    Two ways to give the grids: with ``assignment`` (building id -> grid code), each grid's
    polygon is the union of the stored ``building_cells`` of its buildings, computed in this
    process (:func:`union_cells`: the caller's CPU, not the server every request shares; the
    grids tile the community exactly when the cells do); without it, every :class:`GridSpec` carries its
    polygon and buildings are assigned by their point on surface.

    The previous current version stays readable (``is_current`` false, its grids get
    ``valid_to``). ``building_grid`` rows, ``buildings.grid_id`` and per-grid household
    totals are written; with ``relocate_points`` cameras and open incidents of the
    community move to the grid containing them (incidents keep their history in
    ``incident_grid_history``). The database checks the tiling when the transaction
    commits.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction.
    community_id:
        The community's id.
    grids:
        The grids of the new version.
    assignment:
        Building id -> grid code; when given, grid polygons come from building cells.
    source:
        ``derived``, ``imported``, ...
    created_by, note:
        Recorded on the version.
    relocate_points:
        Move cameras and incidents of the community to the new grids.

    Returns
    -------
    GridVersionResult

    Raises
    ------
    GridAtlasError
        If a grid has no building cell to build its polygon from, or an assigned grid code
        is not among ``grids``.
    """
    if not grids:
        raise GridAtlasError(f"a grid version of community id {community_id} needs grids")
    codes = [g.code for g in grids]
    if len(set(codes)) != len(codes):
        dup = sorted({c for c in codes if codes.count(c) > 1})
        raise GridAtlasError(f"duplicate grid codes in one version: {', '.join(dup)}")
    cur.execute(
        """SELECT coalesce(max(version_no), 0) + 1 AS next_no,
                  max(id) FILTER (WHERE is_current) AS current_id
             FROM grid_versions WHERE community_id = %s""",
        (community_id,),
    )
    row = _row(cur.fetchone(), ("next_no", "current_id"))
    version_no, parent_id = int(row["next_no"]), row["current_id"]
    if parent_id is not None:
        cur.execute("UPDATE grid_versions SET is_current = false WHERE id = %s", (parent_id,))
        cur.execute(
            "UPDATE grids SET valid_to = now() WHERE version_id = %s AND valid_to IS NULL",
            (parent_id,),
        )
    cur.execute(
        """INSERT INTO grid_versions (community_id, version_no, parent_id, is_current,
                                      created_by, note, source)
           VALUES (%s, %s, %s, true, %s, %s, %s) RETURNING id""",
        (community_id, version_no, parent_id, created_by, note, source),
    )
    version_id = int(_row(cur.fetchone(), ("id",))["id"])
    result = GridVersionResult(version_id=version_id, version_no=version_no)

    if assignment is not None:
        known = set(codes)
        stray = sorted({c for c in assignment.values() if c not in known})
        if stray:
            raise GridAtlasError(
                f"buildings are assigned to unknown grid code(s): {', '.join(stray[:5])}"
            )
        bids = [int(b) for b in assignment]
        gcodes = [str(assignment[b]) for b in assignment]
        unions = union_cells(cur, assignment)
        ucodes = [c for c in codes if c in unions]
        cur.execute(
            """WITH u AS (SELECT * FROM unnest(%(ucodes)s::text[], %(wkb)s::text[]) AS u(code, wkb)),
                    s AS (SELECT * FROM unnest(%(codes)s::text[], %(seqs)s::int[],
                                               %(kinds)s::text[], %(names)s::text[])
                                   AS s(code, seq, kind, name))
               INSERT INTO grids (version_id, community_id, code, seq, kind, name, geom, source)
               SELECT %(v)s, %(c)s, s.code, s.seq, s.kind, s.name,
                      ST_GeomFromWKB(decode(u.wkb, 'hex'), 4326), %(src)s
                 FROM s JOIN u USING (code)
               RETURNING id, code""",
            {
                "ucodes": ucodes, "wkb": [shapely.to_wkb(unions[c], hex=True) for c in ucodes],
                "codes": codes, "seqs": [int(g.seq) for g in grids],
                "kinds": [g.kind for g in grids], "names": [g.name for g in grids],
                "v": version_id, "c": community_id, "src": source,
            },
        )
        result.grid_ids = {r["code"]: int(r["id"]) for r in _rows(cur.fetchall(), ("id", "code"))}
        missing = [c for c in codes if c not in result.grid_ids]
        if missing:
            raise GridAtlasError(
                "grid(s) without any building cell to build a polygon from: "
                + ", ".join(missing[:10])
            )
        cur.execute(
            """INSERT INTO building_grid (version_id, building_id, grid_id, source)
               SELECT %(v)s, a.building_id, g.id, %(src)s
                 FROM unnest(%(bids)s::int[], %(gcodes)s::text[]) AS a(building_id, code)
                 JOIN grids g ON g.version_id = %(v)s AND g.code = a.code""",
            {"v": version_id, "bids": bids, "gcodes": gcodes, "src": "derived"},
        )
    else:
        ids = insert_rows(
            cur, "grids",
            ["version_id", "community_id", "code", "seq", "kind", "name", "geom", "source"],
            [
                (version_id, community_id, g.code, g.seq, g.kind, g.name, h, source)
                for g, h in zip(grids, to_hex_wkb([g.geometry for g in grids]), strict=False)
            ],
            geom={"geom": "multi"}, returning=("id", "code"),
        )
        result.grid_ids = {r["code"]: int(r["id"]) for r in ids}
        # a point on a shared edge could touch two grids: the lowest code wins
        cur.execute(
            """INSERT INTO building_grid (version_id, building_id, grid_id, source)
               SELECT DISTINCT ON (b.id) %(v)s, b.id, g.id, 'derived'
                 FROM buildings b
                 JOIN grids g ON g.version_id = %(v)s AND ST_Intersects(g.geom, b.pt)
                WHERE b.community_id = %(c)s
                ORDER BY b.id, g.code""",
            {"v": version_id, "c": community_id},
        )
    result.buildings_assigned = cur.rowcount
    # the community's own buildings by their index: without ``community_id`` the planner
    # hash-joins the whole table (a million rows at city scale, ~0.5 s a commit)
    cur.execute(
        """UPDATE buildings b SET grid_id = bg.grid_id
             FROM building_grid bg
            WHERE bg.version_id = %(v)s AND bg.building_id = b.id AND b.community_id = %(c)s""",
        {"v": version_id, "c": community_id},
    )
    if cur.rowcount != result.buildings_assigned:
        raise GridAtlasError(
            f"{result.buildings_assigned - cur.rowcount} building(s) assigned to the new grids "
            f"of community id {community_id} are not buildings of that community")
    cur.execute(
        """UPDATE buildings SET grid_id = NULL
            WHERE community_id = %(c)s
              AND id NOT IN (SELECT building_id FROM building_grid WHERE version_id = %(v)s)
              AND grid_id IS NOT NULL""",
        {"v": version_id, "c": community_id},
    )
    result.buildings_unassigned = cur.rowcount
    refresh_grid_households(cur, version_id=version_id)
    if relocate_points:
        move_points_to_version(cur, community_id, version_id)
    log.info(
        "grid version %s (no %s) of community id %s: %d grids, %d buildings",
        version_id, version_no, community_id, len(result.grid_ids), result.buildings_assigned,
    )
    return result


def union_cells(cur: psycopg2.extensions.cursor, assignment: Mapping[int, str]) -> dict[str, object]:
    """Each grid's polygon as the union of its buildings' stored cells, computed here.

    The same polygon as the database's ``ST_Multi(ST_CollectionExtract(ST_Union(cells), 3))``
    (to well under the coverage rule's 1 m²): the cells tile their community edge for edge,
    so a coverage union (which drops the shared edges, no overlay) gives it; a grid whose
    result is not valid is unioned again by a full overlay. Empty cells are skipped; a grid
    with no cell left gets no polygon (the caller reports it). Returns code -> MultiPolygon
    (EPSG:4326).
    """
    bids = [int(b) for b in assignment]
    cur.execute(
        """SELECT building_id, ST_AsBinary(geom) AS wkb FROM building_cells
            WHERE building_id = ANY(%s::int[]) AND NOT ST_IsEmpty(geom)""",
        (bids,),
    )
    by_code: dict[str, list[bytes]] = {}
    for r in _rows(cur.fetchall(), ("building_id", "wkb")):
        by_code.setdefault(str(assignment[int(r["building_id"])]), []).append(bytes(r["wkb"]))
    out: dict[str, object] = {}
    for code, wkbs in by_code.items():
        cells = shapely.from_wkb(wkbs)
        try:
            geom = shapely.coverage_union_all(cells)
        except shapely.errors.GEOSException:
            geom = None
        if geom is None or not shapely.is_valid(geom):
            geom = shapely.union_all(cells)
        parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
        if parts:
            out[code] = shapely.multipolygons(parts)
    return out


def refresh_grid_households(
    cur: psycopg2.extensions.cursor,
    *,
    version_id: int | None = None,
    building_ids: Sequence[int] | None = None,
) -> None:
    """Recompute ``grids.households`` from ``building_grid`` for one version, or for the
    grids (of every version) holding the given buildings."""
    if version_id is not None:
        cur.execute(
            """UPDATE grids g SET households = coalesce(t.hh, 0)
                 FROM grids g2 LEFT JOIN (
                      SELECT bg.grid_id, sum(b.households)::int AS hh
                        FROM building_grid bg JOIN buildings b ON b.id = bg.building_id
                       WHERE bg.version_id = %(v)s GROUP BY bg.grid_id) t
                   ON t.grid_id = g2.id
                WHERE g.id = g2.id AND g2.version_id = %(v)s""",
            {"v": version_id},
        )
        return
    if building_ids:
        cur.execute(
            """WITH touched AS (SELECT DISTINCT grid_id FROM building_grid
                                 WHERE building_id = ANY(%(b)s::int[]))
               UPDATE grids g SET households = coalesce(
                      (SELECT sum(b.households)::int FROM building_grid bg
                         JOIN buildings b ON b.id = bg.building_id
                        WHERE bg.grid_id = g.id), 0)
                WHERE g.id IN (SELECT grid_id FROM touched)""",
            {"b": [int(b) for b in building_ids]},
        )


def move_points_to_version(
    cur: psycopg2.extensions.cursor, community_id: int, version_id: int
) -> dict[str, int]:
    """Cameras and open incidents of the community move to the new grid holding them.

    Closed incidents stay in the grid that handled them; a moved incident gets a row in
    ``incident_grid_history``. Returns ``{"cameras": n, "open_incidents": n}`` moved.
    """
    cur.execute(
        """WITH c AS (SELECT geom FROM communities WHERE id = %(c)s),
           moved AS (
               SELECT cam.id,
                      (SELECT g.id FROM grids g
                        WHERE g.version_id = %(v)s AND ST_Intersects(g.geom, cam.geom)
                        ORDER BY g.code LIMIT 1) AS new_id
                 FROM cameras cam, c WHERE ST_Intersects(cam.geom, c.geom))
           UPDATE cameras cam SET grid_id = moved.new_id
             FROM moved WHERE moved.id = cam.id AND cam.grid_id IS DISTINCT FROM moved.new_id""",
        {"v": version_id, "c": community_id},
    )
    n_cam = cur.rowcount
    cur.execute(
        """WITH moved AS (
               SELECT i.id, i.grid_id AS old_id,
                      (SELECT g.id FROM grids g
                        WHERE g.version_id = %(v)s AND ST_Intersects(g.geom, i.geom)
                        ORDER BY g.code LIMIT 1) AS new_id
                 FROM incidents i
                WHERE i.community_id = %(c)s AND i.closed_at IS NULL),
           hist AS (
               INSERT INTO incident_grid_history (incident_id, version_id, old_grid_id,
                                                  new_grid_id)
               SELECT id, %(v)s, old_id, new_id FROM moved
                WHERE old_id IS DISTINCT FROM new_id)
           UPDATE incidents i SET grid_id = moved.new_id
             FROM moved WHERE moved.id = i.id AND i.grid_id IS DISTINCT FROM moved.new_id""",
        {"v": version_id, "c": community_id},
    )
    return {"cameras": n_cam, "open_incidents": cur.rowcount}


def _row(row: object, names: Sequence[str]) -> dict:
    if row is None:
        return {}
    if isinstance(row, Mapping):
        return dict(row)
    return dict(zip(names, row, strict=False))


def _rows(rows: Iterable[object], names: Sequence[str]) -> list[dict]:
    return [_row(r, names) for r in rows]


def check_coverage_now(cur: psycopg2.extensions.cursor, context: str = "") -> None:
    """Run the deferred coverage checks now, turning a failure into :class:`CoverageError`.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction (it is aborted when the check fails).
    context:
        Prefix for the message, e.g. the file name.
    """
    import psycopg2 as _pg

    try:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
    except _pg.Error as exc:
        msg = (exc.diag.message_primary or str(exc)).strip()
        raise CoverageError(f"{context}{msg}") from exc
