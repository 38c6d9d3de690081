"""Security headers on every response, and a Content-Security-Policy the real pages run
under: the wall, /plan, /login and /account/password render in Chromium with no CSP
violation and no console error."""

from __future__ import annotations

import pytest
import requests

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot

PW = "Headers-pass-1"
WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


@pytest.fixture(scope="module")
def app_demo(demo_db):
    users.add_user(SYSTEM, "h_admin", "admin", PW)
    app = AppServer(demo_db.url)
    yield app
    app.stop()


def test_every_response_carries_the_headers(app_demo):
    for path in ("/login", "/", "/assets/style.css", "/_dash-layout", "/nope"):
        resp = requests.get(app_demo.url + path, allow_redirects=False)
        h = resp.headers
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert "script-src 'self' 'sha256-" in h["Content-Security-Policy"], path
        assert "unsafe-eval" not in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff", path
        assert h["Referrer-Policy"] == "same-origin", path
        assert "Strict-Transport-Security" not in h  # only with SESSION_COOKIE_SECURE=1
    cookie = requests.get(app_demo.url + "/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie


def test_secure_cookie_setting(demo_db):
    app = AppServer(demo_db.url, {"SESSION_COOKIE_SECURE": "1"})
    try:
        resp = requests.get(app.url + "/login")
        assert "; Secure" in resp.headers["Set-Cookie"]
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.stop()


def test_pages_render_under_the_policy(app_demo, new_page):
    page, console = new_page(bypass_csp=False)  # the policy applies (no wait_for_function)
    page.add_init_script(WATCH)
    failed = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.goto(app_demo.url + "/login")
    page.wait_for_selector("form.card")
    assert page.evaluate("window.__csp") == []
    login(page, app_demo.url, "h_admin", PW, "/")
    page.wait_for_selector(".leaflet-container .leaflet-interactive", timeout=30000)
    page.wait_for_selector(".ga-updated:has-text(':')", timeout=30000)
    screenshot(page, "csp-wall")
    assert page.evaluate("window.__csp") == []
    page.click("a.ga-nav-link[href='/plan']")
    page.wait_for_selector("#plan-community", timeout=30000)
    page.wait_for_timeout(1500)
    screenshot(page, "csp-plan")
    assert page.evaluate("window.__csp") == []
    page.click("a.ga-account")
    page.wait_for_selector("#new_password2")
    assert page.evaluate("window.__csp") == []
    assert failed == [] and console.errors == [], (failed, console.errors)
