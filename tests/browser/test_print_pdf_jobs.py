"""/review/print's two PDF buttons (the area's report, the departments' ranking sheet) are
background jobs like the review's (layouts/pdf_job.py), by clicks in Chinese: the steps show
with a Cancel button while the job is held mid-way (``GRIDATLAS_TEST_JOB_HOLD_FILE``),
Cancel ends it with no file, clicked again the file arrives (a PDF naming the area); an area
outside the user's scope is refused once, with a way back and no buttons, and a role without
the scorecard does not see its sheet. Screenshots in tests/artifacts/print-pdf-*.png.
"""

from __future__ import annotations

import re

import pytest

from geo.repository import review as rv
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click, on_top, pdf_text
from tests.conftest import run_cli

LEADER_PW = "Print-pdf-2026x"
STREET = "990100001"
OTHER_STREET = "990100002"


@pytest.fixture(scope="module")
def print_app(demo_db, tmp_path_factory):
    """The app with the single-machine job manager and the hold hook; a leader of the first
    street and a planner of it (the review without the scorecard)."""
    for name, role in (("pp_leader", "leader"), ("pp_planner", "planner")):
        out = run_cli("users", "add", name, "--role", role, "--scope", STREET,
                      "--password-stdin", url=demo_db.url, stdin=LEADER_PW + "\n")
        assert out.returncode == 0, out.stderr
    hold = tmp_path_factory.mktemp("hold") / "hold"
    server = AppServer(demo_db.url, {"GRIDATLAS_TEST_JOB_HOLD_FILE": str(hold)})
    yield server, hold
    server.stop()


def _job_flow(page, server, hold, button: str, step_text: str, cancelled_text: str, shot: str, tmp_path):
    """Held at its second step: the steps, Cancel and a disabled button; Cancel ends it with
    no file; clicked again the file arrives. The saved file and its suggested name."""
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    assert page.is_hidden(f"{button}-cancel") and page.is_hidden(f"{button}-busy")
    hold.touch()
    try:
        click(page, button, settle=True)
        page.wait_for_function(f"document.querySelector('{button}-progress').value == 2", timeout=90000)
        page.wait_for_selector(f"{button}-cancel:not([hidden])", timeout=30000)
        assert page.is_disabled(button) and on_top(page, f"{button}-cancel")
        assert page.is_visible(f"{button}-busy") and on_top(page, f"{button}-progress")
        assert page.inner_text(f"{button}-progress-text") == step_text
        screenshot(page, f"print-pdf-{shot}-generating")
        click(page, f"{button}-cancel", settle=True)
        page.wait_for_selector(f"{button}:not([disabled])", timeout=60000)
        page.wait_for_selector(f"{button}-cancel[hidden]", state="attached", timeout=30000)
        assert page.inner_text(f"{button}-status") == cancelled_text
        screenshot(page, f"print-pdf-{shot}-cancelled")
    finally:
        hold.unlink(missing_ok=True)
    page.wait_for_timeout(1500)  # a cancelled job delivers nothing, even late
    assert downloads == []
    with page.expect_download(timeout=120000) as arrived:
        click(page, button, settle=True)
    page.wait_for_selector(f"{button}-status .ga-ok", timeout=60000)
    name = arrived.value.suggested_filename
    assert page.inner_text(f"{button}-status").startswith(f"已生成，已开始下载：{name}（")
    assert page.is_hidden(f"{button}-busy") and page.is_enabled(button)
    screenshot(page, f"print-pdf-{shot}-done")
    got = tmp_path / name
    arrived.value.save_as(got)
    assert got.read_bytes().startswith(b"%PDF")
    return got, name


def test_print_view_report_pdf_is_a_job(print_app, demo_db, new_page, tmp_path):
    server, hold = print_app
    page, console = new_page(width=1600, height=1000)
    login(page, server.url, "pp_leader", LEADER_PW, f"/review/print?area={STREET}&period=month")
    page.wait_for_selector("#rvp-frame", state="attached", timeout=90000)
    got, name = _job_flow(page, server, hold, "#rvp-pdf", "正在排版生成 PDF（第 2 步，共 3 步）…",
                          "已取消生成 PDF 报告，未生成任何文件。", "report", tmp_path)
    assert name == f"report-{STREET}-{rv.period_of('month').start.isoformat()}.pdf"
    street = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (STREET,))
    assert f"{street}网格化管理情况报告" in pdf_text(got)
    assert "uncaught error" not in server.log_path.read_text(errors="replace")
    assert console.errors == []


def test_print_view_ranking_pdf_is_a_job(print_app, demo_db, new_page, tmp_path):
    server, hold = print_app
    page, console = new_page(width=1600, height=1000)
    login(page, server.url, "pp_leader", LEADER_PW, f"/review/print?area={STREET}&period=month")
    page.wait_for_selector("#rvp-sc-frame", state="attached", timeout=90000)
    got, name = _job_flow(page, server, hold, "#rvp-sc-pdf", "正在排版生成 PDF（第 2 步，共 3 步）…",
                          "已取消生成考核排名 PDF，未生成任何文件。", "ranking", tmp_path)
    assert name == f"scorecard-{STREET}-{rv.period_of('month').start.isoformat()}.pdf"
    street = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (STREET,))
    assert f"{street}部门考核排名" in pdf_text(got).replace(" ", "")
    assert console.errors == []


def test_print_view_outside_the_scope_is_refused_once(print_app, new_page):
    """Another street's print view: its reason once, in Chinese, with a way back to the
    review; none of the print and PDF buttons that could only be refused again is shown
    (their refusal on the worker and at the click: tests/db/test_pdf_jobs.py); a planner
    does not see the ranking sheet at all."""
    server, _hold = print_app
    page, console = new_page(width=1600, height=1000)
    login(page, server.url, "pp_leader", LEADER_PW, f"/review/print?area={OTHER_STREET}&period=month")
    page.wait_for_selector("#rvp-error:not(:empty)", timeout=90000)
    assert page.locator("#rvp-frame").count() == 0
    alerts = [a for a in page.locator("[role=alert]").all() if a.is_visible() and a.inner_text().strip()]
    assert len(alerts) == 1, [a.inner_text() for a in alerts]
    text = alerts[0].inner_text()
    # Chinese only (the message's English half is not shown in Chinese mode)
    assert re.search("[\u4e00-\u9fff]", text) and not re.search("[A-Za-z]{3,}", text), text
    assert STREET in text and OTHER_STREET not in text, text  # the user's scope; nothing of the other street
    for button in ("#rvp-print", "#rvp-pdf", "#rvp-sc-print", "#rvp-sc-pdf"):
        assert page.locator(button).is_hidden(), button
    assert page.locator("#rvp-sc-sheet").is_hidden()
    # the reason right under the top bar (56 px and the page's padding), no empty room above
    # it, and the light page down to the window's bottom
    assert page.locator("#rvp-error").bounding_box()["y"] <= 56 + 24 + 30
    box = page.locator(".rvp-page").bounding_box()
    assert box["y"] + box["height"] >= 1000 - 1, box
    screenshot(page, "print-pdf-refused")
    click(page, "#rvp-back")
    page.wait_for_url(f"{server.url}/review", timeout=60000)
    assert console.errors == []
    # a planner reads the review but not the scorecard: the ranking sheet is not shown
    page2, _ = new_page(width=1600, height=1000)
    login(page2, server.url, "pp_planner", LEADER_PW, f"/review/print?area={STREET}&period=month")
    page2.wait_for_selector("#rvp-frame", state="attached", timeout=90000)
    assert page2.locator("#rvp-sc-sheet").is_hidden() and page2.locator("#rvp-sc-frame").count() == 0
