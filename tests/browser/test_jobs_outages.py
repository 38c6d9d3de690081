"""Background jobs on Celery when a part is missing, through the real app in the browser,
with a Redis of this module's own (stopped by the test): with no worker running, a plan
submitted by a click is reported as taken by no worker after ``JOB_PENDING_TIMEOUT_S``;
with Redis stopped, a job being followed and a new submission both end with a message on
the page. Never a 500."""

from __future__ import annotations

import json
import time

import pytest
import redis

from geo.serve import RedisProcess
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click
from tests.conftest import run_cli

PW = "Jobs-outage-2026x"
NO_WORKER = "没有后台处理进程"
REDIS_DOWN = "任务队列（Redis）暂不可用"


@pytest.fixture(scope="module")
def stack(demo_db, tmp_path_factory):
    out = run_cli("users", "add", "o_planner", "--role", "planner", "--scope", "990100",
                  "--password-stdin", url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    server_redis = RedisProcess(tmp_path_factory.mktemp("redis-outage"))
    try:
        app = AppServer(demo_db.url, {"REDIS_URL": server_redis.url, "JOB_PENDING_TIMEOUT_S": "3"})
    except BaseException:
        server_redis.stop()
        raise
    yield app, server_redis
    app.stop()
    server_redis.stop()


def _open(page, demo_db, url: str) -> None:
    code = demo_db.scalar("SELECT min(c.code) FROM communities c JOIN buildings b ON b.community_id = c.id")
    login(page, url, "o_planner", PW, f"/plan?community={code}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)


class Answers:
    """The app's answers to the page's callbacks, kept to read after the fact."""

    def __init__(self, page) -> None:
        self.seen: list = []
        page.on("response", lambda r: "_dash-update-component" in r.url and self.seen.append(r))

    def mark(self) -> int:
        return len(self.seen)

    def wait_text(self, page, since: int, words: str, timeout: float = 60) -> None:
        forms = (words, json.dumps(words)[1:-1])  # as sent, or escaped in JSON
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.status == 200 and any(f in r.text() for f in forms) for r in self.seen[since:]):
                return
            page.wait_for_timeout(200)
        raise AssertionError(f"no answer said {words!r}: {[r.status for r in self.seen[since:]]}")

    def worst(self) -> int:
        return max((r.status for r in self.seen), default=200)


def _says(page, words: str) -> None:
    page.wait_for_function(f"document.querySelector('#plan-status').innerText.includes({words!r})",
                           timeout=60000)
    page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)


def test_no_worker_then_redis_down(stack, demo_db, new_page):
    app, server_redis = stack
    page, console = new_page()
    answers = Answers(page)
    _open(page, demo_db, app.url)

    # 1. no worker runs: after JOB_PENDING_TIMEOUT_S (3 s here) the page says no worker took it
    t0 = time.monotonic()
    click(page, "#plan-run")
    _says(page, NO_WORKER)
    assert time.monotonic() - t0 < 40
    screenshot(page, "jobs-no-worker")
    states = redis.Redis.from_url(server_redis.url)
    metas = [states.get(k) for k in states.keys("celery-task-meta-*")]
    assert metas and all(b'"REVOKED"' in m for m in metas)  # cancelled: a late worker skips it

    # 2. Redis stops while a job is followed: its next poll ends the wait with a message
    mark = answers.mark()
    click(page, "#plan-run")
    page.wait_for_selector("#plan-cancel:not([disabled])", timeout=30000)  # submitted, followed
    server_redis.stop()
    answers.wait_text(page, mark, REDIS_DOWN)
    _says(page, REDIS_DOWN)

    # 3. a submission while Redis is down: the page says so at once
    mark = answers.mark()
    click(page, "#plan-run")
    answers.wait_text(page, mark, REDIS_DOWN, timeout=30)
    _says(page, REDIS_DOWN)
    screenshot(page, "jobs-redis-down")
    assert answers.worst() < 500, [(r.url, r.status) for r in answers.seen if r.status >= 500]
    assert "uncaught error" not in app.log_path.read_text(errors="replace")
    assert console.errors == []
