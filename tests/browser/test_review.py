"""The leaders' review in a real browser: a leader opens /review, drills down by clicking a
street on the map, goes back with the breadcrumb, changes the metric; figures on the page
match SQL written here; the address keeps the view; screenshots at 1920x1080 and 1024x768."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click

PW = "Review-leader-pw1"


@pytest.fixture(scope="module")
def review_app(demo_db):
    users.add_user(SYSTEM, "rv_leader", "leader", PW, "990100")
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _wait_map(page, n_min=2):
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length >= {n_min}", timeout=30000)
    page.wait_for_timeout(600)


def test_drill_down_and_back(review_app, demo_db, new_page):
    page, console = new_page(locale="zh-CN")
    login(page, review_app.url, "rv_leader", PW, "/review?period=quarter")
    _wait_map(page)
    n_streets = demo_db.scalar("SELECT count(*) FROM streets")
    assert page.locator("#rv-map path.leaflet-interactive").count() == n_streets
    assert "990100" in page.url and "level=street" in page.url
    # the district's households on the page against SQL written here
    hh = demo_db.scalar("""SELECT sum(g.households) FROM grids g JOIN grid_versions v
                            ON v.id = g.version_id AND v.is_current""")
    # the cards and legend arrive with the map's figures; a loaded machine may paint them later
    try:
        page.wait_for_function(f"""(() => {{ const c = document.querySelector('#rv-cards-box');
            const l = document.querySelector('#rv-legend-box');
            return c && l && c.innerText.includes('{hh:,}') && c.innerText.includes('环比')
                && c.innerText.includes('同比') && l.innerText.includes('分位数'); }})()""", timeout=60000)
    except Exception:
        raise AssertionError((hh, page.inner_text("#rv-cards-box", timeout=60000))) from None
    screenshot(page, "review-district-1920")
    # click the largest street polygon at its pixel centre: the map drills into it
    boxes = [(i, page.locator("#rv-map path.leaflet-interactive").nth(i).bounding_box())
             for i in range(n_streets)]
    i, box = max(boxes, key=lambda b: b[1]["width"] * b[1]["height"])
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    hit = page.evaluate(f"document.elementFromPoint({x}, {y}).tagName")
    assert hit.lower() == "path"
    page.mouse.click(x, y)
    page.wait_for_function("location.search.includes('level=community')", timeout=30000)
    _wait_map(page, 1)
    street = page.url.split("area=")[1][:9]
    n_comm = demo_db.scalar("SELECT count(*) FROM communities WHERE left(code, 9) = %s", (street,))
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length == {n_comm}", timeout=30000)
    name = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (street,))
    # a street may hold as many communities as the district has streets: wait for the crumbs
    page.wait_for_function(f"document.querySelector('#rv-crumbs').innerText.includes('{name}')",
                           timeout=30000)
    street_hh = demo_db.scalar("""SELECT sum(g.households) FROM grids g JOIN grid_versions v
                                   ON v.id = g.version_id AND v.is_current WHERE left(g.code, 9) = %s""",
                               (street,))
    try:
        page.wait_for_function(
            f"document.querySelector('#rv-cards-box').innerText.includes('{street_hh:,}')", timeout=30000)
    except Exception:
        raise AssertionError((street, street_hh, page.inner_text("#rv-cards-box"), page.url)) from None
    screenshot(page, "review-street-1920")
    # metric change restyles only
    click(page, "#rv-metric")
    option = page.get_by_role("option", name="当前超时", exact=True).first
    option.wait_for(state="visible", timeout=30000)
    box = option.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("document.querySelector('#rv-legend-box').innerText.includes('当前超时')",
                           timeout=30000)
    assert "metric=overdue_now" in page.url
    # back up with the breadcrumb (a click at its pixel)
    click(page, "#rv-crumbs .rv-crumb")
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length == {n_streets}", timeout=30000)
    page.wait_for_function("location.search.includes('level=street')", timeout=30000)
    assert not [e for e in console.errors if "favicon" not in e], console.errors


def test_tablet_and_reload_keeps_view(review_app, demo_db, new_page):
    community = demo_db.scalar("SELECT min(code) FROM communities")
    page, console = new_page(1024, 768, locale="zh-CN")
    login(page, review_app.url, "rv_leader", PW,
          f"/review?metric=band&level=grid&area={community}&period=year")
    n_grids = demo_db.scalar("""SELECT count(*) FROM grids g JOIN grid_versions v ON v.id = g.version_id
                                 AND v.is_current WHERE left(g.code, 12) = %s""", (community,))
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length == {n_grids}", timeout=30000)
    page.wait_for_function("document.querySelector('#rv-legend-box').innerText.includes('低于区间')",
                           timeout=30000)
    # the page fits the tablet's width: no horizontal scrolling
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "review-community-1024")
    # a grid clicked at grid level shows its rank among its peers
    click(page, "#rv-map path.leaflet-interactive >> nth=0")
    page.wait_for_function("document.querySelector('#rv-rank').innerText.includes('排名')", timeout=30000)


def test_outside_scope_is_refused_in_page(review_app, demo_db, new_page):
    users.add_user(SYSTEM, "rv_street", "street_operator", PW, "990100001")
    page, _ = new_page(locale="zh-CN")
    login(page, review_app.url, "rv_street", PW, "/review?area=990100002&level=community")
    # another street's area falls back to the user's own scope: only their communities show
    n = demo_db.scalar("SELECT count(*) FROM communities WHERE left(code, 9) = '990100001'")
    page.wait_for_function(
        f"document.querySelectorAll('#rv-map path.leaflet-interactive').length == {n}", timeout=30000)


def test_metric_change_makes_no_request(review_app, demo_db, new_page):
    """A metric chosen in the selector (clicked at the pixel) recolours the map and rewrites the
    legend and the address in the browser: no callback request reaches the server. The script's
    classes are the Python rule's (layouts.review_view.colours) for every metric."""
    import json

    from geo.repository import review as rv
    from geo.repository.scope import Scope
    from layouts import review_view as view

    page, console = new_page(locale="zh-CN")
    login(page, review_app.url, "rv_leader", PW, "/review?period=quarter&metric=on_time_rate")
    _wait_map(page)
    page.wait_for_function("document.querySelector('#rv-legend-box').innerText.includes('按时结案率')",
                           timeout=60000)
    # the sections that load after the view (scorecard, patrols, sign-off lists) are done
    page.wait_for_load_state("networkidle", timeout=60000)
    fills_before = page.evaluate(
        "[...document.querySelectorAll('#rv-map path.leaflet-interactive')].map(p => p.getAttribute('fill'))")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "")
            if "_dash-update-component" in r.url else None)
    click(page, "#rv-metric")
    option = page.get_by_role("option", name="返工次数", exact=True).first
    option.wait_for(state="visible", timeout=30000)
    option.scroll_into_view_if_needed()  # the menu scrolls: as a person scrolls it to the option
    box = option.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate(f"document.elementFromPoint({x}, {y}).innerText").strip() == "返工次数"
    page.mouse.click(x, y)
    page.wait_for_function("document.querySelector('#rv-legend-box').innerText.includes('返工次数')",
                           timeout=30000)
    page.wait_for_function("location.search.includes('metric=rework')", timeout=30000)
    page.wait_for_timeout(1500)  # a request the change set off would have left by now
    assert posts == [], [json.loads(p).get("output") for p in posts]
    # the map was recoloured by the same rule the server states, on the streets' figures
    leader = Scope.of(users.get_user("rv_leader").principal())
    figs, level = rv.figures(leader, "990100", "street", rv.period_of("quarter")), "street"
    figs = json.loads(json.dumps(figs))  # as the page holds them
    colours, rows = view.colours(figs, "rework")
    fills = page.evaluate(
        "[...document.querySelectorAll('#rv-map path.leaflet-interactive')].map(p => p.getAttribute('fill'))")
    assert sorted(fills) == sorted(colours.values()) and fills != fills_before
    legend = page.inner_text("#rv-legend-box")
    assert all(label in legend for _, label in rows), (legend, rows)
    assert "分位数" in legend and "越低越好" in legend and "无数据" in legend
    screenshot(page, "review-metric-rework-1920")
    # every metric: the script's colours and class labels are the Python rule's
    strings = view.restyle_strings("zh")
    for metric in view.rv.METRICS:
        got = page.evaluate("([f, m, l, s]) => window.gridatlas.reviewClasses.classes(f, m, l, s)",
                            [figs, metric, level, strings])
        want_colours, want_rows = view.colours(figs, metric)
        assert got["colors"] == want_colours, metric
        assert [tuple(r) for r in got["rows"]] == [tuple(r) for r in want_rows], metric
    assert not [e for e in console.errors if "favicon" not in e], console.errors
