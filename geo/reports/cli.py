"""``python -m geo report --scope CODE [--period month] --out FILE.pdf|FILE.png [--png]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_report(args: argparse.Namespace) -> int:
    from geo.access.roles import SYSTEM
    from geo.reports import pdf, report
    from geo.repository import review as rv
    from geo.repository.scope import Scope

    fmt = "png" if args.png or args.out.lower().endswith(".png") else "pdf"
    period = rv.period_of(args.period, args.date_from, args.date_to)
    data = report.build(Scope.of(SYSTEM), args.scope, period, lang=args.lang, unit=args.unit)
    content = pdf.render(report.render_html(data), fmt)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(content)  # whole or nothing: renamed once written
    tmp.replace(out)
    print(f"wrote {out} ({len(content):,} bytes, {fmt}, {data['name']}, "
          f"{period.start.isoformat()}..{period.end.isoformat()})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="one-page A4 landscape report of a street or community (PDF/PNG)")
    p.add_argument("--scope", required=True, help="district, street or community code")
    p.add_argument("--period", default="month", choices=["week", "month", "quarter", "year", "range"])
    p.add_argument("--from", dest="date_from", help="first date of a range (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="last date of a range (YYYY-MM-DD)")
    p.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    p.add_argument("--png", action="store_true", help="a PNG of the page instead of a PDF")
    p.add_argument("--lang", default="zh", choices=["zh", "en"])
    p.add_argument("--unit", help="issuing unit printed on the report")
    p.set_defaults(handler=_cmd_report)
