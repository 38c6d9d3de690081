"""Minimal change, measured: codes kept and households moved after a commit and after a few
buildings change.

For each community (default: every community of the database): commit a fresh plan, run
minimal mode on it (nothing should move), then raise three buildings' households by 150
each through ``geo import households`` (a register file, as a city would) and run minimal
mode again. Prints one JSON line per community and a summary line; the issue's bar is at
least 80% of codes kept and at most 10% of the community's households moved.

Run it against a database you may write to (never the embedded cluster's own)::

    DATABASE_URL=postgresql://.../copy .venv/bin/python bench/minimal_change.py [CODE ...]

The three buildings are drawn by ``numpy.random.default_rng([seed, community code])`` among
buildings with households, so the case is not picked to suit the engine.

``--half tune|report`` keeps the communities of one half of the held-out set (a copy of
``gridatlas_bench_heldout``), split as :func:`bench.heldout.halves` splits the cases (by a hash
of the community's name): change the engine looking at ``tune`` only, and report both.
``cpu_s`` is the CPU time of this process (CP-SAT's one worker included) for the minimal
proposal after the change: what the work budget bounds, less sensitive to the machine's load
than the wall clock.

``moved_lower_bound`` is what counting alone says any plan with every grid in band must
move after the change: when the households of the grids that can be in band (not a lone
oversized building, not a region proven infeasible, not locked) exceed their count times the
band's maximum, each grid more holds at least the band's minimum, and every one of its
households changes grid.  A community whose bound is above the bar is still a miss (the
metric is not redefined); the summary lists it under ``impossible_by_counting`` with its
bound.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _communities(cur, half: str = "all") -> list[str]:
    cur.execute("SELECT code, name FROM communities ORDER BY code")
    out = []
    for r in cur.fetchall():
        # the held-out halves of bench/heldout.py: by a hash of the case's name
        key = int(hashlib.sha256(r["name"].encode()).hexdigest()[:12], 16)
        if half == "all" or (key % 2 == 0) == (half == "tune"):
            out.append(r["code"])
    return out


def _bump(code: str, seed: int, gain: int, n: int) -> list[str]:
    """Raise ``n`` buildings' households by ``gain`` through ``geo import households``."""
    from geo import db

    with db.transaction(readonly=True) as cur:
        cur.execute(
            """SELECT b.code, b.households FROM buildings b JOIN communities c
                 ON c.id = b.community_id WHERE c.code = %s AND b.households > 0
                ORDER BY b.code""", (code,))
        rows = cur.fetchall()
    rng = np.random.default_rng([seed, int(code)])
    pick = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False).tolist())
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["building_code", "households"])
        for i in pick:
            w.writerow([rows[i]["code"], int(rows[i]["households"]) + gain])
        path = fh.name
    try:
        subprocess.run([sys.executable, "-m", "geo", "import", "households", path], cwd=ROOT,
                       check=True, capture_output=True, text=True, env=dict(os.environ))
    finally:
        os.unlink(path)
    return [rows[i]["code"] for i in pick]


def _lower_bound(code: str, fresh_report: dict) -> dict:
    """Households any all-in-band plan must move after the change, by counting
    (:func:`bench.heldout.moved_lower_bound`): the grids of the committed plan that can be in
    band, against the households their buildings hold now, in the community's band."""
    from bench.heldout import moved_lower_bound
    from geo import db
    from geo.planning import data

    with db.transaction(readonly=True) as cur:
        ci = data.load_community(cur, code)
    hh = ci.buildings["households"]
    return moved_lower_bound(fresh_report, ci.current.reindex(hh.index), hh, ci.min_hh, ci.max_hh)


def _measure(prop) -> dict:
    ch = prop.churn
    hh = sum(prop.households.values())
    before = max(int(ch["grids_before"]), 1)
    return {
        "households_moved": int(ch["households_moved"]),
        "share_moved": round(ch["households_moved"] / max(hh, 1), 4),
        "grids_before": int(ch["grids_before"]), "grids_after": int(ch["grids_after"]),
        "grids_kept": int(ch["grids_kept"]),
        "share_kept": round(ch["grids_kept"] / before, 4),
        "blocking": sorted({g["rule"] for g in prop.blocking(False)}),
        "out_of_band": sum(1 for g in prop.report["grids"] if "band" in (g.get("failed_rules") or [])),
        "minimal": prop.report.get("minimal"),
        "propose_s": prop.report.get("timings", {}).get("propose_s"),
        "total_s": prop.report.get("timings", {}).get("total_s"),
    }


def main(argv: list[str] | None = None) -> int:
    from geo import db
    from geo.planning import api
    from geo.planning.cli import cli_principal
    from geo.planning.model import PlanRejected

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("codes", nargs="*")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gain", type=int, default=150)
    ap.add_argument("--buildings", type=int, default=3)
    ap.add_argument("--half", choices=("tune", "report", "all"), default="all",
                    help="held-out database: the communities of one half (by a hash of their name)")
    ap.add_argument("--skip-coarse", action="store_true",
                    help="do not refresh the district's coarse copies on commit (the held-out "
                    "database's generated communities overlap on the map, which they cannot cover)")
    args = ap.parse_args(argv)
    if args.skip_coarse:
        from geo import coarse

        coarse.refresh = lambda *a, **k: {}
    if "DATABASE_URL" not in os.environ:
        print("set DATABASE_URL to a database you may write to", file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr, flush=True)
    who = cli_principal()
    with db.transaction(readonly=True) as cur:
        codes = args.codes or _communities(cur, args.half)
    rows = []
    for code in codes:
        t0 = time.perf_counter()
        fresh = api.propose(who, code, mode="fresh", seed=args.seed)
        try:
            api.commit(who, fresh, note="bench: fresh", allow_out_of_band=True)
        except PlanRejected as e:
            # a fresh plan breaking a hard rule cannot become the current grids: no case
            print(json.dumps({"community": code, "fresh_refused": e.rules}), flush=True)
            continue
        still = _measure(api.propose(who, code, mode="minimal", seed=args.seed))
        bumped = _bump(code, args.seed, args.gain, args.buildings)
        bound = _lower_bound(code, fresh.report)
        c0 = time.process_time()
        after = _measure(api.propose(who, code, mode="minimal", seed=args.seed))
        after["cpu_s"] = round(time.process_time() - c0, 3)
        row = {"community": code, "fresh_blocking": sorted({g["rule"] for g in fresh.blocking()}),
               "unchanged": still, "bumped": bumped, "after_change": after,
               "moved_lower_bound": bound["share"], "lower_bound": bound,
               "fresh_out_of_band": sum(1 for g in fresh.report["grids"]
                                        if "band" in (g.get("failed_rules") or [])),
               "ok": still["households_moved"] == 0 and after["share_kept"] >= 0.8
               and after["share_moved"] <= 0.10,
               "seconds": round(time.perf_counter() - t0, 2)}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    summary = {
        "communities": len(rows),
        "unchanged_moved_nothing": sum(r["unchanged"]["households_moved"] == 0 for r in rows),
        "after_change_ok": sum(r["ok"] for r in rows),
        # the first clause is about a community whose grids are valid: where the fresh
        # plan committed had grids breaking a rule, minimal mode mending them is not a miss of
        # that clause (the after-change bar applies as above); printed beside, never instead
        "after_change_ok_valid_clause": sum(
            (r["unchanged"]["households_moved"] == 0 or bool(r["fresh_blocking"]))
            and r["after_change"]["share_kept"] >= 0.8 and r["after_change"]["share_moved"] <= 0.10
            for r in rows),
        "unchanged_moved_with_invalid_fresh": [
            r["community"] for r in rows if r["unchanged"]["households_moved"] and r["fresh_blocking"]],
        "min_share_kept": min((r["after_change"]["share_kept"] for r in rows), default=None),
        "max_share_moved": max((r["after_change"]["share_moved"] for r in rows), default=None),
        "mean_share_kept": round(float(np.mean([r["after_change"]["share_kept"] for r in rows])), 4)
        if rows else None,
        "mean_share_moved": round(float(np.mean([r["after_change"]["share_moved"] for r in rows])), 4)
        if rows else None,
        "over_10pct": sum(r["after_change"]["share_moved"] > 0.10 for r in rows),
        "out_of_band_more_than_fresh": sum(r["after_change"]["out_of_band"] > r["fresh_out_of_band"] for r in rows),
        "fresh_fallback": sum((r["after_change"]["minimal"] or {}).get("fresh_fallback", 0) > 0 for r in rows),
        # the engine's own comparison with a fresh plan of the changed community (run only when
        # minimal leaves a region out of band): grids minimal leaves out of band that fresh puts in
        "out_of_band_more_than_fresh_changed": sum(
            (m := r["after_change"]["minimal"] or {}).get("grids_out_of_band_fresh") is not None
            and m["grids_out_of_band"] > m["grids_out_of_band_fresh"] for r in rows),
        "max_total_s": max((r["after_change"]["total_s"] or 0 for r in rows), default=None),
        "mean_total_s": round(float(np.mean([r["after_change"]["total_s"] or 0 for r in rows])), 3)
        if rows else None,
        "cpu_p95_s": round(float(np.percentile([r["after_change"]["cpu_s"] for r in rows], 95)), 3)
        if rows else None,
        "cpu_max_s": max((r["after_change"]["cpu_s"] for r in rows), default=None),
        "cpu_over_1_5s": sum(r["after_change"]["cpu_s"] > 1.5 for r in rows),
        "missed": [r["community"] for r in rows if not r["ok"]],
        # misses that no plan could meet: counting alone moves more than the bar allows
        "impossible_by_counting": [
            {"community": r["community"], "bound": r["moved_lower_bound"],
             "moved": r["after_change"]["share_moved"]}
            for r in rows if not r["ok"] and r["moved_lower_bound"] > 0.10],
        "load_avg_end": os.getloadavg(),
        "max_propose_s": max((r["after_change"]["propose_s"] or 0 for r in rows), default=None),
        "mean_propose_s": round(float(np.mean([r["after_change"]["propose_s"] or 0 for r in rows])), 3)
        if rows else None,
    }
    print(json.dumps({"summary": summary}, ensure_ascii=False))
    for r in summary["impossible_by_counting"]:
        print(f"{r['community']}: impossible by counting, bound {100 * r['bound']:.1f}% "
              f"(moved {100 * r['moved']:.1f}%)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
