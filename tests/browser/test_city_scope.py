"""A city command centre in a real browser, two cities in the database (A = 9901: the demo
district and 990101; B = 9902: the importer's fixture district). A city-scoped operator signs
in through /login with clicks and typing, sees both of A's districts on the wall with the
city's KPIs and picks a district in the filter; a city-scoped leader's review starts at the
city, drills into a district by a click on the map at its pixel and comes back with the
breadcrumb. Nothing of B shows. Chinese mode, screenshots under tests/artifacts/."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, screenshot
from tests.browser.person import click
from tests.city_fixtures import A_DEMO, A_SECOND, B_SECRETS, CITY_A, build_two_cities

PW = "City-browser-pw1"


@pytest.fixture(scope="module")
def city_app(demo_db, tmp_path_factory):
    build_two_cities(demo_db, tmp_path_factory.mktemp("cities"))
    users.add_user(SYSTEM, "cb_operator", "operator", PW, CITY_A)
    users.add_user(SYSTEM, "cb_leader", "leader", PW, CITY_A)
    server = AppServer(demo_db.url, {"REFRESH_SECONDS": "3"})
    yield server
    server.stop()


def _sign_in(page, base_url: str, username: str, path: str) -> None:
    """The real /login form: click each field at its pixel, type, click the button."""
    from urllib.parse import quote

    page.goto(f"{base_url}/login?next={quote(path, safe='')}")
    click(page, page.locator("#username"))
    page.keyboard.type(username)
    click(page, page.locator("#password"))
    page.keyboard.type(PW)
    click(page, page.locator("form button[type=submit]"))
    page.wait_for_selector(".ga-topbar", state="attached", timeout=60000)


def _no_secrets(page) -> None:
    text = page.inner_text("body")
    assert [s for s in B_SECRETS if s in text] == []


def test_city_operator_sees_every_district_on_the_wall(city_app, demo_db, new_page):
    page, console = new_page(locale="zh-CN")
    _sign_in(page, city_app.url, "cb_operator", "/")
    page.wait_for_selector(".ga-updated:has-text(':')", timeout=60000)
    assert page.inner_text(".ga-user-role") == "市指挥中心值班员"  # not a district's
    # the city's KPIs: every open case of both districts, none of city B
    open_a = demo_db.scalar("""SELECT count(*) FROM incidents i JOIN districts d ON d.id = i.district_id
                                WHERE i.closed_at IS NULL AND left(d.code, 4) = %s""", (CITY_A,))
    page.wait_for_function(
        f"document.querySelector('#cmd-kpi-open').innerText === '{open_a:,}'", timeout=60000)
    # both districts' boundaries are on the map: the fitted view holds the second district
    page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 30",
                           timeout=60000)
    # the district filter is shown (the scope spans districts) and offers both, by name
    district_filter = page.locator("#cmd-f-district")
    assert district_filter.is_visible()
    screenshot(page, "city-wall-1920")
    click(page, district_filter)
    names = [demo_db.scalar("SELECT name FROM districts WHERE code = %s", (c,)) for c in (A_DEMO, A_SECOND)]
    for name in names:
        page.get_by_role("option", name=name, exact=True).wait_for(state="visible", timeout=30000)
    assert page.get_by_role("option").count() == 2
    screenshot(page, "city-wall-district-menu")
    click(page, page.get_by_role("option", name=names[1], exact=True))
    # narrowed to 990101: one open case (imported), and the map flies to it
    page.wait_for_function("document.querySelector('#cmd-kpi-open').innerText === '1'", timeout=60000)
    page.wait_for_function(
        "(() => { const z = document.querySelector('.leaflet-control-scale-line');"
        " return z && /^(\\d+ 米|\\d+ 公里|\\d+ m|\\d+ km)$/.test(z.innerText.trim()); })()", timeout=30000)
    screenshot(page, "city-wall-second-district")
    _no_secrets(page)
    assert not [e for e in console.errors if "favicon" not in e], console.errors


def test_city_leader_drills_down_from_the_city(city_app, demo_db, new_page):
    page, console = new_page(locale="zh-CN")
    _sign_in(page, city_app.url, "cb_leader", "/review?period=quarter")
    page.wait_for_function(
        "document.querySelectorAll('#rv-map path.leaflet-interactive').length == 2", timeout=60000)
    assert f"area={CITY_A}" in page.url and "level=district" in page.url
    # the level choice starts at the district; the breadcrumb starts at the city
    assert page.get_by_text("区", exact=True).first.is_visible()
    page.wait_for_function(
        f"document.querySelector('#rv-crumbs').innerText.includes('城市 {CITY_A}')", timeout=30000)
    hh = demo_db.scalar("""SELECT sum(g.households) FROM grids g JOIN grid_versions v
                            ON v.id = g.version_id AND v.is_current WHERE left(g.code, 4) = %s""",
                        (CITY_A,))
    page.wait_for_function(f"document.querySelector('#rv-cards-box').innerText.includes('{hh:,}')",
                           timeout=60000)
    screenshot(page, "city-review-1920")
    # click the larger district (the demo's) at its pixel centre: the map drills into it
    paths = page.locator("#rv-map path.leaflet-interactive")
    boxes = [paths.nth(i).bounding_box() for i in range(2)]
    box = max(boxes, key=lambda b: b["width"] * b["height"])
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate(f"document.elementFromPoint({x}, {y}).tagName").lower() == "path"
    page.mouse.click(x, y)
    page.wait_for_function(f"location.search.includes('area={A_DEMO}')", timeout=60000)
    page.wait_for_function("location.search.includes('level=street')", timeout=30000)
    n_streets = demo_db.scalar("SELECT count(*) FROM streets WHERE left(code, 6) = %s", (A_DEMO,))
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length == {n_streets}",
        timeout=60000)
    name = demo_db.scalar("SELECT name FROM districts WHERE code = %s", (A_DEMO,))
    page.wait_for_function(
        f"document.querySelector('#rv-crumbs').innerText.includes('城市 {CITY_A}')"
        f" && document.querySelector('#rv-crumbs').innerText.includes('{name}')", timeout=30000)
    screenshot(page, "city-review-district")
    # back to the city with the breadcrumb (its first crumb, clicked at its pixel)
    click(page, page.locator("#rv-crumbs .rv-crumb").first)
    page.wait_for_function(
        "document.querySelectorAll('#rv-map path.leaflet-interactive').length == 2", timeout=60000)
    page.wait_for_function(f"location.search.includes('area={CITY_A}')", timeout=30000)
    _no_secrets(page)
    assert not [e for e in console.errors if "favicon" not in e], console.errors
