"""The demo loader on a tiny stand-in dataset (same contract as the shipped demo)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from geo.access.roles import SYSTEM
from geo.demo.load import load_demo
from geo.errors import GridAtlasError
from geo.repository import stats
from geo.repository.scope import Scope

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import demo_mini  # noqa: E402

NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)  # one day after the reference time


@pytest.fixture(scope="module")
def loaded(empty_db, tmp_path_factory):
    demo_mini.make(tmp_path_factory.mktemp("mini"))
    return load_demo(dataset=demo_mini, now=NOW, actor="tester")


def test_everything_is_written_in_one_load(empty_db, loaded):
    assert loaded.counts["buildings"] == 18 and loaded.counts["grids"] == 4
    c = stats.counts(Scope.of(SYSTEM))
    assert (c["districts"], c["communities"], c["grid_versions"], c["incidents"]) == (1, 2, 2, 1)
    assert c["audit_log"] == 1
    assert empty_db.scalar("SELECT count(*) FROM building_cells WHERE method = 'voronoi'") == 18


def test_grids_are_unions_of_cells_and_tile_their_community(empty_db, loaded):
    assert empty_db.scalar(
        "SELECT count(*) FROM grid_versions v, grid_version_coverage_problems(v.id)") == 0
    assert empty_db.scalar(
        """SELECT bool_and(ST_Equals(ST_SnapToGrid(g.geom, 1e-9), ST_SnapToGrid(u.geom, 1e-9)))
             FROM grids g JOIN (SELECT bg.grid_id, ST_Union(bc.geom) AS geom
                                  FROM building_grid bg
                                  JOIN building_cells bc USING (building_id)
                                 GROUP BY bg.grid_id) u ON u.grid_id = g.id""")
    assert empty_db.scalar("SELECT string_agg(households::text, ',' ORDER BY code) FROM grids") \
        == "300,600,300,600"
    assert empty_db.scalar("SELECT count(*) FROM buildings b JOIN building_grid bg "
                           "ON bg.building_id = b.id AND bg.grid_id = b.grid_id") == 18


def test_sources_and_parents(empty_db, loaded):
    assert empty_db.scalar("SELECT string_agg(DISTINCT source, ',') FROM buildings") == "osm"
    assert empty_db.scalar("SELECT string_agg(DISTINCT source, ',') FROM grids") == "derived"
    assert empty_db.scalar("SELECT source FROM cameras") == "synthetic"
    assert empty_db.scalar("SELECT c.code FROM incident_categories c JOIN incident_categories p"
                           " ON p.id = c.parent_id") == "0101"
    assert empty_db.scalar("SELECT g.code FROM incidents i JOIN grids g ON g.id = i.grid_id") \
        == "990300001002002"
    assert empty_db.scalar("SELECT g.code FROM cameras c JOIN grids g ON g.id = c.grid_id") \
        == "990300001001002"


def test_synthetic_times_are_shifted_to_now(empty_db, loaded):
    assert empty_db.scalar("SELECT reported_at = %s FROM incidents",
                           (dt.datetime(2026, 1, 1, 20, tzinfo=dt.UTC),))
    assert empty_db.scalar("SELECT min(at) = %s FROM incident_events",
                           (dt.datetime(2026, 1, 1, 20, tzinfo=dt.UTC),))


def test_same_demo_again_changes_nothing(empty_db, loaded):
    before = stats.counts(Scope.of(SYSTEM))
    again = load_demo(dataset=demo_mini, now=NOW)
    assert again.already_loaded and again.seconds < 5
    assert stats.counts(Scope.of(SYSTEM)) == before


def test_other_data_under_the_same_district_code_is_refused(empty_db, loaded):
    before = stats.counts(Scope.of(SYSTEM))
    demo_mini.make(demo_mini.DATA_DIR, variant="b")
    try:
        with pytest.raises(GridAtlasError, match="already holds a demo district 990300 "
                                                 "loaded from other data"):
            load_demo(dataset=demo_mini, now=NOW)
    finally:
        demo_mini.make(demo_mini.DATA_DIR, variant="a")
    assert stats.counts(Scope.of(SYSTEM)) == before
