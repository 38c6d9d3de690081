"""The wall never goes stale silently: a banner when the database or the app server
cannot be reached, gone by itself when they return. Runs on its own PostGIS cluster so
stopping it disturbs no other test."""

from __future__ import annotations

import shutil

import pytest

from geo import localdb
from tests.browser.conftest import AppServer, login, screenshot
from tests.conftest import TestDB, create_tiny_place, run_cli

PW = "stale-operator-pw1"
SERVER_AWAY = ("ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE",
               "did not respond")


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("stale-cluster")
    lay = localdb.layout(root)
    localdb.up(lay)
    tdb = TestDB("gridatlas", lay.app_url, lay.admin_url())
    create_tiny_place(tdb)
    proc = run_cli("users", "add", "s_operator", "--role", "operator", "--scope", "990100",
                   "--password", PW, url=lay.app_url)
    assert proc.returncode == 0, proc.stderr
    yield lay
    localdb.down(lay)
    shutil.rmtree(lay.base, ignore_errors=True)


def test_stale_banner_for_database_and_app_server(own_cluster, new_page):
    lay = own_cluster
    app = AppServer(lay.app_url, {"REFRESH_SECONDS": "2"})
    try:
        page, console = new_page()
        login(page, app.url, "s_operator", PW, "/")
        page.wait_for_selector(".ga-updated:has-text(':')")
        assert not page.locator("#cmd-stale").is_visible()

        localdb.down(lay)  # the database stops
        page.wait_for_selector("#cmd-stale.ga-show", timeout=20000)
        assert "数据未更新" in page.inner_text("#cmd-stale")
        screenshot(page, "wall-stale")
        localdb.up(lay)  # ... and returns: the pool reconnects by itself
        page.wait_for_selector("#cmd-stale:not(.ga-show)", state="attached", timeout=30000)
        page.wait_for_function("!document.querySelector('#cmd-stale').classList.contains('ga-show')")
        stamp = page.inner_text(".ga-updated")
        page.wait_for_function(
            f"document.querySelector('.ga-updated').innerText !== {stamp!r}", timeout=15000)

        assert console.errors == []  # the database outage was handled, not thrown
        port = app.port
        app.stop()  # the app server goes away
        page.wait_for_selector("#cmd-stale.ga-show", timeout=20000)
        app = AppServer(lay.app_url, {"REFRESH_SECONDS": "2"}, port=port)
        page.wait_for_function(
            "!document.querySelector('#cmd-stale').classList.contains('ga-show')",
            timeout=30000)
        # while the server was away the browser logged network failures, nothing else (a
        # request in flight when the server stops ends reset or empty, later ones refused)
        errors = list(console.errors)
        assert all(any(m in e for m in SERVER_AWAY) for e in errors), errors
    finally:
        app.stop()
