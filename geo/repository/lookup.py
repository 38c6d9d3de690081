"""Reads used while writing: ids by code, current boundaries, point-in-polygon location.

Boundaries are read inside the caller's transaction as GeoDataFrames (EPSG:4326) so the
importer can check containment in Python and name the offending feature.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import psycopg2.extensions
import shapely
from psycopg2 import sql

log = logging.getLogger(__name__)

# Boundary layers by level; constant SQL (no user values). Grids: the current version only.
_BOUNDARY_SQL: dict[str, str] = {
    "district": "SELECT id, code, NULL::integer AS parent_id, ST_AsBinary(geom) AS wkb"
    " FROM districts ORDER BY code",
    "street": "SELECT id, code, district_id AS parent_id, ST_AsBinary(geom) AS wkb"
    " FROM streets ORDER BY code",
    "community": "SELECT id, code, street_id AS parent_id, ST_AsBinary(geom) AS wkb"
    " FROM communities ORDER BY code",
    "grid": "SELECT g.id, g.code, g.community_id AS parent_id, ST_AsBinary(g.geom) AS wkb"
    " FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current"
    " ORDER BY g.code",
    "compound": "SELECT id, code, community_id AS parent_id, ST_AsBinary(geom) AS wkb"
    " FROM compounds ORDER BY code",
}

#: Tables whose ``code`` column is unique, by the name used in this package.
CODE_TABLES = (
    "districts", "streets", "communities", "compounds", "buildings", "grid_workers",
    "cameras", "police_rooms", "departments", "incident_categories", "incidents",
)


def boundaries(cur: psycopg2.extensions.cursor, level: str) -> gpd.GeoDataFrame:
    """Current boundaries of one level: columns ``id``, ``code``, ``parent_id``, geometry.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction.
    level:
        ``district``, ``street``, ``community``, ``grid`` (current versions) or ``compound``.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, ordered by code.
    """
    cur.execute(_BOUNDARY_SQL[level])
    rows = [r if isinstance(r, dict) else dict(zip(("id", "code", "parent_id", "wkb"), r, strict=False))
            for r in cur.fetchall()]
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(
        {
            "id": [int(r["id"]) for r in rows],
            "code": [r["code"] for r in rows],
            "parent_id": [r["parent_id"] for r in rows],
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def ids_by_code(
    cur: psycopg2.extensions.cursor, table: str, codes: Iterable[str] | None = None
) -> dict[str, int]:
    """``code -> id`` of a table (all rows, or only the given codes)."""
    if table not in CODE_TABLES:
        raise ValueError(f"{table} has no unique code")
    if codes is None:
        cur.execute(sql.SQL("SELECT code, id FROM {}").format(sql.Identifier(table)))
    else:
        cur.execute(
            sql.SQL("SELECT code, id FROM {} WHERE code = ANY(%s)").format(sql.Identifier(table)),
            ([str(c) for c in codes],),
        )
    out = {}
    for r in cur.fetchall():
        code, ident = (r["code"], r["id"]) if isinstance(r, dict) else r
        out[code] = int(ident)
    return out


def locate(points: np.ndarray | gpd.GeoSeries, parents: gpd.GeoDataFrame) -> np.ndarray:
    """Index (position in ``parents``) of the polygon holding each point, or -1.

    A point on a shared edge goes to the first parent in ``parents`` order (lowest code).

    Parameters
    ----------
    points:
        Points in the CRS of ``parents``.
    parents:
        Polygons.

    Returns
    -------
    numpy.ndarray of int
    """
    pts = np.asarray(points.values if hasattr(points, "values") else points, dtype=object)
    out = np.full(len(pts), -1, dtype=np.int64)
    if len(pts) == 0 or len(parents) == 0:
        return out
    tree = shapely.STRtree(np.asarray(parents.geometry.values, dtype=object))
    pi, gi = tree.query(pts, predicate="intersects")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = gi[first]
    return out
