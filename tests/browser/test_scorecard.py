"""The department scorecard and patrol coverage on /review, and the ranking sheet of the print
view, by clicks, against hand counts.

On the tiny place: a case in grid 001 on which the street blew a quick whistle summoning D1
and D2 (D1 reported in, D2 did not); a patrol walking 116.0 -> 116.001 along TRACK_Y, with
four buildings in grid 001 at 35, 45, 55 and 80 m north of the line and one in grid 002
17 m east of its end (as tests/db/test_patrols.py). The street operator sees the ranking
(D1 first: 1 of 1 on time; D2: 0 of 1) and the coverage (grid 001 2 of 4, 50.0%; grid 002 1
of 1, 100.0%), opens the print view from the section's button, sees the sheet and downloads
it as PDF. A planner (view.review without the scorecard) does not see the sections.
Screenshots in tests/artifacts/scorecard-*.png.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click
from tests.conftest import run_cli
from tests.db.incident_fixtures import P1, PW, seed_incident_world

M_LAT = 111_035.0  # metres per degree of latitude at 40 N
TRACK_Y = 40.0001
BUILDINGS = [  # (code, lower-left lon, metres north of TRACK_Y, grid)
    ("SB1", 116.0005, 35.0, "990100001001001"),
    ("SB2", 116.0005, 45.0, "990100001001001"),
    ("SB3", 116.0005, 55.0, "990100001001001"),
    ("SB4", 116.0005, 80.0, "990100001001001"),
    ("SB5", 116.0012, 0.0, "990100001001002"),
]


def _square(x: float, y: float, side_m: float = 2.0) -> str:
    dx, dy = side_m / 85_394.0, side_m / M_LAT
    return f"MULTIPOLYGON((({x} {y}, {x + dx} {y}, {x + dx} {y + dy}, {x} {y + dy}, {x} {y})))"


def _cli(db, *args) -> dict:
    proc = run_cli(*args, url=db.url)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def app(empty_db):
    seed_incident_world(empty_db, prefix="S")
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        for code, x, north, grid in BUILDINGS:
            y = TRACK_Y + north / M_LAT
            cur.execute(
                """INSERT INTO buildings (code, community_id, grid_id, geom, pt, source)
                   SELECT %s, g.community_id, g.id, ST_GeomFromText(%s, 4326),
                          ST_PointOnSurface(ST_GeomFromText(%s, 4326)), 'synthetic'
                     FROM grids g WHERE g.code = %s""", (code, _square(x, y), _square(x, y), grid))
    conn.close()
    code = _cli(empty_db, "incidents", "report", "--lon", str(P1[0]), "--lat", str(P1[1]), "--category",
                "C1", "--severity", "major", "--title", "下水道堵塞", "--as", "S_grid_worker")["code"]
    _cli(empty_db, "incidents", "whistle", code, "--kind", "quick", "--departments", "D1,D2",
         "--as", "S_street_operator")
    _cli(empty_db, "incidents", "report-in", code, "--as", "S_department", "--note", "已到场")
    _cli(empty_db, "patrols", "start", "--as", "S_grid_worker", "--lon", "116.0", "--lat", str(TRACK_Y))
    _cli(empty_db, "patrols", "checkin", "--as", "S_grid_worker", "--lon", "116.001", "--lat", str(TRACK_Y))
    _cli(empty_db, "patrols", "end", "--as", "S_grid_worker")
    server = AppServer(empty_db.url)
    yield server.url, empty_db
    server.stop()


def _cells(page, selector: str) -> list[list[str]]:
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rs => rs.map(r => [...r.cells].map(c => c.innerText.trim()))")


def test_street_leader_reads_prints_and_downloads_the_ranking(app, new_page):
    url, db = app
    page, console = new_page(1600, 1000, locale="zh-CN")
    login(page, url, "S_street_operator", PW, "/review")
    page.wait_for_selector("#rv-sc-table-tbl", timeout=90_000)
    # the review's own figures (name, rankings, chart) are in: the page has its final layout
    page.wait_for_function("document.querySelector('#rv-area-name').innerText.length > 0"
                           " && document.querySelector('#rv-communities').children.length > 0", timeout=90_000)
    rows = _cells(page, "#rv-sc-table-tbl")
    # rank, department, whistles, on time, median minutes, due, on-time rate, rework, satisfaction
    assert [r[:4] for r in rows] == [["1", "D1 城管局", "1", "1/1"], ["2", "D2 水务局", "1", "0/1"]], rows
    assert rows[0][4] != "—" and rows[1][4] == "—" and rows[0][5:] == ["0", "—", "0", "—"], rows
    heads = page.locator("#rv-sc-table-tbl thead th").all_inner_texts()
    assert heads[:4] == ["排名", "部门", "被吹哨次数", "按时报到"], heads

    page.wait_for_selector("#rv-pc-table-tbl", timeout=90_000)
    cov = {r[0]: r[1:] for r in _cells(page, "#rv-pc-table-tbl")}
    assert cov["990100001001001"] == ["4", "2", "50.0%"], cov
    assert cov["990100001001002"] == ["1", "1", "100.0%"], cov
    # least covered first
    order = [r[0] for r in _cells(page, "#rv-pc-table-tbl") if r[3].endswith("%")]
    assert order.index("990100001001001") < order.index("990100001001002")
    assert "已覆盖 3 栋" in page.inner_text("#rv-pc-summary")
    # the section is the thing seen at its centre (not under another panel)
    sec = page.locator("#rv-sc")
    sec.scroll_into_view_if_needed()
    box = sec.bounding_box()
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('#rv-sc')",
                         [box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 300)])
    screenshot(page, "scorecard-1-review")
    page.locator("#rv-pc").scroll_into_view_if_needed()
    screenshot(page, "scorecard-2-coverage")

    # the print view, from the section's button (a new tab), at the ranking sheet
    with page.context.expect_page(timeout=60_000) as popup:
        click(page, page.locator("#rv-sc-print"), settle=True)
    sheet = popup.value
    sheet.wait_for_selector("#rvp-sc-frame", timeout=90_000)
    frame = sheet.frame_locator("#rvp-sc-frame")
    body = frame.locator("table").inner_text(timeout=30_000)
    assert "D1 城管局" in body and "1/1" in body and "0/1" in body
    assert "部门考核排名" in frame.locator("h1").inner_text()
    # no column cut off: the table fits the sheet's width
    fits = frame.locator("table").evaluate("t => t.scrollWidth <= t.parentElement.clientWidth + 1")
    assert fits
    sheet.locator("#rvp-sc-frame").scroll_into_view_if_needed()
    screenshot(sheet, "scorecard-3-print-view")
    with sheet.expect_download(timeout=120_000) as dl:
        click(sheet, sheet.locator("#rvp-sc-pdf"), settle=True)
    data = open(dl.value.path(), "rb").read()
    assert data.startswith(b"%PDF") and dl.value.suggested_filename.startswith("scorecard-990100001-")
    # A4 landscape: 842 x 595 points, every page
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert boxes and all(round(float(w)) == 842 and round(float(h)) == 595 for w, h in boxes), boxes
    assert console.errors == [], console.errors

    # a planner reads the review but not the scorecard: the sections are not shown
    page2, _ = new_page(1600, 1000, locale="zh-CN")
    login(page2, url, "S_planner", PW, "/review")
    page2.wait_for_selector("#rv-sc", state="attached", timeout=60_000)
    assert page2.locator("#rv-sc").is_hidden() and page2.locator("#rv-pc").is_hidden()
