"""Fitting imported grid polygons to their community before the database checks the tiling.

Grid files are drawn by hand or come through a reprojection, so their outer edges rarely
match the community boundary exactly. The database measures gaps, overlaps and "outside"
in the community's UTM zone (``gridatlas_utm_srid``), where an edge that is straight in
degrees is slightly curved: a vertex placed on a kilometre-long community edge in degrees
sits millimetres off that edge in metres, which the rule counts as square metres of gap.
So the fitting is done in that same UTM zone, where the rule measures:

1. a grid reaching more than :data:`GRID_SNAP_M` beyond its community is refused;
2. every grid is snapped to the community's vertices and trimmed to it;
3. gaps along the community boundary under :data:`SLIVER_M2`, or thinner than
   :data:`SLIVER_WIDTH_M` on average, are merged into the neighbour with the longest shared
   edge (larger gaps are left for the database rule to refuse, naming the grids);
4. back in EPSG:4326, vertices are snapped onto the community's own vertices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

#: Grid edges up to this far (m) outside their community are trimmed to it; more is refused.
GRID_SNAP_M = 1.0
#: Gaps smaller than this (m²) between the grids and their community boundary are noise.
SLIVER_M2 = 1.0
#: ... and so are long gaps thinner than this on average (m).
SLIVER_WIDTH_M = 0.05
_SNAP_M = 0.001  # vertex snapping while trimming (1 mm)
_SNAP_DEG = 1e-9  # vertex snapping back in degrees (~0.1 mm)


@dataclass
class FitResult:
    """Grids fitted to one community."""

    geoms: list[shapely.MultiPolygon]
    trimmed: int
    filled: int


def utm_srid(geom: shapely.Geometry) -> int:
    """The UTM zone the database measures a community in (``gridatlas_utm_srid``)."""
    c = geom.centroid
    zone = min(60, max(1, int(np.floor((c.x + 180) / 6)) + 1))
    return (32600 if c.y >= 0 else 32700) + zone


def polygonal(g: shapely.Geometry) -> shapely.MultiPolygon:
    """The polygonal part of ``g`` as a MultiPolygon (possibly empty)."""
    parts = [q for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")
             for q in shapely.get_parts(p) if not q.is_empty]
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


def fit_grids(
    geoms: Sequence[shapely.Geometry],
    community: shapely.Geometry,
    *,
    label: str,
    names: Sequence[str],
    community_code: str,
) -> FitResult:
    """Snap, trim and gap-fill the grids of one community (EPSG:4326 in and out).

    Parameters
    ----------
    geoms:
        The grid polygons of one community.
    community:
        The community polygon.
    label:
        File name for messages.
    names:
        ``feature N (code X)`` of each grid, for messages.
    community_code:
        For messages.

    Returns
    -------
    FitResult

    Raises
    ------
    GridAtlasError
        When a grid reaches more than :data:`GRID_SNAP_M` beyond the community or lies
        outside it.
    """
    srid = utm_srid(community)
    fwd = _mover(pyproj.Transformer.from_crs(4326, srid, always_xy=True))
    back = _mover(pyproj.Transformer.from_crs(srid, 4326, always_xy=True))
    com_m = fwd(community)
    shapely.prepare(com_m)
    wide = shapely.buffer(com_m, GRID_SNAP_M)
    snug = shapely.buffer(com_m, 0.01)
    shapely.prepare(wide)
    shapely.prepare(snug)
    out_m: list[shapely.Geometry] = []
    trimmed = 0
    for g, name in zip(geoms, names, strict=False):
        g_m = fwd(g)
        if not wide.covers(g_m):
            outside = g_m.difference(com_m).area
            raise GridAtlasError(
                f"{label}: {name}, field 'geometry': extends {outside:.1f} m² outside its "
                f"community {community_code} (more than {GRID_SNAP_M:g} m beyond it)"
            )
        fitted = polygonal(shapely.intersection(
            polygonal(shapely.make_valid(shapely.snap(g_m, com_m, _SNAP_M))), com_m))
        if fitted.is_empty:
            raise GridAtlasError(
                f"{label}: {name}, field 'geometry': lies outside community {community_code}"
            )
        if not com_m.covers(g_m) and not snug.covers(g_m):
            trimmed += 1  # (centimetre noise along the boundary is not worth a mention)
        out_m.append(fitted)
    out_m, filled = fill_slivers(out_m, com_m)
    out = []
    for g_m in out_m:
        g = polygonal(shapely.make_valid(shapely.snap(back(g_m), community,
                                                      _SNAP_DEG)))
        out.append(g)
    return FitResult(out, trimmed, filled)


def _mover(tr: pyproj.Transformer):
    def move(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(
            geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    return move


def _is_sliver(piece: shapely.Geometry) -> bool:
    if piece.area <= SLIVER_M2:
        return True
    return piece.length > 0 and 2 * piece.area / piece.length <= SLIVER_WIDTH_M


def fill_slivers(geoms: list, community: shapely.Geometry) -> tuple[list, int]:
    """Merge small or thin gaps between grids and their community into the neighbour with
    the longest shared edge (planar units: metres).

    Returns
    -------
    (list, int)
        The grids and the number of gaps merged.
    """
    gap = shapely.difference(community, shapely.union_all(np.asarray(geoms, dtype=object)))
    pieces = [p for p in shapely.get_parts(gap)
              if p.geom_type == "Polygon" and p.area > 0 and _is_sliver(p)]
    if not pieces:
        return list(geoms), 0
    out = list(geoms)
    for piece in pieces:
        shared = [shapely.length(shapely.intersection(piece.boundary, g.boundary)) for g in out]
        best = int(np.argmax(shared)) if max(shared) > 0 else int(
            np.argmin([piece.distance(g) for g in out]))
        out[best] = polygonal(shapely.union(out[best], piece))
    return out, len(pieces)
