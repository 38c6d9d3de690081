"""The 403 and 404 pages as a person sees them: signed in through the form, a page the role
may not open and a path that does not exist, in Chinese and in English; the reason is the
topmost thing at its own centre, the way back is a link that works."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot
from tests.conftest import create_tiny_place

PW = "Refusal-screens-2026"


@pytest.fixture(scope="module")
def app(empty_db):
    place = create_tiny_place(empty_db)
    users.add_user(SYSTEM, "rs_worker", "grid_worker", PW, place["grid"])
    server = AppServer(empty_db.url)
    yield server
    server.stop()


def _on_top(page, selector: str) -> bool:
    return page.evaluate("""s => { const el = document.querySelector(s), r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return r.width > 0 && (hit === el || el.contains(hit)); }""", selector)


@pytest.mark.parametrize("lang,texts", [
    ("zh", {"/plan": ("无权访问", "您的角色「网格员」无权查看网格规划方案。", "返回首页"),
            "/no-such-page": ("页面不存在", "没有这个页面", "返回首页")}),
    ("en", {"/plan": ("Not allowed", "Your role (grid worker) may not see grid plans.", "Back to the home page"),
            "/no-such-page": ("Page not found", "There is no such page", "Back to the home page")}),
])
def test_refusal_pages_in_the_visitors_language(app, new_page, lang, texts):
    page, console = new_page(1280, 800)
    page.context.add_cookies([{"name": "lang", "value": lang, "url": app.url}])
    login(page, app.url, "rs_worker", PW, "/")
    for path, (heading, reason, back) in texts.items():
        resp = page.goto(app.url + path)
        assert resp.status == (403 if path == "/plan" else 404)
        assert page.title() == heading and page.inner_text("h1") == heading
        assert reason in page.inner_text(".msg") and _on_top(page, ".msg")
        assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
        screenshot(page, f"refusal-{lang}-{'403' if path == '/plan' else '404'}")
        link = page.locator(f"a:has-text('{back}')")
        box = link.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".ga-topbar", timeout=30_000)  # back on the wall
    refused = "Failed to load resource: the server responded with a status of 40"
    assert [e for e in console.errors if not e.startswith(refused)] == [], console.errors
