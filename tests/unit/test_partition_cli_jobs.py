"""``geo rebalance-file --jobs``: communities computed in worker processes give the same
output as one process, in the same order; a bad ``--jobs`` is refused before any work."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd

from tests.conftest import run_cli
from tests.unit.test_partition import blocks


def _three_communities(tmp_path):
    """Three communities side by side (4x3, 3x3 and 5x2 buildings), households uneven."""
    frames, polys = [], []
    for k, (nx, ny, code) in enumerate([(4, 3, "C1"), (3, 3, "C2"), (5, 2, "C3")]):
        b, com = blocks(nx, ny, [90 + 37 * i % 120 for i in range(nx * ny)], x0=450000.0 + 400.0 * k)
        b["comm"] = code
        frames.append(b)
        polys.append({"code": code, "geometry": com})
    src = tmp_path / "in.gpkg"
    gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326).to_file(src, layer="bld", driver="GPKG")
    gpd.GeoDataFrame(polys, crs=4326).to_file(src, layer="com", driver="GPKG")
    return src


def _run(src, out, *extra):
    return run_cli("rebalance-file", str(src), "--layer", "bld", "--households-field", "households",
                   "--community-field", "comm", "--community-layer", "com", "--out", str(out), *extra)


def test_workers_give_the_output_of_one_process(tmp_path):
    src = _three_communities(tmp_path)
    one, two = _run(src, tmp_path / "one.gpkg", "--jobs", "1"), _run(src, tmp_path / "two.gpkg", "--jobs", "2")
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    r1, r2 = json.loads(one.stdout), json.loads(two.stdout)
    assert [c["community"] for c in r2["communities"]] == ["C1", "C2", "C3"]
    assert r1["grids"] == r2["grids"] and r1["totals"] == r2["totals"]
    for layer in ("buildings", "grids"):
        a = gpd.read_file(tmp_path / "one.gpkg", layer=layer)
        b = gpd.read_file(tmp_path / "two.gpkg", layer=layer)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        assert a.geometry.geom_equals_exact(b.geometry, 0.0).all()
    assert gpd.read_file(tmp_path / "two.gpkg", layer="buildings")["grid"].str[:3].tolist() == \
        gpd.read_file(src, layer="bld")["comm"].add("-").tolist()


def test_bad_jobs_is_refused_before_any_work(tmp_path):
    src = _three_communities(tmp_path)
    proc = _run(src, tmp_path / "never.gpkg", "--jobs", "0")
    assert proc.returncode == 2 and "--jobs must be at least 1" in proc.stderr
    assert not (tmp_path / "never.gpkg").exists()
