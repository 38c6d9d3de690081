"""A niced process's database work on this machine's embedded cluster runs niced too.

A background worker runs below the web tier's CPU priority (``WORKER_NICE``), but most of
a job's cost can sit in the PostgreSQL backend that serves it: a street commit spends
seconds unioning cells and rewriting rows there. On one machine that backend competes at
the normal priority with the backends answering the wall screens, so the niced worker
still slowed the walls. Here a connection opened by a niced process gets its backend
reniced to the process's own niceness, like ``nice`` for a command's children.

Only where that is sure to be the right process: the backend must be a child of a
postmaster running from this checkout's embedded cluster folder (the primary or one of its
replicas), seen in ``/proc``; over TCP, the backend's process title must also name this
connection's own client port. A server on another machine, in a container, or any doubt:
nothing is changed. A process at niceness 0 (the web tier) does nothing at all, not even
the one query. Failures are logged at debug level and never fail the connection.

Lowering a process's priority needs no privilege for a process of one's own user; as root
(where the server runs as ``postgres``) it is allowed too.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

__all__ = ["apply", "embedded_backend"]

log = logging.getLogger(__name__)

_base: Path | None = None  # the embedded cluster's folder, worked out once per process


def _embedded_base() -> Path | None:
    global _base
    if _base is None:
        from geo import localdb

        try:
            _base = localdb.layout().base.resolve()
        except Exception:  # noqa: BLE001 - no layout: nothing is embedded here
            return None
    return _base


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _ppid(pid: int) -> int:
    stat = _read(f"/proc/{pid}/stat").decode()
    return int(stat.rsplit(")", 1)[1].split()[1])


def embedded_backend(pid: int, client_port: int | None, base: Path) -> bool:
    """True when ``pid`` is a backend of a postmaster whose data folder lies in ``base``
    (and, with ``client_port``, whose process title names that client port)."""
    try:
        title = _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")
        parent = _read(f"/proc/{_ppid(pid)}/cmdline").split(b"\0")
    except (OSError, ValueError, IndexError):
        return False
    if not title.startswith("postgres"):
        return False
    if client_port is not None and f"({client_port})" not in title:
        return False
    args = [a.decode(errors="replace") for a in parent if a]
    if not args or not os.path.basename(args[0]).startswith("postgres") or "-D" not in args:
        return False
    i = args.index("-D")
    if i + 1 >= len(args):
        return False
    try:
        data = Path(args[i + 1]).resolve()
    except OSError:
        return False
    return data == base or base in data.parents


def _client_port(conn) -> int | None:
    """This connection's local TCP port, or None over a unix socket."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:
        return None
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        return int(sock.getsockname()[1])
    finally:
        sock.close()


def apply(conn) -> int | None:
    """Renice ``conn``'s backend to this process's niceness when it is this machine's
    embedded cluster; returns the niceness set, or None when nothing was done."""
    try:
        nice = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return None
    if nice <= 0:
        return None
    base = _embedded_base()
    if base is None:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            row = cur.fetchone()
        conn.rollback()
        pid = int(row[0] if not isinstance(row, dict) else row["pg_backend_pid"])
        port = _client_port(conn)
        if not embedded_backend(pid, port, base):
            return None
        if os.getpriority(os.PRIO_PROCESS, pid) < nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        return nice
    except Exception as exc:  # noqa: BLE001 - a priority is a courtesy, never a failure
        log.debug("backend priority left as it is: %s", exc)
        return None
