"""A real Redis and a real ``python -m geo worker`` for the tests of background jobs on
Celery: Debian's redis-server on a free loopback port, its files in a temporary folder,
behind a password; the worker imports the app as in production. Import the fixtures
into a test module (``from tests.celery_fixtures import redis_url  # noqa: F401``).

A missing redis-server fails the tests (``make system-deps`` installs it); it never skips.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
_STARTED = re.compile(r"job (\S+) \((\S+)\) started in process (\d+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """``redis://:PASSWORD@127.0.0.1:PORT/0`` of a redis-server started for this session."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    assert Path(binary).exists(), "redis-server is missing: make system-deps (Debian's redis-server)"
    folder = tmp_path_factory.mktemp("redis")
    port, password = _free_port(), secrets.token_hex(16)
    conf = folder / "redis.conf"
    conf.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {folder}",
        f"requirepass {password}", 'save ""', "appendonly no", "daemonize no",
        f"logfile {folder / 'redis.log'}", f"pidfile {folder / 'redis.pid'}", "",
    ]))
    conf.chmod(0o600)
    proc = subprocess.Popen([binary, str(conf)], cwd=folder)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 30
    while True:
        try:
            if redis.Redis.from_url(url, socket_timeout=2).ping():
                break
        except redis.RedisError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log = folder / "redis.log"
            raise RuntimeError("redis-server did not start: " + (log.read_text()[-2000:] if log.exists() else ""))
        time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Worker:
    """``python -m geo worker`` on one database and Redis, its log in tests/artifacts/."""

    def __init__(self, database_url: str, redis_url: str, concurrency: int = 1) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"worker-{os.getpid()}-{secrets.token_hex(4)}.log"  # one file each
        self._log = open(self.log_path, "w")
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url,
                   WORKER_CONCURRENCY=str(concurrency))
        self.proc = subprocess.Popen([sys.executable, "-m", "geo", "worker"], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self) -> Worker:
        """Wait until the worker takes jobs (start the web server meanwhile: both import
        the app, which takes a while on a busy machine)."""
        deadline = time.monotonic() + 180
        while not re.search(r"\bready\.", self.text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start:\n{self.text()[-3000:]}")
            time.sleep(0.2)
        return self

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def started_jobs(self) -> list[tuple[str, str, int]]:
        """(job id, task name, pid) of every job the worker has started, in order."""
        return [(m[1], m[2], int(m[3])) for m in _STARTED.finditer(self.text())]

    def wait_started(self, after: int, timeout: float = 120) -> tuple[str, str, int]:
        """The first job started beyond the first ``after`` ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.started_jobs()
            if len(jobs) > after:
                return jobs[after]
            time.sleep(0.02)
        raise AssertionError(f"no job started on the worker:\n{self.text()[-3000:]}")

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not in the worker's log:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: the pool ends with it
        if self.proc.returncode is None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
