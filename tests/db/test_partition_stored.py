"""The stored path (``geo import`` then ``geo rebalance``) on a community the engine has never
seen: two lobes joined by a 2 m neck (see tests/unit/test_partition_geometry.py). Its grids
must be one piece and cover the community within the stated tolerance, as through the file
path; before the cells were noded on a precision grid every grid was refused on ``coverage``
(a 30 m² gap) and one was drawn in two pieces."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from geo.importers import import_file
from tests.conftest import run_cli
from tests.unit.test_partition_geometry import necked

DISTRICT, STREET, COMMUNITY = "990900", "990900001", "990900001001"


@pytest.fixture(scope="module")
def necked_place(empty_db, tmp_path_factory):
    poly, fps = necked(1)
    com = gpd.GeoSeries([poly], crs="EPSG:32650").to_crs("EPSG:4326").iloc[0]
    # footprints reach up to 8 m past the community: the district and street hold them all
    hull = gpd.GeoSeries([poly.buffer(50).envelope], crs="EPSG:32650").to_crs("EPSG:4326").iloc[0]
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO districts (code, name, name_en, geom, source)
                       VALUES (%s, '颈区', 'Neck District', ST_Multi(ST_GeomFromWKB(%s, 4326)), 'synthetic')
                       RETURNING id""", (DISTRICT, hull.wkb))
        d = cur.fetchone()[0]
        cur.execute("""INSERT INTO streets (district_id, code, name, name_en, geom, source)
                       VALUES (%s, %s, '颈街道', 'Neck Street', ST_Multi(ST_GeomFromWKB(%s, 4326)), 'synthetic')
                       RETURNING id""", (d, STREET, hull.wkb))
        s = cur.fetchone()[0]
        cur.execute("""INSERT INTO communities (street_id, district_id, code, name, name_en, geom, source)
                       VALUES (%s, %s, %s, '颈社区', 'Neck Community', ST_Multi(ST_GeomFromWKB(%s, 4326)),
                               'synthetic')""", (s, d, COMMUNITY, com.wkb))
    conn.close()
    rng = np.random.default_rng(11)
    b = gpd.GeoDataFrame(
        {"code": [f"{COMMUNITY}B{i + 1:03d}" for i in range(len(fps))],
         "households": rng.integers(20, 110, len(fps)).tolist(),
         "community_code": [COMMUNITY] * len(fps)},
        geometry=gpd.GeoSeries(fps, crs="EPSG:32650").to_crs("EPSG:4326").values, crs="EPSG:4326")
    path = tmp_path_factory.mktemp("necked") / "buildings.geojson"
    b.to_file(path, driver="GeoJSON")
    return import_file("buildings", path, actor="tester")


def test_stored_path_grids_are_one_piece_and_cover_the_community(empty_db, necked_place):
    assert necked_place.counts["buildings"] > 50
    out = run_cli("rebalance", "--community", COMMUNITY, url=empty_db.url)
    assert out.returncode in (0, 2), out.stderr
    rep = json.loads(out.stdout)
    bad = [(g["code"], g["failed_rules"]) for g in rep["grids"]
           if {"coverage", "one_piece", "inside_community", "contiguity"} & set(g["failed_rules"])]
    assert not bad, bad
    tot = rep["communities"][0]["totals"]
    assert tot["coverage_valid"] and tot["coverage_gap_m2"] <= tot["coverage_tolerance_m2"], tot
