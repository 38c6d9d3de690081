"""/incidents by clicks: server-side paging and sorting, filters kept in the URL, the export
of the filtered list (XLSX and CSV read back), a department's own cases only, a leader's
read-only case view."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from geo.incidents import service
from tests.browser.conftest import AppServer, screenshot
from tests.browser.incident_steps import actions, click, open_case, rows, sign_in
from tests.db.incident_fixtures import P1, P_GRID2, T0, seed_incident_world

N_CASES = 63


def _wait_url(page, fragment: str) -> None:
    page.wait_for_function("f => window.location.search.includes(f)", arg=fragment, timeout=10_000)


@pytest.fixture(scope="module")
def list_app(empty_db):
    who = seed_incident_world(empty_db, prefix="P")
    codes = []
    for i in range(N_CASES):
        point = P1 if i % 2 else P_GRID2
        case = service.report(who["grid_worker"] if i % 2 else who["grid_worker2"], lon=point[0],
                              lat=point[1], category="C1" if i % 3 else "C2",
                              severity="major" if i % 4 == 0 else "ordinary", title=f"测试事件{i:03d}",
                              now=T0 + timedelta(minutes=i))
        codes.append(case["code"])
    op = who["operator"]
    for i, code in enumerate(codes[:10]):  # five to D1 (C1 routes there), five to D2
        case = service.show(op, code)
        while case["level"] != "district":
            lvl_actor = {"grid": who["grid_worker"] if case["grid_code"].endswith("1") else
                         who["grid_worker2"], "community": who["community_staff"],
                         "street": who["street_operator"]}[case["level"]]
            case = service.transition(lvl_actor, code, "escalated", now=T0 + timedelta(hours=2))
        service.transition(op, code, "filed", now=T0 + timedelta(hours=2))
        service.transition(op, code, "dispatched", department="D1" if i < 5 else "D2",
                           now=T0 + timedelta(hours=2))
    server = AppServer(empty_db.url)
    yield server, codes
    server.stop()


def test_paging_sorting_filters_url_and_export(list_app, new_page):
    server, codes = list_app
    page, console = sign_in(new_page, server.url, "P_operator", "/incidents")
    first = rows(page)
    assert len(first) == 50 and first[0] == codes[-1]  # newest first, 50 a page
    assert "共 63 件" in page.inner_text("#inc-status")
    click(page, page.locator("#inc-next"))
    page.wait_for_function("document.querySelector('#inc-status').innerText.includes('第 2 / 2 页')")
    assert rows(page) == list(reversed(codes))[50:]
    _wait_url(page, "page=2")
    # sort: oldest first (a click on the menu, the option chosen by keys)
    click(page, page.locator("#inc-f-sort"))
    click(page, page.get_by_role("option", name="上报时间（旧到新）"))
    page.wait_for_function(f"(document.querySelector('#incident-list tr.inc-row') || {{}}).title === '{codes[0]}'")
    _wait_url(page, "sort=reported_asc")
    assert "page=2" not in page.url
    # free text: typed as a Chinese input method commits it (the whole phrase at once), Enter;
    # Escape first closes the sort menu, which would otherwise take the click
    page.keyboard.press("Escape")
    click(page, page.locator("#inc-f-text"))
    page.keyboard.insert_text("测试事件00")
    assert page.locator("#inc-f-text").input_value() == "测试事件00"
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#inc-status').innerText.includes('共 10 件')")
    assert set(rows(page)) == set(codes[:10])
    _wait_url(page, "q=")
    screenshot(page, "incidents-list-filtered")
    # the URL keeps the filters: reload it and get the same list
    page.goto(page.url)
    page.wait_for_function("document.querySelector('#inc-status') && "
                           "document.querySelector('#inc-status').innerText.includes('共 10 件')")
    assert page.locator("#inc-f-text").input_value() == "测试事件00"
    # export of the filtered list, every page of it
    with page.expect_download() as dl:
        click(page, page.locator("#inc-export-xlsx"))
    ws = load_workbook(io.BytesIO(open(dl.value.path(), "rb").read())).active
    table = list(ws.values)
    assert table[0][:5] == ("编号", "标题", "类别", "紧急程度", "状态")
    assert sorted(r[0] for r in table[1:]) == sorted(codes[:10])
    assert {r[4] for r in table[1:]} == {"已派遣"}
    with page.expect_download() as dl:
        click(page, page.locator("#inc-export-csv"))
    raw = open(dl.value.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0][0] == "编号" and len(lines) == 11
    assert not console.errors, console.errors


def test_department_sees_its_own_cases_and_leader_reads_only(list_app, new_page):
    server, codes = list_app
    page, console = sign_in(new_page, server.url, "P_department", "/incidents")
    own = rows(page)
    assert sorted(own) == sorted(codes[:5])
    _wait_url(page, "department=D1")  # the address follows the list once it has loaded
    page.goto(server.url + "/incidents?department=D2")  # the URL cannot widen it
    page.wait_for_selector("#inc-status")
    assert sorted(rows(page)) == sorted(codes[:5])
    open_case(page, codes[0])
    assert actions(page) == ["accept", "defer_request"]
    screenshot(page, "incidents-department")
    page.close()
    page, console = sign_in(new_page, server.url, "P_department2", "/incidents?view=inbox")
    assert sorted(rows(page)) == sorted(codes[5:10])
    page.close()
    page, console = sign_in(new_page, server.url, "P_leader", "/incidents")
    assert len(rows(page)) == 50
    open_case(page, codes[-1])
    assert page.locator(".inc-form").count() == 0
    assert page.locator(".inc-case button.ga-btn-primary").count() == 0
    assert "领导只读" in page.inner_text(".inc-actions")
    click(page, page.locator("#inc-view label", has_text="我的待办"))
    page.wait_for_function("document.querySelector('#inc-table').innerText.includes('没有待办')")
    screenshot(page, "incidents-leader")
    assert not console.errors, console.errors
    assert re.search(r"view=inbox", page.url)
