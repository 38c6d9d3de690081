"""Hexagonal binning of points in metres (pointy-top hexagons, axial coordinates)."""

from __future__ import annotations

import numpy as np


def hex_counts(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Count points per hexagon of circumradius ``size`` (same units as x and y).

    Returns (centres as an (n, 2) array, counts), one row per non-empty hexagon, ordered
    by axial coordinates so the output is deterministic.
    """
    if len(x) == 0:
        return np.empty((0, 2)), np.empty(0, dtype=int)
    q = (np.sqrt(3) / 3 * x - y / 3) / size
    r = (2 / 3 * y) / size
    # cube rounding
    cx, cz = q, r
    cy = -cx - cz
    rx, ry, rz = np.round(cx), np.round(cy), np.round(cz)
    dx, dy, dz = np.abs(rx - cx), np.abs(ry - cy), np.abs(rz - cz)
    fix_x = (dx > dy) & (dx > dz)
    fix_y = ~fix_x & (dy > dz)
    rx = np.where(fix_x, -ry - rz, rx)
    ry = np.where(fix_y, -rx - rz, ry)
    rz = np.where(~fix_x & ~fix_y, -rx - ry, rz)
    keys = np.stack([rx, rz], axis=1).astype(np.int64)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    qx, rr = uniq[:, 0].astype(float), uniq[:, 1].astype(float)
    centres = np.stack([size * np.sqrt(3) * (qx + rr / 2), size * 1.5 * rr], axis=1)
    return centres, counts


def hex_ring(cx: float, cy: float, size: float) -> list[tuple[float, float]]:
    """The closed outline of the pointy-top hexagon centred at (cx, cy)."""
    angles = np.deg2rad(np.arange(30, 390, 60))
    pts = [(cx + size * np.cos(a), cy + size * np.sin(a)) for a in angles]
    return pts + [pts[0]]
