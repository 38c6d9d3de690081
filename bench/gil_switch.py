"""A wall's reads beside a computing request in one web process, at Python's 5 ms
interpreter-lock slice and at ``GIL_SWITCH_MS`` (what every web process of ours sets).

Not part of ``make test``. A gunicorn worker serves several requests at once on threads. A
wall's refresh mostly waits on the database: it gives the interpreter lock up at every query
and must take it back for the answer. A planner's request computes (its map's GeoJSON is
built from shapely geometries) and holds the lock for whole slices. This measures that
mechanism alone, on the real database: one thread runs a wall-like read (``--queries`` small
queries, one connection), another builds the GeoJSON of the demo's buildings over and over.

Figures, each the median of ``--repeats`` rounds of ``--reads`` reads:

* ``alone_ms``: a read with nothing else running (the floor);
* ``beside_5ms_ms`` and its p95: beside the computing thread at Python's default slice;
* ``beside_setting_ms`` and its p95: the same at ``GIL_SWITCH_MS`` (0.5 ms unless set);
* ``compute_per_s_5ms`` / ``compute_per_s_setting``: the computing thread's rounds per
  second in each, for what the shorter slice costs it.

Prints the load average at start and ends with one JSON line.

Usage::

    .venv/bin/python bench/gil_switch.py                  # the embedded cluster's demo
    DATABASE_URL=postgresql://... .venv/bin/python bench/gil_switch.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import pct  # noqa: E402


def say(msg: str) -> None:
    print(msg, flush=True)


def _shapes(conn, limit: int):
    from shapely import wkb

    with conn.cursor() as cur:
        cur.execute("SELECT id, households, ST_AsBinary(geom) FROM buildings ORDER BY id LIMIT %s",
                    (limit,))
        return [(i, h, wkb.loads(bytes(g))) for i, h, g in cur.fetchall()]


def _compute(shapes) -> int:
    """A planner's map: a GeoJSON FeatureCollection built in Python (what holds the lock)."""
    from shapely.geometry import mapping

    feats = [{"type": "Feature", "id": i, "properties": {"households": h},
              "geometry": mapping(g.simplify(0.00001))} for i, h, g in shapes]
    return len(json.dumps({"type": "FeatureCollection", "features": feats}))


def _read(conn, queries: int) -> float:
    """A wall-like read: ``queries`` small queries, their rows turned into a dict."""
    t = time.perf_counter()
    out = {}
    with conn.cursor() as cur:
        for k in range(queries):
            cur.execute("SELECT count(*), coalesce(sum(households), 0) FROM buildings WHERE id %% %s = 0",
                        (k + 7,))
            out[k] = cur.fetchone()
    return (time.perf_counter() - t) * 1000


def _round(conn, shapes, queries: int, reads: int, switch_s: float | None) -> tuple[list[float], float]:
    """``reads`` reads, beside the computing thread unless ``switch_s`` is None."""
    if switch_s is None:
        return [_read(conn, queries) for _ in range(reads)], 0.0
    sys.setswitchinterval(switch_s)
    stop, done = threading.Event(), [0]

    def hog() -> None:
        while not stop.is_set():
            _compute(shapes)
            done[0] += 1

    th = threading.Thread(target=hog, daemon=True)
    t0 = time.perf_counter()
    th.start()
    time.sleep(0.05)
    try:
        ms = [_read(conn, queries) for _ in range(reads)]
    finally:
        stop.set()
        th.join()
    return ms, done[0] / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=6, help="queries in one wall-like read (6)")
    ap.add_argument("--reads", type=int, default=40, help="reads in a round (40)")
    ap.add_argument("--repeats", type=int, default=5, help="rounds of each kind (5)")
    ap.add_argument("--buildings", type=int, default=3000, help="buildings in the computed map (3000)")
    args = ap.parse_args()
    if not (1 <= args.queries <= 100 and 1 <= args.reads <= 1000 and 1 <= args.repeats <= 50
            and 10 <= args.buildings <= 100000):
        ap.error("--queries 1-100, --reads 1-1000, --repeats 1-50, --buildings 10-100000")

    from geo import db
    from geo.settings import get_settings

    load = os.getloadavg()
    say(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    setting_s = get_settings().gil_switch_ms / 1000.0
    default_s = 0.005
    conn = db.connect()
    conn.autocommit = True
    shapes = _shapes(conn, args.buildings)
    t = time.perf_counter()
    _compute(shapes)
    say(f"the computed map: {len(shapes)} buildings, {1000 * (time.perf_counter() - t):.0f} ms a round")

    rows: dict[str, list] = {"alone": [], "5ms": [], "setting": []}
    rates: dict[str, list] = {"5ms": [], "setting": []}
    for r in range(args.repeats):  # interleaved, so drift in the machine's load hits all alike
        for kind, sw in (("alone", None), ("5ms", default_s), ("setting", setting_s)):
            ms, rate = _round(conn, shapes, args.queries, args.reads, sw)
            rows[kind].append((statistics.median(ms), pct(ms, 95)))
            if kind != "alone":
                rates[kind].append(rate)
        say(f"round {r + 1}: alone {rows['alone'][-1][0]:.1f} ms, beside at 5 ms "
            f"{rows['5ms'][-1][0]:.1f} ms, beside at {setting_s * 1000:g} ms {rows['setting'][-1][0]:.1f} ms")
    sys.setswitchinterval(default_s)
    conn.close()

    def med(kind: str, i: int) -> float:
        return statistics.median(x[i] for x in rows[kind])

    result = {
        "queries_per_read": args.queries, "reads": args.reads, "repeats": args.repeats,
        "buildings": len(shapes), "switch_setting_ms": setting_s * 1000,
        "alone_ms": round(med("alone", 0), 2),
        "beside_5ms_ms": round(med("5ms", 0), 2), "beside_5ms_p95_ms": round(med("5ms", 1), 2),
        "beside_setting_ms": round(med("setting", 0), 2),
        "beside_setting_p95_ms": round(med("setting", 1), 2),
        "compute_per_s_5ms": round(statistics.median(rates["5ms"]), 2),
        "compute_per_s_setting": round(statistics.median(rates["setting"]), 2),
        "load_avg_start": round(load[0], 2), "cores": os.cpu_count(),
    }
    result["ratio_5ms_to_setting"] = round(result["beside_5ms_ms"] / max(result["beside_setting_ms"], 1e-9), 2)
    say(f"a read alone {result['alone_ms']} ms; beside a computing thread: at 5 ms "
        f"{result['beside_5ms_ms']} ms (p95 {result['beside_5ms_p95_ms']}), at {setting_s * 1000:g} ms "
        f"{result['beside_setting_ms']} ms (p95 {result['beside_setting_p95_ms']}): "
        f"{result['ratio_5ms_to_setting']}x faster")
    say(f"the computing thread: {result['compute_per_s_5ms']} rounds/s at 5 ms, "
        f"{result['compute_per_s_setting']} at {setting_s * 1000:g} ms")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
