"""The cyclic garbage collector's full pass in a web process, with the app's start-up
objects walked (Python's default) and frozen (what the master does before each fork).

Not part of ``make test``. A full collection holds the interpreter lock: every thread of the
worker (its walls' refreshes among them) waits until it ends. The app imported once is some
200,000 long-lived objects; each full collection walked them all until they were frozen
(``geo.serve.freeze_startup_objects``, gunicorn's ``pre_fork``).

Figures, medians of ``--repeats`` passes, in one process that imported ``app`` (no
database is touched):

* ``objects``: objects the collector tracks once the app is imported;
* ``full_pass_ms``: one ``gc.collect()`` with them walked;
* ``full_pass_frozen_ms``: the same once they are frozen;
* ``garbage_ms`` / ``garbage_frozen_ms``: a collection after a request's worth of
  short-lived garbage (``--garbage`` dicts in cycles), before and after.

Prints the load average at start and ends with one JSON line.

Usage::

    .venv/bin/python bench/gc_freeze.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def say(msg: str) -> None:
    print(msg, flush=True)


def _pass_ms() -> float:
    t = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - t) * 1000


def _garbage(n: int) -> None:
    """``n`` small dicts in reference cycles, dropped at once (a request's leftovers)."""
    for _ in range(n):
        a: dict = {"x": list(range(5))}
        b = {"a": a}
        a["b"] = b


def _measure(repeats: int, garbage: int) -> tuple[float, float]:
    full, after = [], []
    for _ in range(repeats):
        full.append(_pass_ms())
        _garbage(garbage)
        after.append(_pass_ms())
    return statistics.median(full), statistics.median(after)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="passes of each kind (7)")
    ap.add_argument("--garbage", type=int, default=20000, help="dicts in cycles per pass (20000)")
    args = ap.parse_args()
    if not (1 <= args.repeats <= 100 and 0 <= args.garbage <= 10**6):
        ap.error("--repeats 1-100, --garbage 0-1000000")
    load = os.getloadavg()
    say(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    t = time.perf_counter()
    import app  # noqa: F401  - the web app, as gunicorn's master preloads it
    from geo import serve

    say(f"the app imported in {time.perf_counter() - t:.1f} s")
    gc.collect()
    objects = len(gc.get_objects())
    full, garbage = _measure(args.repeats, args.garbage)
    say(f"{objects:,} objects tracked: a full pass {full:.1f} ms, after garbage {garbage:.1f} ms")
    frozen = serve.freeze_startup_objects()
    full_f, garbage_f = _measure(args.repeats, args.garbage)
    say(f"{frozen:,} frozen: a full pass {full_f:.1f} ms, after garbage {garbage_f:.1f} ms")
    result = {
        "objects": objects, "frozen": frozen, "repeats": args.repeats, "garbage": args.garbage,
        "full_pass_ms": round(full, 2), "full_pass_frozen_ms": round(full_f, 2),
        "garbage_ms": round(garbage, 2), "garbage_frozen_ms": round(garbage_f, 2),
        "ratio_garbage": round(garbage / max(garbage_f, 1e-6), 2),
        "load_avg_start": round(load[0], 2), "cores": os.cpu_count(),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
