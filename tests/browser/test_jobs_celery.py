"""Background jobs on Celery and Redis, through the real app in the browser: with
``REDIS_URL`` set, a community's plan submitted on /plan by clicks runs on a real
``python -m geo worker`` (in a process of that worker, not of the web server), with its
progress; Cancel clicked mid-job ends it on the worker with nothing saved; a job whose pool
process is SIGKILLed mid-job is reported failed with nothing saved, and Run clicked again
completes and shows its result.

"Mid-job" is made certain by the test hook ``GRIDATLAS_TEST_JOB_HOLD_FILE``
(``layouts.jobs.hold``): while the file exists, the job waits at its "propose" step, after
reporting its first progress."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest
import redis
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from geo.serve import AppProcess
from layouts import plan_store
from tests.browser.conftest import ARTIFACTS, _free_port, login, screenshot
from tests.browser.person import click, options_settled
from tests.celery_fixtures import Worker, redis_url  # noqa: F401  (the session's Redis)
from tests.conftest import run_cli

PW = "Jobs-celery-2026x"
FAILED = "后台计算未完成"


@pytest.fixture(scope="module")
def hold_file(tmp_path_factory):
    """The test hook's file: a job waits at its "propose" step while it exists."""
    return tmp_path_factory.mktemp("hold") / "hold"


@pytest.fixture(scope="module")
def stack(demo_db, redis_url, hold_file):  # noqa: F811
    out = run_cli("users", "add", "j_planner", "--role", "planner", "--scope", "990100",
                  "--password-stdin", url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    env = {"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold_file)}
    workers = [Worker(demo_db.url, redis_url, env=env), Worker(demo_db.url, redis_url, env=env)]
    try:
        # the production tier: gunicorn, 2 workers, a connection per request, so a job is
        # submitted by one web process and polled (its progress, its end) by others
        port = _free_port()
        server = AppProcess(demo_db.url, ARTIFACTS / f"gunicorn-jobs-{port}.log", port=port, gunicorn=True,
                            env={"REDIS_URL": redis_url, "WORKERS": "2", "THREADS": "4"},
                            args=["--keep-alive", "0"])
        for worker in workers:
            worker.wait_ready()
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    yield server, workers
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.terminate()  # all end at once
    server.stop()
    for worker in workers:
        worker.stop()


def _communities(demo_db) -> list[str]:
    return demo_db.scalar(
        """SELECT array_agg(code ORDER BY n) FROM (
             SELECT c.code, count(*) AS n FROM communities c JOIN buildings b ON b.community_id = c.id
              GROUP BY c.code) x""")


def _open(page, url: str, code: str) -> None:
    login(page, url, "j_planner", PW, f"/plan?community={code}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)


def _in_worker(worker: Worker, pid: int) -> bool:
    """True when ``pid`` is one of the worker's own pool processes."""
    try:
        return psutil.Process(pid).ppid() == worker.pid
    except psutil.NoSuchProcess:
        return False


class Started:
    """Jobs started so far on each worker; :meth:`next` waits for the next one anywhere."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.counts = [len(w.started_jobs()) for w in workers]

    def next(self, timeout: float = 120) -> tuple[Worker, str, str, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, worker in enumerate(self.workers):
                jobs = worker.started_jobs()
                if len(jobs) > self.counts[i]:
                    self.counts[i] += 1
                    return (worker, *jobs[self.counts[i] - 1])
            time.sleep(0.02)
        raise AssertionError("no job started on any worker")


def _versions(demo_db) -> int:
    return demo_db.scalar("SELECT count(*) FROM grid_versions")


def test_plan_runs_on_the_celery_worker(stack, demo_db, new_page, redis_url):  # noqa: F811
    server, workers = stack
    code = _communities(demo_db)[0]
    started = Started(workers)
    page, console = new_page()
    _open(page, server.url, code)
    click(page, "#plan-run")
    worker, job, task, pid = started.next()
    assert task.startswith("background_callback_")
    # the job runs in a pool process of the worker, and the web tier forked nothing but its
    # own workers
    assert _in_worker(worker, pid), (pid, worker.pid)
    # below the web tier's CPU priority (WORKER_NICE, default 10), the pool inheriting it
    assert psutil.Process(worker.pid).nice() == 10 and psutil.Process(pid).nice() == 10
    assert psutil.Process(server.proc.pid).nice() == psutil.Process().nice()
    web = psutil.Process(server.proc.pid).children()
    assert len(web) == 2 and all(w.children() == [] for w in web)
    page.wait_for_selector("#plan-grid-table", timeout=120000)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    # the progress the worker reported travelled through Redis to the page
    assert page.get_attribute("#plan-progress", "value") == "3"
    page.wait_for_function("location.search.includes('plan=')", timeout=30000)
    plan_id = re.search(r"plan=([0-9a-f]{32})", page.url).group(1)
    # the worker kept the proposal in Redis, where every web process reads it
    assert plan_store.RedisPlans(redis_url).get(plan_id) is not None
    assert page.locator("#plan-grid-table tbody tr").count() >= 1
    assert page.inner_text("#plan-status") and FAILED not in page.inner_text("#plan-status")
    screenshot(page, "jobs-celery-plan-done")
    assert console.errors == []


def _done(page, worker: Worker, job: str, pid: int) -> None:
    page.wait_for_selector("#plan-grid-table", timeout=120000)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    page.wait_for_function("location.search.includes('plan=')", timeout=30000)
    assert FAILED not in page.inner_text("#plan-status")


def _proposals(redis_url: str) -> set[bytes]:  # noqa: F811
    return set(redis.Redis.from_url(redis_url).keys("gridatlas:plans:*"))


def _held(worker: Worker, pid: int) -> None:
    worker.wait_for(rf"job held at step propose in process {pid}\b")


def test_cancel_mid_job_by_a_click(stack, demo_db, new_page, redis_url, hold_file):  # noqa: F811
    server, workers = stack
    code = _communities(demo_db)[1]
    page, console = new_page()
    _open(page, server.url, code)
    before = _proposals(redis_url)
    hold_file.touch()
    try:
        started = Started(workers)
        click(page, "#plan-run")
        worker, job, _task, pid = started.next()
        _held(worker, pid)
        page.wait_for_function("document.querySelector('#plan-progress').value == 1", timeout=30000)
        page.wait_for_selector("#plan-cancel:not([disabled])", timeout=30000)
        click(page, "#plan-cancel")
        # the worker ends the process running the job; the page stops waiting
        deadline = time.monotonic() + 60
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the cancelled job's process still runs"
            time.sleep(0.1)
        page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)
        page.wait_for_selector("#plan-cancel[disabled]", timeout=60000)
        screenshot(page, "jobs-celery-cancelled")
    finally:
        hold_file.unlink(missing_ok=True)
    assert f"job released at step propose in process {pid}" not in worker.text()
    assert _proposals(redis_url) == before  # nothing saved
    assert "plan=" not in page.url and page.locator("#plan-grid-table").count() == 0
    assert FAILED not in page.inner_text("#plan-status")
    assert console.errors == []


def test_pool_process_killed_mid_job_then_run_again(stack, demo_db, new_page, redis_url, hold_file):  # noqa: F811
    server, workers = stack
    code = _communities(demo_db)[2]
    page, console = new_page()
    _open(page, server.url, code)
    before, versions = _proposals(redis_url), _versions(demo_db)
    hold_file.touch()
    try:
        started = Started(workers)
        click(page, "#plan-run")
        worker, job, _task, pid = started.next()
        _held(worker, pid)
        assert _in_worker(worker, pid)
        os.kill(pid, signal.SIGKILL)
        page.wait_for_function(f"document.querySelector('#plan-status').innerText.includes({FAILED!r})",
                               timeout=60000)
        page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)
        screenshot(page, "jobs-celery-killed")
    finally:
        hold_file.unlink(missing_ok=True)
    assert _proposals(redis_url) == before and _versions(demo_db) == versions  # nothing saved
    assert "plan=" not in page.url
    # Run again, by a click: it completes on a pool process and its result shows
    click(page, "#plan-run")
    worker, job, _task, pid = started.next()
    _done(page, worker, job, pid)
    assert page.locator("#plan-grid-table tbody tr").count() >= 1
    assert len(_proposals(redis_url) - before) == 1
    screenshot(page, "jobs-celery-run-again")
    assert console.errors == []


def _choose_street(page, street: str) -> None:
    """Open the street menu by a click, type the street's code, click its option once the
    menu has stopped filtering; again if the pick did not take (as a person would)."""
    page.wait_for_selector("#plan-street-box:not([hidden])", timeout=60000)
    option = page.locator(".dash-dropdown-option[role=option]").filter(has_text=street)
    for _ in range(3):
        click(page, "#plan-street")
        page.locator(".dash-dropdown-option[role=option]").first.wait_for()
        page.keyboard.type(street)  # the menu's search box has the focus: a person types the code
        option.first.wait_for()
        options_settled(page)
        click(page, option.first)
        try:
            page.wait_for_selector("#plan-street-run:not([disabled])", timeout=20000)
            return
        except PlaywrightTimeout:  # the pick did not take: the menu is opened again
            page.keyboard.press("Escape")
    raise AssertionError(f"street {street} could not be chosen in the street menu")


def test_street_rebalance_from_the_page(stack, demo_db, new_page, redis_url):  # noqa: F811
    """A planner chooses a street by clicks and runs it as one job on a worker: progress per
    community, then each community's proposal listed, opened by a click in the usual
    review, and committed there."""
    server, workers = stack
    street = "990100004"
    communities = demo_db.scalar(
        "SELECT array_agg(code ORDER BY code) FROM communities WHERE left(code, 9) = %s", (street,))
    before, versions = _proposals(redis_url), _versions(demo_db)
    page, console = new_page()
    login(page, server.url, "j_planner", PW, "/plan")
    _choose_street(page, street)
    started = Started(workers)
    click(page, "#plan-street-run")
    worker, job, _task, pid = started.next()
    assert _in_worker(worker, pid)
    page.wait_for_selector("#plan-street-table", timeout=120000)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    n = len(communities)
    assert page.get_attribute("#plan-street-progress", "value") == str(n)
    assert page.inner_text("#plan-street-progress-text") == f"已完成 {n}/{n} 个社区"
    rows = page.locator("#plan-street-table tbody tr")
    assert rows.count() == n
    assert all(code in page.inner_text("#plan-street-table") for code in communities)
    assert len(_proposals(redis_url) - before) == n  # one proposal each, nothing committed
    assert _versions(demo_db) == versions
    assert f"街道 {street}：{n} 个社区已有新方案" in page.inner_text("#plan-street-status")
    screenshot(page, "jobs-celery-street-done")
    # the first community's proposal, opened by a click, in the usual review and commit flow
    first = communities[0]
    link = page.locator("#plan-street-table tbody tr").first.locator("a")
    link.scroll_into_view_if_needed()
    box = link.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(re.compile(rf"community={first}&plan=[0-9a-f]{{32}}"), timeout=60000)
    page.wait_for_selector("#plan-grid-table", timeout=60000)
    if page.locator("#plan-commit[disabled]").count():
        click(page, "#plan-accept-band input")  # out of band, as a planner may accept it
    page.wait_for_selector("#plan-commit:not([disabled])", timeout=30000)
    click(page, "#plan-commit")
    page.wait_for_selector("#plan-commit-msg .ga-ok", timeout=60000)
    assert _versions(demo_db) == versions + 1
    screenshot(page, "jobs-celery-street-committed")
    assert console.errors == []


def _street_state(demo_db, street: str) -> dict[str, tuple[int, int]]:
    """Per community of the street: (current version id, grid workers on its current grids)."""
    with demo_db.connect() as conn, conn.cursor() as cur:
        cur.execute("""SELECT c.code, v.id, (SELECT count(*) FROM grid_workers w JOIN grids g ON g.id = w.grid_id
                                             WHERE g.version_id = v.id)
                         FROM communities c JOIN grid_versions v ON v.community_id = c.id AND v.is_current
                        WHERE left(c.code, 9) = %s""", (street,))
        out = {code: (vid, n) for code, vid, n in cur.fetchall()}
    conn.close()
    return out


def _at_pixel(page, selector: str) -> None:
    """Click an element at its centre, after checking that the element is what is there."""
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    assert box, selector
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate("([s, x, y]) => document.querySelector(s).contains(document.elementFromPoint(x, y))",
                         [selector, x, y]), f"{selector} is covered at its centre"
    page.mouse.click(x, y)


def test_street_committed_from_the_page(stack, demo_db, new_page, redis_url):  # noqa: F811
    """A planner runs a street, reads its proposals, and commits the whole street by clicks:
    asked first (which communities, which are left), then one job on a worker writes a new
    version for every community that passes the checks, with the note; the communities
    refused by the checks (out of band: the box to accept them stays unticked) keep their
    version; grid workers follow their grids."""
    server, workers = stack
    street = "990100004"
    before = _street_state(demo_db, street)
    page, console = new_page()
    login(page, server.url, "j_planner", PW, "/plan")
    _choose_street(page, street)
    started = Started(workers)
    click(page, "#plan-street-run")
    worker, job, _task, pid = started.next()
    page.wait_for_selector("#plan-street-table", timeout=120000)
    worker.wait_for(rf"job {re.escape(job)} \(\S+\) SUCCESS in process {pid}\b")
    table = page.locator("#plan-street-table tbody tr")
    cells = [table.nth(i).locator("td") for i in range(table.count())]
    gates = {td.first.inner_text().split(" · ")[-1]: td.nth(3).inner_text() for td in cells}
    assert set(gates) == set(before)
    refused = {c for c, g in gates.items() if g.startswith("未通过")}
    ready = {c for c, g in gates.items() if g == "可提交"}
    assert refused and ready and refused | ready == set(before), gates  # the demo street has both
    page.wait_for_selector("#plan-street-commit-box:not([hidden])", timeout=30000)
    assert page.is_visible("#plan-street-ask-box") is False
    _at_pixel(page, "#plan-street-note")
    page.keyboard.type("整街道重划")
    _at_pixel(page, "#plan-street-commit")
    page.wait_for_selector("#plan-street-ask-box:not([hidden])", timeout=30000)
    ask = page.inner_text("#plan-street-ask")
    assert f"街道 {street}：将提交 {len(ready)} 个社区的新版本" in ask
    assert f"{len(refused)} 个社区未通过校验，保持不变" in ask
    screenshot(page, "jobs-celery-street-ask")
    assert _street_state(demo_db, street) == before  # nothing written by asking
    started = Started(workers)
    _at_pixel(page, "#plan-street-yes")
    worker, job, _task, pid = started.next()
    assert _in_worker(worker, pid)
    page.wait_for_selector("#plan-street-commit-msg .ga-ok", timeout=120000)
    msg = page.inner_text("#plan-street-commit-msg")
    assert f"街道 {street} 已提交：{len(ready)} 个社区写入新版本，{len(refused)} 个社区保持不变" in msg
    after = _street_state(demo_db, street)
    for code in ready:  # a new version, the workers following their grids
        assert after[code][0] != before[code][0] and after[code][1] == before[code][1], code
    for code in refused:
        assert after[code] == before[code], code
    notes = demo_db.scalar("SELECT array_agg(DISTINCT note) FROM grid_versions WHERE id = ANY(%s)",
                           ([after[c][0] for c in ready],))
    assert notes == ["整街道重划"]
    outcome = page.inner_text("#plan-street-outcome-table")
    assert outcome.count("已提交为第") == len(ready) and outcome.count("未提交：户数") == len(refused), outcome
    assert page.is_hidden("#plan-street-commit-box")  # committed: no second commit of the same proposals
    assert page.locator("#plan-street-table").count() == 0  # nor their links: the outcome replaces them
    assert "需处理后才能提交" not in page.inner_text("#plan-street-status")  # the job's line is over
    links = page.locator("#plan-street-outcome-table a")  # a refused community's proposal, to adjust by hand
    assert sorted(re.search(r"community=(\d+)", links.nth(i).get_attribute("href")).group(1)
                  for i in range(links.count())) == sorted(refused)
    screenshot(page, "jobs-celery-street-committed-whole")
    assert console.errors == []
