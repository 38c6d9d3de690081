"""``python -m geo incidents ...``: the incident service on the command line.

Every command prints JSON on stdout (one object) and exits 2 with the rule's message on
stderr when the service refuses. Commands that act take ``--as USER`` (an existing,
enabled account: its role, scope and department apply); ``show``, ``tick``, ``kpi`` and
``route`` run with the command line's full rights.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path

from geo.errors import GridAtlasError
from geo.incidents import states as sm
from geo.incidents.triage import TRIAGES


def _print(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str))


def _when(text: str | None) -> datetime | None:
    """An ISO time; a date or a time without zone is read in ``TIMEZONE``."""
    if text is None:
        return None
    import zoneinfo

    from geo.settings import get_settings

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise GridAtlasError(f"时间格式错误 / {text!r} is not an ISO date or time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(get_settings().timezone))
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise GridAtlasError(f"日期格式错误 / {text!r} is not a date YYYY-MM-DD") from None


def _actor(args):
    from geo.incidents import service

    if getattr(args, "as_user", None):
        return service.actor_by_username(args.as_user)
    from geo.access.cli import _cli_actor

    return service.Actor(_cli_actor())


def _photo(args) -> bytes | None:
    if not getattr(args, "photo", None):
        return None
    path = Path(args.photo)
    if not path.is_file():
        raise GridAtlasError(f"没有文件 / no file {args.photo}")
    return path.read_bytes()


def _cmd_report(args) -> int:
    from geo.incidents import service

    _print(service.report(
        _actor(args), lon=args.lon, lat=args.lat, category=args.category, severity=args.severity,
        title=args.title, description=args.description, level=args.level, crs=args.crs,
        photo=_photo(args), reporter_name=args.reporter_name, reporter_phone=args.reporter_phone,
        triage=args.triage, now=_when(args.now)))
    return 0


def _cmd_transition(args) -> int:
    from geo.incidents import service

    _print(service.transition(_actor(args), args.id, args.to, note=args.note,
                              department=args.department, expected_version=args.expected_version,
                              photo=_photo(args), triage=args.triage, now=_when(args.now)))
    return 0


def _cmd_show(args) -> int:
    from geo.incidents import service

    _print(service.show(_actor(args), args.id, now=_when(args.now)))
    return 0


def _cmd_tick(args) -> int:
    from geo.incidents import service

    _print(service.tick(_when(args.now)))
    return 0


def _cmd_kpi(args) -> int:
    from geo.incidents import kpi

    data = kpi.kpi(_actor(args), args.scope, _day(args.date_from), _day(args.date_to),
                   now=_when(args.now), triage=args.triage)
    if args.json:
        _print(data)
    else:
        for key, value in data.items():
            print(f"{key:<24} {value}")
    return 0


def _cmd_candidates(args) -> int:
    from geo.incidents import service

    _print({"candidates": service.duplicate_candidates(
        _actor(args), lon=args.lon, lat=args.lat, category=args.category, crs=args.crs)})
    return 0


def _cmd_attach(args) -> int:
    from geo.incidents import service

    _print(service.attach_report(_actor(args), args.id, note=args.note, photo=_photo(args),
                                 now=_when(args.now)))
    return 0


def _cmd_defer_request(args) -> int:
    from geo.incidents import service

    until = _when(args.until)
    _print(service.request_deferral(_actor(args), args.id, reason=args.reason, until=until,
                                    now=_when(args.now)))
    return 0


def _cmd_defer_decide(args) -> int:
    from geo.incidents import service

    _print(service.decide_deferral(_actor(args), args.id, approve=args.approve, note=args.note,
                                   now=_when(args.now)))
    return 0


def _cmd_evaluate(args) -> int:
    from geo.incidents import service

    _print(service.evaluate(_actor(args), args.id, args.grade, comment=args.comment,
                            now=_when(args.now)))
    return 0


def _cmd_urge(args) -> int:
    from geo.incidents import service

    _print(service.urge(_actor(args), args.id, args.note, now=_when(args.now)))
    return 0


def _cmd_comment(args) -> int:
    from geo.incidents import service

    _print(service.comment(_actor(args), args.id, args.text, now=_when(args.now)))
    return 0


def _cmd_photo(args) -> int:
    from geo.incidents import service

    _print(service.attach_photo(_actor(args), args.id, _photo(args) or b"", note=args.note,
                                now=_when(args.now)))
    return 0


def _cmd_merge(args) -> int:
    from geo.incidents import service

    _print(service.merge_duplicates(_actor(args), args.keep, args.duplicates, note=args.note,
                                    now=_when(args.now)))
    return 0


def _cmd_route(args) -> int:
    from geo.incidents import service

    actor = _actor(args)
    if args.route_command == "list":
        _print({"routes": service.list_routes(actor)})
    else:
        _print(service.set_route(actor, category=args.category, street=args.street,
                                 department=None if args.route_command == "clear"
                                 else args.department))
    return 0


def _cmd_whistle(args) -> int:
    from geo.incidents import whistles

    _print(whistles.blow(_actor(args), args.id, args.kind, args.departments, note=args.note,
                         now=_when(args.now)))
    return 0


def _cmd_report_in(args) -> int:
    from geo.incidents import whistles

    _print(whistles.report_in(_actor(args), args.id, note=args.note, department=args.department,
                              now=_when(args.now)))
    return 0


def _cmd_triage(args) -> int:
    from geo.incidents import triage

    _print(triage.set_triage(_actor(args), args.id, args.to, note=args.note, now=_when(args.now)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``incidents`` command group."""
    p = sub.add_parser("incidents", help="incident cases: report, move, show, tick, KPIs")
    isub = p.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")

    def cmd(name: str, handler, help_: str, *, as_required: bool = True, case: bool = True,
            now: bool = True):
        c = isub.add_parser(name, help=help_)
        if case:
            c.add_argument("id", help="the case's code (SJ...) or numeric id")
        c.add_argument("--as", dest="as_user", required=as_required, metavar="USER",
                       help="act as this user (role, scope and department apply)")
        if now:
            c.add_argument("--now", help="ISO time to act at (default: now)")
        c.set_defaults(handler=handler)
        return c

    r = cmd("report", _cmd_report, "report a new case (prints it as JSON)", case=False)
    r.add_argument("--lon", type=float, required=True)
    r.add_argument("--lat", type=float, required=True)
    r.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02"],
                   help="gcj02 for coordinates from Chinese phone maps (stored as WGS-84)")
    r.add_argument("--category", required=True, help="incident category code")
    r.add_argument("--severity", required=True, choices=sm.SEVERITIES)
    r.add_argument("--title", required=True)
    r.add_argument("--description")
    r.add_argument("--level", choices=sm.LEVELS)
    r.add_argument("--photo", help="a JPEG, PNG or WebP file")
    r.add_argument("--reporter-name")
    r.add_argument("--reporter-phone")
    r.add_argument("--triage", choices=TRIAGES, help="三事分流 (default: the category's proposal)")

    t = cmd("transition", _cmd_transition, "move a case one step (prints it as show does)")
    t.add_argument("--to", required=True, choices=sm.STATES)
    t.add_argument("--note")
    t.add_argument("--department", help="department code (dispatch; overrides the routing)")
    t.add_argument("--expected-version", type=int,
                   help="refuse if the case changed since this version")
    t.add_argument("--photo")
    t.add_argument("--triage", choices=TRIAGES, help="when filing: 三事分流 public|shared|self")

    cmd("show", _cmd_show, "a case and its events as JSON", as_required=False)
    cmd("tick", _cmd_tick, "mark newly overdue cases, end expired deferrals", as_required=False,
        case=False)

    k = cmd("kpi", _cmd_kpi, "KPIs of a place over a period", as_required=False, case=False)
    k.add_argument("--scope", required=True, help="district, street, community or grid code")
    k.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD (TIMEZONE)")
    k.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD, included")
    k.add_argument("--json", action="store_true", help="one JSON object")
    k.add_argument("--triage", choices=TRIAGES, help="only cases of this triage (三事分流)")

    c = cmd("candidates", _cmd_candidates, "open cases of a category near a point", case=False,
            now=False)
    c.add_argument("--lon", type=float, required=True)
    c.add_argument("--lat", type=float, required=True)
    c.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02"])
    c.add_argument("--category", required=True)

    a = cmd("attach", _cmd_attach, "attach a report to an existing open case")
    a.add_argument("--note")
    a.add_argument("--photo")

    d = cmd("defer-request", _cmd_defer_request, "the department asks to defer a case")
    d.add_argument("--reason", required=True)
    d.add_argument("--until", required=True, help="ISO date or time the deferral ends")
    d = cmd("defer-decide", _cmd_defer_decide, "the district operator decides a deferral")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--reject", dest="approve", action="store_false")
    d.add_argument("--note")

    e = cmd("evaluate", _cmd_evaluate, "record the evaluation of a closed case")
    e.add_argument("--grade", required=True,
                   help="satisfied|basically_satisfied|dissatisfied (满意|基本满意|不满意)")
    e.add_argument("--comment")

    u = cmd("urge", _cmd_urge, "督办: urge an open case")
    u.add_argument("--note", required=True)
    m = cmd("comment", _cmd_comment, "comment on a case")
    m.add_argument("--text", required=True)
    ph = cmd("photo", _cmd_photo, "attach a photo to a case")
    ph.add_argument("--photo", required=True)
    ph.add_argument("--note")

    mg = cmd("merge", _cmd_merge, "close duplicates into the case kept", case=False)
    mg.add_argument("keep", help="the case kept")
    mg.add_argument("duplicates", nargs="+", help="cases closed as its duplicates")
    mg.add_argument("--note")

    ro = isub.add_parser("route", help="per-street routing overrides (admin)")
    rsub = ro.add_subparsers(dest="route_command", required=True, metavar="ACTION")
    for name in ("set", "clear", "list"):
        x = rsub.add_parser(name)
        x.add_argument("--as", dest="as_user", metavar="USER")
        if name != "list":
            x.add_argument("category")
            x.add_argument("street")
        if name == "set":
            x.add_argument("department")
        x.set_defaults(handler=_cmd_route)

    w = cmd("whistle", _cmd_whistle, "吹哨: summon departments to a case (prints it as show does)")
    w.add_argument("--kind", required=True, choices=("emergency", "quick", "tough"))
    w.add_argument("--departments", required=True, metavar="CODE[,CODE...]")
    w.add_argument("--note")
    ri = cmd("report-in", _cmd_report_in, "报到: your department reports in to a whistle")
    ri.add_argument("--note")
    ri.add_argument("--department", help="admin only: the department reporting in")
    tr = cmd("triage", _cmd_triage, "三事分流: change the triage of a filed case")
    tr.add_argument("--to", required=True, choices=TRIAGES)
    tr.add_argument("--note")
