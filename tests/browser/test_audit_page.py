"""The audit log in a real browser, in Chinese: actions and roles by their Chinese names, a
readable before → after per entry with the raw record a click away, the action filter, and
date pickers with Chinese month and weekday names and placeholders."""

from __future__ import annotations

import re

import pytest

from geo import db
from geo.access import audit, users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot

PW = "Audit-leader-pw1"


@pytest.fixture(scope="module")
def audit_app(demo_db):
    users.add_user(SYSTEM, "au_leader", "leader", PW, "990100")
    users.add_user(SYSTEM, "au_worker", "grid_worker", "Audit-worker-pw1", "990100001001")
    users.set_disabled(SYSTEM, "au_worker", True)
    # an incident step written in the shape geo/incidents/service.py writes it
    with db.transaction() as cur:
        audit.record(cur, SYSTEM, "incident.dispatch", target="AU-CASE-1", scope_code="990100001",
                     detail={"from_state": "filed", "to_state": "dispatched", "level": "district",
                             "department": "城管"})
        # enumerated values in the shapes the code writes them: each must read as words
        audit.record(cur, SYSTEM, "incident.create", target="AU-CASE-2", scope_code="990100001",
                     detail={"category": "C0101", "severity": "major", "level": "grid", "triage": "public",
                             "possible_duplicates": [], "patrol_id": None})
        audit.record(cur, SYSTEM, "incident.triage", target="AU-CASE-3", scope_code="990100001",
                     detail={"before": "public", "after": "shared"})
        audit.record(cur, SYSTEM, "incident.verify", target="AU-CASE-4", scope_code="990100001",
                     detail={"from_state": "handled", "to_state": "closed", "level": "community",
                             "triage": {"before": "self", "after": "public"}})
        audit.record(cur, SYSTEM, "incident.whistle", target="AU-CASE-5", scope_code="990100001",
                     detail={"whistle_id": 7, "kind": "emergency", "level": "street",
                             "due_at": "2026-12-01 08:00:00+00:00", "departments": ["D01"]})
        audit.record(cur, SYSTEM, "patrol.end", target="patrol:9", scope_code="990100001001001",
                     detail={"reason": "timeout", "ended_at": "2026-12-01 09:00:00+00:00", "worker": "w"})
        audit.record(cur, SYSTEM, "grid_roles.clear", target="990100001001001",
                     scope_code="990100001001001", detail={"role": "leader", "previous": {"name": "张三"}})
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _centre(page, locator):
    locator.wait_for(state="visible", timeout=60000)
    page.wait_for_timeout(300)  # a list that is still filtering moves its options
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_audit_in_chinese(audit_app, new_page):
    page, console = new_page(locale="en-US")  # the app's language, not the browser's, decides
    page.context.add_cookies([{"name": "lang", "value": "zh", "url": audit_app.url}])
    login(page, audit_app.url, "au_leader", PW, "/audit")
    page.wait_for_selector("#audit-entries", timeout=30000)
    table = page.inner_text("#audit-entries")
    # actions and roles in Chinese, never their keys
    assert "新增用户" in table and "停用用户" in table and "立案派遣" in table
    assert "系统管理员" in table
    assert not re.search(r"\b(user\.add|incident\.dispatch|admin)\b", table), table
    # the summary: a state move in words, the role given to the new user, no raw JSON visible
    row = page.locator("#audit-entries tr", has_text="AU-CASE-1")
    text = row.inner_text()
    assert "已立案" in text and "已派遣" in text and "→" in text and "城管" in text
    assert "{" not in text and "from_state" not in text
    assert "角色：网格员" in table  # user.add records the new user's role
    # every enumerated value in words: triage, severity, levels, states, kinds, slots, reasons
    rows = {c: page.locator("#audit-entries tr", has_text=c).inner_text()
            for c in ("AU-CASE-2", "AU-CASE-3", "AU-CASE-4", "AU-CASE-5", "patrol:9")}
    assert "分流：公共事务" in rows["AU-CASE-2"] and "紧急程度：重大" in rows["AU-CASE-2"], rows["AU-CASE-2"]
    assert "层级：网格" in rows["AU-CASE-2"]
    assert "分流：公共事务 → 互助事务" in rows["AU-CASE-3"], rows["AU-CASE-3"]
    assert "已处置 → 已结案" in rows["AU-CASE-4"] and "分流：自我事务 → 公共事务" in rows["AU-CASE-4"]
    assert "类型：应急哨" in rows["AU-CASE-5"] and "层级：街道" in rows["AU-CASE-5"], rows["AU-CASE-5"]
    assert "2026年12月1日 16:00" in rows["AU-CASE-5"], rows["AU-CASE-5"]  # the deadline as a local time
    assert "原因：超时自动结束" in rows["patrol:9"], rows["patrol:9"]
    assert "角色：网格长" in page.locator("#audit-entries tr", has_text="清除网格角色").inner_text()
    raw_words = re.compile(r"\b(public|shared|self|ordinary|major|complex|grid|community|street|district|"
                           r"handled|closed|emergency|quick|tough|timeout|worker|leader|party|planner|"
                           r"grid_worker|unknown)\b")
    assert not raw_words.search(table), raw_words.findall(table)
    # the raw record opens with a click on its summary line
    raw = row.locator("details.audit-details")
    assert not raw.locator("pre").is_visible()
    _centre(page, raw.locator("summary"))
    raw.locator("pre").wait_for(state="visible")
    assert '"from_state": "filed"' in raw.locator("pre").inner_text()
    screenshot(page, "audit-zh")
    # date pickers: Chinese placeholders, Chinese month and weekday names in the calendar
    placeholders = [page.get_attribute(f"#audit-{w}", "placeholder") for w in ("from", "to")]
    assert placeholders == ["开始日期", "结束日期"], placeholders
    _centre(page, page.locator("#audit-from"))
    page.wait_for_timeout(800)
    cal = page.evaluate("document.body.innerText")
    assert re.search(r"20\d\d年\d{1,2}月", cal), cal[-400:]
    assert "一" in cal and "六" in cal
    assert not re.search(r"\b(Mo|Tu|We|Th|Fr|Sa|Su|January|February|March|April|May|June|July|August"
                         r"|September|October|November|December)\b", cal), cal[-400:]
    screenshot(page, "audit-zh-calendar")
    assert not [e for e in console.errors if "favicon" not in e], console.errors


def test_every_action_has_a_chinese_label():
    """Every permission key and every action name the code writes to the log is labelled; a
    new action written without a label fails here."""
    from pathlib import Path

    from geo.access.permissions import ACTIONS
    from layouts.strings_audit import ACTION_LABELS

    root = Path(__file__).resolve().parents[2] / "geo"
    written = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'audit\.record\(\s*cur,\s*[\w.]+,\s*"([\w.]+)"', text))
        written |= set(re.findall(r'_audit\(\s*cur,\s*actor,\s*"([\w.]+)"', text))
        written |= set(re.findall(r'audit\(\s*cur,\s*actor=[^,]*,\s*action="([\w.]+)"', text))
        written |= set(re.findall(r'^ACTION = "([\w.]+)"', text, re.M))
    assert {"user.add", "incident.tick", "demo_load", "import"} <= written, written
    missing = (set(ACTIONS) | written) - set(ACTION_LABELS)
    assert not missing, f"actions without a Chinese label in layouts/strings_audit.py: {sorted(missing)}"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in zh) for zh, _ in ACTION_LABELS.values())
