"""``python -m geo rebalance`` and ``python -m geo grids versions|restore|compare|export``.

Registered by :mod:`geo.cli` through :func:`register`; heavy imports happen in handlers.
Command-line changes are made as ``cli:<os user>`` with the admin role.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any


def cli_principal():
    """The command line acts as ``cli:<os user>``, role admin, everywhere."""
    from geo.access.roles import Principal

    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        who = "unknown"
    return Principal(f"cli:{who}", "admin", None)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rebalance`` and ``grids`` to the ``python -m geo`` grammar."""
    p = subparsers.add_parser(
        "rebalance",
        help="rebalance the grids of a community or a street from the database",
        description="Compute household-balanced grids from the stored buildings and cells and "
        "print a JSON report (per grid: code, households, deviation, pp, n_buildings, valid, "
        "failed_rules; totals; churn; seed; timings). With --apply, commit each plan as a new "
        "grid version (one transaction per community). Exit 0; 2 when a plan is refused "
        "(its rules are in the report) or on bad input.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--community", help="12-digit community code")
    where.add_argument("--street", help="9-digit street code: every community of the street")
    p.add_argument("--target", type=float, default=None,
                   help="households per grid (default: each community's own band, "
                   "communities.target_households)")
    p.add_argument("--min", dest="min_hh", type=float, default=None,
                   help="band minimum (default: the community's min_households)")
    p.add_argument("--max", dest="max_hh", type=float, default=None,
                   help="band maximum (default: the community's max_households)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grids", type=int, default=None, help="number of grids")
    p.add_argument("--mode", choices=["fresh", "minimal"], default="fresh")
    p.add_argument("--lock", action="append", default=[], metavar="GRID",
                   help="keep this current grid as it is (repeatable)")
    p.add_argument("--dedicated", action="append", default=[], metavar="GRID",
                   help="keep this current grid as a dedicated grid (repeatable)")
    p.add_argument("--respect-network", metavar="NAME", default=None,
                   help="keep this department network's boundaries where the band allows "
                   "(fresh mode); the report's 'respect' compares the plan with and without "
                   "the wish (alignment, grids in band, valid grids, deviation)")
    p.add_argument("--apply", action="store_true", help="commit the plan(s)")
    p.add_argument("--allow-out-of-band", action="store_true",
                   help="with --apply: accept grids whose households are out of band")
    p.add_argument("--note", help="note recorded on the new version(s)")
    p.set_defaults(handler=_cmd_rebalance)

    g = subparsers.add_parser("grids", help="grid versions: list, restore, compare, export")
    gsub = g.add_subparsers(dest="grids_command", required=True, metavar="ACTION")
    v = gsub.add_parser("versions", help="list the grid versions of a community")
    v.add_argument("--community", required=True)
    v.add_argument("--json", action="store_true", help="one JSON array")
    v.set_defaults(handler=_cmd_versions)
    r = gsub.add_parser("restore", help="make an old version current again (as a new version)")
    r.add_argument("version", help="version id, or COMMUNITY@NUMBER (e.g. 990100002003@1)")
    r.add_argument("--note")
    r.set_defaults(handler=_cmd_restore)
    c = gsub.add_parser("compare", help="compare two versions (per grid, buildings moved)")
    c.add_argument("a")
    c.add_argument("b")
    c.set_defaults(handler=_cmd_compare)
    e = gsub.add_parser("export", help="export a version's grids")
    e.add_argument("version")
    e.add_argument("--format", dest="fmt", choices=["gpkg", "geojson", "csv", "shp"],
                   required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--crs", default="EPSG:4326", choices=["EPSG:4326", "EPSG:4490"])
    e.set_defaults(handler=_cmd_export)


def _dump(obj: Any) -> None:
    from geo.planning.model import json_default

    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=json_default) + "\n")


def _cmd_rebalance(args: argparse.Namespace) -> int:
    import numpy as np

    from geo import db
    from geo.errors import GridAtlasError
    from geo.planning import api, data

    t0 = time.perf_counter()
    who = cli_principal()
    if args.community:
        codes = [args.community]
    else:
        with db.transaction(readonly=True) as cur:
            codes = data.street_communities(cur, args.street)
    report: dict[str, Any] = {"seed": args.seed, "mode": args.mode, "communities": [],
                              "grids": []}
    refused = []
    for code in codes:
        prop = api.propose(
            who, code, target=args.target, min_hh=args.min_hh, max_hh=args.max_hh,
            mode=args.mode, seed=args.seed, grids=args.grids,
            locked_codes=[c for c in args.lock if c.startswith(code)],
            dedicated_codes=[c for c in args.dedicated if c.startswith(code)],
            respect_network=args.respect_network,
        )
        rep = prop.report
        entry = {k: rep[k] for k in ("community", "base_version_id", "base_version_no",
                                     "households", "n_buildings", "band", "totals", "churn",
                                     "gate", "failed_rules", "timings")}
        if "respect" in rep:
            entry["respect"] = rep["respect"]
        entry["applied"] = None  # the committed version, when one was
        if args.apply:
            try:
                res = api.commit(who, prop, note=args.note,
                                 allow_out_of_band=args.allow_out_of_band)
                entry["applied"] = {k: v for k, v in res.to_dict().items()
                                    if k not in ("lineage",)}
            except GridAtlasError as exc:
                entry["refused"] = exc.user_msg
                refused.append(f"{code}: {exc.user_msg}")
        report["communities"].append(entry)
        report["grids"].extend({"community": code, **r} for r in rep["grids"])
    rows = report["grids"]
    n = len(rows)
    report["totals"] = {
        "n_communities": len(codes),
        "n_grids": n,
        "n_valid": int(sum(r["valid"] for r in rows)),
        "share_valid": float(np.mean([r["valid"] for r in rows])) if n else 1.0,
        "mean_deviation": float(np.mean([r["deviation"] for r in rows])) if n else 0.0,
        "mean_pp": float(np.mean([r["pp"] for r in rows])) if n else 0.0,
        "failed": [{"community": r["community"], "code": r["code"],
                    "failed_rules": r["failed_rules"]} for r in rows if not r["valid"]],
    }
    report["churn"] = {
        "households_moved": int(sum(c["churn"]["households_moved"]
                                    for c in report["communities"])),
        "buildings_moved": int(sum(c["churn"]["buildings_moved"]
                                   for c in report["communities"])),
    }
    report["timings"] = {"total_s": round(time.perf_counter() - t0, 3)}
    _dump(report)
    if refused:
        for msg in refused:
            print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0


def _cmd_versions(args: argparse.Namespace) -> int:
    from geo.planning import api

    rows = api.list_versions(cli_principal(), args.community)
    if args.json:
        _dump(rows)
        return 0
    print(f"{'':1} {'no':>3} {'id':>6}  {'created_at':<16}  {'created_by':<20} {'grids':>5} "
          f"{'households':>10} {'in band':>7}  note")
    for r in rows:
        mark = "*" if r["is_current"] else " "
        print(f"{mark} {r['version_no']:>3} {r['id']:>6}  "
              f"{r['created_at']:%Y-%m-%d %H:%M}  {(r['created_by'] or '-')[:20]:<20} "
              f"{r['grids']:>5} {r['households']:>10,} "
              f"{str(r['in_band']) + '/' + str(r['grids']):>7}  {r['note'] or ''}")
    print("* current; in band: grids within the community's household band")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from geo.planning import api

    res = api.restore(cli_principal(), args.version, note=args.note)
    _dump(res.to_dict())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from geo.planning import api

    _dump(api.compare(args.a, args.b, principal=cli_principal()))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from geo.planning.export import export

    path = export(args.version, args.fmt, args.out, args.crs, principal=cli_principal())
    print(path)
    return 0
