"""A whole Celery worker killed mid-job, through the real app in the browser: with
``REDIS_URL`` set and one ``python -m geo worker``, a job submitted by a click is held
mid-way, then the worker's whole process group (the Celery main process and its pool
process) is SIGKILLed, as when its machine dies: nobody is left to mark the job failed.
The page says the job failed within a bounded time (the web tier's liveness pings of the
worker named in the job's state, ``layouts.jobs.CeleryJobs``), nothing was written, and
once a new worker runs, the same button clicked again gives the result.

For a planner's plan (no new grid version, no proposal kept) and a leader's PDF report (no
file). A pool process killed alone (its worker then marks the job failed) is
tests/browser/test_jobs_celery.py's; no worker at all and Redis down are
tests/browser/test_jobs_outages.py's.

"Mid-job" is made certain by the test hook ``GRIDATLAS_TEST_JOB_HOLD_FILE``
(``layouts.jobs.hold``): while the file exists, a plan waits at its "propose" step and a
PDF report at its "pdf" step, after reporting its progress."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time

import psutil
import pytest
import redis

from tests.browser.conftest import ARTIFACTS, AppServer, login, screenshot
from tests.browser.person import click
from tests.celery_fixtures import Worker, redis_url  # noqa: F401  (the session's Redis)
from tests.conftest import run_cli

PW = "Jobs-kill-2026x"
FAILED = "后台计算未完成"
#: From the kill to the page's message: two unanswered pings at least LIVENESS_EVERY_S (5 s)
#: apart, each waiting LIVENESS_TIMEOUT_S (2 s), and the page's polls; generous for a
#: loaded CI machine.
REPORTED_WITHIN_S = 60


class GroupWorker(Worker):
    """``python -m geo worker`` in a process group of its own (the Celery main process and
    the pool processes it forks), so that the whole worker can be killed at once, as
    :class:`tests.celery_fixtures.Worker` otherwise."""

    def __init__(self, database_url: str, redis_url: str, env: dict[str, str]) -> None:  # noqa: F811
        self.log_path = ARTIFACTS / f"worker-kill-{os.getpid()}-{secrets.token_hex(4)}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        full = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, WORKER_CONCURRENCY="1",
                    **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "geo", "worker"], cwd=ARTIFACTS.parent.parent,
                                     env=full, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def kill_whole(self, pool_pid: int) -> None:
        """SIGKILL the worker's process group; returns once its main and pool processes are gone."""
        assert os.getpgid(pool_pid) == self.pid  # the job's process is in the group killed
        os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while psutil.pid_exists(pool_pid) and psutil.Process(pool_pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the pool process outlived its worker's SIGKILL"
            time.sleep(0.05)


class Workers:
    """The module's workers: one runs at a time; the killed ones stay for their logs."""

    def __init__(self, database_url: str, redis_url: str, hold) -> None:  # noqa: F811
        self.args = (database_url, redis_url, {"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold)})
        self.all: list[GroupWorker] = []

    def start(self) -> GroupWorker:
        """A new worker, not yet ready (it imports the app: :meth:`current` waits for it)."""
        self.all.append(GroupWorker(*self.args))
        return self.all[-1]

    def current(self) -> GroupWorker:
        """The last worker started, ready (one is started when none runs)."""
        if not self.all or self.all[-1].proc.poll() is not None:
            self.start()
        return self.all[-1].wait_ready()

    def stop(self) -> None:
        for worker in self.all:
            worker.stop()


@pytest.fixture(scope="module")
def hold_file(tmp_path_factory):
    return tmp_path_factory.mktemp("hold") / "hold"


@pytest.fixture(scope="module")
def stack(demo_db, redis_url, hold_file):  # noqa: F811
    for name, role, scope in (("k_planner", "planner", "990100"), ("k_leader", "leader", "990100001")):
        out = run_cli("users", "add", name, "--role", role, "--scope", scope,
                      "--password-stdin", url=demo_db.url, stdin=PW + "\n")
        assert out.returncode == 0, out.stderr
    workers = Workers(demo_db.url, redis_url, hold_file)
    workers.start()  # boots while the app starts
    try:
        app = AppServer(demo_db.url, {"REDIS_URL": redis_url})
    except BaseException:
        workers.stop()
        raise
    yield app, workers
    app.stop()
    workers.stop()


def _says(page, selector: str, words: str, timeout_s: float) -> None:
    page.wait_for_function(f"document.querySelector({selector!r}).innerText.includes({words!r})",
                           timeout=timeout_s * 1000)


def _held(worker: GroupWorker, step: str, after: int) -> int:
    """The pid of the pool process holding the worker's job after the first ``after`` at ``step``."""
    _job, _task, pid = worker.wait_started(after)
    worker.wait_for(rf"job held at step {step} in process {pid}\b")
    assert psutil.Process(pid).ppid() == worker.pid  # a pool process of this worker
    return pid


def _proposals(url: str) -> set[bytes]:
    return set(redis.Redis.from_url(url).keys("gridatlas:plans:*"))


def test_plan_worker_killed_whole_then_run_again(stack, demo_db, new_page, redis_url, hold_file):  # noqa: F811
    app, workers = stack
    code = demo_db.scalar("""SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
                              GROUP BY c.code ORDER BY count(*), c.code LIMIT 1""")
    versions = "SELECT count(*) FROM grid_versions"
    page, console = new_page()
    login(page, app.url, "k_planner", PW, f"/plan?community={code}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)
    worker = workers.current()
    before, n_versions = _proposals(redis_url), demo_db.scalar(versions)
    seen = len(worker.started_jobs())
    hold_file.touch()
    try:
        click(page, "#plan-run")
        pid = _held(worker, "propose", seen)
        page.wait_for_function("document.querySelector('#plan-progress').value == 1", timeout=30000)
        worker.kill_whole(pid)
        killed = time.monotonic()
        workers.start()  # a new worker boots meanwhile: it must not run the lost job
        _says(page, "#plan-status", FAILED, REPORTED_WITHIN_S + 30)
        assert time.monotonic() - killed < REPORTED_WITHIN_S
        page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)
        page.wait_for_selector("#plan-cancel[disabled]", timeout=30000)
        screenshot(page, "jobs-worker-killed-plan")
    finally:
        hold_file.unlink(missing_ok=True)
    # nothing written: no grid version, no proposal kept, none on the page
    assert demo_db.scalar(versions) == n_versions and _proposals(redis_url) == before
    assert "plan=" not in page.url and page.locator("#plan-grid-table").count() == 0
    # Run again, by a click, once the new worker runs: the result shows
    worker = workers.current()
    assert worker.started_jobs() == []  # the lost job was not run again behind the user's back
    click(page, "#plan-run")
    page.wait_for_selector("#plan-grid-table tbody tr", timeout=120000)
    job, _task, pid = worker.wait_started(0)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    page.wait_for_function("location.search.includes('plan=')", timeout=30000)
    assert FAILED not in page.inner_text("#plan-status")
    assert len(_proposals(redis_url) - before) == 1 and demo_db.scalar(versions) == n_versions
    screenshot(page, "jobs-worker-killed-plan-run-again")
    assert console.errors == []


def test_pdf_worker_killed_whole_then_run_again(stack, new_page, hold_file):
    app, workers = stack
    page, console = new_page(width=1600, height=1000)
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    login(page, app.url, "k_leader", PW, "/review")
    page.wait_for_selector("#rv-cards-box > *", timeout=90000)
    worker = workers.current()
    seen = len(worker.started_jobs())
    hold_file.touch()
    try:
        click(page, "#rv-pdf")
        pid = _held(worker, "pdf", seen)
        page.wait_for_function("document.querySelector('#rv-pdf-progress').value == 2", timeout=30000)
        assert page.is_disabled("#rv-pdf") and page.is_visible("#rv-pdf-cancel")
        worker.kill_whole(pid)
        killed = time.monotonic()
        workers.start()
        _says(page, "#rv-pdf-status", FAILED, REPORTED_WITHIN_S + 30)
        assert time.monotonic() - killed < REPORTED_WITHIN_S
        assert "再次点击“下载 PDF”" in page.inner_text("#rv-pdf-status")
        page.wait_for_selector("#rv-pdf:not([disabled])", timeout=30000)
        assert page.is_hidden("#rv-pdf-cancel") and page.is_hidden("#rv-pdf-busy")
        screenshot(page, "jobs-worker-killed-pdf")
    finally:
        hold_file.unlink(missing_ok=True)
    assert downloads == []
    # again, by a click, on the new worker: the file arrives
    worker = workers.current()
    with page.expect_download(timeout=120000) as arrived:
        click(page, "#rv-pdf")
    page.wait_for_selector("#rv-pdf-status .ga-ok", timeout=60000)
    job, _task, pid = worker.wait_started(0)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    with open(arrived.value.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"
    assert arrived.value.suggested_filename.startswith("report-990100001-")
    screenshot(page, "jobs-worker-killed-pdf-run-again")
    assert console.errors == []
