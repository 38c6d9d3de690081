"""Department networks at city scale: import and crosswalk times.

Not part of ``make test``. Uses the city-scale database of ``bench/screen.py``
(``bench/citygen.py``: 2,576 grids, 1,000,000 buildings; built when absent, kept with
``--reuse``, which is the default here), applies pending migrations, then writes 8 network
files of about 2,500 polygons each and measures:

import
    ``geo.networks.store.import_network`` per file (read, CRS, checks, one transaction,
    audit), replacing the network of that name; goal <= 30 s each.
crosswalk
    ``geo.networks.crosswalk.crosswalk_rows`` for the current version of the whole city
    (one SQL statement over 1,000,000 buildings); median of ``--repeats`` runs per network;
    goal <= 5 s. The shares of every old grid are checked to sum to 1.
alignment
    ``geo.networks.crosswalk.alignment`` for the whole city (reported, no goal).

The networks: four are the city's current grids shifted (60-240 m) and simplified (5 m),
written in EPSG:4326 or UTM; four are square grids (sizes chosen so that about 2,500
squares overlap the district), two of them rotated. Prints the load average at start, per
network figures and medians, then one JSON line last: ``import_median_s``,
``import_max_s``, ``crosswalk_median_s``, ``crosswalk_max_s``, ``alignment_median_s``,
``polygons``.

Usage::

    .venv/bin/python bench/networks.py              # build the city if needed, measure
    .venv/bin/python bench/networks.py --networks 2 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import screen  # noqa: E402

NAMES = ("城管", "综治", "公安", "党建", "消防", "市场监管", "生态环境", "民政")
GOALS = {"import_s": 30.0, "crosswalk_s": 5.0}
UTM = "EPSG:32642"  # the city lies at 70.6-71.6°E


def say(msg: str) -> None:
    print(msg, flush=True)


def city_grids(admin_url: str) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """Current grids (UTM) and the district's polygon (UTM)."""
    import psycopg2

    conn = psycopg2.connect(admin_url)
    try:
        grids = gpd.read_postgis(
            """SELECT g.code, g.geom FROM grids g JOIN grid_versions v ON v.id = g.version_id
                WHERE v.is_current ORDER BY g.code""", conn, geom_col="geom")
        district = gpd.read_postgis("SELECT ST_Union(geom) AS geom FROM districts", conn,
                                    geom_col="geom")
    finally:
        conn.close()
    return grids.to_crs(UTM), district.to_crs(UTM).geometry.iloc[0]


def shifted(grids: gpd.GeoDataFrame, district: shapely.Geometry, dx: float, dy: float,
            prefix: str) -> gpd.GeoDataFrame:
    """The grids moved by (dx, dy) metres and simplified (5 m); those moved wholly out of the
    district are left out (a department's layer covers the district)."""
    geoms = shapely.simplify(
        np.asarray(grids.geometry.translate(dx, dy).values, dtype=object), 5.0)
    geoms = geoms[shapely.intersects(district, geoms)]
    n = len(geoms)
    return gpd.GeoDataFrame(
        {"BH": [f"{prefix}{i:05d}" for i in range(1, n + 1)],
         "MC": [f"{prefix}网格{i}" for i in range(1, n + 1)]},
        geometry=list(geoms), crs=UTM)


def squares(district: shapely.Geometry, want: int, angle: float, prefix: str) -> gpd.GeoDataFrame:
    """Square cells (rotated by ``angle`` degrees about the district's centre) that overlap
    the district, sized so that about ``want`` of them do."""
    c = district.centroid
    x0, y0, x1, y1 = shapely.affinity.rotate(district, -angle, origin=c).bounds
    rotated = shapely.affinity.rotate(district, -angle, origin=c)
    shapely.prepare(rotated)
    side = math.sqrt(district.area / want)
    for _ in range(6):
        xs = np.arange(x0, x1, side)
        ys = np.arange(y0, y1, side)
        gx, gy = np.meshgrid(xs, ys)
        boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side)
        keep = boxes[shapely.intersects(rotated, boxes)]
        if abs(len(keep) - want) <= want * 0.02:
            break
        side *= math.sqrt(len(keep) / want)
    cells = [shapely.affinity.rotate(b, angle, origin=c) for b in keep]
    n = len(cells)
    return gpd.GeoDataFrame(
        {"code": [f"{prefix}{i:05d}" for i in range(1, n + 1)],
         "name": [f"{prefix}方格{i}" for i in range(1, n + 1)]},
        geometry=cells, crs=UTM)


def make_files(admin_url: str, out: Path, count: int) -> list[tuple[str, Path, list[str]]]:
    grids, district = city_grids(admin_url)
    shapely.prepare(district)
    plans = [
        ("shift", 60.0, 0.0, "EPSG:4326"), ("square", 2500, 0.0, UTM),
        ("shift", 0.0, -120.0, UTM), ("square", 2450, 15.0, "EPSG:4326"),
        ("shift", 180.0, 90.0, "EPSG:4326"), ("square", 2550, 0.0, "EPSG:4326"),
        ("shift", -240.0, 60.0, UTM), ("square", 2500, 30.0, UTM),
    ][:count]
    files = []
    for k, (kind, a, b, crs) in enumerate(plans):
        name = NAMES[k]
        prefix = f"N{k + 1}"
        if kind == "shift":
            frame = shifted(grids, district, a, b, prefix)
            fields = ["code=BH", "name=MC"]
        else:
            frame = squares(district, int(a), b, prefix)
            fields = []
        path = out / f"network_{k + 1}.gpkg"
        frame.to_crs(crs).to_file(path, layer="grids", driver="GPKG")
        files.append((name, path, fields))
        say(f"  {name}: {kind} {a:g}/{b:g}, {len(frame)} polygons, {crs} -> {path.name}")
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="crosswalk runs per network")
    ap.add_argument("--fresh", action="store_true", help="rebuild the city database")
    ap.add_argument("--keep", help="directory for the network files (default: a temp dir)")
    ap.add_argument("--no-import", action="store_true",
                    help="measure the crosswalk of the networks already imported (same files)")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    say(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} cores)")
    ns = argparse.Namespace(quick=False, database_url=None, dbname=None, reuse=not args.fresh)
    admin, app, _ = screen.prepare_database(ns)
    from geo import db
    from geo.settings import get_settings

    db.migrate(admin)
    os.environ["DATABASE_URL"] = app
    get_settings.cache_clear()
    db.reset_pool()
    from geo.access.roles import SYSTEM
    from geo.networks.crosswalk import alignment, crosswalk_rows
    from geo.networks.store import import_network

    tmp = None
    if args.keep:
        out = Path(args.keep)
        out.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="networks-bench-")
        out = Path(tmp.name)
    say("writing network files ...")
    files = make_files(admin, out, args.networks)
    imports, crosswalks, aligns, polygons = {}, {}, {}, {}
    for name, path, fields in files:
        if args.no_import:
            continue
        t0 = time.perf_counter()
        rep = import_network(SYSTEM, name, path, fields=fields, replace=True)
        imports[name] = time.perf_counter() - t0
        polygons[name] = rep.grids
        say(f"import {name}: {rep.grids} polygons in {imports[name]:.2f} s")
    for name, _, _ in files:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rows = crosswalk_rows(SYSTEM, name)
            times.append(time.perf_counter() - t0)
        sums: dict[str, float] = {}
        for r in rows:
            sums[r["network_code"]] = sums.get(r["network_code"], 0.0) + \
                r["share_of_network_households"]
        worst = max(abs(s - 1) for s in sums.values())
        hh = sum(r["households"] for r in rows)
        crosswalks[name] = statistics.median(times)
        t0 = time.perf_counter()
        al = alignment(SYSTEM, name)
        aligns[name] = time.perf_counter() - t0
        say(f"crosswalk {name}: {len(rows)} rows, {len(sums)} old grids, {hh:,} households, "
            f"max |sum of shares - 1| {worst:.1e}; median {crosswalks[name]:.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)}); alignment {aligns[name]:.2f} s, "
            f"aligned share {al.total['share_aligned']:.3f}")
        if worst > 1e-9:
            say(f"  ERROR: shares of {name} do not sum to 1")
            return 1
    result = {
        "import_median_s": round(statistics.median(imports.values()), 2) if imports else None,
        "import_max_s": round(max(imports.values()), 2) if imports else None,
        "crosswalk_median_s": round(statistics.median(crosswalks.values()), 2),
        "crosswalk_max_s": round(max(crosswalks.values()), 2),
        "alignment_median_s": round(statistics.median(aligns.values()), 2),
        "polygons": polygons, "networks": len(files),
        "load_average_start": [round(x, 2) for x in load],
    }
    ok = (result["import_max_s"] or 0) <= GOALS["import_s"] and \
        result["crosswalk_max_s"] <= GOALS["crosswalk_s"]
    say(f"import median {result['import_median_s']} s (max {result['import_max_s']}, goal "
        f"<= {GOALS['import_s']:g}); crosswalk median {result['crosswalk_median_s']} s (max "
        f"{result['crosswalk_max_s']}, goal <= {GOALS['crosswalk_s']:g}): "
        + ("goals met" if ok else "GOALS NOT MET"))
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(result, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
