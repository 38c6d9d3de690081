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
import time
from pathlib import Path

import pytest

from geo.serve import RedisProcess, WorkerProcess

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
_STARTED = re.compile(r"job (\S+) \((\S+)\) started in process (\d+)")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """``redis://:PASSWORD@127.0.0.1:PORT/0`` of a redis-server started for this session."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


class Worker(WorkerProcess):
    """``python -m geo worker`` on one database and Redis, its log in tests/artifacts/."""

    def __init__(self, database_url: str, redis_url: str, concurrency: int = 1,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(database_url, redis_url,
                         ARTIFACTS / f"worker-{os.getpid()}-{secrets.token_hex(4)}.log",  # one file each
                         concurrency, env=env)

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
