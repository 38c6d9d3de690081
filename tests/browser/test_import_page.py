"""/import in the browser, as people use it: an administrator signs in through /login (the
page in Chinese), chooses a real file (the importer's GeoPackage of 36 buildings) in the
upload box, reads the preview, types a field mapping, clicks 导入 at the pixel and follows
the background job (the default single-machine manager) to its result; the rows are then in
the database. A file refused by the database (a building outside the district) shows the
refusal and writes nothing; a job cancelled mid-job writes nothing and the same upload is
imported by the next click."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from geo.importers import import_file
from tests.browser.conftest import AppServer, login, screenshot
from tests.conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_fixtures  # noqa: E402

from tests.browser.person import click

PW = "Import-page-2026x"
WAIT = 90_000  # ms: a loaded CI machine runs several browsers and jobs at once


@pytest.fixture(scope="module")
def stack(empty_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("imp")
    fx = make_fixtures.build(out / "fx")
    import_file("districts", fx["districts.geojson"], actor="tester")
    import_file("streets", fx["streets_gbk_nocpg.shp"], encoding="gbk",
                fields=["code=CODE", "name=NAME", "name_en=NAME_EN"], actor="tester")
    import_file("communities", fx["communities_4549.gpkg"], actor="tester")
    proc = run_cli("users", "add", "imp_admin", "--role", "admin", "--password-stdin",
                   url=empty_db.url, stdin=PW + "\n")
    assert proc.returncode == 0, proc.stderr
    hold = out / "hold"
    app = AppServer(empty_db.url, {"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold)})
    yield app, fx, hold
    hold.unlink(missing_ok=True)
    app.stop()


def _text(page, selector: str, words: str) -> None:
    page.wait_for_function(
        f"(document.querySelector({selector!r}) || {{innerText: ''}}).innerText.includes({words!r})",
        timeout=WAIT)


def _open(page, app) -> None:
    page.context.add_cookies([{"name": "lang", "value": "zh", "url": app.url}])
    login(page, app.url, "imp_admin", PW, "/import")
    page.wait_for_selector("#imp-file input[type=file]", state="attached", timeout=WAIT)
    page.wait_for_function("document.querySelector('#imp-kind').innerText.includes('楼栋')", timeout=WAIT)


def _choose(page, path: Path) -> None:
    """The person's file choice (what the file dialog hands the page)."""
    page.locator("#imp-file input[type=file]").set_input_files(str(path))
    _text(page, "#imp-file-info", path.name)


def _map_fields(page, text: str) -> None:
    """Open the options, type the mapping and leave the box (the preview reads it then)."""
    click(page, ".ga-import-options summary")
    click(page, "#imp-fields")
    page.keyboard.type(text)
    click(page, ".ga-page-header h1")


def _count(db, sql: str) -> int:
    return db.scalar(sql)


def test_admin_imports_a_geopackage_of_buildings(stack, empty_db, new_page):
    app, fx, hold = stack
    page, console = new_page()
    _open(page, app)
    assert "数据导入" in page.locator(".ga-nav").inner_text()
    _choose(page, fx["buildings.gpkg"])
    _text(page, "#imp-preview", "文件检查通过")
    preview = page.locator("#imp-preview").inner_text()
    assert "36" in preview and "EPSG:4326" in preview and "面" in preview
    assert "户数（households） ← HH_COUNT" in preview
    _map_fields(page, "code=BLD_CODE")
    _text(page, "#imp-preview", "编码（code） ← BLD_CODE")
    screenshot(page, "import-preview")

    hold.touch()  # the job waits after validating, so its progress can be seen
    try:
        click(page, "#imp-run")
        _text(page, "#imp-progress-text", "已写入 36 行，正在提交事务")
        page.wait_for_selector("#imp-cancel:not([disabled])", timeout=WAIT)
        assert page.locator("#imp-run").is_disabled()
        screenshot(page, "import-progress")
    finally:
        hold.unlink(missing_ok=True)
    _text(page, "#imp-result", "导入完成")
    _text(page, "#imp-progress-text", "已写入并提交 36 行")
    result = page.locator("#imp-result").inner_text()
    assert "楼栋" in result and "36" in result
    screenshot(page, "import-result")
    assert _count(empty_db, "SELECT count(*) FROM buildings WHERE code LIKE '990200%%B0%%'") == 36
    assert _count(empty_db, "SELECT sum(households) FROM buildings") == 3600
    detail = empty_db.scalar("SELECT detail FROM audit_log WHERE action = 'import' AND actor = 'imp_admin'")
    assert detail["via"] == "web" and detail["counts"]["buildings"] == 36
    assert _count(empty_db, "SELECT count(*) FROM import_uploads") == 0  # deleted with the commit
    assert page.locator("#imp-run").is_disabled()  # the file is gone: nothing to import twice
    assert console.errors == []


def test_a_refused_file_shows_why_and_writes_nothing(stack, empty_db, new_page):
    app, fx, hold = stack
    before = run_cli("stats", "--json", url=empty_db.url).stdout
    page, console = new_page()
    _open(page, app)
    _choose(page, fx["bad_outside_district.geojson"])
    _text(page, "#imp-preview", "文件检查通过")  # the file itself is fine: the district is the problem
    click(page, "#imp-run")
    _text(page, "#imp-result", "导入被拒绝，未写入任何数据")
    status = page.locator("#imp-result").inner_text()
    assert "第 2 个要素" in status and "位置不在区县（990200）范围内" in status, status
    page.wait_for_function("document.querySelector('#imp-progress-text').innerText === ''", timeout=WAIT)
    screenshot(page, "import-refused")
    assert run_cli("stats", "--json", url=empty_db.url).stdout == before
    assert json.loads(before)["buildings"] == _count(empty_db, "SELECT count(*) FROM buildings")
    assert _count(empty_db, "SELECT count(*) FROM import_uploads") == 0
    assert console.errors == []


def test_cancelled_mid_job_writes_nothing_and_runs_again(stack, empty_db, new_page, tmp_path):
    app, fx, hold = stack
    page, console = new_page()
    _open(page, app)
    _choose(page, fx["cameras.csv"])
    click(page, "#imp-kind")
    click(page, "[role=option]:has-text('摄像头') >> visible=true")
    _text(page, "#imp-preview", "文件检查通过")
    hold.touch()
    try:
        click(page, "#imp-run")
        _text(page, "#imp-progress-text", "已写入 2 行，正在提交事务")
        click(page, "#imp-cancel")
        _text(page, "#imp-result", "导入已取消，未写入任何数据")
        page.wait_for_selector("#imp-run:not([disabled])", timeout=WAIT)
    finally:
        hold.unlink(missing_ok=True)
    assert _count(empty_db, "SELECT count(*) FROM cameras") == 0
    assert page.locator("#imp-progress-text").inner_text() == ""
    screenshot(page, "import-cancelled")
    click(page, "#imp-run")  # the upload is still there: import it again
    _text(page, "#imp-result", "导入完成")
    assert _count(empty_db, "SELECT count(*) FROM cameras") == 2
    assert console.errors == []
