"""A grid whose polygon comes out empty does not break the proposal (demo district on PostGIS).

A city street's rebalance died on ``getX called on empty Point``: the union of a grid's cells
came out empty (GEOS leaves a coverage union undefined when the cells do not really form a
coverage), and coding the grids read the empty polygon's representative point.  The
proposal now places such a grid at its buildings' centre for coding, and the rules still
judge the grid itself.
"""

from __future__ import annotations

import shapely

from geo import db
from geo.access.roles import Principal
from geo.partition import rebalance
from geo.planning import api, data
from geo.planning import plan as plan_mod
from geo.planning.codes import ShortCodes

ADMIN = Principal("test:admin", "admin", None)
CODE = "990100002003"


def _engine_plan(ci, mode="fresh"):
    return rebalance(ci.buildings, ci.geom, households="households", compound="compound_code", cells=ci.cells,
                     target=ci.target, min_hh=ci.min_hh, max_hh=ci.max_hh,
                     current=ci.current if ci.version_id is not None else None, mode=mode, seed=0,
                     names=ShortCodes())


def test_a_grid_with_an_empty_polygon_is_coded_at_its_buildings_centre(demo_db):
    with db.transaction(readonly=True) as cur:
        ci = data.load_community(cur, CODE)
    params = {"target": ci.target, "min_hh": ci.min_hh, "max_hh": ci.max_hh, "mode": "fresh", "seed": 0,
              "grids": None, "locked_codes": [], "dedicated_codes": []}
    whole = _engine_plan(ci)
    intact = plan_mod.build_proposal(ci, whole, params, set(), set())
    # the engine's plan with the polygon of one grid (the one in the middle of the reading
    # order) empty, as the coverage union left it
    broken = _engine_plan(ci)
    mid = sorted(broken.grids["code"])[len(broken.grids) // 2]
    i = broken.grids.index[broken.grids["code"] == mid][0]
    broken.grids.loc[i, "geometry"] = shapely.Polygon()
    prop = plan_mod.build_proposal(ci, broken, params, set(), set())
    # every grid is coded, the same way as with the polygon intact (its buildings' centre
    # lies where its polygon was), and the empty grid is still there for the rules to judge
    assert len(prop.grids) == len(intact.grids)
    assert prop.labels == intact.labels
    assert sorted(prop.grids["code"]) == sorted(intact.grids["code"])
    empty = prop.grids[prop.grids.geometry.is_empty]
    assert len(empty) == 1


def test_minimal_mode_with_an_empty_grid_polygon_keeps_every_code(demo_db):
    # the same on a redraw: committed grids, minimal mode, one polygon empty
    api.commit(ADMIN, api.propose(ADMIN, CODE, mode="fresh", seed=0), allow_out_of_band=True)
    with db.transaction(readonly=True) as cur:
        ci = data.load_community(cur, CODE)
    params = {"target": ci.target, "min_hh": ci.min_hh, "max_hh": ci.max_hh, "mode": "minimal", "seed": 0,
              "grids": None, "locked_codes": [], "dedicated_codes": []}
    plan = _engine_plan(ci, mode="minimal")
    plan.grids.loc[plan.grids.index[0], "geometry"] = shapely.Polygon()
    prop = plan_mod.build_proposal(ci, plan, params, set(), set())
    assert set(prop.grids["status"]) == {"kept"}
    assert prop.churn["households_moved"] == 0
