"""The field page (/field) on a phone (390 x 844, touch): a grid worker reports a case by
tapping the map inside their grid, with a photo; escalates it to the community's inbox; a
second report nearby of the same category is offered the first case and attached to it; a
report outside the grid is refused in Chinese; a patrol is started, checked in twice at
different places, a case reported on it is linked, and it is ended.

Every step is a tap at the pixel or typing; the phone's position comes from the browser's
geolocation. Screenshots are kept in tests/artifacts/field-*.png.
"""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from tests.browser.conftest import AppServer, screenshot
from tests.conftest import run_cli

PW = "Field-work-2026"
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


def _png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG (a camera photo stand-in): an orange gradient."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (200, (x * 4) % 256, 40))
                    for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def field(demo_db):
    conn = demo_db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom))
                         FROM grids g JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                        ORDER BY g.code LIMIT 2""")
        (grid, lon, lat), (other, olon, olat) = cur.fetchall()
        # a leaf category with no open case in the grid: the first report has no duplicate
        cur.execute("""SELECT c.code, c.name FROM incident_categories c
                        WHERE c.parent_id IS NOT NULL AND NOT EXISTS (
                              SELECT 1 FROM incidents i JOIN grids g ON g.id = i.grid_id
                               WHERE i.category_id = c.id AND g.code = %s)
                        ORDER BY c.code LIMIT 2""", (grid,))
        (cat, cat_name), (cat2, cat2_name) = cur.fetchall()
    conn.close()
    for name, role, scope in (("f_worker", "grid_worker", grid), ("f_staff", "community_staff", grid[:12])):
        out = run_cli("users", "add", name, "--role", role, "--scope", scope, "--password-stdin",
                      url=demo_db.url, stdin=PW + "\n")
        assert out.returncode == 0, out.stderr
    server = AppServer(demo_db.url)
    yield {"url": server.url, "db": demo_db, "grid": grid, "home": (lon, lat), "other": (olon, olat),
           "cat": cat, "cat_name": cat_name, "cat2": cat2, "cat2_name": cat2_name}
    server.stop()


def _phone(browser, lon: float, lat: float):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2, user_agent=PHONE_UA, locale="zh-CN",
                              geolocation={"latitude": lat, "longitude": lon},
                              permissions=["geolocation"], bypass_csp=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return ctx, page, errors


def _sign_in(page, url: str, username: str) -> None:
    """The real form, typed and tapped; the app sends a phone from / to /field."""
    page.goto(url + "/login?next=%2F")
    for sel, text in (("#username", username), ("#password", PW)):
        _tap(page, sel)
        page.keyboard.type(text)
    _tap(page, "button[type=submit]")
    page.wait_for_selector(".field-page", timeout=30_000)


def _tap(page, selector: str) -> None:
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    assert box and box["width"] >= 1, selector
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _tap_text(page, selector: str, text: str) -> None:
    _tap(page, f"{selector}:has-text('{text}')")


def _check_phone_layout(page, name: str) -> None:
    """No horizontal scroll; every visible button at least 44 px high and inside the screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    small = page.evaluate("""() => [...document.querySelectorAll('.field-page button')]
        .filter(b => b.offsetParent !== null && !b.closest('.leaflet-control'))
        .map(b => [b.innerText, b.getBoundingClientRect()])
        .filter(([t, r]) => r.height < 44 || r.left < 0 || r.right > 390).map(([t]) => t)""")
    assert small == [], (name, small)
    screenshot(page, f"field-{name}")


def _tap_in_grid(page, inside: bool = True) -> tuple[float, float]:
    """Tap the map at a pixel inside (or outside) the grid's drawn outline."""
    page.wait_for_selector("#field-map path.leaflet-interactive, #field-map path", state="attached")
    xy = page.evaluate("""(inside) => {
        const path = document.querySelector('#field-map svg path');
        const svg = path.ownerSVGElement, m = path.getScreenCTM(), map = document.querySelector('#field-map')
              .getBoundingClientRect();
        const inv = m.inverse();
        const cx = map.left + map.width / 2, cy = map.top + map.height / 2;
        let best = null;
        for (let r = 0; r < Math.max(map.width, map.height) / 2 && !best; r += 6) {
          for (let a = 0; a < 360 && !best; a += 15) {
            const x = cx + r * Math.cos(a * Math.PI / 180), y = cy + r * Math.sin(a * Math.PI / 180);
            if (x < map.left + 60 || x > map.right - 20 || y < map.top + 20 || y > map.bottom - 40) continue;
            const p = svg.createSVGPoint(); p.x = x; p.y = y;
            const q = p.matrixTransform(inv);
            if (path.isPointInFill(q) === inside && (!inside || r > 0 || true)) best = [x, y];
          }
        }
        return best;
    }""", inside)
    assert xy, "no pixel found"
    page.touchscreen.tap(*xy)
    page.wait_for_function("document.querySelector('#field-point-text').innerText.includes('地图选点')")
    text = page.inner_text("#field-point-text")
    lat, lon = (float(v) for v in text.split("：", 1)[1].split(","))
    return lon, lat


def _select_category(page, category_name: str) -> None:
    _tap(page, "#field-category")
    option = f"[role=option]:has-text('{category_name}'):not(#field-severity *) >> visible=true"
    page.wait_for_selector(option)
    page.wait_for_timeout(300)  # the menu scrolls to the chosen item as it opens
    _tap(page, option)
    page.wait_for_function(f"document.querySelector('#field-category').innerText.includes('{category_name}')")


def _fill_report(page, category_name: str, title: str, desc: str, photo: bytes | None) -> None:
    if category_name not in page.inner_text("#field-category"):
        _select_category(page, category_name)
    _tap_text(page, "#field-severity label", "重大")
    _tap(page, "#field-title")
    page.keyboard.type(title)
    _tap(page, "#field-desc")
    page.keyboard.type(desc)
    if photo:
        page.set_input_files("#field-photo input[type=file]",
                             files=[{"name": "现场照片.png", "mimeType": "image/png", "buffer": photo}])
        page.wait_for_function("document.querySelector('#field-photo-name').innerText.includes('现场照片')")


def _message(page, selector: str, text: str) -> str:
    page.wait_for_function(
        f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText.includes({json.dumps(text)})",
        timeout=30_000)
    return page.inner_text(selector)


def _case(db, code: str) -> dict:
    out = run_cli("incidents", "show", code, url=db.url)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_grid_worker_reports_escalates_attaches_and_patrols(field, browser):
    url, db = field["url"], field["db"]
    lon, lat = field["home"]
    ctx, page, errors = _phone(browser, lon, lat)
    _sign_in(page, url, "f_worker")
    assert page.url.endswith("/field")
    page.wait_for_selector("#field-map path", state="attached")
    _check_phone_layout(page, "1-inbox")

    # 1. report: tap the map inside the grid, fill, photo, submit
    _tap_text(page, ".field-tab", "上报")
    tap_lon, tap_lat = _tap_in_grid(page)
    _fill_report(page, field["cat_name"], "井盖缺失", "人行道上井盖缺失，有行人跌落风险", _png())
    _check_phone_layout(page, "2-report-filled")
    _tap(page, "#field-submit")
    msg = _message(page, "#field-report-msg", "已上报事件")
    code = msg.split("已上报事件", 1)[1].strip().split()[0]
    case = _case(db, code)
    assert case["grid_code"] == field["grid"] and case["severity"] == "major"
    assert abs(case["lon"] - tap_lon) < 1e-5 and abs(case["lat"] - tap_lat) < 1e-5
    assert [e["photo_id"] for e in case["events"] if e["photo_id"]], "the photo was stored"
    _check_phone_layout(page, "3-reported")

    # 2. it is in the inbox; escalate it: it leaves
    _tap_text(page, ".field-tab", "待办")
    page.wait_for_selector(f".field-case[data-code='{code}']")
    _check_phone_layout(page, "4-inbox-case")
    _tap(page, f".field-case[data-code='{code}'] button:has-text('上报上级')")
    _message(page, "#field-inbox-msg", f"事件 {code} 已上报上级")
    page.wait_for_selector(f".field-case[data-code='{code}']", state="detached")
    assert _case(db, code)["state"] == "escalated"
    _check_phone_layout(page, "5-escalated")

    # 3. the community staff finds it in their inbox
    sctx, spage, serrors = _phone(browser, lon, lat)
    spage.goto(url + "/login?next=%2Ffield")
    spage.fill("#username", "f_staff")
    spage.fill("#password", PW)
    _tap(spage, "button[type=submit]")
    spage.wait_for_selector(f".field-case[data-code='{code}']", timeout=30_000)
    assert "社区级" in spage.inner_text(f".field-case[data-code='{code}']")
    assert spage.locator(".field-tab:has-text('巡查')").count() == 0
    _check_phone_layout(spage, "6-community-inbox")
    assert serrors == []
    sctx.close()

    # 4. a second report 10 m away, same category: the first case is offered; attach
    ctx.set_geolocation({"latitude": case["lat"] + 0.00009, "longitude": case["lon"]})
    _tap_text(page, ".field-tab", "上报")
    _tap(page, "#field-locate")
    page.wait_for_function("document.querySelector('#field-point-text').innerText.includes('手机定位')")
    _fill_report(page, field["cat_name"], "井盖缺失（补充）", "同一处井盖，附近居民再次反映", None)
    _tap(page, "#field-submit")
    page.wait_for_selector(f"#field-dups button[id*='{code}']")
    assert "附近 50 米内已有同类在办事件" in page.inner_text("#field-dups")
    _check_phone_layout(page, "7-duplicate-offered")
    _tap(page, f"#field-dups button[id*='{code}']")
    _message(page, "#field-report-msg", f"已补充到事件 {code}")
    attached = [e for e in _case(db, code)["events"] if e["kind"] == "duplicate_report"]
    assert len(attached) == 1 and "附近居民再次反映" in attached[0]["note"]
    _check_phone_layout(page, "8-attached")

    # 5. a report from outside the grid is refused, in Chinese
    olon, olat = field["other"]
    ctx.set_geolocation({"latitude": olat, "longitude": olon})
    _tap(page, "#field-locate")
    page.wait_for_function(f"document.querySelector('#field-point-text').innerText.includes('{olat:.6f}')")
    _fill_report(page, field["cat2_name"], "路灯不亮", "", None)
    _tap(page, "#field-submit")
    refusal = _message(page, "#field-report-msg", "网格员只能上报本网格")
    assert field["grid"] in refusal and "/" not in refusal and "grid worker" not in refusal
    _check_phone_layout(page, "9-outside-refused")

    # 6. patrol: start, two check-ins elsewhere, a case on the way (linked), end
    ctx.set_geolocation({"latitude": lat, "longitude": lon})
    _tap_text(page, ".field-tab", "巡查")
    _tap(page, "#field-patrol-start")
    _message(page, "#field-patrol", "巡查中")
    for i, (dlon, dlat) in enumerate(((0.0004, 0.0), (0.0, 0.0004)), start=2):
        ctx.set_geolocation({"latitude": lat + dlat, "longitude": lon + dlon})
        _tap(page, "#field-patrol-checkin")
        _message(page, "#field-patrol", f"已签到 {i} 次")
    _check_phone_layout(page, "10-patrol-checkins")
    _tap_text(page, ".field-tab", "上报")
    _tap(page, "#field-locate")
    page.wait_for_function("document.querySelector('#field-point-text').innerText.includes('手机定位')")
    _fill_report(page, field["cat2_name"], "垃圾堆放", "巡查发现楼下垃圾堆放", None)
    _tap(page, "#field-submit")
    msg = _message(page, "#field-report-msg", "已关联本次巡查")
    patrol_code = msg.split("已上报事件", 1)[1].strip().split("（")[0].strip()
    linked = _case(db, patrol_code)
    assert linked["patrol_id"] is not None
    _tap_text(page, ".field-tab", "巡查")
    _message(page, "#field-patrol", "本次巡查上报 1 件")
    _tap(page, "#field-patrol-end")
    _message(page, "#field-patrol-msg", "巡查已结束：签到 3 次")
    page.wait_for_selector("#field-patrol-start:not(.is-hidden)")
    _check_phone_layout(page, "11-patrol-ended")
    conn = db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT count(*), count(DISTINCT (ST_X(k.geom), ST_Y(k.geom))), bool_and(p.ended_at IS NOT NULL)
                         FROM patrols p JOIN patrol_checkins k ON k.patrol_id = p.id WHERE p.id = %s""",
                    (linked["patrol_id"],))
        assert cur.fetchone() == (3, 3, True)
    conn.close()
    assert errors == [], errors
    ctx.close()


def test_english_mode_and_a_desktop_sign_in_keep_the_wall(field, browser):
    """A desktop sign-in of the same grid worker still lands on the wall; the field page in
    English has no Chinese left in its own controls."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = ctx.new_page()
    page.goto(field["url"] + "/login?next=%2F")
    page.fill("#username", "f_worker")
    page.fill("#password", PW)
    page.press("#password", "Enter")
    page.wait_for_selector(".ga-topbar", state="attached")
    assert not page.url.endswith("/field")
    ctx.add_cookies([{"name": "lang", "value": "en", "url": field["url"]}])
    page.goto(field["url"] + "/field")
    page.wait_for_selector(".field-page")
    text = page.inner_text(".field-tabs") + page.inner_text(".field-report-section")
    assert "To do" in text and "Report" in text and "Patrol" in text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    ctx.close()
