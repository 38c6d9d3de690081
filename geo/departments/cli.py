"""``python -m geo departments scorecard``: the departments' ranked scorecard as JSON or a table."""

from __future__ import annotations

import argparse

from geo.incidents.cli import _actor, _day, _print

_COLUMNS = ("rank", "department", "whistles", "reported_on_time", "median_minutes_to_report", "due",
            "on_time_rate", "rework", "satisfaction")


def _cmd_scorecard(args) -> int:
    from geo.incidents import scorecard

    rows = scorecard.scorecard(_actor(args), args.scope, _day(args.date_from), _day(args.date_to))
    if args.json:
        _print(rows)
    else:
        print("  ".join(f"{c:>12}" for c in _COLUMNS))
        for r in rows:
            print("  ".join(f"{'-' if r[c] is None else r[c]!s:>12}" for c in _COLUMNS))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``departments`` command group."""
    p = sub.add_parser("departments", help="departments: the street's scorecard")
    dsub = p.add_subparsers(dest="departments_command", required=True, metavar="ACTION")
    c = dsub.add_parser("scorecard", help="whistles answered, deadlines met, rework, satisfaction")
    c.add_argument("--scope", required=True, help="district, street, community or grid code")
    c.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD (TIMEZONE)")
    c.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD, included")
    c.add_argument("--json", action="store_true", help="a JSON list, ranked")
    c.add_argument("--as", dest="as_user", metavar="USER")
    c.set_defaults(handler=_cmd_scorecard)
