"""The embedded PostGIS cluster: one private server per checkout.

Without ``DATABASE_URL`` GridAtlas runs its own cluster (never the system server) in a
folder of the checkout. As root the server runs as the ``postgres`` OS user, which must be
able to traverse to its folders; when it cannot (a checkout inside a 0700 temporary folder
or a home folder) the cluster lives in a folder under ``/var/tmp`` keyed by the checkout
path instead, and :func:`describe` says where. The port is derived from the checkout path
so that two checkouts on one machine never clash.

Who may log in (rewritten on every :func:`up`, so clusters made by older versions are fixed
too): the superuser only over the unix socket, by peer authentication, and only for the
server's OS user, root and the checkout's owner (``pg_ident.conf`` map ``gridatlas``); the
app role only with its password. The socket folder admits the server's OS user, root and,
through its private group, the checkout's owner; nobody else. Every folder and file is
created or checked without following symbolic links, and a path that belongs to another
user is refused, because ``/tmp`` and ``/var/tmp`` are shared with every local user.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import logging
import os
import pwd
import re
import secrets
import stat
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
IDENT_MAP = "gridatlas"
REPLICA_ROLE = "gridatlas_replica"
REPLICATION_MARK = "replication_on"  # in the primary's base folder while a replica is up
_REPLICA_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_SOCKET_MAX = 100  # libpq's limit is ~107 bytes including ".s.PGSQL.NNNNN"
# OS user names written into pg_ident.conf (anything else is left out, never quoted in).
_OS_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


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
    owner: str | None = None  # OS user owning the checkout (None when unknown)

    @property
    def app_url(self) -> str:
        """libpq URI for the app's non-superuser role over TCP."""
        pw = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{APP_ROLE}:{pw}@127.0.0.1:{self.port}/{DB_NAME}"

    def admin_url(self, dbname: str = DB_NAME) -> str:
        """libpq URI for the superuser over the private unix socket."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{dbname}?host={host}&port={self.port}"

    @property
    def server_user(self) -> str:
        """The OS user the server runs as."""
        return self.run_as or _user_name(os.geteuid()) or str(os.geteuid())


def checkout_key(root: Path = PROJECT_ROOT) -> str:
    """A short stable key for this checkout path."""
    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]


def _default_port(key: str) -> int:
    return 20000 + int(key, 16) % 20000


def _is_root() -> bool:
    return os.geteuid() == 0


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _checkout_owner(root: Path) -> str | None:
    try:
        return _user_name(os.stat(root).st_uid)
    except OSError:
        return None


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
        owner=_checkout_owner(root),
    )


def _run(lay: Layout, args: list[str], check: bool = True,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = list(args)
    if lay.run_as:
        cmd = ["runuser", "-u", lay.run_as, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        raise GridAtlasError(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}\nserver log: {lay.log_file}"
        )
    return proc


def status(lay: Layout | None = None) -> bool:
    """True when the embedded server is running."""
    lay = lay or layout()
    if not (lay.data / "PG_VERSION").exists():
        return False
    proc = _run(lay, [str(bindir() / "pg_ctl"), "status", "-D", str(lay.data)], check=False)
    return proc.returncode == 0


# ----------------------------------------------------------------------------- who may log in


def _hba_text(replication: bool = False) -> str:
    """``pg_hba.conf``: the superuser by peer over the socket, the app role by password;
    while a replica of this checkout is up, the replication role by password from 127.0.0.1."""
    extra = [f"host    replication  {REPLICA_ROLE}  127.0.0.1/32  scram-sha-256"] if replication else []
    return "\n".join(
        [
            "# Written by GridAtlas on every `db up`; edit geo/localdb.py instead.",
            "# TYPE  DATABASE  USER  ADDRESS  METHOD",
            f"local   all  {SUPERUSER}  peer map={IDENT_MAP}",
            f"local   all  {APP_ROLE}  scram-sha-256",
            f"host    all  {APP_ROLE}  127.0.0.1/32  scram-sha-256",
            f"host    all  {APP_ROLE}  ::1/128  scram-sha-256",
            *extra,
            "",
        ]
    )


def superuser_os_users(lay: Layout) -> list[str]:
    """OS users that may log in as the superuser: the server's user, root, the checkout's owner."""
    names: list[str] = []
    for name in (lay.server_user, "root", lay.owner):
        if not name or name in names:
            continue
        if not _OS_USER_NAME.fullmatch(name):
            log.warning("OS user name %r is not written into pg_ident.conf", name)
            continue
        names.append(name)
    return names


def _ident_text(lay: Layout) -> str:
    lines = [
        "# Written by GridAtlas on every `db up`; edit geo/localdb.py instead.",
        "# OS users that may log in as the superuser over the unix socket (peer).",
        "# MAPNAME  SYSTEM-USERNAME  PG-USERNAME",
    ]
    lines += [f"{IDENT_MAP}  {name}  {SUPERUSER}" for name in superuser_os_users(lay)]
    return "\n".join(lines) + "\n"


def _conf_text(lay: Layout) -> str:
    tz = os.environ.get("TIMEZONE") or "Asia/Shanghai"
    return "\n".join(
        [
            "# Written by GridAtlas on every `db up`; edit geo/localdb.py instead.",
            f"port = {lay.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{lay.socket_dir}'",
            # The socket folder is the gate (see _socket_group); the socket's group is the
            # folder's (setgid), since the server may not chgrp to a group it is not in.
            "unix_socket_permissions = 0770",
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
            # a replica that was down for a while catches up from the WAL its replication
            # slot keeps (at most this much; beyond, the slot is lost and `replica up` copies
            # the primary again), or from the last wal_keep_size of WAL without a slot
            "wal_keep_size = 512MB",
            "max_slot_wal_keep_size = 4GB",
            "",
        ]
    )


# ----------------------------------------------------------------------------- safe files


def _refuse(path: Path, why: str) -> GridAtlasError:
    return GridAtlasError(
        f"refusing to use {path}: {why}. The embedded cluster creates its folders itself and "
        "never follows links or adopts another user's files; remove that path (after checking "
        "who made it) and run `python -m geo db up` again."
    )


def _names(uids: set[int]) -> str:
    return " or ".join(sorted(_user_name(u) or str(u) for u in uids))


def _secure_dir(path: Path, uid: int, gid: int, mode: int) -> None:
    """Create the folder ``path`` or check an existing one, then set its owner and mode.

    An existing path must be a real folder (not a symbolic link) owned by the current user
    or by ``uid``; owner and mode are set through a descriptor opened with ``O_NOFOLLOW``, so a
    link swapped in meanwhile is never followed.
    """
    allowed = {os.geteuid(), uid}
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise GridAtlasError(f"cannot create {path}: {exc.strerror}") from exc
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, f"it is a symbolic link (to {os.readlink(path)!r})")
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "it is not a folder")
    if st.st_uid not in allowed:
        raise _refuse(path, f"it belongs to {_names({st.st_uid})}, not to {_names(allowed)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise _refuse(path, f"it changed while being checked ({exc.strerror})") from exc
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or now.st_uid not in allowed:
            raise _refuse(path, "it changed while being checked")
        if _is_root():
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _read_private(path: Path) -> str | None:
    """Text of a regular file, read without following a link; None when absent or not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return None
        raise
    with os.fdopen(fd, encoding="utf-8") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read()


def _write_private(path: Path, text: str, uid: int, gid: int, mode: int = 0o600) -> bool:
    """Replace ``path`` by a new file holding ``text``; False when it already did.

    The new file is made under a fresh name (``O_EXCL | O_NOFOLLOW``) and renamed over the
    old one, so whatever stood at ``path`` (a link included) is replaced, never written through.
    """
    if _read_private(path) == text:
        return False
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dfd)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fchmod(fd, mode)
            if _is_root():
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise
    finally:
        os.close(dfd)
    return True


def _ids(user: str) -> tuple[int, int]:
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def _socket_group(lay: Layout) -> int | None:
    """The group that lets the checkout's owner reach the socket, when one is needed.

    Needed only when root runs the server as ``postgres`` for a checkout owned by a third,
    non-root user. That user's primary group is used only when it is private to them (no
    other member, no other user's primary group); otherwise the owner goes through root.
    """
    owner = lay.owner
    if not _is_root() or owner in (None, "root", lay.server_user):
        return None
    try:
        gid = pwd.getpwnam(owner).pw_gid
        members = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return None
    members |= {p.pw_name for p in pwd.getpwall() if p.pw_gid == gid}
    if members - {owner}:
        log.warning(
            "the primary group of %s is shared (%s): only root and %s reach the socket folder",
            owner, ", ".join(sorted(members - {owner})), lay.server_user,
        )
        return None
    return gid


def _prepare(lay: Layout) -> None:
    """Create or check every folder and the app password, with owners and modes.

    Base folder: the invoking user's; 0700 when the server runs as the invoking user, else
    0710 with the server's group, or 0711 when the checkout's owner must pass too (to the
    socket folder and the app password, which is then 0640 with the owner's private group;
    everything else inside is private). Data and log: the server's, 0700. Socket
    folder: the server's, 0700, or 2710 with the checkout owner's private group.
    """
    me_uid, me_gid = os.geteuid(), os.getegid()
    srv_uid, srv_gid = _ids(lay.run_as) if lay.run_as else (me_uid, me_gid)
    group = _socket_group(lay)
    sock_gid, sock_mode = (srv_gid, 0o700) if group is None else (group, 0o2710)
    if lay.socket_dir.parent != lay.base:  # in /tmp: checked before anything is made
        _secure_dir(lay.socket_dir, srv_uid, sock_gid, sock_mode)
    if srv_uid == me_uid:
        _secure_dir(lay.base, me_uid, me_gid, 0o700)
    elif group is not None:
        _secure_dir(lay.base, me_uid, me_gid, 0o711)
    else:
        _secure_dir(lay.base, me_uid, srv_gid, 0o710)
    _secure_dir(lay.base / "log", srv_uid, srv_gid, 0o700)
    _secure_dir(lay.data, srv_uid, srv_gid, 0o700)
    if lay.socket_dir.parent == lay.base:
        _secure_dir(lay.socket_dir, srv_uid, sock_gid, sock_mode)
    if group is None:
        _ensure_password(lay.password_file, me_gid, 0o600)
    else:
        _ensure_password(lay.password_file, group, 0o640)


def _ensure_password(path: Path, gid: int, mode: int) -> None:
    """Create the app role's password file, or check the existing one; set group and mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, "it is not a regular file") from None
        if st.st_uid != os.geteuid():
            raise _refuse(path, f"it belongs to {_names({st.st_uid})}") from None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    else:
        os.write(fd, (secrets.token_urlsafe(18) + "\n").encode())
    try:
        if _is_root():
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _write_conf(lay: Layout) -> bool:
    """Write gridatlas.conf, pg_hba.conf and pg_ident.conf; True when anything changed."""
    uid, gid = _ids(lay.run_as) if lay.run_as else (os.geteuid(), os.getegid())
    changed = False
    for name, text in (
        ("gridatlas.conf", _conf_text(lay)),
        ("pg_hba.conf", _hba_text((lay.base / REPLICATION_MARK).exists())),
        ("pg_ident.conf", _ident_text(lay)),
    ):
        changed |= _write_private(lay.data / name, text, uid, gid)
    main = lay.data / "postgresql.conf"
    text = _read_private(main)
    if text is None:
        raise GridAtlasError(f"{main} is missing or not a regular file: the cluster is damaged")
    if "include_if_exists = 'gridatlas.conf'" not in text:
        changed |= _write_private(main, text + "\ninclude_if_exists = 'gridatlas.conf'\n", uid, gid)
    return changed


def _init(lay: Layout) -> None:
    if (lay.data / "PG_VERSION").exists():
        return
    _run(
        lay,
        [
            str(bindir() / "initdb"),
            "-D", str(lay.data),
            "-U", SUPERUSER,
            "-E", "UTF8",
            "--no-locale",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
        ],
    )


def up(lay: Layout | None = None) -> Layout:
    """Create (first time) and start the cluster, then make the database current.

    Idempotent: a second call while the server runs rewrites the access rules (reloading
    the server when they changed) and checks the schema.
    """
    lay = lay or layout()
    if lay.fallback:
        log.warning(
            "checkout not reachable by the postgres user; embedded cluster lives in %s",
            lay.base,
        )
    _prepare(lay)
    running = status(lay)
    if not running:
        _init(lay)
    changed = _write_conf(lay)
    if running:
        if changed:
            _run(lay, [str(bindir() / "pg_ctl"), "reload", "-D", str(lay.data)])
    else:
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
        cur.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
        pending = [name for (name,) in cur.fetchall()]
    conn.close()
    if pending:
        log.warning(
            "the embedded server runs with old values of %s: restart it "
            "(python -m geo db down && python -m geo db up) to apply them",
            ", ".join(pending),
        )
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


# ----------------------------------------------------------------------------- backups


def _dump_url(url: str | None) -> str:
    """The server to dump or restore: ``url``, else DATABASE_URL, else the embedded superuser."""
    if url:
        return url
    from geo import db

    return db.admin_url()


def backup(path: Path, url: str | None = None) -> int:
    """Write a consistent online dump (``pg_dump -Fc``) of the database to ``path``.

    Embedded cluster: as the superuser over the private socket. pg_dump reads one snapshot,
    so the app keeps running. The file is made under a fresh name beside ``path``
    (``O_EXCL | O_NOFOLLOW``, mode 0600: it holds password hashes and sessions) and renamed
    over ``path`` only when pg_dump succeeded: a failed backup leaves no file. Returns its size.
    """
    path = Path(path).absolute()
    if not path.parent.is_dir():
        raise GridAtlasError(f"cannot write {path}: the folder {path.parent} does not exist")
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            proc = subprocess.run(
                [str(bindir() / "pg_dump"), "--format=custom", "--no-password",
                 "--dbname", _dump_url(url)],
                stdout=fd, stderr=subprocess.PIPE, text=True, check=False,
            )
            os.fsync(fd)
        finally:
            os.close(fd)
        if proc.returncode != 0:
            raise GridAtlasError(f"pg_dump failed (exit {proc.returncode}): "
                                 f"{redact(proc.stderr.strip())[-800:]}")
        os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise
    finally:
        os.close(dfd)
    return path.stat().st_size


def _tables_with_rows(url: str) -> list[str]:
    """Tables of the public schema holding at least one row (migration bookkeeping and
    PostGIS's reference table aside): what a restore would overwrite."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                      AND NOT c.relispartition
                      AND c.relname NOT IN ('schema_version', 'spatial_ref_sys')
                    ORDER BY 1""")
            names = [r[0] for r in cur.fetchall()]
            full = []
            for name in names:
                cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(name)))
                if cur.fetchone()[0]:
                    full.append(name)
            return full
    finally:
        conn.close()


def restore(path: Path, url: str | None = None, force: bool = False) -> None:
    """Restore a dump made by :func:`backup` into the current database.

    Refuses a database holding data unless ``force``. The restore runs in one transaction
    (``--single-transaction --exit-on-error``): it lands whole or not at all. Objects of the
    dump replace those of the same name (``--clean``); owners and grants are not taken from
    the dump but set afterwards by the migrations, which also bring an older backup up to
    the current schema.
    """
    import psycopg2

    from geo import db

    path = Path(path)
    text = _read_head(path)
    if text != b"PGDMP":
        raise GridAtlasError(f"{path} is not a backup made by `python -m geo db backup` (pg_dump -Fc)")
    target = _dump_url(url)
    try:
        full = _tables_with_rows(target)
    except psycopg2.OperationalError as exc:
        raise GridAtlasError(f"cannot reach the database to restore into: {redact(str(exc).strip())}") from exc
    if full and not force:
        shown = ", ".join(full[:5]) + (" ..." if len(full) > 5 else "")
        raise GridAtlasError(
            f"the database is not empty ({len(full)} tables hold rows: {shown}); restoring "
            "would replace them. Back it up first, then run restore again with --force.")
    proc = subprocess.run(
        [str(bindir() / "pg_restore"), "--clean", "--if-exists", "--single-transaction",
         "--exit-on-error", "--no-owner", "--no-privileges", "--no-password",
         "--dbname", target, str(path)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise GridAtlasError(f"pg_restore failed (exit {proc.returncode}); nothing was changed: "
                             f"{redact(proc.stderr.strip())[-800:]}")
    db.migrate(target)


def _read_head(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise GridAtlasError(f"cannot read {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        return f.read(5)


# ----------------------------------------------------------------------------- replica


def replica_layout(lay: Layout, name: str = "replica", port: int | None = None) -> Layout:
    """Where the streaming replica ``name`` of this checkout's cluster keeps its files.

    A folder of the primary's base folder (``<base>/<name>``), with its own data, log and
    socket folders; its port is ``port``, else the one it was made with, else the
    primary's plus one. The app role and its password are the primary's (replicated).
    """
    if not _REPLICA_NAME.fullmatch(name or "") or name in {"data", "log", "run"}:
        raise GridAtlasError(f"replica name {name!r}: use 1-32 lower-case letters, digits, - or _")
    base = lay.base / name
    if port is None:
        saved = _read_private(base / "port")
        port = int(saved) if saved and saved.strip().isdigit() else lay.port + 1
    socket_dir = base / "run"
    if len(str(socket_dir)) + len("/.s.PGSQL.65535") > _SOCKET_MAX:
        socket_dir = Path("/tmp") / f"gridatlas-{checkout_key()}-{name}"
    return Layout(base=base, data=base / "data", socket_dir=socket_dir,
                  log_file=base / "log" / "postgres.log", password_file=lay.password_file,
                  port=port, run_as=lay.run_as, fallback=lay.fallback, owner=lay.owner)


def _replicas_running(lay: Layout) -> list[str]:
    out = []
    for sub in sorted(lay.base.iterdir()):
        if (sub / "data" / "standby.signal").exists() and status(replica_layout(lay, sub.name)):
            out.append(sub.name)
    return out


def _set_replication(lay: Layout, on: bool) -> None:
    """Allow (or stop allowing) the replication role in the primary's pg_hba.conf."""
    uid, gid = os.geteuid(), os.getegid()
    mark = lay.base / REPLICATION_MARK
    if on:
        _write_private(mark, "a replica of this cluster is up\n", uid, gid)
    else:
        try:
            os.unlink(mark)
        except FileNotFoundError:
            pass
    if _write_conf(lay) and status(lay):
        _run(lay, [str(bindir() / "pg_ctl"), "reload", "-D", str(lay.data)])


def _replication_role(lay: Layout) -> str:
    """The replication role with a password kept beside the app's (made once)."""
    import psycopg2
    from psycopg2 import sql

    path = lay.base / "replica_password"
    _ensure_password(path, os.getegid(), 0o600)
    password = path.read_text().strip()
    conn = psycopg2.connect(lay.admin_url("postgres"), connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICA_ROLE,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(sql.SQL(verb + " ROLE {} LOGIN REPLICATION NOSUPERUSER NOCREATEDB "
                                "NOCREATEROLE PASSWORD %s").format(sql.Identifier(REPLICA_ROLE)),
                        (password,))
    finally:
        conn.close()
    return password


def _slot_name(name: str) -> str:
    """The physical replication slot that keeps the WAL replica ``name`` still needs."""
    return "gridatlas_" + name.replace("-", "_")


def _slot_query(lay: Layout, query: str, slot: str):
    import psycopg2

    conn = psycopg2.connect(lay.admin_url("postgres"), connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query, (slot,))
            return cur.fetchone()
    finally:
        conn.close()


def _slot_usable(lay: Layout, slot: str) -> bool:
    """True when the primary has the slot and still keeps the WAL it holds back."""
    row = _slot_query(lay, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", slot)
    return row is not None and row[0] != "lost"


def _drop_slot(lay: Layout, slot: str) -> None:
    _slot_query(lay, """SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
                         WHERE slot_name = %s AND NOT active""", slot)


def replica_up(lay: Layout | None = None, name: str = "replica", port: int | None = None) -> Layout:
    """Start (making it the first time, by ``pg_basebackup -R``) a streaming replica.

    The copy counts as made once ``pg_basebackup`` has finished (a mark beside the data
    folder); a copy interrupted before (a killed command, a full disk) is deleted and made
    again, never started half-made. The replica streams through a physical replication slot
    (``gridatlas_<name>``), so a replica that was down for a while still finds the WAL it
    needs (up to ``max_slot_wal_keep_size``); a copy whose slot is gone is made again.
    ``replica down --purge`` drops the slot.

    The primary must be up. The replica streams as ``gridatlas_replica`` (REPLICATION, a
    password of its own) over TCP 127.0.0.1; the primary admits that role for replication
    only, from 127.0.0.1 only, and only while a replica is up. The replica's own access
    rules are the primary's (no replication line), on its own port and private socket.
    """
    lay = lay or layout()
    if not status(lay):
        raise GridAtlasError("the primary is down: run `python -m geo db up` first")
    rlay = replica_layout(lay, name, port)
    if rlay.port == lay.port:
        raise GridAtlasError(f"the replica needs a port other than the primary's ({lay.port})")
    password = _replication_role(lay)
    _set_replication(lay, True)
    if status(rlay):
        return rlay
    done = rlay.base / "basebackup_done"
    slot = _slot_name(name)
    if done.exists() and not _slot_usable(lay, slot):
        # the primary no longer keeps the WAL this copy needs (its slot was lost, or the copy
        # predates slots): it could never catch up, so it is copied again
        done.unlink()
    if not done.exists() and rlay.data.exists() and not rlay.data.is_symlink():
        # a copy that was interrupted (or made before this mark existed): made again whole
        import shutil

        shutil.rmtree(rlay.data)
    _prepare(rlay)
    if not done.exists():
        _drop_slot(lay, slot)
        _run(rlay, [str(bindir() / "pg_basebackup"), "-D", str(rlay.data), "-R",
                    "-X", "stream", "-c", "fast", "-w", "-C", "-S", slot,
                    "-d", f"host=127.0.0.1 port={lay.port} user={REPLICA_ROLE} "
                          "application_name=gridatlas_replica"],
             env={"PGPASSWORD": password})
        _write_private(done, "pg_basebackup finished\n", os.geteuid(), os.getegid())
    _write_conf(rlay)
    _write_private(rlay.base / "port", f"{rlay.port}\n", os.geteuid(), os.getegid())
    _run(rlay, [str(bindir() / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(rlay.data),
                "-l", str(rlay.log_file)])
    return rlay


def replica_down(lay: Layout | None = None, name: str = "replica", purge: bool = False) -> bool:
    """Stop the replica (``purge``: delete its folder too); False when it was not running.

    When no other replica of this checkout is up, the primary stops admitting replication.
    """
    import shutil

    lay = lay or layout()
    rlay = replica_layout(lay, name)
    was_up = status(rlay)
    if was_up:
        _run(rlay, [str(bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(rlay.data)])
    if not _replicas_running(lay):
        _set_replication(lay, False)
    if purge:
        _drop_slot(lay, _slot_name(name))
    if purge and rlay.base.exists():
        if rlay.base.is_symlink():
            raise _refuse(rlay.base, "it is a symbolic link")
        shutil.rmtree(rlay.base)
        if rlay.socket_dir.parent != rlay.base and rlay.socket_dir.exists():
            shutil.rmtree(rlay.socket_dir)
    return was_up


def replica_status(lay: Layout | None = None, name: str = "replica") -> bool:
    """True when the replica ``name`` is running."""
    lay = lay or layout()
    return status(replica_layout(lay, name))
