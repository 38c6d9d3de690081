"""The redraw sign-off sheet on /review, by clicks: a leader picks a community (the current
version and the one before are chosen), the two maps show the same view, the grid table's
households and signed deviation match SQL written here, and the workload table counts the
last 12 months' incidents per grid of each version."""

from __future__ import annotations

import time

import pytest

from geo.access import users
from geo.access.roles import SYSTEM, Principal
from geo.planning import api
from tests.browser.conftest import AppServer, login, screenshot

PW = "Signoff-leader-pw1"
COMM = "990100002003"


@pytest.fixture(scope="module")
def so_app(demo_db):
    users.add_user(SYSTEM, "so_leader", "leader", PW, "990100")
    admin = Principal("test:admin", "admin", None)
    api.commit(admin, api.propose(admin, COMM, mode="fresh", seed=0), allow_out_of_band=True)
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _centre(page, locator, timeout: int = 60000):
    """Click the element's centre once it has stopped moving (sections above it that load
    later, or a list still filtering, move it)."""
    locator.wait_for(state="visible", timeout=timeout)
    box, deadline = None, time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        locator.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        now = locator.bounding_box()
        if now and box and all(abs(now[k] - box[k]) < 1 for k in ("x", "y", "width", "height")):
            break
        box = now
    assert box, locator
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _version_grids(demo_db, current: bool) -> dict[str, int]:
    conn = demo_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT g.code, g.households FROM grids g JOIN grid_versions v ON v.id = g.version_id
                             JOIN communities c ON c.id = v.community_id AND c.code = %s
                            WHERE v.version_no = (SELECT max(v2.version_no) - %s FROM grid_versions v2
                                                   WHERE v2.community_id = c.id)""",
                        (COMM, 0 if current else 1))
            return dict(cur.fetchall())
    finally:
        conn.close()


def _cells(page, table_id):
    return page.evaluate(f"""Array.from(document.querySelectorAll('#{table_id} tbody tr'))
        .map(tr => Array.from(tr.children).map(td => td.innerText.trim()))""")


def test_signoff_by_clicks(so_app, demo_db, new_page):
    page, console = new_page(locale="zh-CN")
    login(page, so_app.url, "so_leader", PW, "/review")
    page.wait_for_selector("#rv-signoff", timeout=30000)
    page.locator("#rv-signoff").scroll_into_view_if_needed()
    # pick the community in the menu. On a loaded machine the menu may open before its options
    # arrive, or the typed text may land before the search box has focus: each step waits for
    # what it needs, and a pick that did not take is made again (at most four times)
    for attempt in range(4):
        try:
            _centre(page, page.locator("#rv-so-community"))
            page.get_by_role("option").first.wait_for(state="visible", timeout=30000)
            page.keyboard.type(COMM)
            _centre(page, page.get_by_role("option", name=COMM).first, timeout=20000)
            page.wait_for_selector("#rv-so-table-a", timeout=25000)
            break
        except Exception:
            if attempt == 3:
                screenshot(page, "signoff_pick_failed")
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(1000)
    page.wait_for_selector("#rv-so-work-b", timeout=60000)
    old, new = _version_grids(demo_db, False), _version_grids(demo_db, True)
    assert old and new and old != new
    # both versions on their maps
    page.wait_for_function(f"""document.querySelectorAll('#rv-so-map-a path.leaflet-interactive').length == {len(old)}
        && document.querySelectorAll('#rv-so-map-b path.leaflet-interactive').length == {len(new)}""",
                           timeout=30000)
    page.wait_for_timeout(500)
    # the same view: the community's outline lands on the same pixels relative to each map
    ext = page.evaluate("""['a', 'b'].map(s => {
        const m = document.querySelector('#rv-so-map-' + s).getBoundingClientRect();
        const bs = Array.from(document.querySelectorAll('#rv-so-map-' + s + ' path.leaflet-interactive'))
            .map(p => p.getBoundingClientRect());
        return [Math.min(...bs.map(b => b.left)) - m.left, Math.min(...bs.map(b => b.top)) - m.top,
                Math.max(...bs.map(b => b.right)) - m.left, Math.max(...bs.map(b => b.bottom)) - m.top]; })""")
    assert all(abs(a - b) <= 3 for a, b in zip(ext[0], ext[1], strict=True)), ext
    # the grid table: households per grid as SQL has them, deviation signed against the target
    target = demo_db.scalar("SELECT target_households FROM communities WHERE code = %s", (COMM,))
    for table, grids in (("rv-so-table-a", old), ("rv-so-table-b", new)):
        rows = _cells(page, table)
        assert {r[0]: int(r[1].replace(",", "")) for r in rows} == grids
        for code, _hh, dev, pp, churn in rows:
            want = (grids[code] - target) / target
            assert dev.startswith("−" if want < 0 else "+"), (code, dev, want)
            assert abs(float(dev.strip("%").replace("−", "-")) - 100 * want) < 0.06
            assert 0 < float(pp) <= 1 and int(churn.replace(",", "")) >= 0
    assert any(r[2].startswith("−") for r in _cells(page, "rv-so-table-a") + _cells(page, "rv-so-table-b")), \
        "a grid below the target shows a minus"
    # the workload: last 12 months' incidents per grid of the current version, against SQL
    conn = demo_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT g.code, count(i.id) FROM grids g
                  JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                  JOIN communities c ON c.id = v.community_id AND c.code = %s
                  LEFT JOIN incidents i ON ST_Intersects(g.geom, i.geom)
                       AND i.reported_at >= now() - interval '12 months'
                 GROUP BY g.code""", (COMM,))
            expect = dict(cur.fetchall())
    finally:
        conn.close()
    work_b = {r[0]: int(r[2].replace(",", "")) for r in _cells(page, "rv-so-work-b")}
    work_a = {r[0]: int(r[2].replace(",", "")) for r in _cells(page, "rv-so-work-a")}
    assert work_b == expect
    assert sum(work_b.values()) > 0
    # the same incidents replayed: both sets of grids tile the community
    assert sum(work_a.values()) == sum(work_b.values())
    summary = page.inner_text("#rv-so-summary")
    assert "目标" in summary and "户" in summary
    screenshot(page, "review-signoff-1920")
    assert not [e for e in console.errors if "favicon" not in e], console.errors
