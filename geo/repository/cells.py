"""Stored building cells: computed once per community and kept in ``building_cells``.

A building cell is the piece of its community nearest to one building footprint
(:func:`geo.partition.cells.building_cells`); the cells of a community tile it. The
rebalancing engine needs them, and computing them is too slow to repeat on every plan, so
they are computed when buildings are written (the importer, the demo loader) and can be
recomputed with ``python -m geo cells rebuild``.

Like every helper of :mod:`geo.repository`, :func:`store_cells` works on the caller's cursor
and never commits: the caller's transaction decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import psycopg2.extensions
import shapely
import shapely.errors

from geo.errors import GridAtlasError
from geo.repository.writers import insert_rows, to_hex_wkb

log = logging.getLogger(__name__)

Cursor = psycopg2.extensions.cursor

#: Methods this module computes. ``roads`` (cells bent to road lines) needs road lines,
#: which the database does not hold.
METHODS = ("voronoi",)


class CellsError(GridAtlasError):
    """The cells of one community cannot be computed; ``user_msg`` names the community.

    Parameters
    ----------
    user_msg:
        What went wrong, naming the community.
    community_code:
        Code of the community whose cells failed.
    """

    def __init__(self, user_msg: str, community_code: str) -> None:
        super().__init__(user_msg)
        self.community_code = community_code


@dataclass(frozen=True)
class CommunityCells:
    """What :func:`store_cells` did for one community.

    Attributes
    ----------
    code:
        Community code.
    buildings:
        Buildings of the community.
    cells:
        Cells stored (one per building, except empty cells of footprints lying inside
        another footprint, which are not stored).
    empty:
        Buildings left without a cell (``buildings - cells``).
    repaired:
        Cells that were invalid after reprojection to EPSG:4326 and were repaired.
    seconds:
        Time spent on this community (read, compute, write).
    """

    code: str
    buildings: int
    cells: int
    empty: int
    repaired: int
    seconds: float

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and audit rows)."""
        return asdict(self)


def store_cells(
    cur: Cursor, community_ids: Iterable[int], *, method: str = "voronoi"
) -> dict[int, CommunityCells]:
    """Compute the cells of every building of the given communities and store them.

    For each community, its polygon and all its buildings are read, the cells computed with
    :func:`geo.partition.cells.building_cells`, and the community's rows of
    ``building_cells`` replaced (rows of its buildings stored under another community are
    replaced too). Empty cells are not stored. Nothing is committed.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction (dict rows, as from :func:`geo.db.transaction`).
    community_ids:
        Ids of the communities; each is processed once, in code order.
    method:
        Recorded in ``building_cells.method``; only ``voronoi`` is computed here.

    Returns
    -------
    dict of int to CommunityCells
        Per community id: buildings, cells stored, empty cells and seconds.

    Raises
    ------
    CellsError
        When the cells of a community cannot be computed (e.g. a degenerate community
        polygon); the message names the community.
    GridAtlasError
        On an unknown method or community id.
    """
    from scipy.spatial import QhullError

    from geo.partition import cells as cells_mod
    from geo.partition.errors import PartitionError

    if method not in METHODS:
        raise GridAtlasError(
            f"building cells method {method!r} cannot be computed from the database "
            f"(it holds no road lines); use one of {', '.join(METHODS)}"
        )
    wanted = sorted({int(i) for i in community_ids})
    if not wanted:
        return {}
    cur.execute(
        "SELECT id, code, ST_AsBinary(geom) AS wkb FROM communities WHERE id = ANY(%s)"
        " ORDER BY code",
        (wanted,),
    )
    communities = cur.fetchall()
    missing = set(wanted) - {int(r["id"]) for r in communities}
    if missing:
        raise GridAtlasError(f"no community with id {', '.join(map(str, sorted(missing)))}")
    out: dict[int, CommunityCells] = {}
    for row in communities:
        t0 = time.perf_counter()
        cid, code = int(row["id"]), row["code"]
        community = shapely.from_wkb(bytes(row["wkb"]))
        cur.execute(
            "SELECT id, ST_AsBinary(geom) AS wkb FROM buildings WHERE community_id = %s"
            " ORDER BY id",
            (cid,),
        )
        rows = cur.fetchall()
        ids = [int(r["id"]) for r in rows]
        cur.execute(
            "DELETE FROM building_cells WHERE community_id = %s OR building_id = ANY(%s)",
            (cid, ids),
        )
        stored = repaired = 0
        if ids:
            footprints = gpd.GeoSeries(
                shapely.from_wkb([bytes(r["wkb"]) for r in rows]), index=ids, crs="EPSG:4326"
            )
            try:
                cells = cells_mod.building_cells(footprints, community)
            except PartitionError as exc:
                raise CellsError(
                    f"community {code}: cannot compute building cells: {exc.user_msg}", code
                ) from exc
            except (shapely.errors.GEOSException, QhullError) as exc:
                # GEOS topology failures and Qhull on degenerate input (e.g. collinear points)
                raise CellsError(
                    f"community {code}: cannot compute building cells (degenerate geometry: "
                    f"{_first_line(exc)})", code,
                ) from exc
            geoms, repaired = _valid_polygonal(np.asarray(cells.values, dtype=object))
            keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
            insert_rows(
                cur, "building_cells",
                ["building_id", "community_id", "method", "geom", "source"],
                [(ids[i], cid, method, h, "derived")
                 for i, h in zip(keep, to_hex_wkb(geoms[keep]), strict=False)],
                geom={"geom": "multi"},
            )
            stored = len(keep)
        out[cid] = CommunityCells(
            code=code, buildings=len(ids), cells=stored, empty=len(ids) - stored,
            repaired=repaired, seconds=round(time.perf_counter() - t0, 3),
        )
        log.info("building cells of community %s: %d of %d buildings in %.2f s",
                 code, stored, len(ids), out[cid].seconds)
    return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _valid_polygonal(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Repair cells made invalid by reprojection, keeping their polygonal part.

    The cells are computed valid in a metric CRS; reprojecting to EPSG:4326 can, rarely,
    fold a hair-thin sliver. The table refuses invalid geometry, so such a cell is repaired
    with ``make_valid`` and counted.
    """
    from geo.partition.cells import polygonal_part

    out = geoms.copy()
    present = np.array([g is not None for g in out], dtype=bool)
    bad = np.flatnonzero(present)
    bad = bad[~shapely.is_valid(out[bad])] if len(bad) else bad
    for i in bad:
        out[i] = polygonal_part(shapely.make_valid(out[i]))
    if len(bad):
        log.warning("building cells: repaired %d cell(s) invalid after reprojection", len(bad))
    return out, len(bad)


def community_ids_for(
    cur: Cursor, *, community_codes: Iterable[str] = (), district_code: str | None = None
) -> list[int]:
    """Ids of the communities named by code and of a district's communities.

    Parameters
    ----------
    cur:
        Cursor of the caller's transaction.
    community_codes:
        Community codes (each must exist).
    district_code:
        A district code; all its communities are included.

    Returns
    -------
    list of int
        Every community when neither is given; else the union, sorted by id.

    Raises
    ------
    GridAtlasError
        On an unknown community or district code.
    """
    codes = [str(c) for c in community_codes]
    if not codes and district_code is None:
        cur.execute("SELECT id FROM communities ORDER BY id")
        return [int(r["id"]) for r in cur.fetchall()]
    ids: set[int] = set()
    if codes:
        cur.execute("SELECT id, code FROM communities WHERE code = ANY(%s)", (codes,))
        found = {r["code"]: int(r["id"]) for r in cur.fetchall()}
        unknown = [c for c in codes if c not in found]
        if unknown:
            raise GridAtlasError(f"no community with code {', '.join(unknown)} in the database")
        ids.update(found.values())
    if district_code is not None:
        cur.execute("SELECT id FROM districts WHERE code = %s", (str(district_code),))
        if cur.fetchone() is None:
            raise GridAtlasError(f"no district with code {district_code} in the database")
        cur.execute(
            "SELECT c.id FROM communities c JOIN districts d ON d.id = c.district_id"
            " WHERE d.code = %s",
            (str(district_code),),
        )
        ids.update(int(r["id"]) for r in cur.fetchall())
    return sorted(ids)
