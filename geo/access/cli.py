"""``python -m geo users ...`` and ``python -m geo apikey create``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from geo.access.roles import ROLES, Principal

# Demo accounts seeded by `make run` (documented in the README).
DEMO_PASSWORD_SUFFIX = "-demo-2026"


def _cli_actor() -> Principal:
    """Command-line changes are attributed to the OS user running them."""
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        who = "unknown"
    return Principal(f"cli:{who}", "admin", None)


def _password_arg(args: argparse.Namespace) -> str | None:
    """The password from --password-stdin (first line) or --password; None: neither given."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return args.password or None


def _cmd_add(args: argparse.Namespace) -> int:
    from geo.access import users

    password = _password_arg(args)
    if password is None:
        print("error: give --password or --password-stdin", file=sys.stderr)
        return 2
    if args.department:  # checked before the user is written: nothing half-made
        from geo.incidents import service

        if args.role != "department":
            print("error: --department goes with --role department", file=sys.stderr)
            return 2
        service.check_department(args.department)
    user = users.add_user(_cli_actor(), args.name, args.role, password, args.scope,
                          args.display_name)
    if args.department:
        service.tie_user_to_department(_cli_actor(), user.username, args.department)
    print(f"added {user.username} ({user.role}, scope {user.scope_code or 'all'})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from geo.access import users

    for u in users.list_users():
        state = "disabled" if u.disabled else "active"
        print(f"{u.username:<24} {u.role:<16} {u.scope_code or '-':<16} {state}")
    return 0


def _cmd_passwd(args: argparse.Namespace) -> int:
    from geo.access import users

    password = _password_arg(args)
    if password is None:
        print("error: give --password-stdin (or --password)", file=sys.stderr)
        return 2
    ended = users.reset_password(_cli_actor(), args.name, password)
    print(f"password of {args.name} reset; {ended} session(s) signed out")
    return 0


def _cmd_disable(args: argparse.Namespace) -> int:
    from geo.access import users

    user = users.set_disabled(_cli_actor(), args.name, not args.enable)
    print(f"{user.username} {'disabled' if user.disabled else 'enabled'}")
    return 0


def _cmd_ensure_admin(args: argparse.Namespace) -> int:
    from geo.access import users

    created, shown = users.ensure_admin(os.environ.get("GRIDATLAS_ADMIN_PASSWORD") or None)
    if created and shown:
        print("created the first admin: user 'admin', password (shown once):")
        print(shown)
    elif created:
        print("created the first admin 'admin' with GRIDATLAS_ADMIN_PASSWORD")
    return 0


def demo_accounts() -> list[tuple[str, str, str | None, str]]:
    """(username, role, scope code, password) for each role, scoped within the demo."""
    from geo import db

    row = db.fetch_one(
        """SELECT d.code AS district, s.code AS street, c.code AS community, g.code AS grid
             FROM districts d
             JOIN streets s ON s.district_id = d.id
             JOIN communities c ON c.street_id = s.id
             JOIN grid_versions v ON v.community_id = c.id AND v.is_current
             JOIN grids g ON g.version_id = v.id
            ORDER BY d.code, s.code, c.code, g.code LIMIT 1"""
    )
    if not row:
        return []
    scope = {
        "admin": None, "leader": row["district"], "operator": row["district"],
        "street_operator": row["street"], "community_staff": row["community"],
        "department": row["district"], "grid_worker": row["grid"], "planner": row["district"],
    }
    accounts = [(f"demo_{r}", r, scope[r], r + DEMO_PASSWORD_SUFFIX) for r in ROLES]
    # a city command centre's operator: every district of the demo district's city
    accounts.append(("demo_city", "operator", row["district"][:4], "city" + DEMO_PASSWORD_SUFFIX))
    return accounts


def _cmd_seed_demo(args: argparse.Namespace) -> int:
    from geo.access import users

    accounts = demo_accounts()
    if not accounts:
        print("no demo district loaded: no demo users seeded")
        return 0
    made = 0
    for username, role, scope, password in accounts:
        if users.get_user(username) is None:
            users.add_user(_cli_actor(), username, role, password, scope,
                           "演示 城市指挥中心" if username == "demo_city" else f"演示 {role}")
            made += 1
        if role == "department":
            _tie_demo_department(username)
    print(f"demo users: {made} created, {len(accounts) - made} already there")
    return 0


def _tie_demo_department(username: str) -> None:
    """Tie the demo department account, when it is tied to none, to the department with the
    most open cases (ties: the first code), so that it has cases to work from the start."""
    from geo import db
    from geo.incidents import service

    user = db.fetch_one("SELECT department_id FROM users WHERE username = %s", (username,))
    if user is None or user["department_id"] is not None:
        return
    dep = db.fetch_one(
        """SELECT d.code FROM departments d
             LEFT JOIN incidents i ON i.department_id = d.id AND i.closed_at IS NULL
            GROUP BY d.code ORDER BY count(i.id) DESC, d.code LIMIT 1""")
    if dep is not None:
        service.tie_user_to_department(_cli_actor(), username, dep["code"])
        print(f"demo department account {username} works for department {dep['code']}")


def _cmd_apikey(args: argparse.Namespace) -> int:
    from geo.access import apikeys

    key = apikeys.create(_cli_actor(), args.name, args.scope)
    print(f"API key {args.name!r} (scope {args.scope or 'all'}); it is shown only now:")
    print(key)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``users`` and ``apikey`` commands."""
    p = sub.add_parser("users", help="user accounts")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    a = usub.add_parser("add", help="add a user")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--scope", help="city (4 digits), district (6), street (9), community (12) or grid (15) code "
                   "(all but admin)")
    a.add_argument("--password")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a.add_argument("--display-name")
    a.add_argument("--department", help="department code (role department: ties the account to it)")
    a.set_defaults(handler=_cmd_add)

    usub.add_parser("list", help="list users").set_defaults(handler=_cmd_list)

    pw = usub.add_parser("passwd", help="reset a user's password (signs the user out everywhere)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.add_argument("--password", help="the new password (visible in the process list: prefer stdin)")
    pw.set_defaults(handler=_cmd_passwd)

    d = usub.add_parser("disable", help="disable a user (or --enable again)")
    d.add_argument("name")
    d.add_argument("--enable", action="store_true")
    d.set_defaults(handler=_cmd_disable)

    usub.add_parser(
        "ensure-admin", help="create the first admin if none (GRIDATLAS_ADMIN_PASSWORD or printed once)"
    ).set_defaults(handler=_cmd_ensure_admin)
    usub.add_parser("seed-demo", help="demo users for every role").set_defaults(
        handler=_cmd_seed_demo
    )

    k = sub.add_parser("apikey", help="API keys for machine clients")
    ksub = k.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    c = ksub.add_parser("create", help="create a key; printed on the last line")
    c.add_argument("name")
    c.add_argument("--scope")
    c.set_defaults(handler=_cmd_apikey)
