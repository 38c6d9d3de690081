"""``rebalance-file`` subcommand: rebalance grids of a GeoPackage, without database or Dash.

The command-line side of the file path: it reads the file, runs the engine
(:func:`geo.partition.engine.rebalance`, which never parses arguments nor makes codes) per
community, names the new grids with the planner's short codes
(:class:`geo.planning.codes.ShortCodes`: ``<community>-G01``, ``-X01``) and writes the result.
Wire it with ``geo.planning.file_cli.register(subparsers)`` (:mod:`geo.cli` does); heavy
imports happen in the handler.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import Any

from geo.cli import fast_exit, leave

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``rebalance-file`` subcommand.

    Parameters
    ----------
    subparsers:
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand parser (its handler is set as ``func`` and returns an exit code).
    """
    p = subparsers.add_parser(
        "rebalance-file",
        help="Divide buildings of a GeoPackage into household-balanced grids (no database).",
        description="Rebalance grids from a file: writes layers 'buildings' and 'grids' to OUT "
        "and prints a JSON report. Exits 0 even when rules fail (they are listed); non-zero "
        "only on bad input.",
    )
    p.add_argument("input", metavar="IN", help="input GeoPackage (or any OGR source)")
    p.add_argument("--layer", required=True, help="buildings layer")
    p.add_argument("--households-field", required=True, help="households per building")
    p.add_argument("--community-field", help="community code per building (default: one community)")
    p.add_argument("--compound-field", help="compound id per building (null/empty/negative: none)")
    p.add_argument("--community-layer", help="layer of community polygons (keyed by --community-field or 'code')")
    p.add_argument("--roads-layer", help="layer of road lines: the building cells are bent to them")
    p.add_argument("--target", type=float, default=400)
    p.add_argument("--min", dest="min_hh", type=float, default=300)
    p.add_argument("--max", dest="max_hh", type=float, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grids", type=int, default=None, help="number of grids (overrides the default count)")
    p.add_argument("--out", required=True, help="output GeoPackage")
    p.add_argument("--jobs", type=int, default=None,
                   help="communities computed at once, each in a worker process (default: the number of "
                   "CPUs; 1: all in this process); the output is the same whatever the number")
    p.set_defaults(func=run_rebalance_file)
    return p


def _fail(msg: str) -> int:
    sys.stderr.write(f"error: {msg}\n")
    return 2


@fast_exit
def run_rebalance_file(args: argparse.Namespace) -> int:
    """Handler of ``rebalance-file``; returns the process exit code."""
    t0 = time.perf_counter()
    import gc

    import pyogrio  # noqa: F401

    # The main thread imports only what reading the file needs. The search engine (scipy,
    # numba and the compiled kernels) loads on a second thread meanwhile; the cells' heavy
    # steps release the GIL, so the two overlap on two cores. Modules imported later by
    # the main thread (scipy, inside the cells) wait for the loader at worst: the two
    # threads never hold each other's half-imported modules.
    import geo.partition.cells  # noqa: F401 - geopandas and shapely

    engine_loader = threading.Thread(target=_load_engine, name="load-engine", daemon=True)
    engine_loader.start()

    # What is imported now lives until the process ends: keep it out of the collector's
    # full passes, which would otherwise rescan it a few times per community.
    gc.freeze()
    try:
        return _rebalance_file(args, t0, engine_loader)
    finally:
        gc.unfreeze()  # for callers in a long-lived process


def _load_engine() -> None:
    from geo.partition import engine, kernels  # noqa: F401 - loaded for the handler

    kernels.warm()


def _rebalance_file(args: argparse.Namespace, t0: float, engine_loader: threading.Thread) -> int:
    import os

    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import pyogrio

    from geo.partition.cells import WGS84, utm_crs_for
    from geo.partition.errors import PartitionError, check_band

    try:  # before any work: the engine would only say so after the first cells
        check_band(args.min_hh, args.target, args.max_hh)
    except PartitionError as exc:
        return _fail(exc.user_msg)
    if args.jobs is not None and args.jobs < 1:
        return _fail("--jobs must be at least 1")
    if not os.path.exists(args.input):
        return _fail(f"input file not found: {args.input}")
    try:
        layers = [str(x) for x in pyogrio.list_layers(args.input)[:, 0]]
    except Exception as exc:  # noqa: BLE001 - any read failure is bad input
        return _fail(f"cannot read {args.input}: {exc}")
    if args.layer not in layers:
        return _fail(f"layer {args.layer!r} not in {args.input} (layers: {', '.join(layers)})")
    b = gpd.read_file(args.input, layer=args.layer)
    if b.crs is None:
        b = b.set_crs(WGS84)
    for f in (args.households_field, args.community_field, args.compound_field):
        if f is not None and f not in b.columns:
            return _fail(f"field {f!r} not in layer {args.layer!r}")
    hh = pd.to_numeric(b[args.households_field], errors="coerce")
    if (hh < 0).any():
        return _fail(f"negative households in {args.households_field!r}")
    if b.geometry.isna().any() or b.geometry.is_empty.any():
        return _fail("some buildings have no geometry")
    if not b.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        return _fail("building geometries must be polygons")
    b84 = b.to_crs(WGS84) if b.crs != WGS84 else b
    work = gpd.GeoDataFrame({"hh": hh.fillna(0)}, geometry=b84.geometry.values, crs=WGS84, index=b.index)
    if args.compound_field:
        work["compound"] = b[args.compound_field].values
    if args.community_field:
        work["community"] = b[args.community_field].astype(str).values
    else:
        work["community"] = ""
    com_polys: dict[str, Any] = {}
    if args.community_layer:
        if args.community_layer not in layers:
            return _fail(f"layer {args.community_layer!r} not in {args.input}")
        cl = gpd.read_file(args.input, layer=args.community_layer)
        cl = cl.set_crs(WGS84) if cl.crs is None else cl.to_crs(WGS84)
        key = args.community_field if args.community_field in cl.columns else "code"
        if key not in cl.columns:
            return _fail(f"community layer needs a {args.community_field!r} or 'code' field")
        for k, g in zip(cl[key].astype(str), cl.geometry, strict=False):
            com_polys[k] = g
    roads = None
    if args.roads_layer:
        if args.roads_layer not in layers:
            return _fail(f"layer {args.roads_layer!r} not in {args.input}")
        rl = gpd.read_file(args.input, layer=args.roads_layer)
        rl = rl.set_crs(WGS84) if rl.crs is None else rl.to_crs(WGS84)
        if len(rl) and not rl.geom_type.isin(["LineString", "MultiLineString"]).all():
            return _fail(f"layer {args.roads_layer!r} must hold lines")
        roads = rl.geometry
    report: dict[str, Any] = {"seed": args.seed, "communities": [], "grids": [],
                              "cells": "roads" if roads is not None else "voronoi"}
    labels = pd.Series(index=b.index, dtype=object)
    grid_frames = []
    jobs: list[tuple[str, Any, Any]] = []
    for code in sorted(work["community"].unique()):
        sub = work[work["community"] == code]
        poly = com_polys.get(code)
        if poly is None:
            if args.community_layer and args.community_field:
                return _fail(f"community {code!r} has no polygon in layer {args.community_layer!r}")
            utm = utm_crs_for(sub.union_all(), WGS84)
            hull = gpd.GeoSeries([sub.to_crs(utm).union_all().convex_hull.buffer(30)], crs=utm)
            poly = hull.to_crs(WGS84).iloc[0]
        jobs.append((code, sub, poly))
    n_jobs = min(len(jobs), args.jobs if args.jobs is not None else (os.cpu_count() or 1))
    try:
        if n_jobs > 1:
            # workers are forked once the engine is loaded (never in the middle of an import)
            engine_loader.join()
            plans = _plan_parallel(jobs, args, roads, n_jobs)
        else:
            plans = (_plan_one(job, args, roads, engine_loader if not i else None) for i, job in enumerate(jobs))
        for (code, sub, _poly), (lab, g, rep) in zip(jobs, plans, strict=True):
            labels.loc[sub.index] = lab
            g.insert(0, "community", code)
            grid_frames.append(g)
            report["communities"].append({
                "community": code, "totals": rep["totals"], "churn": rep["churn"], "timings": rep["timings"],
                "households": rep["households"], "n_buildings": rep["n_buildings"], "graph": rep.get("graph"),
            })
            report["grids"].extend({"community": code, **r} for r in rep["grids"])
    except PartitionError as exc:
        return _fail(exc.user_msg)
    out_b = b.copy()
    out_b["grid"] = labels.values
    grids = pd.concat(grid_frames, ignore_index=True)
    grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=WGS84).to_crs(b.crs)
    grids["failed_rules"] = grids["failed_rules"].map(lambda x: ",".join(x))
    grids["flags"] = grids["flags"].map(lambda x: ",".join(x))
    grids["valid"] = grids["valid"].astype(bool)
    if os.path.exists(args.out):
        os.remove(args.out)
    out_b.to_file(args.out, layer="buildings", driver="GPKG")
    grids.to_file(args.out, layer="grids", driver="GPKG")
    rows = report["grids"]
    n = len(rows)
    report["totals"] = {
        "n_communities": len(report["communities"]),
        "n_grids": n,
        "n_valid": int(sum(r["valid"] for r in rows)),
        "share_valid": float(np.mean([r["valid"] for r in rows])) if n else 1.0,
        "mean_deviation": float(np.mean([r["deviation"] for r in rows])) if n else 0.0,
        "mean_pp": float(np.mean([r["pp"] for r in rows])) if n else 0.0,
        "failed": [
            {"community": r["community"], "code": r["code"], "failed_rules": r["failed_rules"]}
            for r in rows if not r["valid"]
        ],
    }
    report["churn"] = None
    report["timings"] = {"total_s": round(time.perf_counter() - t0, 3)}
    sys.stdout.write(json.dumps(report, ensure_ascii=False, default=_json_default) + "\n")
    return 0


def _plan_one(job: tuple[str, Any, Any], args: argparse.Namespace, roads: Any,
              engine_loader: threading.Thread | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Cells and plan of one community: ``(labels, grids, report)``.  ``engine_loader`` (the
    first community in this process) is waited for once the cells are done, so the engine
    loads while they are computed."""
    import gc

    from geo.partition.cells import building_cells

    code, sub, poly = job
    t = time.perf_counter()
    cells = building_cells(sub.geometry, poly, roads=roads)
    cells_s = time.perf_counter() - t
    if engine_loader is not None:  # the first community waits for the engine, then freezes it too
        engine_loader.join()
        gc.freeze()
    from geo.partition.engine import rebalance
    from geo.planning.codes import ShortCodes

    plan = rebalance(
        sub, poly, households="hh", compound="compound" if args.compound_field else None,
        cells=cells, target=args.target, min_hh=args.min_hh, max_hh=args.max_hh,
        grids=args.grids, seed=args.seed, names=ShortCodes(f"{code}-" if code else ""),
    )
    # the engine took the cells ready-made: count their time as its own
    plan.report["timings"]["cells_s"] = round(cells_s, 4)
    plan.report["timings"]["total_s"] = round(plan.report["timings"]["total_s"] + cells_s, 4)
    return plan.labels.values, plan.grids.copy(), plan.report


#: the work of a parallel run, set before the workers are forked (they inherit it)
_JOBS: list[Any] = []


def _plan_job(i: int) -> tuple[Any, Any, dict[str, Any]]:
    jobs, args, roads = _JOBS
    return _plan_one(jobs[i], args, roads)


def _plan_parallel(jobs: list[tuple[str, Any, Any]], args: argparse.Namespace, roads: Any, n: int):
    """The plans of ``jobs`` in their order, computed by ``n`` forked worker processes.

    Each community's plan depends only on its own buildings, polygon and the seed, so the
    output equals the one-process run.  Largest communities first, so the last one to
    finish is a small one.
    """
    import multiprocessing as mp

    _JOBS[:] = [jobs, args, roads]
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][1]))
    try:
        with mp.get_context("fork").Pool(n) as pool:
            done = dict(zip(order, pool.imap(_plan_job, order), strict=True))
    finally:
        _JOBS.clear()
    return [done[i] for i in range(len(jobs))]


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m geo.planning.file_cli rebalance-file ...``)."""
    parser = argparse.ArgumentParser(prog="geo.planning.file_cli")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return int(args.func(args))


if __name__ == "__main__":
    leave(main())  # the handler has written everything: skip interpreter teardown
