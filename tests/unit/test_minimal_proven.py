"""A region proven infeasible: the fresh plan brings into band what it can of the grids the
proof leaves free, and minimal mode on that plan, nothing having changed, moves nothing.

The community is drawn by the held-out set's generator of awkward shapes
(:func:`bench.heldout.shape_case`) with a number past the set's own (it takes 0-15), so it
is in neither half and was never tuned on.
"""

from __future__ import annotations

import logging

from bench.heldout import shape_case
from geo.partition.engine import rebalance


def test_minimal_mode_moves_nothing_on_a_fresh_plan_whose_region_is_proven_infeasible():
    # two lobes joined by a neck; buildings that must share one grid hold more than the maximum
    case = shape_case(19)
    kw = {"cells": case.cells, "compound": case.compound, "seed": 0}
    logging.getLogger("geo.partition").setLevel(logging.ERROR)
    fresh = rebalance(case.buildings, case.geom, **kw)
    claims = fresh.report["totals"]["infeasible_regions"]
    assert [c["proof"] for c in claims] == ["pockets"]
    assert all(c.get("check") == "checked" for c in claims)
    # before, the search stopped at the proof and left grids out of band that minimal mode
    # then moved 310 households to bring in, on a plan that nothing had changed since
    same = rebalance(case.buildings, case.geom, current=fresh.labels.copy(), mode="minimal", **kw)
    assert same.report["churn"]["households_moved"] == 0
    assert (same.labels == fresh.labels).all()
    # what stays out of band is exempt: the proven region's grids, or a building alone above the maximum
    out = [set(g.get("flags") or []) for g in fresh.report["grids"] if g["failed_rules"]]
    assert any("infeasible_region" in f for f in out)
    assert all(f & {"infeasible_region", "oversized_building"} for f in out)
