"""Hexagon binning and pinyin search helpers (pure)."""

from __future__ import annotations

import numpy as np

from geo.hexbin import hex_counts, hex_ring
from geo.search import initials, initials_match


def test_points_in_one_hexagon_count_together():
    x = np.array([0.0, 10.0, -10.0, 500.0])
    y = np.array([0.0, 5.0, -5.0, 0.0])
    centres, counts = hex_counts(x, y, 100.0)
    assert sorted(counts.tolist()) == [1, 3]
    assert len(centres) == 2


def test_every_point_lies_in_its_hexagon():
    from shapely.geometry import Point, Polygon

    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1000, 1000, 300), rng.uniform(-1000, 1000, 300)
    centres, counts = hex_counts(x, y, 80.0)
    assert counts.sum() == 300
    hexes = [Polygon(hex_ring(cx, cy, 80.0)) for cx, cy in centres]
    for px, py in zip(x, y, strict=False):
        assert sum(h.buffer(1e-6).contains(Point(px, py)) for h in hexes) >= 1


def test_pinyin_initials():
    assert initials("和平街道") == "hpjd"
    assert initials_match("hp", "和平街道") and initials_match("HPJD", "和平街道")
    assert not initials_match("xy", "和平街道") and not initials_match("和", "和平街道")
