"""The production web tier: gunicorn's options and hooks, read from the settings.

``gunicorn.conf.py`` at the top of the checkout takes everything from here, so ``make run``
(``gunicorn -c gunicorn.conf.py app:server``) and the tests serve the same way.

Stateless between workers: sessions live in the ``sessions`` table, the CSRF token in the
signed session cookie (one key for every worker, made by the master before it forks),
proposals and background jobs in the disk caches under ``.cache/`` (one machine) or, with
``REDIS_URL``, in Redis (any machine), locks in PostgreSQL. The app is imported once in the
master (``preload_app``): importing it connects to nothing, and the planning engine is
loaded there so that a background job, a fork of a worker, never forks a half-imported
module. Each worker drops any inherited database pool
after the fork.

:class:`AppProcess` serves the app the same ways from a child process on a loopback port: the
one launcher of the browser tests and the benchmarks.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from geo.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A request is a page, a callback or a tile: anything slower than this is stuck (a long
# rebalance runs as a background job, outside the request).
TIMEOUT_S = 120
GRACEFUL_TIMEOUT_S = 20


def options(settings: Settings | None = None) -> dict:
    """gunicorn settings (the names of ``gunicorn.conf.py``) for these settings."""
    s = settings or get_settings()
    return {
        "bind": [f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"],
        "workers": s.workers,
        "worker_class": "gthread",
        "threads": s.threads,
        "preload_app": True,
        "timeout": TIMEOUT_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        # idle keep-alive connections are held this long (gthread: in the poller, no thread
        # each): longer than a wall's refresh (REFRESH_SECONDS), so a wall keeps its
        # connection and the server does not close it just as the wall sends its next
        # refresh (a race a client sees as a failed request); and longer than a load
        # balancer's usual 60 s idle timeout
        "keepalive": max(75, s.refresh_seconds + 15),
        # a worker is replaced after this many requests (with jitter, so not all at once):
        # bounds the growth of any cache or leak
        "max_requests": 5000,
        "max_requests_jitter": 500,
        "accesslog": "-",
        # gunicorn's default line plus the request's time on the server, in microseconds:
        # what a slow answer cost here, beside what the client saw
        "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus',
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "gridatlas",
        # gunicorn's control socket is one path per OS user (~/.gunicorn): a second server on
        # the machine (a test, another checkout) would take it over; signals do the job
        "control_socket_disable": True,
    }


def on_starting(server) -> None:
    """In the master, before any worker: say how the tier is sized."""
    s = get_settings()
    pool_total = s.workers * s.pool_max
    if s.threads > s.pool_max:
        log.warning("THREADS=%d > DB_POOL_MAX=%d: the extra threads wait at the pool",
                    s.threads, s.pool_max)
    log.info("gunicorn: %d workers x %d threads, up to %d database connections",
             s.workers, s.threads, pool_total)


def pre_fork(server, worker) -> None:
    """In the master, before each worker is forked: :func:`freeze_startup_objects`."""
    freeze_startup_objects()


def freeze_startup_objects() -> int:
    """Move every object alive now out of the cyclic garbage collector's reach; returns how
    many are frozen.

    The app imported once (``preload_app``: Dash's layouts and callbacks, the planning
    engine) is some 200,000 objects that live as long as the process. Each full collection
    walked all of them: about 90 ms on a quiet core, with the interpreter lock held, so every
    thread of the worker stopped; and workers under the same load reached their full
    collections at about the same time, a pause of the whole tier. Frozen, they are never
    walked (``bench/gc_freeze.py``), and a forked worker does not write to their pages
    either. Python's documentation recommends this before a fork.
    """
    import gc

    gc.freeze()
    return gc.get_freeze_count()


def post_fork(server, worker) -> None:
    """In each new worker: forget the master's database pools (never share a socket); a
    short interpreter-lock slice for its threads (:func:`apply_gil_switch`)."""
    from geo import db

    db.after_fork()
    apply_gil_switch()


def apply_gil_switch(settings: Settings | None = None) -> float:
    """Set this process's interpreter-lock switch interval to ``GIL_SWITCH_MS``; returns it
    in seconds.

    A web process's threads mostly wait on the database and give the lock up at every wait;
    taking it back waits until the thread holding it has used its slice. With Python's 5 ms,
    one thread computing (a planner's map, a PDF) made every query of its neighbours wait up
    to 5 ms: a wall refresh of a few queries took 100 ms and more instead of 15 (``bench/
    gil_switch.py`` measures it). A shorter slice costs the computing thread little.
    """
    s = settings or get_settings()
    seconds = s.gil_switch_ms / 1000.0
    sys.setswitchinterval(seconds)
    return seconds


# ----------------------------------------------------------------------------- a local server

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class AppProcess:
    """The app served on a loopback port in a child process, for tests and benchmarks.

    ``python app.py`` (Flask's server, one process) by default, or with ``gunicorn=True``
    ``gunicorn -c gunicorn.conf.py app:server`` as ``make run`` serves (``args`` appended).
    Waits until ``ready_path`` answers 200 (``RuntimeError`` with the log's end when the
    process dies or ``timeout`` passes); ``stop()`` ends it and every worker it started.
    """

    def __init__(self, database_url: str, log_path, *, port: int | None = None,
                 gunicorn: bool = False, env: dict[str, str] | None = None,
                 args: tuple[str, ...] | list[str] = (), ready_path: str = "/login",
                 timeout: float = 120.0, cwd=None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        full = dict(os.environ, DATABASE_URL=database_url, PORT=str(self.port), HOST="127.0.0.1")
        full.update(env or {})
        cmd = ([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:server"] if gunicorn
               else [sys.executable, "app.py"]) + list(args)
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, cwd=cwd or PROJECT_ROOT, env=full, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app did not start ({' '.join(cmd[1:3])}):\n"
                                   f"{self.log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)

    def stop(self, timeout: float = 40.0) -> None:
        """A graceful stop (SIGTERM: gunicorn stops its workers), then SIGKILL to the group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """Debian's redis-server on a free loopback port behind a fresh password, its files in
    ``folder`` (no persistence): for the tests and benchmarks of background jobs."""

    def __init__(self, folder, timeout: float = 30.0) -> None:
        import secrets
        import shutil

        import redis

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server is missing: make system-deps (Debian's redis-server)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port, password = free_port(), secrets.token_hex(16)
        conf = self.folder / "redis.conf"
        conf.write_text("\n".join([
            f"port {self.port}", "bind 127.0.0.1", "protected-mode yes", f"dir {self.folder}",
            f"requirepass {password}", 'save ""', "appendonly no", "daemonize no",
            f"logfile {self.folder / 'redis.log'}", f"pidfile {self.folder / 'redis.pid'}", "",
        ]))
        conf.chmod(0o600)
        self.proc = subprocess.Popen([binary, str(conf)], cwd=self.folder)
        self.url = f"redis://:{password}@127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=2).ping():
                    return
            except redis.RedisError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                log = self.folder / "redis.log"
                raise RuntimeError("redis-server did not start: "
                                   + (log.read_text()[-2000:] if log.exists() else ""))
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WorkerProcess:
    """``python -m geo worker`` (background jobs on Celery) on one database and Redis."""

    def __init__(self, database_url: str, redis_url: str, log_path, concurrency: int = 1,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        full = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url,
                    WORKER_CONCURRENCY=str(concurrency))
        full.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "geo", "worker"], cwd=PROJECT_ROOT,
                                     env=full, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> WorkerProcess:
        """Wait until the worker takes jobs (it imports the app: slow on a busy machine)."""
        import re

        deadline = time.monotonic() + timeout
        while not re.search(r"\bready\.", self.text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start:\n{self.text()[-3000:]}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: the pool ends with it
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
