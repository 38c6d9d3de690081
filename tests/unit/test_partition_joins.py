"""Footprint-graph joins: a cluster farther than ``max_gap`` from every other footprint is
joined to a building whose cell touches its own, so the join holds in both rule graphs."""

from __future__ import annotations

import numpy as np
import shapely

from geo.partition.graph import build_graph


def _layout():
    """Three footprints, all more than 30 m apart; ``s`` is closest to ``q`` (40 m) but its
    cell touches only ``r``'s cell, and ``q``'s cell touches only ``r``'s.

        s cell  [-10,30]x[30,60]          footprints: q (0,0)-(5,5)
        r cell  L: [30,80]x[-10,60] + [-10,30]x[20,30]      r (60,0)-(65,5)
        q cell  [-10,30]x[-10,20]                           s (0,45)-(5,50)
    """
    fps = np.array([shapely.box(0, 0, 5, 5), shapely.box(60, 0, 65, 5), shapely.box(0, 45, 5, 50)], dtype=object)
    cells = np.array([
        shapely.box(-10, -10, 30, 20),
        shapely.union_all([shapely.box(30, -10, 80, 60), shapely.box(-10, 20, 30, 30)]).normalize(),
        shapely.box(-10, 30, 30, 60),
    ], dtype=object)
    return fps, cells


def _keys(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in np.asarray(pairs).reshape(-1, 2)}


def test_stranded_footprint_joins_a_building_its_cell_touches():
    fps, cells = _layout()
    g = build_graph(fps, cells, max_gap=30.0)
    cell = _keys(g.cell_pairs)
    assert cell == {(0, 1), (1, 2)}
    # the closest footprint pair (q, s) has cells that do not touch: it is not the join
    assert _keys(g.mst_pairs) == {(0, 1), (1, 2)}
    assert _keys(g.mst_pairs) <= cell
    # so the search graph (both rule graphs) connects every building without extra joins
    assert _keys(g.search_pairs) == {(0, 1), (1, 2)}


def test_pieces_whose_cells_touch_nothing_join_by_closest_footprints():
    # two community pieces 100 m apart: no cell pair between them, the closest footprints join
    fps = np.array([shapely.box(0, 0, 5, 5), shapely.box(105, 0, 110, 5)], dtype=object)
    cells = np.array([shapely.box(-10, -10, 20, 20), shapely.box(95, -10, 125, 20)], dtype=object)
    g = build_graph(fps, cells, max_gap=30.0)
    assert len(g.cell_pairs) == 0
    assert _keys(g.fp_pairs) == {(0, 1)}


def test_report_counts_the_footprint_joins():
    """Two clusters of footprints 60 m apart in one community piece (their cells touch): one
    join between touching cells, none across pieces."""
    import geopandas as gpd

    from geo.partition.engine import rebalance

    boxes = [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10), shapely.box(90, 0, 100, 10),
             shapely.box(110, 0, 120, 10)]
    b = gpd.GeoDataFrame({"households": [100, 100, 100, 100]}, geometry=boxes, crs="EPSG:32650").to_crs(4326)
    com = gpd.GeoSeries([shapely.box(-10, -10, 130, 20)], crs="EPSG:32650").to_crs(4326).iloc[0]
    plan = rebalance(b, com)
    assert plan.report["graph"] == {"footprint_joins_touching_cells": 1, "footprint_joins_across_pieces": 0}
