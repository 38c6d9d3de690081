"""``python -m geo demo load`` and ``python -m geo demo build --from FILE``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command with its ``load`` and ``build`` actions."""
    p = subparsers.add_parser("demo", help="the demo district (build it, load it)")
    sub = p.add_subparsers(dest="demo_action", required=True, metavar="ACTION")

    load = sub.add_parser("load", help="load the shipped demo district (idempotent)")
    load.add_argument("--actor", default="demo", help="name recorded in the audit log")
    load.add_argument("--json", action="store_true", help="print the report as JSON")
    load.set_defaults(handler=_cmd_load)

    build = sub.add_parser("build", help="rebuild the shipped demo files from an OSM extract")
    build.add_argument("--from", dest="source", required=True, metavar="FILE",
                       help="OSM GeoPackage (layers buildings, roads, landuse_residential)")
    build.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    build.set_defaults(handler=_cmd_build)


def _cmd_load(args: argparse.Namespace) -> int:
    from geo.demo.load import load_demo

    report = load_demo(actor=args.actor)
    if args.json:
        print(json.dumps({"district": report.district_code, "checksum": report.checksum,
                          "already_loaded": report.already_loaded, "counts": report.counts,
                          "seconds": report.seconds, "steps": report.steps,
                          "repaired": report.repaired}, ensure_ascii=False, sort_keys=True))
    elif report.already_loaded:
        print(f"demo district {report.district_code} is already loaded (same data); "
              f"nothing to do ({report.seconds:.1f} s)")
    else:
        for lines in report.repaired.values():
            for line in lines:
                print(f"repaired: {line}")
        print(f"loaded demo district {report.district_code} in {report.seconds:.1f} s: "
              + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from geo.demo.build import build_demo
    from geo.errors import GridAtlasError
    from geo.settings import PROJECT_ROOT

    source = Path(args.source)
    if not source.exists():
        raise GridAtlasError(f"{source.name}: file not found")
    summary = build_demo(source, out_dir=PROJECT_ROOT / "data" / "demo", seed=args.seed)
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True, default=str))
    return 0
