"""The shipped demo district as loaded by ``python -m geo demo load`` (the demo_db clone)."""

from __future__ import annotations

import json
import time

import pytest

from geo.demo import dataset
from geo.demo.load import dataset_checksum
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def shipped() -> dict[str, int]:
    return {name: len(dataset.read_layer(name)) for name in (
        "districts", "streets", "communities", "compounds", "buildings", "grids",
        "grid_workers", "cameras", "police_rooms", "incidents")}


def test_counts_match_the_shipped_dataset(demo_db, shipped):
    counts = json.loads(run_cli("stats", "--json", url=demo_db.url).stdout)
    for key in ("districts", "streets", "communities", "compounds", "buildings", "grids",
                "grid_workers", "cameras", "police_rooms", "incidents"):
        assert counts[key] == shipped[key], key
    assert counts["grid_versions"] == counts["communities"]


def test_communities_hold_3000_to_8000_households(demo_db):
    worst = demo_db.scalar(
        """SELECT count(*) FROM (SELECT c.id, coalesce(sum(b.households), 0) AS hh
                                   FROM communities c LEFT JOIN buildings b
                                     ON b.community_id = c.id GROUP BY c.id) t
            WHERE hh NOT BETWEEN 3000 AND 8000""")
    assert worst == 0


def test_every_current_grid_version_tiles_its_community(demo_db):
    assert demo_db.scalar("SELECT count(*) FROM communities c WHERE (SELECT count(*) FROM "
                          "grid_versions v WHERE v.community_id = c.id AND v.is_current) <> 1") == 0
    assert demo_db.scalar("SELECT count(*) FROM grid_versions v, "
                          "grid_version_coverage_problems(v.id) WHERE v.is_current") == 0
    assert demo_db.scalar("SELECT count(*) FROM grids g WHERE NOT EXISTS "
                          "(SELECT 1 FROM grid_coarse c WHERE c.grid_id = g.id)") == 0


def test_buildings_grids_and_points_agree(demo_db):
    assert demo_db.scalar("SELECT count(*) FROM buildings b LEFT JOIN building_grid bg "
                          "ON bg.building_id = b.id AND bg.grid_id = b.grid_id "
                          "WHERE bg.grid_id IS NULL") == 0
    assert demo_db.scalar("SELECT count(*) FROM grids g WHERE households <> (SELECT "
                          "coalesce(sum(b.households), 0) FROM buildings b "
                          "WHERE b.grid_id = g.id)") == 0
    assert demo_db.scalar("SELECT count(*) FROM buildings WHERE NOT ST_Intersects(pt, geom)") == 0
    assert demo_db.scalar("SELECT count(*) FROM incidents WHERE grid_id IS NULL "
                          "OR community_id IS NULL OR street_id IS NULL") == 0
    assert demo_db.scalar("SELECT count(*) FROM incidents WHERE reported_at > now()") == 0
    assert demo_db.scalar("SELECT string_agg(DISTINCT source, ',' ORDER BY source) FROM ("
                          "SELECT source FROM cameras UNION ALL SELECT source FROM incidents "
                          "UNION ALL SELECT source FROM grid_workers) t") == "synthetic"
    assert demo_db.scalar("SELECT string_agg(DISTINCT source, ',') FROM grids") == "derived"


def test_second_load_is_fast_and_changes_nothing(demo_db):
    before = run_cli("stats", "--json", url=demo_db.url).stdout
    t0 = time.perf_counter()
    proc = run_cli("demo", "load", url=demo_db.url)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "already loaded" in proc.stdout
    assert elapsed < 5
    assert run_cli("stats", "--json", url=demo_db.url).stdout == before
    assert demo_db.scalar("SELECT detail->>'checksum' FROM audit_log WHERE action = 'demo_load'"
                          ) == dataset_checksum(dataset)
