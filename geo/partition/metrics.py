"""Measures and named rule predicates for a partition into grids (all in metres).

Each rule is a small predicate returning ``True`` when satisfied; :func:`grid_failures` lists
the names of the rules a grid breaks: ``"inside_community"``, ``"one_piece"``,
``"contiguity"``, ``"band"``, ``"coverage"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.partition.graph import is_connected

__all__ = [
    "RULES", "contiguous", "deviation", "feasible_k", "in_band", "inside_community", "one_piece",
    "polsby_popper", "pp_from", "summarize",
]

RULES = ("inside_community", "whole_buildings", "contiguity", "one_piece", "coverage", "band")


def polsby_popper(geom_m: BaseGeometry | None) -> float:
    """Polsby-Popper compactness ``4πA/P²`` of a polygon in a metric CRS.

    A and P are summed over the pieces of a multi-polygon (P includes holes' rings).

    Parameters
    ----------
    geom_m:
        Polygon or MultiPolygon in metres.

    Returns
    -------
    float
        In ``[0, 1]``; 0 for an empty geometry.
    """
    if geom_m is None or geom_m.is_empty:
        return 0.0
    a, p = geom_m.area, geom_m.length
    return 0.0 if p <= 0 else float(4.0 * math.pi * a / (p * p))


def pp_from(area: float, perimeter: float) -> float:
    """Polsby-Popper from an area (m²) and a perimeter (m)."""
    return 0.0 if perimeter <= 0 else 4.0 * math.pi * area / (perimeter * perimeter)


def deviation(households: float, target: float) -> float:
    """Relative deviation ``|h - target| / target``."""
    return abs(households - target) / target


def in_band(households: float, min_hh: float, max_hh: float) -> bool:
    """Rule ``band``: ``min_hh <= households <= max_hh``."""
    return min_hh <= households <= max_hh


def one_piece(geom_m: BaseGeometry, community_m: BaseGeometry | None = None) -> bool:
    """Rule ``one_piece``: the grid polygon is one polygon in each piece of its community.

    A community in several pieces (an island, a part across a river, an exclave) cannot
    always be cut so that every grid lies in one piece: a piece may hold too few households
    for a grid of its own, or none at all.  The rule therefore asks for one polygon *per
    community piece the grid reaches*: two parts of a grid in the same piece of the
    community break it, a grid spanning two pieces does not.  An enclave (a hole of the
    community) is no piece and changes nothing.  Without ``community_m`` the grid must be a
    single polygon.
    """
    if geom_m.is_empty:
        return False
    n = shapely.get_num_geometries(geom_m)
    if n == 1:
        return geom_m.geom_type == "Polygon" or shapely.get_geometry(geom_m, 0).geom_type == "Polygon"
    if community_m is None or shapely.get_num_geometries(community_m) < 2:
        return False
    parts = shapely.get_parts(geom_m)
    pieces = shapely.get_parts(community_m)
    # each part of the grid lies in exactly one piece of the community: the piece holding
    # most of it (a point on its surface can fall on a shared vertex of two pieces)
    share = shapely.area(shapely.intersection(parts[:, None], pieces[None, :]))
    host = np.argmax(share, axis=1)
    return len(np.unique(host)) == len(parts)


def inside_community(geom_m: BaseGeometry, community_m: BaseGeometry, tol_m2: float = 1.0) -> bool:
    """Rule ``inside_community``: at most ``tol_m2`` of the grid lies outside its community."""
    return geom_m.difference(community_m).area <= tol_m2


def contiguous(members: Sequence[int], fp_pairs: np.ndarray) -> bool:
    """Rule ``contiguity``: the grid's buildings are connected in the footprint graph."""
    return is_connected(np.asarray(members), fp_pairs)


def feasible_k(total_hh: int, min_hh: int, max_hh: int) -> tuple[int, int]:
    """Range ``(ceil(H/max), floor(H/min))`` of grid counts that can put every grid in band."""
    return (math.ceil(total_hh / max_hh) if total_hh > 0 else 0, total_hh // min_hh)


def summarize(grids: list[dict], target: float) -> dict:
    """Totals over per-grid report rows (see :func:`geo.partition.engine.rebalance`).

    Parameters
    ----------
    grids:
        Rows with ``households``, ``deviation``, ``pp``, ``valid``, ``failed_rules``, ``flags``.
    target:
        Target households per grid.

    Returns
    -------
    dict
        Counts and shares (valid, in band, contiguous, one piece), deviation and PP stats.
    """
    n = len(grids)
    if n == 0:
        return {"n_grids": 0}
    dev = np.array([g["deviation"] for g in grids])
    pp = np.array([g["pp"] for g in grids])
    fails = [set(g["failed_rules"]) for g in grids]
    oversized = sum("oversized_building" in g.get("flags", []) for g in grids)
    return {
        "n_grids": n,
        "households": int(sum(g["households"] for g in grids)),
        "n_valid": int(sum(g["valid"] for g in grids)),
        "share_valid": float(np.mean([g["valid"] for g in grids])),
        "share_in_band": float(np.mean(["band" not in f for f in fails])),
        "share_contiguous": float(np.mean(["contiguity" not in f for f in fails])),
        "share_one_piece": float(np.mean(["one_piece" not in f for f in fails])),
        "n_oversized": int(oversized),
        "max_deviation": float(dev.max()),
        "mean_deviation": float(dev.mean()),
        "mean_pp": float(pp.mean()),
        "min_pp": float(pp.min()),
    }
