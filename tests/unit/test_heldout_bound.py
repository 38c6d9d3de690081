"""The counting bound of the held-out minimal-change protocol (bench/heldout.py): what any plan
with every grid in band must move after the change, by counting alone; no database."""

from __future__ import annotations

import pandas as pd

from bench.heldout import moved_lower_bound


def _report(*grids: tuple[str, list[str]]) -> dict:
    return {"min": 300, "max": 500, "grids": [{"code": c, "flags": f} for c, f in grids]}


def test_a_grid_more_than_the_count_allows_costs_the_band_minimum():
    # grid A now holds 750 (one grid can hold 500 at most: a second grid, 300 households, must
    # form); T is an oversized building alone, which no plan puts in band: not counted
    report = _report(("A", []), ("T", ["oversized_building"]))
    cur = pd.Series(["A", "A", "T"])
    bound = moved_lower_bound(report, cur, pd.Series([400, 350, 600]), 300, 500)
    assert bound == {"households": 1350, "grids_needed_more": 1, "moved_at_least": 300,
                     "share": round(300 / 1350, 4)}


def test_nothing_when_the_grids_can_hold_the_households_or_only_exempt_grids_grew():
    report = _report(("A", []), ("B", []), ("R", ["infeasible_region"]))
    cur = pd.Series(["A", "B", "R", None])
    assert moved_lower_bound(report, cur, pd.Series([480, 450, 900, 20]), 300, 500)["share"] == 0.0
