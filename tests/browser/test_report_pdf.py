"""`python -m geo report` renders one A4 landscape page with Chinese text as text, an
embedded font and a map, with no web server running (poppler-utils checks the file); the
review page's "下载 PDF" makes the same report as a background job, by clicks."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from geo.repository import review as rv
from tests.browser.conftest import ARTIFACTS, AppServer, login, screenshot
from tests.browser.person import click, on_top, pdf_text
from tests.conftest import run_cli


def _ppm(path):
    """Width, height and RGB bytes of a binary PPM (pdftoppm's default output)."""
    magic, size, _maxval, pixels = path.read_bytes().split(b"\n", 3)  # "P6\nW H\n255\n"
    assert magic == b"P6"
    width, height = (int(x) for x in size.split())
    return width, height, pixels


def test_street_report_pdf_and_png(demo_db, tmp_path):
    assert shutil.which("pdftotext"), "poppler-utils is needed (Makefile APT_PACKAGES)"
    street = demo_db.scalar("SELECT min(code) FROM streets")
    name = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (street,))
    out = tmp_path / "street.pdf"
    r = run_cli("report", "--scope", street, "--period", "quarter", "--out", str(out), url=demo_db.url)
    assert r.returncode == 0, r.stderr
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           1" in info and "A4" in info
    w, h = [float(x) for x in info.split("Page size:")[1].split("pts")[0].split(" x ")]
    assert w > h  # landscape
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{name}网格化管理情况报告" in text and "内部资料" in text and "环比" in text
    assert "© OpenStreetMap contributors" in text
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all(" yes " in row for row in rows)  # every font embedded, with unicode maps
    # the map: rasterise and find the choropleth's colours in the map's area (left half)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(out), str(ARTIFACTS / "report-street")],
                   check=True)
    subprocess.run(["pdftoppm", "-r", "60", "-singlefile", str(out), str(tmp_path / "page")], check=True)
    width, height, pixels = _ppm(tmp_path / "page.ppm")
    colours = {pixels[3 * (y * width + x): 3 * (y * width + x) + 3]
               for y in range(height // 8, height * 7 // 8, 2) for x in range(0, width // 2, 2)}
    colours = {tuple(c) for c in colours}
    palette = {(0xfe, 0xf0, 0xd9), (0xfd, 0xcc, 0x8a), (0xfc, 0x8d, 0x59), (0xe3, 0x4a, 0x33), (0xb3, 0, 0)}
    assert len(palette & colours) >= 2
    png = tmp_path / "street.png"
    r = run_cli("report", "--scope", street, "--out", str(png), url=demo_db.url)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_a_bad_scope(demo_db, tmp_path):
    out = tmp_path / "x.pdf"
    r = run_cli("report", "--scope", "12ab", "--out", str(out), url=demo_db.url)
    assert r.returncode != 0 and not out.exists()


# ----------------------------------------------------------------------------- the review's PDF button

LEADER_PW = "Report-pdf-2026x"
STREET = "990100001"


@pytest.fixture(scope="module")
def review_app(demo_db, tmp_path_factory):
    """The app with the single-machine job manager (no REDIS_URL) and the test hook that holds
    a job mid-way (``GRIDATLAS_TEST_JOB_HOLD_FILE``); a leader of the first street."""
    out = run_cli("users", "add", "r_leader", "--role", "leader", "--scope", STREET,
                  "--password-stdin", url=demo_db.url, stdin=LEADER_PW + "\n")
    assert out.returncode == 0, out.stderr
    hold = tmp_path_factory.mktemp("hold") / "hold"
    server = AppServer(demo_db.url, {"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold)})
    yield server, hold
    server.stop()


def test_review_pdf_is_a_job_with_its_steps_cancel_and_file(review_app, demo_db, new_page, tmp_path):
    """A leader clicks 下载 PDF on /review: the job's steps show with a Cancel button; Cancel
    ends it with no file; clicked again, the file arrives, the same report as the CLI's."""
    server, hold = review_app
    page, console = new_page(width=1600, height=1000)
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    login(page, server.url, "r_leader", LEADER_PW, "/review")
    page.wait_for_selector("#rv-cards-box > *", timeout=90000)  # the view has loaded
    assert page.is_hidden("#rv-pdf-cancel") and page.is_hidden("#rv-pdf-busy")
    hold.touch()
    try:
        click(page, "#rv-pdf")
        # held at its second step, rendering: the steps and Cancel show, the button waits
        page.wait_for_function("document.querySelector('#rv-pdf-progress').value == 2", timeout=90000)
        page.wait_for_selector("#rv-pdf-cancel:not([hidden])", timeout=30000)
        assert page.is_disabled("#rv-pdf") and on_top(page, "#rv-pdf-cancel")
        assert page.inner_text("#rv-pdf-progress-text") == "正在排版生成 PDF（第 2 步，共 3 步）…"
        screenshot(page, "review-pdf-generating")
        click(page, "#rv-pdf-cancel")
        page.wait_for_selector("#rv-pdf:not([disabled])", timeout=60000)
        page.wait_for_selector("#rv-pdf-cancel[hidden]", state="attached", timeout=30000)
        assert page.inner_text("#rv-pdf-status") == "已取消生成 PDF 报告，未生成任何文件。"
        screenshot(page, "review-pdf-cancelled")
    finally:
        hold.unlink(missing_ok=True)
    page.wait_for_timeout(1500)  # a cancelled job delivers nothing, even late
    assert downloads == []
    # again, to the end: the file arrives as a download
    with page.expect_download(timeout=120000) as arrived:
        click(page, "#rv-pdf")
    page.wait_for_selector("#rv-pdf-status .ga-ok", timeout=60000)
    name = f"report-{STREET}-{rv.period_of('month').start.isoformat()}.pdf"
    assert arrived.value.suggested_filename == name
    assert page.inner_text("#rv-pdf-status").startswith(f"已生成，已开始下载：{name}（")
    assert page.is_hidden("#rv-pdf-busy") and page.is_enabled("#rv-pdf")
    screenshot(page, "review-pdf-done")
    got = tmp_path / "page.pdf"
    arrived.value.save_as(got)
    cli = tmp_path / "cli.pdf"
    r = run_cli("report", "--scope", STREET, "--period", "month", "--out", str(cli), url=demo_db.url)
    assert r.returncode == 0, r.stderr
    assert pdf_text(got) == pdf_text(cli)  # the report's content is the CLI's, word for word
    assert "uncaught error" not in server.log_path.read_text(errors="replace")
    assert console.errors == []
