"""Property tests (hypothesis): every output respects rules 1-3 (inside, whole, contiguous,
one piece, tiling)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.partition.cells import building_cells
from geo.partition.engine import rebalance

UTM = "EPSG:32650"


@st.composite
def communities(draw):
    n = draw(st.integers(min_value=2, max_value=14))
    seed = draw(st.integers(min_value=0, max_value=10_000))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([60.0, 150.0, 400.0]))
    pts = rng.uniform(0, spread, size=(n, 2))
    geoms, _keep = [], []
    for x, y in pts:
        w, h = rng.uniform(6, 25, 2)
        g = shapely.box(x, y, x + w, y + h)
        if rng.random() < 0.3:
            g = shapely.affinity.rotate(g, float(rng.uniform(0, 90)))
        geoms.append(g)
    hh = draw(st.lists(st.integers(min_value=0, max_value=350), min_size=n, max_size=n))
    off = np.array([450000.0, 4420000.0])
    geoms = [shapely.affinity.translate(g, *off) for g in geoms]
    hull = shapely.union_all(geoms).convex_hull.buffer(draw(st.sampled_from([5.0, 30.0])))
    b = gpd.GeoDataFrame({"households": hh}, geometry=geoms, crs=UTM).to_crs(4326)
    com = gpd.GeoSeries([hull], crs=UTM).to_crs(4326).iloc[0]
    return b, com


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(communities(), st.integers(min_value=0, max_value=3))
def test_rules_1_to_3_hold(case, seed):
    b, com = case
    cells = building_cells(b.geometry, com)
    assert shapely.coverage_is_valid(cells.values)
    plan = rebalance(b, com, cells=cells, seed=seed, restarts=1)
    assert plan.labels.notna().all() and len(plan.labels) == len(b)
    assert sum(r["n_buildings"] for r in plan.report["grids"]) == len(b)
    gm = gpd.GeoSeries(plan.grids.geometry.values, crs=4326).to_crs(UTM)
    cm = gpd.GeoSeries([com], crs=4326).to_crs(UTM).iloc[0]
    assert shapely.coverage_is_valid(gm.values)
    assert shapely.symmetric_difference(shapely.coverage_union_all(gm.values), cm).area < 1.0
    for r in plan.report["grids"]:
        assert not {"inside_community", "contiguity", "one_piece", "coverage"} & set(r["failed_rules"]), r
