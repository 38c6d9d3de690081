"""The command-centre wall on the demo district, in a real browser on the real database."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click

PW = "wall-operator-pw1"


@pytest.fixture(scope="module")
def wall_app(demo_db):
    users.add_user(SYSTEM, "w_operator", "operator", PW, "990100")
    server = AppServer(demo_db.url, {"REFRESH_SECONDS": "2"})
    yield server
    server.stop()


def _open(new_page, wall_app, path="/", **kw):
    page, console = new_page(**kw)
    login(page, wall_app.url, "w_operator", PW, path)
    page.wait_for_selector(".ga-updated:has-text(':')", timeout=30000)
    return page, console


def _luminance(rgb: str) -> float:
    parts = [float(x) for x in rgb[rgb.index("(") + 1: rgb.index(")")].split(",")[:3]]

    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in parts)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(fg: str, bg: str) -> float:
    a, b = sorted([_luminance(fg), _luminance(bg)], reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_wall_shows_layers_kpis_against_sql(wall_app, demo_db, new_page):
    page, console = _open(new_page, wall_app)
    # boundaries of every upper level drawn as SVG paths
    page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 30")
    page.wait_for_selector(".ga-count-inc")  # incidents per community at this zoom
    page.wait_for_selector(".ga-count-cam")
    assert page.locator(".ga-police").count() == demo_db.scalar("SELECT count(*) FROM police_rooms")
    open_sql = demo_db.scalar("SELECT count(*) FROM incidents WHERE closed_at IS NULL")
    assert page.inner_text("#cmd-kpi-open") == f"{open_sql:,}"
    online = demo_db.scalar("SELECT count(*) FROM cameras WHERE status = 'online'")
    assert page.inner_text("#cmd-kpi-cameras") == f"{online:,}"
    assert page.locator(".ga-bar-row").count() == demo_db.scalar(
        "SELECT count(DISTINCT street_id) FROM incidents WHERE closed_at IS NULL")
    assert page.locator(".ga-tick").count() == 10
    assert "演示数据" in page.inner_text(".ga-map-notice")
    assert "OpenStreetMap" in page.inner_text(".ga-attribution")
    screenshot(page, "wall-1920x1080")
    assert console.errors == []


def test_a_layer_toggled_off_disappears(wall_app, new_page):
    page, console = _open(new_page, wall_app)
    page.wait_for_selector(".ga-count-cam")
    click(page, page.locator(".leaflet-control-layers-overlays label", has_text="摄像头").locator("input"))
    page.wait_for_function("document.querySelectorAll('.ga-count-cam').length === 0")
    click(page, page.locator(".leaflet-control-layers-overlays label", has_text="摄像头").locator("input"))
    page.wait_for_selector(".ga-count-cam")
    assert console.errors == []


def test_grid_click_panel_matches_sql(wall_app, demo_db, new_page):
    row = demo_db.scalar(
        """SELECT json_build_object('code', g.code, 'hh', g.households,
                  'lat', ST_Y(g.label_pt), 'lng', ST_X(g.label_pt),
                  'b', (SELECT count(*) FROM buildings b WHERE b.grid_id = g.id),
                  'inc', (SELECT count(*) FROM incidents i WHERE i.grid_id = g.id
                            AND i.closed_at IS NULL))
             FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
            ORDER BY g.code LIMIT 1""")
    path = f"/?lat={row['lat']}&lng={row['lng']}&z=17"
    page, console = _open(new_page, wall_app, path)
    page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 5")
    page.wait_for_load_state("networkidle")
    # click the grid at its label point: the map's centre
    box = page.locator("#cmd-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(f".ga-panel:has-text('{row['code']}')", timeout=10000)
    text = page.inner_text(".ga-panel")
    assert f"{row['hh']:,}" in text
    rows = dict(
        (r.split("\n")[0].strip(), r.split("\n")[-1].strip())
        for r in page.locator(".ga-panel .ga-row").all_inner_texts()
    )
    assert rows["楼栋"] == f"{row['b']:,}"
    assert rows["在办事件"] == str(row["inc"])
    worker = demo_db.scalar(
        """SELECT w.phone FROM grid_workers w JOIN grids g ON g.id = w.grid_id
            WHERE g.code = %s AND w.active""", (row["code"],))
    assert worker in rows["网格员"]  # an operator may see the worker's phone
    screenshot(page, "wall-grid-panel")
    assert console.errors == []


def test_changed_incident_recolours_on_next_refresh(wall_app, demo_db, new_page):
    inc = demo_db.scalar(
        """SELECT json_build_object('code', code, 'lat', ST_Y(geom), 'lng', ST_X(geom))
             FROM incidents WHERE closed_at IS NULL AND state <> 'deferred'
              AND dispatched_at IS NOT NULL
              AND due_at - now() > 0.3 * (due_at - dispatched_at)
            ORDER BY code LIMIT 1""")
    assert inc, "the demo has a dispatched incident that is on time"
    page, console = _open(new_page, wall_app, f"/?lat={inc['lat']}&lng={inc['lng']}&z=17")
    marker = page.locator(f".leaflet-marker-icon[title='{inc['code']}']")
    marker.wait_for()
    assert "ga-inc-on_time" in marker.get_attribute("class")
    with demo_db.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("UPDATE incidents SET due_at = now() - interval '1 minute' WHERE code = %s",
                    (inc["code"],))
    conn.close()
    page.wait_for_function(
        f"""() => {{ const m = document.querySelector(".leaflet-marker-icon[title='{inc['code']}']");
                    return m && m.classList.contains('ga-inc-overdue'); }}""", timeout=15000)
    assert console.errors == []


def test_kiosk_hides_chrome_and_sizes_read_across_a_room(wall_app, new_page):
    for width, height, factor in ((1920, 1080, 1), (3840, 2160, 2)):
        page, console = _open(new_page, wall_app, "/?kiosk=1", width=width, height=height)
        assert not page.locator(".ga-topbar").is_visible()
        assert not page.locator(".ga-map-tools").is_visible()
        layer_controls = page.locator(".leaflet-control-layers")  # the layers and the networks
        assert layer_controls.count() == 2
        assert not any(layer_controls.nth(i).is_visible() for i in range(2))
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('.ga-kpi')].map(k => {
                 const v = getComputedStyle(k.querySelector('.ga-kpi-value'));
                 const l = getComputedStyle(k.querySelector('.ga-kpi-label'));
                 const bg = getComputedStyle(k).backgroundColor;
                 return [parseFloat(v.fontSize), parseFloat(l.fontSize), v.color, l.color, bg]; })""")
        assert len(sizes) == 6
        for value_px, label_px, value_color, label_color, bg in sizes:
            assert value_px >= 48 * factor and label_px >= 16 * factor
            assert _contrast(value_color, bg) >= 4.5 and _contrast(label_color, bg) >= 4.5
        screenshot(page, f"wall-kiosk-{width}x{height}")
        assert console.errors == []


def test_search_finds_by_pinyin_initials_and_flies_to_a_grid(wall_app, demo_db, new_page):
    from geo.search import initials

    name = demo_db.scalar("SELECT name FROM communities ORDER BY code LIMIT 1")
    grid = demo_db.scalar("SELECT code FROM grids ORDER BY households LIMIT 1")
    page, console = _open(new_page, wall_app)
    page.fill("#cmd-search", initials(name))
    page.press("#cmd-search", "Enter")
    page.wait_for_selector(f".ga-hit:has-text('{name}')")
    page.wait_for_function("new URLSearchParams(location.search).get('z') !== null")
    zoom_before = int(page.evaluate("new URLSearchParams(location.search).get('z')"))
    page.fill("#cmd-search", grid)
    page.press("#cmd-search", "Enter")
    click(page, page.locator(".ga-hit", has_text=grid).first)
    page.wait_for_function("!document.querySelector('.ga-hit')")
    page.wait_for_function(
        f"parseInt(new URLSearchParams(location.search).get('z')) > {zoom_before}")
    assert console.errors == []


def test_filters_and_view_live_in_the_url(wall_app, demo_db, new_page):
    street = demo_db.scalar("SELECT code FROM streets ORDER BY code LIMIT 1")
    page, console = _open(new_page, wall_app, f"/?street={street}&severity=major")
    page.wait_for_function("window.location.search.includes('lat=')"
                           " && !window.location.search.includes('z=4')")
    href = page.evaluate("location.href")  # replaceState: page.url does not follow it
    assert f"street={street}" in href and "severity=major" in href
    open_major = demo_db.scalar(
        """SELECT count(*) FROM incidents i JOIN streets s ON s.id = i.street_id
            WHERE i.closed_at IS NULL AND i.severity = 'major' AND s.code = %s""", (street,))
    page.wait_for_function(
        f"document.querySelector('#cmd-kpi-open').innerText === '{open_major:,}'")
    assert console.errors == []
