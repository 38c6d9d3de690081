"""The planner's workbench in a real browser: rebalance a demo community in a background
job, commit it, see the new grids on the wall, and restore the old version."""

from __future__ import annotations

import pytest

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click

PW = "plan-planner-pw1"


@pytest.fixture(scope="module")
def plan_app(demo_db):
    users.add_user(SYSTEM, "p_planner", "planner", PW, "990100")
    users.add_user(SYSTEM, "p_leader", "leader", PW, "990100")
    server = AppServer(demo_db.url, {"REFRESH_SECONDS": "2"})
    yield server
    server.stop()


def _smallest_community(demo_db) -> str:
    return demo_db.scalar(
        """SELECT c.code FROM communities c JOIN buildings b ON b.community_id = c.id
            GROUP BY c.code ORDER BY count(*) LIMIT 1""")


def test_rebalance_commit_see_on_wall_and_restore(plan_app, demo_db, new_page):
    code = _smallest_community(demo_db)
    versions_before = demo_db.scalar(
        "SELECT count(*) FROM grid_versions v JOIN communities c ON c.id = v.community_id "
        "WHERE c.code = %s", (code,))
    page, console = new_page()
    login(page, plan_app.url, "p_planner", PW, f"/plan?community={code}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)
    page.click("#plan-run")
    # the background job reports progress and lands a proposal with its table and gate
    page.wait_for_function(
        "document.querySelector('#plan-grid-table') || "
        "document.querySelector('#plan-status').innerText.length > 0", timeout=120000)
    status = page.inner_text("#plan-status")
    page.wait_for_selector("#plan-grid-table", timeout=30000)
    assert status
    n_proposed = page.locator("#plan-grid-table tbody tr").count()
    assert n_proposed >= 2
    assert page.inner_text("#plan-gate")
    # the Chinese UI names statuses and rules in Chinese, not with the engine's keys
    cells = page.locator("#plan-grid-table tbody td").all_inner_texts()
    assert {"保留", "新增"} & set(cells)
    assert not {"kept", "new", "band", "contiguity", "one_piece"} & set(cells)
    assert "band" not in page.inner_text("#plan-gate")
    screenshot(page, "plan-proposal")
    if page.locator("#plan-commit[disabled]").count():
        # grids outside the band block the commit until the planner accepts them
        page.check("#plan-accept-band input[type=checkbox]")
    page.wait_for_selector("#plan-commit:not([disabled])")
    page.fill("#plan-note", "browser test")
    page.click("#plan-commit")
    page.wait_for_selector("#plan-commit-msg .ga-ok", timeout=60000)
    current = demo_db.scalar(
        """SELECT count(*) FROM grids g JOIN grid_versions v ON v.id = g.version_id
             JOIN communities c ON c.id = g.community_id
            WHERE c.code = %s AND v.is_current""", (code,))
    assert current == n_proposed
    assert demo_db.scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'grids.commit' AND actor = 'p_planner'") == 1

    # the wall shows the committed grids of that community
    wall, wall_console = new_page()
    login(wall, plan_app.url, "p_planner", PW, f"/?community={code}")
    # every grid of the new version drawn (grid outlines have their own colour)
    wall.wait_for_function(
        f"document.querySelectorAll('path[stroke=\"#6b8cce\"]').length === {current}",
        timeout=30000)
    screenshot(wall, "plan-committed-on-wall")

    # restore the first version from the versions table: the page asks first (the issue
    # made restoring a two-step action), nothing is written until it is confirmed
    committed_msg = page.inner_text("#plan-commit-msg")
    click(page, page.locator("#plan-versions button:not([disabled])").first)
    page.wait_for_selector("#plan-restore-box:not([hidden])", timeout=30000)
    assert page.inner_text("#plan-commit-msg") == committed_msg
    page.click("#plan-restore-yes")
    page.wait_for_function(
        f"document.querySelector('#plan-commit-msg').innerText !== {committed_msg!r}",
        timeout=60000)
    assert "已恢复为第" in page.inner_text("#plan-commit-msg")
    screenshot(page, "plan-restored")

    # compare the first and the committed version: statuses in Chinese
    for sel, label in (("#plan-cmp-a", "v1"), ("#plan-cmp-b", "v2")):
        page.click(sel)
        click(page, page.get_by_role("option", name=label, exact=True))
    page.wait_for_selector("#plan-compare-table", timeout=30000)
    statuses = set(page.locator("#plan-compare-table tbody td:nth-child(2)").all_inner_texts())
    assert statuses and statuses <= {"保留", "新增", "撤销"}
    assert page.inner_text("#plan-compare p").startswith("v1 → v2 · ")
    screenshot(page, "plan-compare")
    assert demo_db.scalar(
        "SELECT count(*) FROM grid_versions v JOIN communities c ON c.id = v.community_id "
        "WHERE c.code = %s", (code,)) == versions_before + 2
    assert demo_db.scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'grids.restore'") == 1
    assert console.errors == [] and wall_console.errors == []


def test_gate_tells_the_planner_a_region_cannot_be_put_in_band(plan_app, new_page):
    """990100002003 has no partition in band (the engine proves it): the gate says so in
    Chinese, with the region's numbers, so the planner does not chase the red grids."""
    page, console = new_page()
    login(page, plan_app.url, "p_planner", PW, "/plan?community=990100002003")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=30000)
    page.click("#plan-run")
    page.wait_for_selector("#plan-grid-table", timeout=120000)
    page.wait_for_selector("#plan-gate .ga-gate-proof", timeout=30000)
    gate = page.inner_text("#plan-gate")
    assert "户数超出区间" in gate
    assert "已证明无法全部满足户数区间" in gate
    assert "114 栋楼、5020 户：任何连通的楼栋组合都无法全部落在区间内" in gate
    assert "cover" not in gate and "household" not in gate
    screenshot(page, "plan-proven-infeasible")
    assert console.errors == []


def test_leader_sees_plans_read_only(plan_app, demo_db, new_page):
    code = _smallest_community(demo_db)
    page, console = new_page()
    login(page, plan_app.url, "p_leader", PW, f"/plan?community={code}")
    page.wait_for_selector(".ga-readonly:has-text('只读')")
    assert page.locator("#plan-run[disabled]").count() == 1
    assert page.locator("#plan-commit[disabled]").count() == 1
    assert console.errors == []
