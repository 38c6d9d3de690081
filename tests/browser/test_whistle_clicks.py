"""吹哨报到 by clicks on /incidents: a street operator opens a case and blows an emergency
whistle summoning two departments; the first department's user signs in, opens the case
from its address and reports in with a note (on time); the deadline passes (the whistle and
the report are moved 40 minutes into the past, as a clock would); the case view then shows
who came and when, and the second department as missed; it reports in, late.

Every step is a click at the pixel or typing; screenshots in tests/artifacts/whistle-*.png.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click, options_settled
from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, PW, seed_incident_world


@pytest.fixture(scope="module")
def app(empty_db):
    seed_incident_world(empty_db, prefix="W")
    proc = run_cli("incidents", "report", "--lon", str(P1[0]), "--lat", str(P1[1]), "--category", "C1",
                   "--severity", "major", "--title", "路面塌陷", "--description", "人行道塌陷约一米",
                   "--as", "W_grid_worker", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    code = json.loads(proc.stdout)["code"]
    server = AppServer(empty_db.url)
    yield server.url, empty_db, code
    server.stop()


def _open(new_page, url: str, user: str, code: str):
    """Sign in and open the case from its address (the link a summoned department follows)."""
    page, console = new_page(1600, 1000, locale="zh-CN")
    login(page, url, user, PW, f"/incidents?case={code}")
    page.wait_for_function(
        f"(document.querySelector('.inc-case-code') || {{}}).textContent === '{code}'", timeout=60_000)
    return page, console


def _pick(page, dropdown, text: str) -> None:
    """Open a dropdown by a click, type, click the option showing ``text``."""
    click(page, dropdown)
    page.keyboard.type(text)
    option = page.locator(f"[role=option]:has-text('{text}')").first
    option.wait_for(state="visible", timeout=20_000)
    options_settled(page)
    menu = page.evaluate("""() => Array.from(document.querySelectorAll('[role=listbox], [role=dialog], input'))
        .map(e => (e.innerText || '') + ' ' + (e.placeholder || '') + ' ' + (e.getAttribute('aria-label') || ''))
        .join(' ')""")
    assert not any(w in menu for w in ("Select All", "Deselect All", "Search", "selected", "No options")), menu
    click(page, option)
    page.keyboard.press("Escape")  # a multi-select menu stays open after a pick
    option.wait_for(state="hidden", timeout=20_000)


def _press(page, action: str) -> str:
    before = page.inner_text(".inc-act-msg")
    click(page, page.locator(f".inc-form-{action} button.ga-btn"))
    page.wait_for_function(
        "b => { const m = document.querySelector('.inc-act-msg'); return m && m.innerText !== b"
        " && m.querySelector('.ga-ok, .ga-bad'); }", arg=before, timeout=30_000)
    msg = page.inner_text(".inc-act-msg")
    assert page.locator(".inc-act-msg .ga-ok").count() == 1, msg
    return msg


def _dep(page, code: str, status: str) -> str:
    """The whistle line of department ``code`` once it shows ``status``."""
    sel = f".inc-wh-dep[data-department='{code}']"
    page.wait_for_function(
        "([s, st]) => { const e = document.querySelector(s); return e && e.innerText.includes(st); }",
        arg=[sel, status], timeout=30_000)
    return page.inner_text(sel)


def test_street_whistles_and_departments_report_in(app, new_page):
    url, db, code = app

    # 1. the street operator blows an emergency whistle summoning D1 and D2
    page, console = _open(new_page, url, "W_street_operator", code)
    form = page.locator(".inc-form-whistle")
    form.wait_for(state="visible", timeout=30_000)
    _pick(page, form.locator(".inc-field-dd").nth(0), "应急哨")
    for dep in ("D1", "D2"):
        _pick(page, form.locator(".inc-field-dd").nth(1), dep)
    click(page, form.locator("textarea"))
    page.keyboard.type("塌陷扩大，请城管、水务立即到场")
    screenshot(page, "whistle-1-filled")
    _press(page, "whistle")
    assert "等待报到" in _dep(page, "D1", "等待报到")
    assert "等待报到" in _dep(page, "D2", "等待报到")
    head = page.inner_text(".inc-wh-head")
    assert "应急哨" in head and "W_street_operator" in head and "报到时限" in head
    screenshot(page, "whistle-2-blown")
    assert console.errors == [], console.errors
    page.close()

    # 2. a user of D1 reports in with a note: on time
    page, console = _open(new_page, url, "W_department", code)
    form = page.locator(".inc-form-report_in")
    form.wait_for(state="visible", timeout=30_000)
    click(page, form.locator("textarea"))
    page.keyboard.type("城管执法队已到场，设置围挡")
    _press(page, "report_in")
    line = _dep(page, "D1", "按时报到")
    assert "W_department" in line and "城管执法队已到场" in line
    screenshot(page, "whistle-3-reported")
    assert console.errors == [], console.errors
    page.close()

    # 3. forty minutes pass (the 30-minute deadline with them): the whistle and D1's report
    #    move into the past together, as a clock would move them
    conn = db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("""UPDATE incident_whistles SET blown_at = blown_at - interval '40 minutes',
                              due_at = due_at - interval '40 minutes'""")
        cur.execute("""UPDATE incident_whistle_departments
                          SET reported_at = reported_at - interval '40 minutes' WHERE reported_at IS NOT NULL""")
    conn.close()
    page, console = _open(new_page, url, "W_street_operator", code)
    assert "按时报到" in _dep(page, "D1", "按时报到")
    assert "未报到" in _dep(page, "D2", "未报到（已超时）")
    assert page.locator(".inc-wh-missed").count() == 1
    screenshot(page, "whistle-4-missed")
    page.close()

    # 4. D2 comes now: late
    page, console = _open(new_page, url, "W_department2", code)
    form = page.locator(".inc-form-report_in")
    form.wait_for(state="visible", timeout=30_000)
    click(page, form.locator("textarea"))
    page.keyboard.type("水务抢修队到场")
    _press(page, "report_in")
    line = _dep(page, "D2", "迟到")
    assert "W_department2" in line and "水务抢修队到场" in line
    assert "按时报到" in _dep(page, "D1", "按时报到")
    # the red mark is the late line, seen at its centre
    late = page.locator(".inc-wh-dep[data-department='D2']")
    late.scroll_into_view_if_needed()
    box = late.bounding_box()
    bg = page.evaluate("([x, y]) => getComputedStyle(document.elementFromPoint(x, y).closest('.inc-wh-dep'))"
                       ".backgroundColor", [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert bg == "rgb(254, 242, 242)", bg
    screenshot(page, "whistle-5-late")
    assert console.errors == [], console.errors
    page.close()

    # the service agrees with the page
    out = run_cli("incidents", "show", code, url=db.url)
    case = json.loads(out.stdout)
    deps = {d["code"]: d for d in case["whistles"][0]["departments"]}
    assert (deps["D1"]["status"], deps["D2"]["status"]) == ("on_time", "late")
    assert deps["D1"]["reported_by"] == "W_department" and deps["D2"]["reported_by"] == "W_department2"
