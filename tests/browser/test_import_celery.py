"""/import with ``REDIS_URL``: the import job runs on a real ``python -m geo worker`` (a pool
process of the worker, reading the upload from the database: no shared disk). Its pool
process SIGKILLed inside the open transaction (every row written, not committed: the test
hook ``GRIDATLAS_TEST_JOB_HOLD_FILE`` holds it there) writes nothing and the page says the
import did not finish; Import clicked again imports the same upload."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from geo.importers import import_file
from tests.browser.conftest import AppServer, login, screenshot
from tests.celery_fixtures import Worker, redis_url  # noqa: F401  (the session's Redis)
from tests.conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_fixtures  # noqa: E402

from tests.browser.person import click

PW = "Import-celery-2026x"
WAIT = 90_000
_HELD = re.compile(r"job held at step import in process (\d+)")


@pytest.fixture(scope="module")
def stack(empty_db, redis_url, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("impc")
    fx = make_fixtures.build(out / "fx")
    import_file("districts", fx["districts.geojson"], actor="tester")
    import_file("streets", fx["streets_gbk_nocpg.shp"], encoding="gbk",
                fields=["code=CODE", "name=NAME", "name_en=NAME_EN"], actor="tester")
    import_file("communities", fx["communities_4549.gpkg"], actor="tester")
    proc = run_cli("users", "add", "impc_op", "--role", "operator", "--scope", "990200",
                   "--password-stdin", url=empty_db.url, stdin=PW + "\n")
    assert proc.returncode == 0, proc.stderr
    hold = out / "hold"
    worker = Worker(empty_db.url, redis_url, env={"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold)})
    try:
        worker.wait_ready()
        app = AppServer(empty_db.url, {"REDIS_URL": redis_url})
    except BaseException:
        worker.stop()
        raise
    yield app, worker, fx, hold
    hold.unlink(missing_ok=True)
    app.stop()
    worker.stop()


def _text(page, selector: str, words: str) -> None:
    page.wait_for_function(
        f"(document.querySelector({selector!r}) || {{innerText: ''}}).innerText.includes({words!r})",
        timeout=WAIT)


def _held_pid(worker, seen: int, timeout: float = 90) -> int:
    """The process of the next job the hook holds on the worker (its log says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = _HELD.findall(worker.text())
        if len(held) > seen:
            return int(held[seen])
        time.sleep(0.1)
    raise AssertionError(f"no job held on the worker:\n{worker.text()[-3000:]}")


def test_worker_killed_inside_the_transaction_then_import_again(stack, empty_db, new_page):
    app, worker, fx, hold = stack
    page, console = new_page()
    page.context.add_cookies([{"name": "lang", "value": "zh", "url": app.url}])
    login(page, app.url, "impc_op", PW, "/import")
    page.wait_for_selector("#imp-file input[type=file]", state="attached", timeout=WAIT)
    page.locator("#imp-file input[type=file]").set_input_files(str(fx["buildings.gpkg"]))
    _text(page, "#imp-preview", "文件检查通过")
    held_before = len(_HELD.findall(worker.text()))
    hold.touch()
    try:
        click(page, "#imp-run")
        _text(page, "#imp-progress-text", "已写入 36 行，正在提交事务")
        pid = _held_pid(worker, held_before)
        assert psutil.Process(pid).ppid() == worker.pid  # a pool process of the worker, not the web's
        os.kill(pid, signal.SIGKILL)
        _text(page, "#imp-result", "导入未完成")
        page.wait_for_function("document.querySelector('#imp-progress-text').innerText === ''", timeout=WAIT)
        page.wait_for_selector("#imp-run:not([disabled])", timeout=WAIT)
        screenshot(page, "import-celery-killed")
    finally:
        hold.unlink(missing_ok=True)
    assert empty_db.scalar("SELECT count(*) FROM buildings") == 0
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE actor = 'impc_op'") == 0
    assert empty_db.scalar("SELECT count(*) FROM import_uploads WHERE owner = 'impc_op'") == 1
    click(page, "#imp-run")  # the same upload, imported by the next click
    _text(page, "#imp-result", "导入完成")
    assert empty_db.scalar("SELECT count(*) FROM buildings WHERE community_id IS NOT NULL") == 36
    assert empty_db.scalar("SELECT count(*) FROM import_uploads") == 0
    screenshot(page, "import-celery-again")
    assert console.errors == []
