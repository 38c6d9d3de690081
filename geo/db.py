"""Database access: the connection pool, one transaction helper, and migrations.

All SQL values are bound parameters; identifiers go through ``psycopg2.sql``.

Reads from a replica: with ``DATABASE_READ_URL`` set, ``read_session(replica=True)`` runs its
reads on a second pool connected to that server (a streaming replica), after checking that
the replica is no further behind than ``REPLICA_MAX_LAG_SECONDS`` (else
:class:`ReplicaBehind`, a :class:`~geo.errors.DatabaseUnavailable`: the wall shows its stale
banner). Every other transaction, and every write, uses the primary pool.

Overload and outages: a request waits for a pooled connection at most ``DB_POOL_TIMEOUT``
seconds, then gets :class:`~geo.errors.DatabaseBusy`; an unreachable server gives
:class:`~geo.errors.DatabaseUnavailable`. Both carry a plain message naming no host, port,
socket, user or database; the driver's words go to the log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extras
import psycopg2.pool
from psycopg2 import sql

from geo import dbnice
from geo.errors import DatabaseBusy, DatabaseUnavailable, GridAtlasError
from geo.settings import get_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 727_001  # advisory lock key: one migration runner at a time

_pool: psycopg2.pool.ThreadedConnectionPool | None = None
_pool_url: str | None = None
_read_pool: psycopg2.pool.ThreadedConnectionPool | None = None
_read_pool_url: str | None = None
_pool_lock = threading.Lock()


_local_layout = None  # the embedded cluster's layout, worked out once per process


def app_url() -> str:
    """URI the app connects with: ``DATABASE_URL`` or the embedded cluster's app role.

    The embedded cluster's layout is worked out once per process (as root that runs
    ``runuser``: a process per call, which every pooled checkout used to pay); its password
    file is read on each call.
    """
    global _local_layout
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    from geo import localdb

    lay = _local_layout or localdb.layout()
    if not lay.password_file.exists():
        raise DatabaseUnavailable(
            "The embedded database has not been created yet: run `python -m geo db up`."
        )
    _local_layout = lay
    return lay.app_url


def read_url() -> str | None:
    """URI of the read replica (``DATABASE_READ_URL``), or None: reads go to the primary."""
    return get_settings().database_read_url


def admin_url() -> str:
    """URI for schema changes: ``DATABASE_URL`` or the embedded superuser socket."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    from geo import localdb

    return localdb.layout().admin_url()


def _connect_kwargs() -> dict:
    tz = get_settings().timezone
    return {
        "connect_timeout": 3,
        "application_name": "gridatlas",
        "options": f"-c timezone={tz}",
    }


# What a person is told. Neither names a host, port, socket path, user or database: those
# stay in the server log (``_unavailable`` logs the driver's words).
UNAVAILABLE_MSG = "数据库暂不可用，请稍后重试 / Cannot reach the database; please try again shortly"
BEHIND_MSG = "只读副本落后于主库，数据可能不是最新 / The read replica is behind; figures may be out of date"
BUSY_MSG = "服务器繁忙，请稍后重试 / The server is busy; please try again shortly"


def _unavailable(what: str, exc: BaseException | None = None) -> DatabaseUnavailable:
    """A DatabaseUnavailable with the plain message; the detail goes to the log only."""
    detail = f"{what}: {_first_line(exc)}" if exc is not None else what
    log.warning("database unavailable (%s)", detail)
    return DatabaseUnavailable(UNAVAILABLE_MSG, detail=detail)


def connect(url: str | None = None) -> psycopg2.extensions.connection:
    """A new connection (not pooled); the caller closes it."""
    target = url or app_url()
    try:
        conn = psycopg2.connect(target, **_connect_kwargs())
    except psycopg2.OperationalError as exc:
        raise _unavailable("connect", exc) from exc
    dbnice.apply(conn)
    return conn


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _KeepingPool(psycopg2.pool.ThreadedConnectionPool):
    """Keeps returned connections for reuse, up to maxconn (psycopg2's pools close every
    connection returned while minconn are idle: with minconn 0, each query connected anew).

    ``slots`` bounds the wait: psycopg2 raises ``PoolError`` at once when every connection
    is out, so a checkout first takes a slot (waiting up to ``DB_POOL_TIMEOUT``) and only
    then asks the pool, which then always has a connection to give.
    """

    def __init__(self, maxconn: int, *args, **kwargs) -> None:
        super().__init__(0, maxconn, *args, **kwargs)
        self.slots = threading.BoundedSemaphore(maxconn)

    def _connect(self, key=None):
        conn = super()._connect(key)
        dbnice.apply(conn)  # a niced worker's backend on this machine runs niced too
        return conn

    def _putconn(self, conn, key=None, close=False):
        keep = self.minconn
        self.minconn = self.maxconn
        try:
            super()._putconn(conn, key, close)
        finally:
            self.minconn = keep


class ReplicaBehind(DatabaseUnavailable):
    """The read replica is further behind the primary than ``REPLICA_MAX_LAG_SECONDS``."""


def _get_pool(read: bool = False) -> _KeepingPool:
    """The primary pool, or with ``read`` the replica's (the primary's when none is set)."""
    global _pool, _pool_url, _read_pool, _read_pool_url
    url = read_url() if read else None
    if url is None:
        read, url = False, app_url()
    with _pool_lock:
        pool, current = (_read_pool, _read_pool_url) if read else (_pool, _pool_url)
        if pool is None or current != url:
            if pool is not None:
                pool.closeall()
            try:
                pool = _KeepingPool(get_settings().pool_max, url, **_connect_kwargs())
            except psycopg2.OperationalError as exc:
                raise _unavailable("pool", exc) from exc
            if read:
                _read_pool, _read_pool_url = pool, url
            else:
                _pool, _pool_url = pool, url
        return pool


def reset_pool() -> None:
    """Close every pooled connection, the replica's too (after a restart, and in tests)."""
    global _pool, _read_pool
    with _pool_lock:
        for pool in (_pool, _read_pool):
            if pool is not None:
                pool.closeall()
        _pool = _read_pool = None


def after_fork() -> None:
    """Drop the inherited pool in a forked child without touching its sockets.

    Closing an inherited connection would end the parent's session too; the child simply
    forgets the pool and opens its own connections.
    """
    global _pool, _pool_url, _read_pool, _read_pool_url, _pool_lock
    _pool = _read_pool = None
    _pool_url = _read_pool_url = None
    # another thread may have held the lock at the fork: the child's copy would never open
    _pool_lock = threading.Lock()
    _local.__dict__.clear()


def _checkout(timeout: float | None = None,
              read: bool = False) -> tuple[_KeepingPool, psycopg2.extensions.connection]:
    """A slot and a pooled connection that answered a ping (dead ones are replaced).

    Waits up to ``timeout`` seconds (default ``DB_POOL_TIMEOUT``) for a free connection,
    then raises :class:`DatabaseBusy`. Returns the pool too: the connection goes back to
    the pool it came from even if the pool was replaced meanwhile. ``read`` takes it from
    the replica's pool when ``DATABASE_READ_URL`` is set.
    """
    pool = _get_pool(read)
    wait = get_settings().pool_timeout if timeout is None else timeout
    if not pool.slots.acquire(timeout=wait):
        log.warning("no database connection free within %.2f s (DB_POOL_MAX=%d): busy",
                    wait, pool.maxconn)
        raise DatabaseBusy(BUSY_MSG, detail=f"pool of {pool.maxconn} exhausted for {wait:g} s")
    try:
        for _ in range(3):
            try:
                conn = pool.getconn()
            except psycopg2.OperationalError as exc:
                raise _unavailable("connect", exc) from exc
            except psycopg2.pool.PoolError as exc:  # closed by reset_pool meanwhile
                raise _unavailable("pool", exc) from exc
            try:
                if conn.closed:
                    raise psycopg2.InterfaceError("closed")
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                conn.rollback()
                return pool, conn
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                _putback(pool, conn, close=True)
        raise _unavailable("the connection keeps dropping")
    except BaseException:
        pool.slots.release()
        raise


def _putback(pool: _KeepingPool, conn: psycopg2.extensions.connection, close: bool) -> None:
    """Return a connection to its pool (closing it when that pool was closed)."""
    try:
        pool.putconn(conn, close=close)
    except psycopg2.pool.PoolError:  # the pool was closed or replaced: just close it
        if not conn.closed:
            conn.close()


def _checkin(pool: _KeepingPool, conn: psycopg2.extensions.connection, close: bool) -> None:
    try:
        _putback(pool, conn, close)
    finally:
        pool.slots.release()


@contextmanager
def transaction(readonly: bool = False, timeout: float | None = None,
                replica: bool = False) -> Iterator[psycopg2.extras.RealDictCursor]:
    """One transaction on a pooled connection; commits on success, rolls back on error.

    Yields a cursor returning rows as dicts. Waits up to ``timeout`` seconds (default
    ``DB_POOL_TIMEOUT``) for a connection, then raises :class:`DatabaseBusy`. ``replica``
    (read-only, implied) runs it on the read replica when ``DATABASE_READ_URL`` is set.
    """
    readonly = readonly or replica
    pool, conn = _checkout(timeout, read=replica)
    broken = False
    try:
        conn.set_session(readonly=readonly, autocommit=False)
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
        conn.commit()
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        broken = True
        raise _unavailable("lost the connection", exc) from exc
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        _checkin(pool, conn, close=broken or bool(conn.closed))


def ping(timeout: float = 2.0) -> None:
    """``SELECT 1`` on a pooled connection, waiting at most ``timeout`` s for one.

    Raises :class:`DatabaseBusy` or :class:`DatabaseUnavailable`; used by ``/healthz``.
    """
    with transaction(readonly=True, timeout=timeout) as cur:
        cur.execute("SELECT 1")


_local = threading.local()


# Is the replica behind? The replica answers first, alone: the age of the last transaction it
# replayed (``since``: now minus that commit's time on the primary) bounds its lag from above,
# since it holds every commit made before that one. Within REPLICA_MAX_LAG_SECONDS that bound
# is enough and the primary is not asked at all, so a slow or stopped primary never holds up
# a wall reading the replica. Only a replica that replayed nothing for longer (an idle primary,
# or a replica really behind) asks the primary for its flushed WAL position, waiting at most
# _PRIMARY_WAIT_S for a connection: it is current when it has replayed up to there (only
# flushed WAL is sent; waiting up to _CATCH_UP_S for it: WAL without a commit, or the first
# commit after an idle spell, is replayed within milliseconds). When the primary cannot be
# asked (down, busy), ``since`` is all there is. A server that is not a standby
# (DATABASE_READ_URL naming a primary) is never behind. The app role may not read
# pg_stat_wal_receiver's status, hence the primary's position. The bound assumes the two
# machines' clocks agree (NTP) to well within the limit.
_CATCH_UP_S = 0.5
_PRIMARY_WAIT_S = 1.0
_SINCE_SQL = """
SELECT pg_is_in_recovery() AS standby,
       coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
                'Infinity')::float8 AS since"""
_LAG_SQL = """
SELECT pg_is_in_recovery() AS standby,
       coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false) AS caught_up,
       coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
                'Infinity')::float8 AS since"""


def replica_lag(cur: psycopg2.extras.RealDictCursor, limit: float | None = None) -> float:
    """Seconds the server behind ``cur`` is behind the primary (0 for a primary or a replica
    that has replayed everything the primary had written when asked).

    With ``limit``, a replica whose last replayed transaction is at most ``limit`` seconds
    old returns that age (an upper bound of its lag) without asking the primary.
    """
    cur.execute(_SINCE_SQL)
    row = cur.fetchone()
    if not row["standby"]:
        return 0.0
    since = float(row["since"])
    if limit is not None and since <= limit:
        return since
    try:
        with transaction(readonly=True, timeout=_PRIMARY_WAIT_S) as primary:
            primary.execute("SELECT pg_current_wal_flush_lsn()::text AS lsn")
            lsn = primary.fetchone()["lsn"]
    except DatabaseUnavailable as exc:  # DatabaseBusy too: the replica's own bound stands
        log.info("replica lag: the primary cannot be asked (%s); %.1f s since the last replayed "
                 "transaction", exc.detail or exc, since)
        return since
    deadline = time.monotonic() + _CATCH_UP_S
    while True:
        cur.execute(_LAG_SQL, (lsn,))
        row = cur.fetchone()
        if not row["standby"] or row["caught_up"]:
            return 0.0
        if time.monotonic() >= deadline:
            return max(float(row["since"]), _CATCH_UP_S)
        time.sleep(0.02)


@contextmanager
def read_session(replica: bool = False) -> Iterator[psycopg2.extras.RealDictCursor]:
    """One read-only transaction shared by every fetch_* of this thread inside the block.

    With ``replica`` and ``DATABASE_READ_URL`` set, the transaction runs on the replica, and
    a replica more than ``REPLICA_MAX_LAG_SECONDS`` behind raises :class:`ReplicaBehind`
    before any read. Writes inside the block (``transaction()``) still go to the primary.
    """
    if getattr(_local, "cur", None) is not None:
        yield _local.cur
        return
    on_replica = replica and read_url() is not None
    with transaction(readonly=True, replica=on_replica) as cur:
        if on_replica:
            limit = get_settings().replica_max_lag_seconds
            lag = replica_lag(cur, limit)
            if lag > limit:
                log.warning("read replica %.1f s behind (REPLICA_MAX_LAG_SECONDS=%g)", lag, limit)
                raise ReplicaBehind(BEHIND_MSG, detail=f"replica {lag:.1f} s behind")
        _local.cur = cur
        try:
            yield cur
        finally:
            _local.cur = None


def fetch_all(query: str | sql.Composable, params: tuple | dict | None = None) -> list[dict]:
    """Run a read-only query and return its rows as dicts."""
    shared = getattr(_local, "cur", None)
    if shared is not None:
        shared.execute(query, params)
        return list(shared.fetchall())
    with transaction(readonly=True) as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


def fetch_one(query: str | sql.Composable, params: tuple | dict | None = None) -> dict | None:
    """Run a read-only query and return its first row (or None)."""
    shared = getattr(_local, "cur", None)
    if shared is not None:
        shared.execute(query, params)
        return shared.fetchone()
    with transaction(readonly=True) as cur:
        cur.execute(query, params)
        return cur.fetchone()


# ---------------------------------------------------------------------------- migrations


def migration_files() -> list[tuple[int, str, Path]]:
    """Ordered (version, name, path) of the SQL migrations shipped with the code."""
    out = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        head, _, rest = path.stem.partition("_")
        if not head.isdigit():
            raise GridAtlasError(f"migration file {path.name} must start with a number")
        out.append((int(head), rest, path))
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise GridAtlasError("two migration files share a version number")
    return out


def migrate(url: str | None = None, app_role: str | None = "gridatlas_app") -> list[int]:
    """Apply pending migrations in order, each in its own transaction.

    Returns the versions applied. A migration whose file changed after it was applied is
    refused (checksums are recorded in ``schema_version``).
    """
    try:
        conn = psycopg2.connect(url or admin_url(), **_connect_kwargs())
    except psycopg2.OperationalError as exc:
        raise _unavailable("connect for migrations", exc) from exc
    try:
        return _migrate(conn, app_role)
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise GridAtlasError(
            "migrations need a role that may create tables and extensions (the database "
            f"owner or a superuser): {_first_line(exc)}"
        ) from exc
    finally:
        conn.close()


def _migrate(conn: psycopg2.extensions.connection, app_role: str | None) -> list[int]:
    applied_now: list[int] = []
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        cur.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        conn.commit()
        cur.execute("SELECT version, checksum FROM schema_version")
        done = dict(cur.fetchall())
    for version, name, path in migration_files():
        text = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if version in done:
            if done[version] != checksum:
                raise GridAtlasError(
                    f"migration {path.name} changed after it was applied; "
                    "write a new migration instead of editing an old one"
                )
            continue
        with conn.cursor() as cur:
            try:
                cur.execute(text)
            except psycopg2.Error as exc:
                conn.rollback()
                raise GridAtlasError(
                    f"migration {path.name} failed: {_first_line(exc)}"
                ) from exc
            cur.execute(
                "INSERT INTO schema_version (version, name, checksum) VALUES (%s, %s, %s)",
                (version, name, checksum),
            )
        conn.commit()
        applied_now.append(version)
        log.info("applied migration %s", path.name)
    if app_role:
        _grant_app_role(conn, app_role)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    conn.commit()
    return applied_now


def _grant_app_role(conn: psycopg2.extensions.connection, role: str) -> None:
    """Give the app's role what it needs and no more (no DELETE/UPDATE on the audit log)."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if not cur.fetchone():
            return
        ident = sql.Identifier(role)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        cur.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
            ).format(ident)
        )
        cur.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident)
        )
        cur.execute(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {}").format(ident)
        )
        cur.execute(
            sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_version FROM {}").format(
                ident
            )
        )
    conn.commit()


def schema_version(url: str | None = None) -> int:
    """Highest applied migration version (0 for an empty database)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            if not cur.fetchone()[0]:
                return 0
            cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            return int(cur.fetchone()[0])
    finally:
        conn.close()
