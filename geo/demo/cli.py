"""``python -m geo demo load``, ``python -m geo demo build --from FILE`` and ``python -m geo demo simulate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command with its ``load``, ``build`` and ``simulate`` actions."""
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

    sim = sub.add_parser("simulate", help="the living demo: report and move synthetic cases, "
                                          "and tick the incident clock every minute (foreground)")
    sim.add_argument("--speed", type=float, default=1.0,
                     help="how much faster than real time its own steps go (default 1)")
    sim.add_argument("--seed", type=int, help="seed of every random choice")
    sim.add_argument("--district", help="district code to report in (default: the first)")
    sim.add_argument("--seconds", type=float, help="stop after this long (default: run until stopped)")
    mode = sim.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true",
                      help="as `make run` starts it: the simulator only when DEMO_SIMULATOR is on, "
                           "the tick always")
    mode.add_argument("--tick-only", action="store_true", help="only the minute tick")
    sim.add_argument("--no-tick", action="store_true",
                     help="leave the minute tick to another process (the simulator only)")
    sim.set_defaults(handler=_cmd_simulate)


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


def _cmd_simulate(args: argparse.Namespace) -> int:
    import logging

    from geo.errors import GridAtlasError
    from geo.incidents import simulate

    if not args.speed > 0 or args.speed > 10_000:
        raise GridAtlasError("--speed must be above 0 and at most 10000")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    on = not args.tick_only and (not args.background or simulate.enabled_by_setting())
    counts = simulate.run(simulate.SimConfig(speed=args.speed, seed=args.seed,
                                             district=args.district),
                          simulate=on, tick=not args.no_tick, seconds=args.seconds)
    print(json.dumps(counts, sort_keys=True))
    return 0
