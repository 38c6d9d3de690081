"""The embedded PostGIS cluster: one private server per checkout.

Without ``DATABASE_URL`` GridAtlas runs its own cluster (never the system server) in a
folder of the checkout. As root the server runs as the ``postgres`` OS user, which must be
able to traverse to its folders; when it cannot (a checkout inside a 0700 temporary folder
or a home folder) the cluster lives in a folder under ``/var/tmp`` keyed by the checkout
path instead, and :func:`describe` says where. The port is derived from the checkout path
so that two checkouts on one machine never clash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from geo.errors import ConfigError, GridAtlasError
from geo.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DB_NAME = "gridatlas"
APP_ROLE = "gridatlas_app"
SUPERUSER = "postgres"
_SOCKET_MAX = 100  # libpq's limit is ~107 bytes including ".s.PGSQL.NNNNN"


@dataclass(frozen=True)
class Layout:
    """Where the embedded cluster keeps its files."""

    base: Path
    data: Path
    socket_dir: Path
    log_file: Path
    password_file: Path
    port: int
    run_as: str | None  # OS user to run the server as, None for the current user
    fallback: bool

    @property
    def app_url(self) -> str:
        """libpq URI for the app's non-superuser role over TCP."""
        pw = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{APP_ROLE}:{pw}@127.0.0.1:{self.port}/{DB_NAME}"

    def admin_url(self, dbname: str = DB_NAME) -> str:
        """libpq URI for the superuser over the private unix socket."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{dbname}?host={host}&port={self.port}"


def checkout_key(root: Path = PROJECT_ROOT) -> str:
    """A short stable key for this checkout path."""
    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]


def _default_port(key: str) -> int:
    return 20000 + int(key, 16) % 20000


def _is_root() -> bool:
    return os.geteuid() == 0


def _user_can_reach(user: str, path: Path) -> bool:
    """True when ``user`` can traverse every folder down to ``path``."""
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(path)],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def bindir() -> Path:
    """Folder of the PostgreSQL server binaries that have PostGIS available."""
    env = os.environ.get("PG_BINDIR")
    if env:
        return Path(env)
    candidates = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        version = d.parent.name
        if (d / "postgres").exists() and Path(
            f"/usr/share/postgresql/{version}/extension/postgis.control"
        ).exists():
            candidates.append((int(version) if version.isdigit() else 0, d))
    if not candidates:
        raise ConfigError(
            "No PostgreSQL server with PostGIS found: install postgresql-15-postgis-3 "
            "(make run / make test do this) or set DATABASE_URL."
        )
    return max(candidates)[1]


def layout(root: Path = PROJECT_ROOT) -> Layout:
    """Work out (without creating anything) where this checkout's cluster lives."""
    key = checkout_key(root)
    port = int(os.environ.get("GRIDATLAS_PG_PORT") or _default_port(key))
    run_as = SUPERUSER if _is_root() else None
    base = root / ".pgdata"
    fallback = False
    if run_as is not None and not _user_can_reach(run_as, root):
        base = Path("/var/tmp") / f"gridatlas-{key}"
        fallback = True
    socket_dir = base / "run"
    if len(str(socket_dir)) + len("/.s.PGSQL.65535") > _SOCKET_MAX:
        socket_dir = Path("/tmp") / f"gridatlas-{key}"
    return Layout(
        base=base,
        data=base / "data",
        socket_dir=socket_dir,
        log_file=base / "log" / "postgres.log",
        password_file=base / "app_password",
        port=port,
        run_as=run_as,
        fallback=fallback,
    )


def _run(lay: Layout, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    cmd = list(args)
    if lay.run_as:
        cmd = ["runuser", "-u", lay.run_as, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise GridAtlasError(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}\nserver log: {lay.log_file}"
        )
    return proc


def _chown(lay: Layout, *paths: Path) -> None:
    if lay.run_as:
        for p in paths:
            shutil.chown(p, user=lay.run_as, group=lay.run_as)


def status(lay: Layout | None = None) -> bool:
    """True when the embedded server is running."""
    lay = lay or layout()
    if not (lay.data / "PG_VERSION").exists():
        return False
    proc = _run(lay, [str(bindir() / "pg_ctl"), "status", "-D", str(lay.data)], check=False)
    return proc.returncode == 0


def _write_conf(lay: Layout) -> None:
    tz = os.environ.get("TIMEZONE") or "Asia/Shanghai"
    conf = "\n".join(
        [
            "# Written by GridAtlas on every start; edit geo/localdb.py instead.",
            f"port = {lay.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{lay.socket_dir}'",
            "unix_socket_permissions = 0777",
            # Parallel query costs far more than it saves on 2 cores for tile-like queries.
            "max_parallel_workers_per_gather = 0",
            f"timezone = '{tz}'",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 256MB",
            "max_connections = 100",
            "logging_collector = off",
            "log_min_messages = warning",
            "password_encryption = 'scram-sha-256'",
            "",
        ]
    )
    target = lay.data / "gridatlas.conf"
    target.write_text(conf)
    _chown(lay, target)
    main = lay.data / "postgresql.conf"
    text = main.read_text()
    if "include_if_exists = 'gridatlas.conf'" not in text:
        main.write_text(text + "\ninclude_if_exists = 'gridatlas.conf'\n")


def _init(lay: Layout) -> None:
    for d in (lay.base, lay.base / "log", lay.socket_dir):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755 if d != lay.base else 0o711)
    _chown(lay, lay.base / "log", lay.socket_dir)
    if not lay.password_file.exists():
        lay.password_file.write_text(secrets.token_urlsafe(18) + "\n")
        os.chmod(lay.password_file, 0o600)
    if (lay.data / "PG_VERSION").exists():
        return
    lay.data.mkdir(parents=True, exist_ok=True)
    os.chmod(lay.data, 0o700)
    _chown(lay, lay.data)
    _run(
        lay,
        [
            str(bindir() / "initdb"),
            "-D", str(lay.data),
            "-U", SUPERUSER,
            "-E", "UTF8",
            "--no-locale",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
    )


def up(lay: Layout | None = None) -> Layout:
    """Create (first time) and start the cluster, then make the database current.

    Idempotent: a second call while the server runs only checks the schema.
    """
    lay = lay or layout()
    if lay.fallback:
        log.warning(
            "checkout not reachable by the postgres user; embedded cluster lives in %s",
            lay.base,
        )
    if not status(lay):
        _init(lay)
        _write_conf(lay)
        lay.socket_dir.mkdir(parents=True, exist_ok=True)
        _chown(lay, lay.socket_dir)
        lay.log_file.touch(exist_ok=True)
        _chown(lay, lay.log_file)
        _run(
            lay,
            [
                str(bindir() / "pg_ctl"), "start", "-w", "-t", "60",
                "-D", str(lay.data), "-l", str(lay.log_file),
            ],
        )
    _bootstrap(lay)
    return lay


def down(lay: Layout | None = None) -> bool:
    """Stop the cluster; returns False when it was not running."""
    lay = lay or layout()
    if not status(lay):
        return False
    _run(lay, [str(bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(lay.data)])
    return True


def _bootstrap(lay: Layout) -> None:
    """Roles, database and extension, then migrations (all idempotent)."""
    import psycopg2
    from psycopg2 import sql

    from geo import db

    password = lay.password_file.read_text().strip()
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = psycopg2.connect(lay.admin_url("postgres"), connect_timeout=3)
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s").format(
                sql.Identifier(APP_ROLE)
            ),
            (password,),
        )
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    conn.close()
    db.migrate(lay.admin_url())


def describe(lay: Layout | None = None) -> str:
    """Human-readable summary of the cluster's whereabouts."""
    lay = lay or layout()
    lines = [
        f"data:   {lay.data}",
        f"socket: {lay.socket_dir}",
        f"log:    {lay.log_file}",
        f"port:   {lay.port}",
    ]
    if lay.fallback:
        lines.append("(checkout not reachable by the postgres user: using the folder above)")
    return "\n".join(lines)


def redact(url: str) -> str:
    """Hide the password of a libpq URI."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)
