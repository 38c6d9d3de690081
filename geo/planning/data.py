"""Reading one community's planning inputs from PostGIS, inside the caller's transaction.

This is the one boundary where database rows become the engine's inputs: buildings
(footprint, households, compound code) indexed by building id, their stored cells aligned to
that index, the community polygon, the current grid version and its assignment. Geometry
travels as WKB and is read with shapely (EPSG:4326).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"


class NotFound(GridAtlasError):
    """A community, street or version that does not exist."""


@dataclass
class CommunityInputs:
    """Everything the planner needs about one community (EPSG:4326).

    Attributes
    ----------
    id, code, name, district_code, street_code:
        The community.
    geom:
        Community polygon.
    target, min_hh, max_hh:
        The community's configured household band.
    version_id, version_no:
        Its current grid version (``None`` when it has none yet).
    grids:
        Current grids: ``id``, ``code``, ``seq``, ``kind``, ``name``, ``households``.
    buildings:
        Indexed by building id: ``code``, ``households``, ``compound_code``, footprint geometry.
    cells:
        Stored building cells aligned to ``buildings`` (an empty polygon where none is stored).
    current:
        Current grid code per building id (``None`` where unassigned).
    used_seqs:
        Every grid sequence number used by any version of the community.
    """

    id: int
    code: str
    name: str
    district_code: str
    street_code: str
    geom: BaseGeometry
    target: int
    min_hh: int
    max_hh: int
    version_id: int | None
    version_no: int | None
    grids: pd.DataFrame
    buildings: gpd.GeoDataFrame
    cells: gpd.GeoSeries
    current: pd.Series
    used_seqs: set[int] = field(default_factory=set)

    @property
    def kinds(self) -> dict[str, str]:
        """Current grid code -> kind (``basic`` / ``dedicated``)."""
        return dict(zip(self.grids["code"], self.grids["kind"], strict=True))


def community_row(cur, code: str) -> dict:
    """The community's id, code, name, band and parent codes; :class:`NotFound` if absent."""
    if not (isinstance(code, str) and code.isdigit() and len(code) == 12):
        raise NotFound(f"{code!r} is not a community code (12 digits)")
    cur.execute(
        """SELECT c.id, c.code, c.name, c.target_households, c.min_households,
                  c.max_households, s.code AS street_code, d.code AS district_code
             FROM communities c
             JOIN streets s ON s.id = c.street_id
             JOIN districts d ON d.id = c.district_id
            WHERE c.code = %s""",
        (code,),
    )
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"community {code} does not exist")
    return dict(row)


def street_communities(cur, street_code: str) -> list[str]:
    """Codes of the communities of a street, in code order."""
    if not (isinstance(street_code, str) and street_code.isdigit() and len(street_code) == 9):
        raise NotFound(f"{street_code!r} is not a street code (9 digits)")
    cur.execute(
        """SELECT c.code FROM communities c JOIN streets s ON s.id = c.street_id
            WHERE s.code = %s ORDER BY c.code""",
        (street_code,),
    )
    codes = [r["code"] for r in cur.fetchall()]
    if not codes:
        raise NotFound(f"street {street_code} does not exist or has no communities")
    return codes


def current_version(cur, community_id: int) -> dict | None:
    """``id``, ``version_no``, ``created_at``, ``created_by`` of the current version."""
    cur.execute(
        """SELECT id, version_no, created_at, created_by FROM grid_versions
            WHERE community_id = %s AND is_current""",
        (community_id,),
    )
    row = cur.fetchone()
    return dict(row) if row else None


def used_seqs(cur, community_id: int) -> set[int]:
    """Grid sequence numbers used by any version of the community."""
    cur.execute("SELECT DISTINCT seq FROM grids WHERE community_id = %s", (community_id,))
    return {int(r["seq"]) for r in cur.fetchall()}


def version_assignment(cur, version_id: int) -> dict[int, str]:
    """Building id -> grid code in one version (from ``building_grid``)."""
    cur.execute(
        """SELECT bg.building_id, g.code FROM building_grid bg JOIN grids g ON g.id = bg.grid_id
            WHERE bg.version_id = %s""",
        (version_id,),
    )
    return {int(r["building_id"]): r["code"] for r in cur.fetchall()}


def load_community(cur, code: str) -> CommunityInputs:
    """Read one community's planning inputs.

    Parameters
    ----------
    cur:
        A cursor (``RealDictCursor``) of the caller's transaction.
    code:
        12-digit community code.

    Returns
    -------
    CommunityInputs

    Raises
    ------
    NotFound
        When the community does not exist.
    GridAtlasError
        When it has no buildings.
    """
    row = community_row(cur, code)
    cid = int(row["id"])
    cur.execute("SELECT ST_AsBinary(geom) AS wkb FROM communities WHERE id = %s", (cid,))
    geom = shapely.from_wkb(bytes(cur.fetchone()["wkb"]))
    ver = current_version(cur, cid)
    cur.execute(
        """SELECT g.id, g.code, g.seq, g.kind, g.name, g.households
             FROM grids g WHERE g.version_id = %s ORDER BY g.code""",
        (ver["id"] if ver else -1,),
    )
    grids = pd.DataFrame(
        [dict(r) for r in cur.fetchall()],
        columns=["id", "code", "seq", "kind", "name", "households"],
    )
    cur.execute(
        """SELECT b.id, b.code, b.households, k.code AS compound_code,
                  ST_AsBinary(b.geom) AS wkb, ST_AsBinary(bc.geom) AS cell
             FROM buildings b
             LEFT JOIN compounds k ON k.id = b.compound_id
             LEFT JOIN building_cells bc ON bc.building_id = b.id
            WHERE b.community_id = %s
            ORDER BY b.id""",
        (cid,),
    )
    rows = cur.fetchall()
    if not rows:
        raise GridAtlasError(f"community {code} has no buildings to divide into grids")
    index = pd.Index([int(r["id"]) for r in rows], name="building_id")
    buildings = gpd.GeoDataFrame(
        {
            "code": [r["code"] for r in rows],
            "households": [int(r["households"]) for r in rows],
            "compound_code": [r["compound_code"] for r in rows],
        },
        geometry=gpd.GeoSeries(shapely.from_wkb([bytes(r["wkb"]) for r in rows]), crs=WGS84,
                               index=index),
        index=index,
        crs=WGS84,
    )
    missing = sum(r["cell"] is None for r in rows)
    if rows and missing == len(rows):  # never computed: every building would be a grid alone
        raise GridAtlasError(
            f"社区 {code} 的楼栋尚无网格单元，无法规划；请先运行 python -m geo cells rebuild "
            f"--community {code} / community {code} has no building cells yet: run "
            f"python -m geo cells rebuild --community {code} first")
    if missing:
        log.info("community %s: %d building(s) without a stored cell", code, missing)
    cells = gpd.GeoSeries(
        [shapely.from_wkb(bytes(r["cell"])) if r["cell"] is not None else Polygon()
         for r in rows],
        index=index, crs=WGS84,
    )
    assignment = version_assignment(cur, int(ver["id"])) if ver else {}
    current = pd.Series([assignment.get(int(i)) for i in index], index=index, dtype=object)
    return CommunityInputs(
        id=cid, code=row["code"], name=row["name"], district_code=row["district_code"],
        street_code=row["street_code"], geom=geom,
        target=int(row["target_households"]), min_hh=int(row["min_households"]),
        max_hh=int(row["max_households"]),
        version_id=int(ver["id"]) if ver else None,
        version_no=int(ver["version_no"]) if ver else None,
        grids=grids, buildings=buildings, cells=cells, current=current,
        used_seqs=used_seqs(cur, cid),
    )
