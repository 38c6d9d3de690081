"""The production web tier: gunicorn with 4 workers serves one person's whole visit.

Every request goes on its own connection (``--keep-alive 0``, as behind a load balancer that
does not pin), so the visit is served by several workers: sign in on one, the wall's
callbacks on others, the password form's CSRF token issued by one worker and checked by
another, the sign-out, and the planner's background job (started by one worker, polled by
others). The access log names the worker (pid) of every request.
"""

from __future__ import annotations

import re
import time

import psutil
import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from geo.serve import AppProcess
from tests.browser.conftest import ARTIFACTS, _free_port, login, screenshot
from tests.browser.person import click

PW = "gunicorn-planner-pw1"
NEW_PW = "Gunicorn-planner-pw2!"
WORKERS = 4


class Gunicorn(AppProcess):
    """``gunicorn -c gunicorn.conf.py app:server`` (what ``make run`` serves) on a test database."""

    def __init__(self, database_url: str) -> None:
        port = _free_port()
        super().__init__(database_url, ARTIFACTS / f"gunicorn-{port}.log", port=port, gunicorn=True,
                         env={"WORKERS": str(WORKERS), "THREADS": "4", "REFRESH_SECONDS": "2"},
                         args=["--keep-alive", "0", "--access-logformat", "worker=%(p)s %(m)s %(U)s %(s)s"])
        deadline = time.monotonic() + 60
        while len(self.workers()) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.3)  # the first worker answers while the others still boot

    def workers(self) -> list[int]:
        return [c.pid for c in psutil.Process(self.proc.pid).children()]

    def served(self) -> list[tuple[int, str, str, int]]:
        """(worker pid, method, path, status) of every request so far."""
        self._log.flush()
        rows = re.findall(r"worker=<(\d+)> (\w+) (\S+) (\d+)", self.log_path.read_text())
        return [(int(p), m, u, int(s)) for p, m, u, s in rows]


@pytest.fixture(scope="module")
def tier(demo_db):
    users.add_user(SYSTEM, "g_planner", "planner", PW, "990100")
    server = Gunicorn(demo_db.url)
    workers = server.workers()
    yield server
    server.stop()
    # nothing of the tier is left running
    assert not [p for p in workers if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def _type_into(page, selector: str, text: str) -> None:
    click(page, selector)
    page.keyboard.type(text)


def _smallest_community(demo_db) -> str:
    return demo_db.scalar(
        """SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
            GROUP BY c.code ORDER BY count(*) LIMIT 1""")


def test_four_workers_serve_one_visit(tier, demo_db, new_page):
    assert len(tier.workers()) == WORKERS
    page, console = new_page()

    # sign in (the login form's CSRF token and the session row, on whichever worker)
    login(page, tier.url, "g_planner", PW, "/")
    page.wait_for_selector(".ga-updated:has-text(':')", timeout=60000)
    # the wall keeps refreshing (every 2 s) while its callbacks land on different workers
    first = page.inner_text(".ga-updated")
    page.wait_for_function(
        f"document.querySelector('.ga-updated').innerText !== {first!r}", timeout=30000)
    assert page.inner_text("#cmd-kpi-open").replace(",", "").isdigit()
    assert not page.locator(".ga-stale.ga-show").count()
    screenshot(page, "gunicorn-wall")

    # a form with a CSRF token: the password change, by keyboard and clicks
    page.goto(f"{tier.url}/account/password")
    _type_into(page, "#old_password", PW)
    _type_into(page, "#new_password", NEW_PW)
    _type_into(page, "#new_password2", NEW_PW)
    click(page, "button[type=submit]")
    page.wait_for_selector("p.ok", timeout=30000)
    assert "密码已修改" in page.inner_text("p.ok")
    screenshot(page, "gunicorn-password-changed")

    # the planner's background job: started by one worker, polled by the others
    code = _smallest_community(demo_db)
    page.goto(f"{tier.url}/plan?community={code}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)
    click(page, "#plan-run")
    page.wait_for_selector("#plan-grid-table", timeout=180000)
    assert page.locator("#plan-grid-table tbody tr").count() >= 2
    screenshot(page, "gunicorn-plan-job")

    # sign out through the top bar's link; the session is gone on every worker
    page.goto(f"{tier.url}/")
    page.wait_for_selector(".ga-topbar a[href='/logout']")
    click(page, ".ga-topbar a[href='/logout']")
    page.wait_for_url(re.compile(r"/login"))
    assert demo_db.scalar(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = 'g_planner'") == 0
    for _ in range(4):  # whichever worker answers, the old cookie is signed out
        page.goto(f"{tier.url}/")
        assert "/login" in page.url
    # the new password works, the old one no longer does
    login(page, tier.url, "g_planner", NEW_PW, "/")
    page.goto(f"{tier.url}/logout")

    served = tier.served()
    assert not [r for r in served if r[3] >= 500], served
    callbacks = {pid for pid, m, path, _ in served if path == "/_dash-update-component"}
    posts = {pid for pid, m, path, _ in served if m == "POST" and path in ("/login", "/account/password")}
    assert len({pid for pid, *_ in served}) >= 3, served
    assert len(callbacks) >= 2 and posts, served
    assert console.errors == []
