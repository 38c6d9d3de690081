"""/plan's first view, like a planner: before a community is chosen the proposal map shows
the communities of the planner's scope (outlines filled by the share of their grids in band,
named, fitted to the scope), and a click on one chooses it as the dropdown does."""

from __future__ import annotations

import pytest

from tests.browser.conftest import AppServer, login, screenshot
from tests.conftest import run_cli

PW = "Plan-scope-2026x"
DISTRICT = "990100"


@pytest.fixture(scope="module")
def app(demo_db):
    out = run_cli("users", "add", "m_planner", "--role", "planner", "--scope", DISTRICT,
                  "--password-stdin", url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _pixel(page, lat: float, lng: float) -> tuple[float, float]:
    pt = page.evaluate(
        """([lat, lng]) => {
             const m = window.gridatlasMaps['plan-map'];
             const p = m.latLngToContainerPoint([lat, lng]);
             const r = m.getContainer().getBoundingClientRect();
             return [r.left + p.x, r.top + p.y];
           }""", [lat, lng])
    return pt[0], pt[1]


def test_first_view_shows_scope_and_click_chooses(app, demo_db, new_page):
    n_communities = demo_db.scalar("SELECT count(*) FROM communities WHERE left(code, 6) = %s", (DISTRICT,))
    # the largest community with current grids: a point inside it, its name, its grids
    code, name, lng, lat, n_grids = demo_db.scalar(
        """SELECT ARRAY[c.code, c.name, ST_X(ST_PointOnSurface(c.geom))::text,
                        ST_Y(ST_PointOnSurface(c.geom))::text,
                        (SELECT count(*) FROM grids g JOIN grid_versions v ON v.id = g.version_id
                          WHERE v.is_current AND g.community_id = c.id)::text]
             FROM communities c WHERE left(c.code, 6) = %s
            ORDER BY ST_Area(c.geom) DESC LIMIT 1""", (DISTRICT,))
    assert n_communities >= 2 and int(n_grids) >= 1
    page, console = new_page()
    login(page, app.url, "m_planner", PW, "/plan")
    # first view: every community of the scope outlined and named, the map fitted to them
    scope_paths = "#plan-map .leaflet-plan-scope-pane path.leaflet-interactive"
    page.wait_for_function(f"document.querySelectorAll('{scope_paths}').length == {n_communities}",
                           timeout=30000)
    page.wait_for_function("window.gridatlasMaps['plan-map'].getZoom() >= 10", timeout=30000)
    labels = page.locator("#plan-map .ga-scope-label:not(.ga-label-hidden)").all_inner_texts()
    assert any(name in lb for lb in labels), labels
    assert "个网格在区间内" in " ".join(labels)
    assert "在区间内的网格占比" in page.inner_text("#plan-scope-legend")
    page.wait_for_timeout(500)  # the fit settles
    screenshot(page, "plan-scope-first-view")

    zoom0 = page.evaluate("window.gridatlasMaps['plan-map'].getZoom()")
    # a click on the community where the map draws it chooses it
    x, y = _pixel(page, float(lat), float(lng))
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.leaflet-plan-scope-pane') "
                         "!== null", [x, y])
    page.mouse.click(x, y)
    page.wait_for_function(
        f"document.querySelector('#plan-community').innerText.includes('{code}')", timeout=30000)
    assert name in page.inner_text("#plan-community")
    page.wait_for_function(
        f"document.querySelectorAll('#plan-map .leaflet-plan-grids-pane path').length >= {n_grids}",
        timeout=30000)
    page.wait_for_function(f"document.querySelectorAll('{scope_paths}').length == 0", timeout=30000)
    assert page.inner_text("#plan-scope-legend") == ""
    # the map fits the community chosen
    page.wait_for_function(f"window.gridatlasMaps['plan-map'].getZoom() > {zoom0}", timeout=30000)
    assert f"community={code}" in page.url
    screenshot(page, "plan-scope-chosen")
    assert not console.errors, console.errors
