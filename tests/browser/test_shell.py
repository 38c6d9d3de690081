"""The app shell on an empty database: pages load, Chinese renders, nothing errors."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot

ADMIN_PW = "shell-admin-pass1"


@pytest.fixture(scope="module")
def app_empty(empty_db):
    users.add_user(SYSTEM, "shell_admin", "admin", ADMIN_PW)
    server = AppServer(empty_db.url)
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["/", "/plan", "/review", "/incidents", "/field", "/audit", "/routes", "/import"])
def test_pages_load_without_console_errors(app_empty, new_page, path):
    page, console = new_page()
    login(page, app_empty.url, "shell_admin", ADMIN_PW, path)
    page.wait_for_load_state("networkidle")
    assert page.locator(".ga-nav-link").count() == 8  # an admin may open every page
    assert all(text == "" for text in page.locator(".ga-error").all_inner_texts())
    assert console.errors == []


def test_empty_map_says_so_and_chinese_font_is_present(app_empty, new_page):
    page, console = new_page()
    login(page, app_empty.url, "shell_admin", ADMIN_PW, "/")
    page.wait_for_selector(".ga-map-notice .ga-empty")
    assert "边界" in page.inner_text(".ga-map-notice")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '指挥中心')")
    # the browser really drew the glyphs with a CJK font (not tofu boxes)
    width = page.evaluate(
        """() => { const c = document.createElement('canvas').getContext('2d');
                   c.font = '32px "Noto Sans CJK SC"'; return c.measureText('指挥中心').width; }"""
    )
    assert width > 100
    screenshot(page, "shell-empty")
    assert console.errors == []


def test_language_switch_to_english_and_back(app_empty, new_page):
    page, console = new_page()
    login(page, app_empty.url, "shell_admin", ADMIN_PW, "/plan")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "网格规划"
    page.click(".ga-lang")
    page.wait_for_function("document.querySelector('h1') && document.querySelector('h1').innerText === 'Grid planning'")
    clock = page.inner_text(".ga-clock")
    assert "年" not in clock
    page.click(".ga-lang")
    page.wait_for_function("document.querySelector('h1') && document.querySelector('h1').innerText === '网格规划'")
    page.wait_for_function("document.querySelector('.ga-clock').innerText.includes('年')")
    assert console.errors == []


def test_clock_ticks_in_the_browser_and_an_idle_page_stays_idle(app_empty, new_page):
    """The top bar's clock is written by the page's own timer: it shows the date and moves
    each second, while an open page that nobody touches leaves Dash's renderer at rest (no
    action on its store, no callback sent). Ticked by a dcc.Interval, the clock made the
    renderer run about 15 actions a second."""
    page, console = new_page()
    login(page, app_empty.url, "shell_admin", ADMIN_PW, "/plan")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.querySelector('.ga-clock').innerText.includes('年')")
    sent: list[str] = []
    page.on("request", lambda req: sent.append(req.url) if "_dash-update-component" in req.url else None)
    first = page.inner_text(".ga-clock")
    actions = page.evaluate("""() => new Promise(done => {
        let n = 0;
        const stop = window.store.subscribe(() => { n += 1; });
        setTimeout(() => { stop(); done(n); }, 2500);
    })""")
    assert page.inner_text(".ga-clock") != first
    assert actions == 0
    assert sent == []
    assert console.errors == []


@pytest.mark.parametrize("width", [1366, 1600, 1920])
def test_language_button_stays_on_screen_for_an_admin_in_english(app_empty, new_page, width):
    """An admin's eight links in English are the widest top bar: the user's part (sign-out,
    language) stays in the window and the button is what a click at its centre hits."""
    page, console = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "lang", "value": "en", "url": app_empty.url}])
    login(page, app_empty.url, "shell_admin", ADMIN_PW, "/audit")
    page.wait_for_load_state("networkidle")
    box = page.locator(".ga-lang").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).classList.contains('ga-lang')", [x, y])
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert console.errors == []
