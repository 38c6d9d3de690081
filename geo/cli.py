"""``python -m geo``: database, data and planning commands.

Each feature package adds its own subcommands through a ``register(subparsers)``
function, listed in :data:`_FEATURE_CLIS`; handlers return the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

# Feature packages that contribute subcommands (imported only if present).
_FEATURE_CLIS = (
    "geo.demo.cli",
    "geo.importers.cli",
    "geo.planning.file_cli",  # `rebalance-file`: the engine on a GeoPackage, no database
    "geo.planning.cli",
    "geo.access.cli",
    "geo.repository.cells_cli",
    "geo.incidents.cli",
    "geo.patrols.cli",
    "geo.departments.cli",
    "geo.networks.cli",  # after geo.planning.cli: adds `grids roles`
    "geo.reports.cli",
    "geo.jobs.cli",  # `worker`: background jobs on Celery (REDIS_URL)
)


def _cmd_db(args: argparse.Namespace) -> int:
    from geo import db, localdb
    from geo.settings import get_settings

    external = get_settings().database_url is not None
    if args.action == "replica":
        return _cmd_replica(args, external)
    if args.action in ("backup", "restore"):
        if not args.file:
            raise GridAtlasError(f"usage: python -m geo db {args.action} FILE")
        if args.action == "backup":
            size = localdb.backup(args.file)
            print(f"backed up to {args.file} ({size:,} bytes)")
        else:
            localdb.restore(args.file, force=args.force)
            print(f"restored {args.file}; schema version {db.schema_version()}")
        return 0
    if args.action == "migrate":
        applied = db.migrate(db.admin_url())
        print(f"applied {len(applied)} migration(s); schema version {db.schema_version()}")
        return 0
    if external:
        if args.action == "url":
            print(get_settings().database_url)
            return 0
        if args.action == "status":
            try:
                db.connect().close()
            except GridAtlasError as exc:
                print(exc.user_msg)
                return 3
            print(f"up (DATABASE_URL {localdb.redact(get_settings().database_url)})")
            return 0
        print("DATABASE_URL is set: that server is managed elsewhere; nothing to do.")
        return 0
    lay = localdb.layout()
    if args.action == "up":
        was_up = localdb.status(lay)
        localdb.up(lay)
        print(("already up" if was_up else "started") + f" on port {lay.port}")
        print(localdb.describe(lay))
        return 0
    if args.action == "down":
        print("stopped" if localdb.down(lay) else "not running")
        return 0
    if args.action == "status":
        if localdb.status(lay):
            print(f"up on port {lay.port}")
            print(localdb.describe(lay))
            return 0
        print("down")
        return 3
    if args.action == "url":
        if not lay.password_file.exists():
            raise GridAtlasError("the embedded cluster does not exist yet: run `python -m geo db up`")
        print(localdb.describe(lay))
        print(lay.app_url)
        return 0
    raise AssertionError(args.action)


def _cmd_replica(args: argparse.Namespace, external: bool) -> int:
    """``db replica up|down|status|url``: a streaming replica of the embedded cluster."""
    from geo import localdb

    verb = args.file
    if verb not in ("up", "down", "status", "url"):
        raise GridAtlasError("usage: python -m geo db replica up|down|status|url [--name N] [--port P]")
    if external:
        print("DATABASE_URL is set: its replicas are managed elsewhere (set DATABASE_READ_URL).")
        return 0 if verb != "status" else 3
    lay = localdb.layout()
    if verb == "up":
        rlay = localdb.replica_up(lay, args.name, args.port)
        print(f"replica {args.name} up on port {rlay.port}, streaming from port {lay.port}")
        print(localdb.describe(rlay))
        print(f"DATABASE_READ_URL={rlay.app_url}")
        return 0
    if verb == "down":
        print("stopped" if localdb.replica_down(lay, args.name, purge=args.purge) else "not running")
        return 0
    rlay = localdb.replica_layout(lay, args.name)
    if verb == "url":
        print(rlay.app_url)
        return 0
    if localdb.status(rlay):
        print(f"up on port {rlay.port}")
        print(localdb.describe(rlay))
        return 0
    print("down")
    return 3


def _cmd_stats(args: argparse.Namespace) -> int:
    from geo.access.roles import SYSTEM
    from geo.repository import stats
    from geo.repository.scope import Scope

    data = stats.counts(Scope.of(SYSTEM))
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        width = max(map(len, data))
        for key, value in data.items():
            print(f"{key:<{width}}  {value:>10,}")
    return 0


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent package is absent
        return False


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = argparse.ArgumentParser(prog="python -m geo", description="GridAtlas commands")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("db", help="the embedded PostGIS cluster (or DATABASE_URL)")
    p.add_argument("action", choices=["up", "down", "status", "url", "migrate", "backup", "restore",
                                        "replica"],
                   help="backup FILE / restore FILE [--force]: pg_dump -Fc of the primary, "
                   "restored into the current database")
    p.add_argument("file", nargs="?", metavar="FILE|VERB",
                   help="the backup file (backup, restore); up|down|status|url (replica)")
    p.add_argument("--force", action="store_true",
                   help="restore: replace a database that holds data")
    p.add_argument("--name", default="replica", help="replica: its name (its folder)")
    p.add_argument("--port", type=int, default=None,
                   help="replica up: its port (default: the primary's plus one)")
    p.add_argument("--purge", action="store_true", help="replica down: delete its files too")
    p.set_defaults(handler=_cmd_db)

    p = sub.add_parser("stats", help="counts of what the database holds")
    p.add_argument("--json", action="store_true", help="one JSON object with integer values")
    p.set_defaults(handler=_cmd_stats)

    for name in _FEATURE_CLIS:
        if _module_exists(name):
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a :class:`GridAtlasError` prints its message and exits 2."""
    return _dispatch(build_parser().parse_args(argv))


def run(argv: list[str] | None = None) -> NoReturn:
    """Entry of ``python -m geo``: run one command, then end the process.

    A handler marked with :func:`fast_exit` has written and closed everything it produces
    when it returns, so the process ends at once instead of tearing the interpreter down.
    Teardown mostly unloads numba's compiled kernels; it takes about 0.3 s, a tenth of
    ``rebalance-file``'s budget.
    """
    args = build_parser().parse_args(argv)
    code = _dispatch(args)
    if getattr(_handler(args), "fast_exit", False):
        leave(code)
    raise SystemExit(code)


def fast_exit(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Mark a command handler whose process may end without interpreter teardown."""
    handler.fast_exit = True  # type: ignore[attr-defined]
    return handler


def leave(code: int) -> NoReturn:
    """End the process now, after flushing the standard streams and the log handlers."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    return getattr(args, "handler", None) or args.func


def _dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(_handler(args)(args) or 0)
    except GridAtlasError as exc:
        print(f"error: {exc.user_msg}", file=sys.stderr)
        return 2
