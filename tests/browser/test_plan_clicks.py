"""/plan end to end by clicks at the pixel, like a planner: choose a community (the maps fit
it, the band is the community's own), compute, inspect (signed deviation, incidents, staff),
pick a building on the map where it is drawn, see the move's effect, move, undo, redo,
commit, export after the commit, compare, restore with confirmation, show a department
network with its crosswalk and alignment, and switch language without losing the plan."""

from __future__ import annotations

import re

import geopandas as gpd
import psycopg2
import pytest

from geo.access.roles import SYSTEM
from geo.planning import api
from geo.planning.model import Proposal
from layouts import plan_store
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click, options_settled
from tests.conftest import run_cli

PW = "Plan-clicks-2026x"
UTM = "EPSG:32650"
NET = "城管"


def _centre(page, selector: str) -> tuple[float, float]:
    """The centre of an element scrolled into view (a person scrolls before clicking)."""
    page.locator(selector).first.scroll_into_view_if_needed()
    box = page.locator(selector).first.bounding_box()
    assert box, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _click(page, selector: str) -> None:
    page.mouse.click(*_centre(page, selector))


def _pick_option(page, dropdown: str, label: str) -> None:
    """Open a dropdown and click one of its own options (a checklist's items are options
    too: the first option of that name in the page may not be the dropdown's)."""
    _click(page, dropdown)
    option = page.locator(".dash-dropdown-option[role=option]").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    option.first.wait_for()
    _click_locator(page, option.first)


def _click_locator(page, locator) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.fixture(scope="module")
def app(demo_db, tmp_path_factory):
    out = run_cli("users", "add", "k_planner", "--role", "planner", "--scope", "990100",
                  "--password-stdin", url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    # another department's grids: the demo's current grids shifted 40 m east, 25 m south
    conn = psycopg2.connect(demo_db.url)
    try:
        grids = gpd.read_postgis(
            """SELECT g.code, g.geom FROM grids g JOIN grid_versions v ON v.id = g.version_id
                WHERE v.is_current ORDER BY g.code""", conn, geom_col="geom")
    finally:
        conn.close()
    moved = grids.to_crs(UTM).geometry.translate(40, -25).simplify(3)
    path = tmp_path_factory.mktemp("net") / "cg.gpkg"
    gpd.GeoDataFrame({"code": [f"CG{i:04d}" for i in range(len(grids))],
                      "name": [f"城管网格{i}" for i in range(len(grids))]},
                     geometry=list(moved), crs=UTM).to_crs(4326).to_file(path, layer="grids")
    out = run_cli("networks", "import", NET, str(path), url=demo_db.url)
    assert out.returncode == 0, out.stderr
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _community(demo_db) -> str:
    return demo_db.scalar(
        """SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
            GROUP BY c.code ORDER BY count(*) LIMIT 1""")


def _movable(proposal: Proposal) -> tuple[int, str]:
    """A building of the plan that may move to a neighbouring grid without breaking a hard
    rule (found with the same API the page calls)."""
    for bid in sorted(proposal.labels):
        for grid in api.neighbour_grids(SYSTEM, proposal, bid):
            try:
                api.move_building(SYSTEM, proposal, bid, grid)
            except Exception:  # noqa: BLE001 - a refused move: try the next one
                continue
            return bid, grid
    raise AssertionError("no movable building in the plan")


def _pixel(page, demo_db, bid: int) -> tuple[float, float]:
    """The page pixel of a building's point on surface, from the Leaflet map itself."""
    lng, lat = demo_db.scalar(
        "SELECT ARRAY[ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))] FROM buildings "
        "WHERE id = %s", (bid,))
    pt = page.evaluate(
        """([lat, lng]) => {
             const m = window.gridatlasMaps['plan-map'];
             const p = m.latLngToContainerPoint([lat, lng]);
             const r = m.getContainer().getBoundingClientRect();
             return [r.left + p.x, r.top + p.y];
           }""", [lat, lng])
    return pt[0], pt[1]


def _hh_of(page) -> dict[str, str]:
    rows = page.locator("#plan-grid-table tbody tr").all()
    return {r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text() for r in rows}


def test_plan_by_clicks(app, demo_db, new_page):
    code = _community(demo_db)
    tgt, lo, hi = demo_db.scalar(
        "SELECT ARRAY[target_households, min_households, max_households]::float8[] FROM communities "
        "WHERE code = %s", (code,))
    page, console = new_page()
    login(page, app.url, "k_planner", PW, "/plan")
    # first view: the planner's area, not all of China
    page.wait_for_function("window.gridatlasMaps && window.gridatlasMaps['plan-map'] "
                           "&& window.gridatlasMaps['plan-map'].getZoom() >= 10", timeout=30000)
    _click(page, "#plan-community")
    page.locator(".Select-menu-outer, [role=listbox]").first.wait_for()
    page.keyboard.type(code)
    page.get_by_role("option", name=re.compile(code)).first.wait_for()
    options_settled(page)  # the menu filters as one types: click once it holds still
    click(page, page.get_by_role("option", name=re.compile(code)).first)
    page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)
    # the band inputs hold the community's own band; the maps fit the community
    page.wait_for_function(f"document.querySelector('#plan-target').value == '{tgt:g}'", timeout=30000)
    assert page.input_value("#plan-min") == f"{lo:g}" and page.input_value("#plan-max") == f"{hi:g}"
    page.wait_for_function("window.gridatlasMaps['plan-map'].getZoom() >= 15", timeout=30000)
    assert f"community={code}" in page.url
    # side by side: both maps fitted, the current grids coloured and labelled
    click(page, page.get_by_text("并排对比"))
    page.wait_for_function("(() => { const a = window.gridatlasMaps['plan-map'], "
                           "b = window.gridatlasMaps['plan-map2']; return b && b.getZoom() >= 15 && "
                           "Math.abs(a.getZoom() - b.getZoom()) < 0.01 })()", timeout=30000)
    assert page.locator("#plan-map2 .ga-grid-label").count() >= 1
    assert "户" in page.locator("#plan-map2 .ga-grid-label").first.inner_text()
    screenshot(page, "plan-clicks-side-by-side")
    click(page, page.get_by_text("新方案", exact=True).first)

    # compute
    _click(page, "#plan-run")
    page.wait_for_selector("#plan-grid-table", timeout=180000)
    page.wait_for_function("location.search.includes('plan=')", timeout=30000)
    plan_id = re.search(r"plan=([0-9a-f]{32})", page.url).group(1)
    heads = page.locator("#plan-grid-table thead th").all_inner_texts()
    assert "近12月事件（现行）" in heads and "近12月事件（新方案）" in heads
    devs = page.locator("#plan-grid-table tbody td:nth-child(3)").all_inner_texts()
    hhs = [int(x) for x in page.locator("#plan-grid-table tbody td:nth-child(2)").all_inner_texts()]
    for hh, dev in zip(hhs, devs, strict=True):
        assert dev == f"{(hh - tgt) / tgt:+.0%}", (hh, dev)
    assert page.inner_text("#plan-staff")
    screenshot(page, "plan-clicks-proposal")

    # the hand move: click the building where the map draws it
    proposal = Proposal.from_json(plan_store.get(plan_id))
    bid, to_grid = _movable(proposal)
    src = proposal.labels[bid]
    x, y = _pixel(page, demo_db, bid)
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).tagName", [x, y]) == "path"
    page.mouse.click(x, y)
    page.wait_for_selector(f"#plan-picked:has-text('#{bid}')", timeout=30000)
    _pick_option(page, "#plan-move-to", to_grid)
    page.wait_for_selector(".ga-move-preview", timeout=30000)
    preview = page.inner_text(".ga-move-preview")
    assert src in preview and to_grid in preview and "户" in preview
    screenshot(page, "plan-clicks-move-preview")
    before = _hh_of(page)
    _click(page, "#plan-move")
    page.wait_for_function("document.querySelector('#plan-churn').innerText.includes('已手动调整 1 次')",
                           timeout=30000)
    after = _hh_of(page)
    assert after != before
    page.wait_for_selector("#plan-undo:not([disabled])")
    _click(page, "#plan-undo")
    page.wait_for_function("!document.querySelector('#plan-churn').innerText.includes('已手动调整')",
                           timeout=30000)
    assert _hh_of(page) == before
    page.wait_for_selector("#plan-redo:not([disabled])")
    _click(page, "#plan-redo")
    page.wait_for_function("document.querySelector('#plan-churn').innerText.includes('已手动调整 1 次')",
                           timeout=30000)
    assert _hh_of(page) == after
    screenshot(page, "plan-clicks-moved")

    # commit, then export the committed plan
    if page.locator("#plan-commit[disabled]").count():
        _click(page, "#plan-accept-band input[type=checkbox]")
    page.wait_for_selector("#plan-commit:not([disabled])")
    click(page, "#plan-note")
    page.keyboard.type("手动调整后提交")
    page.wait_for_function("document.querySelector('#plan-note').value === '手动调整后提交'")
    _click(page, "#plan-commit")
    page.wait_for_selector("#plan-commit-msg .ga-ok", timeout=60000)
    assert "已提交为第 2 版" in page.inner_text("#plan-commit-msg")
    # the workers who moved are named after the commit as in the preview
    assert not any("（–）" in li for li in page.locator(".ga-staff-moved li").all_inner_texts())
    page.wait_for_selector("#plan-export:not([disabled])")
    with page.expect_download() as dl:
        _click(page, "#plan-export")
    assert dl.value.suggested_filename == f"plan-{code}.gpkg"
    screenshot(page, "plan-clicks-committed")
    page.wait_for_function("document.querySelector('#plan-versions-table') && "
                           "document.querySelector('#plan-versions-table').innerText.includes('手动调整后提交')",
                           timeout=30000)

    # compare v1 and v2
    _pick_option(page, "#plan-cmp-a", "v1")
    _pick_option(page, "#plan-cmp-b", "v2")
    page.wait_for_selector("#plan-compare-table", timeout=30000)

    # restore asks first; nothing is written until confirmed
    n_versions = demo_db.scalar("SELECT count(*) FROM grid_versions v JOIN communities c ON "
                                "c.id = v.community_id WHERE c.code = %s", (code,))
    _click(page, "#plan-versions-table button:not([disabled])")
    page.wait_for_selector("#plan-restore-box:not([hidden])")
    assert "确认恢复第 1 版" in page.inner_text("#plan-restore-box")
    screenshot(page, "plan-clicks-restore-ask")
    assert demo_db.scalar("SELECT count(*) FROM grid_versions v JOIN communities c ON "
                          "c.id = v.community_id WHERE c.code = %s", (code,)) == n_versions
    _click(page, "#plan-restore-yes")
    page.wait_for_selector("#plan-commit-msg:has-text('已恢复为第 3 版')", timeout=60000)

    # a department network over the grids, its crosswalk and alignment
    _click_locator(page, page.locator("#plan-nets label").filter(has_text=NET).first)
    page.wait_for_selector("#plan-map .ga-net-label", timeout=30000)
    _pick_option(page, "#plan-net-pick", NET)
    assert page.is_checked(f"#plan-nets input[value='{NET}']"), "picking the crosswalk's network unticked it"
    screenshot(page, "plan-clicks-network-picked")
    page.wait_for_selector("#plan-crosswalk-table", timeout=60000)
    assert "现行网格" in page.inner_text("#plan-alignment")
    assert "新方案" in page.inner_text("#plan-alignment")
    page.locator("#plan-crosswalk-table").scroll_into_view_if_needed()
    screenshot(page, "plan-clicks-network")

    # switching language keeps the community and the plan
    _click(page, ".ga-lang")
    page.wait_for_selector("#plan-grid-table", timeout=60000)
    assert "Incidents, 12 months (proposal)" in page.locator("#plan-grid-table thead").inner_text()
    assert page.evaluate("document.querySelector('#plan-community').innerText").find(code) >= 0
    screenshot(page, "plan-clicks-english")
    assert console.errors == []
