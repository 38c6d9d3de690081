"""What a commit's coarse map copies cost (``geo.coarse``), against simplifying the whole
district at once as every commit did before.

Run against a database with current grids (the city bench, the demo)::

    DATABASE_URL=postgresql://.../gridatlas_bench .venv/bin/python bench/coarse.py [--district 990200]

Measured, ``--repeats`` times each (medians printed, and min-max), reads excluded unless said:

* **baseline**: the district's current grids cleaned and simplified as one coverage
  (``coverage_clean``, then ``coverage_simplify`` per tolerance): the core of what every
  commit computed before the copies were fitted per community;
* **whole district now**: :func:`geo.coarse.coarse_copies` of every community (imports, the
  demo loader, the first commit after an upgrade);
* **a street's refresh**: :func:`geo.coarse.refresh` of one street's communities (reads,
  compute, compare with the stored rows, write what changed) in a transaction rolled back,
  as a street's commit runs it;
* **one community's refresh**: the same for one community, as a single commit runs it.

The refreshes compare with the rows stored: copies made by an older release make the first
one refit the whole district (it says so). Prints the load average at start, a table, the
ratios against the baseline measured in the same run, and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Rollback(Exception):
    pass


def _times(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _refresh_rolled_back(district: str, communities: list[str]) -> None:
    from geo import coarse, db

    try:
        with db.transaction() as cur:
            coarse.refresh(district, cur, communities)
            raise _Rollback
    except _Rollback:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--district", default=None, help="district code (default: the one with most grids)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    import shapely

    from geo import coarse, db

    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores: {os.cpu_count()}")
    with db.transaction(readonly=True) as cur:
        district = args.district
        if district is None:
            cur.execute("""SELECT left(g.code, 6) AS d FROM grids g
                             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")
            row = cur.fetchone()
            if row is None:
                print("no current grids in this database")
                return 2
            district = row["d"]
        coms = coarse._read_frame(
            cur, "SELECT code, ST_AsBinary(geom) AS wkb FROM communities WHERE code LIKE %s ORDER BY code",
            (district + "%",))
        grids = coarse._current_grids(cur, district, None)
    with_grids = sorted({c[:12] for c in grids["code"]})
    street = [c for c in with_grids if c[:9] == with_grids[0][:9]]
    one = [with_grids[0]]
    print(f"district {district}: {len(coms)} communities, {len(grids)} current grids; "
          f"street {street[0][:9]} ({len(street)} communities); community {one[0]}")
    metric = grids.to_crs(coms.estimate_utm_crs()).geometry.values

    def baseline() -> None:
        cleaned = shapely.coverage_clean(metric, snapping_distance=coarse.SNAP_M)
        for tol in coarse.TOLERANCES_M:
            shapely.coverage_simplify(cleaned, float(tol))

    _refresh_rolled_back(district, street)  # a first refresh may refit an older release's copies
    rows = {
        "baseline": _times(baseline, args.repeats),
        "whole": _times(lambda: coarse.coarse_copies(coms, grids), args.repeats),
        "street": _times(lambda: _refresh_rolled_back(district, street), args.repeats),
        "community": _times(lambda: _refresh_rolled_back(district, one), args.repeats),
    }
    names = {"baseline": "baseline: the district as one coverage (compute)",
             "whole": "whole district now (compute)",
             "street": "a street's refresh (reads, compute, compare)",
             "community": "one community's refresh (reads, compute, compare)"}
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{'':52} {'median':>8} {'min':>7} {'max':>7} {'/ baseline':>11}")
    for k, v in rows.items():
        print(f"{names[k]:52} {med[k]:8.3f} {min(v):7.3f} {max(v):7.3f} {med[k] / med['baseline']:10.2f}x")
    print(f"a street's commit spends {med['street']:.2f} s on its copies where it spent about "
          f"{med['baseline']:.2f} s (and more for the unions and reads) before: "
          f"{med['street'] / med['baseline']:.2f}x")
    print(json.dumps({
        "bench": "coarse", "district": district, "communities": len(coms), "grids": len(grids),
        "street_communities": len(street), "repeats": args.repeats, "load_avg_start": [round(x, 2) for x in load],
        "baseline_s": round(med["baseline"], 3), "whole_s": round(med["whole"], 3),
        "street_refresh_s": round(med["street"], 3), "community_refresh_s": round(med["community"], 3),
        "street_vs_baseline": round(med["street"] / med["baseline"], 3),
        "whole_vs_baseline": round(med["whole"] / med["baseline"], 3),
        "spread": {k: [round(min(v), 3), round(max(v), 3)] for k, v in rows.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
