"""``python -m geo patrols ...``: a grid worker's patrol on the command line, and coverage.

``start``, ``checkin``, ``end`` and ``current`` act ``--as`` a grid worker and print the
patrol as JSON (``id``, ``checkins`` ...); ``coverage`` and ``now`` run with the command line's
full rights unless ``--as`` is given. Refusals exit 2 with the rule's message.
"""

from __future__ import annotations

import argparse

from geo.incidents.cli import _actor, _day, _print, _when


def _cmd(args) -> int:
    from geo.patrols import service

    action = args.patrols_command
    if action == "coverage":
        principal = _actor(args).principal
        frm, to = _day(args.date_from), _day(args.date_to)
        data = (service.coverage(principal, args.grid, frm, to) if args.grid
                else service.coverage_by_grid(principal, args.scope, frm, to))
        if args.json:
            _print(data)
        else:
            for row in data if isinstance(data, list) else [data]:
                share = "-" if row["share"] is None else f"{row['share']:.1%}"
                print(f"{row['grid']}  {row['covered']:>6}/{row['buildings']:<6} {share}")
        return 0
    if action == "now":
        _print(service.on_patrol_now(_actor(args).principal, now=_when(args.now)))
        return 0
    actor = _actor(args)
    now = _when(args.now)
    if action == "start":
        _print(service.start(actor, lon=args.lon, lat=args.lat, crs=args.crs, now=now))
    elif action == "checkin":
        _print(service.checkin(actor, lon=args.lon, lat=args.lat, crs=args.crs, now=now))
    elif action == "end":
        _print(service.end(actor, now=now))
    else:
        _print(service.current(actor, now=now))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``patrols`` command group."""
    p = sub.add_parser("patrols", help="grid workers' patrols: start, check in, end, coverage")
    psub = p.add_subparsers(dest="patrols_command", required=True, metavar="ACTION")
    for name, help_ in (("start", "start a patrol at the phone's position"),
                        ("checkin", "record the phone's position on the open patrol"),
                        ("end", "end the open patrol"), ("current", "the open patrol, or null")):
        c = psub.add_parser(name, help=help_)
        c.add_argument("--as", dest="as_user", required=True, metavar="USER")
        c.add_argument("--now", help="ISO time to act at (default: now)")
        if name in ("start", "checkin"):
            c.add_argument("--lon", type=float, required=True)
            c.add_argument("--lat", type=float, required=True)
            c.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02"])
        c.set_defaults(handler=_cmd)
    c = psub.add_parser("coverage", help="share of a grid's buildings within 50 m of a patrol track")
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--grid", help="one grid code")
    where.add_argument("--scope", help="every current grid in this place")
    c.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD (TIMEZONE)")
    c.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD, included")
    c.add_argument("--json", action="store_true", help="JSON (an object for --grid, a list for --scope)")
    c.add_argument("--as", dest="as_user", metavar="USER")
    c.set_defaults(handler=_cmd)
    c = psub.add_parser("now", help="grid workers on patrol now (JSON list)")
    c.add_argument("--as", dest="as_user", metavar="USER")
    c.add_argument("--now", help="ISO time (default: now)")
    c.set_defaults(handler=_cmd)
