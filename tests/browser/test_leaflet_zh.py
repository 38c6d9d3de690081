"""Leaflet's control texts (zoom, layers, attribution, full screen, popups' close) are
Chinese in Chinese mode on every map page and Leaflet's own English in English mode
(assets/leaflet_zh.js), with the Content-Security-Policy enforced: the script is served
from this site and the browser refuses nothing."""

from __future__ import annotations

import time

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot

PW = "Leaflet-zh-2026"
WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""
# every title / aria-label inside a map, and the texts of the controls that must be there
CONTROL_TEXTS = """() => [...document.querySelectorAll('.leaflet-container [title], .leaflet-container [aria-label]')]
  .filter(el => el.closest('.leaflet-control-container'))
  .flatMap(el => ['title', 'aria-label'].map(a => el.getAttribute(a)).filter(Boolean))"""
# map pages and the localised control texts each must show (/review has no zoom buttons)
PAGES = {"/": ("图层", "放大", "缩小", "全屏显示"), "/plan": ("放大", "缩小", "Leaflet 开源交互地图库"),
         "/review": (), "/field": ("放大", "缩小")}
ENGLISH = {"Zoom in", "Zoom out", "Layers", "A JavaScript library for interactive maps", "Full Screen",
           "Exit Full Screen", "Close popup"}


@pytest.fixture(scope="module")
def app(demo_db):
    users.add_user(SYSTEM, "lz_admin", "admin", PW)
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _texts(page, wanted: tuple[str, ...], timeout: float = 45) -> list[str]:
    """The map controls' texts once every wanted one is there (polled: under the CSP
    Playwright's wait_for_function cannot run)."""
    deadline = time.monotonic() + timeout
    while True:
        texts = page.evaluate(CONTROL_TEXTS)
        if all(w in texts for w in wanted) or time.monotonic() > deadline:
            return texts
        page.wait_for_timeout(250)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".leaflet-control-container .leaflet-control", state="attached", timeout=45_000)


def test_map_controls_speak_the_pages_language_under_the_csp(app, new_page):
    page, console = new_page(bypass_csp=False)
    page.add_init_script(WATCH)
    page.context.add_cookies([{"name": "lang", "value": "zh", "url": app.url}])
    login(page, app.url, "lz_admin", PW, "/")
    for path, wanted in PAGES.items():
        _open(page, app.url + path)
        texts = _texts(page, wanted)
        assert all(w in texts for w in wanted), (path, texts)
        assert not ENGLISH & set(texts), (path, texts)
        assert page.evaluate("window.__csp") == [], path
        screenshot(page, "leaflet-zh-" + (path.strip("/") or "wall"))
    # what a person reads on hovering the zoom button, and what a screen reader says
    button = page.locator(".leaflet-control-zoom-in")
    assert (button.get_attribute("title"), button.get_attribute("aria-label")) == ("放大", "放大")
    # English mode keeps Leaflet's own words
    page.context.add_cookies([{"name": "lang", "value": "en", "url": app.url}])
    _open(page, app.url + "/plan")
    texts = _texts(page, ("Zoom in", "Zoom out"))
    assert {"Zoom in", "Zoom out", "A JavaScript library for interactive maps"} <= set(texts), texts
    assert not any("\u4e00" <= c <= "\u9fff" for c in "".join(texts)), texts
    assert page.evaluate("window.__csp") == []
    assert console.errors == [], console.errors
