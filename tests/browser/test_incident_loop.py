"""The whole incident loop as five people, by clicks on /field and /incidents, seen on the wall.

The grid worker, on the phone page (/field at 390 x 844, by taps and typing), reports the
case where they stand (the phone's location, category, severity, title, description, a
photo), finds it in the phone's inbox and escalates it there; every other step is a click at
the pixel on /incidents by the user whose turn it is: community staff and street operator
escalate, the district operator files and dispatches (the routed department proposed), the
department accepts and handles (a note and a photo), the operator verifies and closes. The
wall (``/``) shows the dispatch in 今日派遣 and the case in its ticker; a second run returns
the case once for rework. Each role's inbox holds the case only on its turn.
"""

from __future__ import annotations

import json
import re
import struct
import zlib

import pytest

from tests.browser.conftest import AppServer, screenshot
from tests.browser.incident_steps import (
    act,
    actions,
    click,
    errors,
    escalate_on_phone,
    open_case,
    phone_sign_in,
    report_on_phone,
    rows,
    sign_in,
    wait_in_phone_inbox,
)
from tests.conftest import ARTIFACTS, run_cli
from tests.db.incident_fixtures import P1, seed_incident_world


def _png(width: int = 2, height: int = 2) -> bytes:
    """A small red PNG, built by hand (signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = _png()


@pytest.fixture(scope="module")
def loop_app(empty_db):
    seed_incident_world(empty_db, prefix="L")
    server = AppServer(empty_db.url)
    yield server, empty_db
    server.stop()


def _report(new_page, base: str, tdb, title: str, shot: str) -> str:
    """The grid worker, standing at P1 with their phone, reports the case on /field and
    escalates it from the phone's inbox."""
    page, console = phone_sign_in(new_page, base, "L_grid_worker", *P1)
    code = report_on_phone(page, "占道经营", "重大", title, "人行道上有摊位", photo=PNG)
    screenshot(page, f"{shot}-1-phone-reported")
    shown = run_cli("incidents", "show", code, url=tdb.url)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert (case["state"], case["severity"], case["grid_code"], case["title"]) == (
        "reported", "major", "990100001001001", title), case
    assert abs(case["lon"] - P1[0]) < 1e-6 and abs(case["lat"] - P1[1]) < 1e-6, case
    assert [e for e in case["events"] if e["photo_id"]], "the photo from the phone was stored"
    wait_in_phone_inbox(page, code)
    screenshot(page, f"{shot}-1-phone-inbox")
    escalate_on_phone(page, code)
    screenshot(page, f"{shot}-1-phone-escalated")
    assert not console.errors, "\n".join(console.errors + errors(page))
    page.close()
    return code


def _wall(new_page, base: str, title: str, name: str, *, dispatched: int | None = None,
          ticker_word: str | None = None) -> tuple[int, str]:
    """The wall's dispatched-today KPI and ticker, once they show ``dispatched`` and
    ``ticker_word`` when given: walls of one scope share a read for WALL_CACHE_SECONDS (a
    value past it is renewed behind the scenes), so a change shows within two of those
    periods and the next refresh, as a command centre sees it."""
    page, console = sign_in(new_page, base, "L_operator", "/")
    page.wait_for_function("(document.querySelector('#cmd-kpi-dispatched') || {}).textContent"
                           " && document.querySelector('#cmd-kpi-dispatched').textContent !== '–'",
                           timeout=30_000)
    page.wait_for_selector("#cmd-ticker", state="attached", timeout=30_000)
    if dispatched is not None:
        page.wait_for_function(
            "n => (document.querySelector('#cmd-kpi-dispatched').textContent || '')"
            ".replace(/\\D/g, '') === String(n)", arg=dispatched, timeout=60_000)
    if ticker_word is not None:
        page.wait_for_function("w => (document.querySelector('#cmd-ticker').innerText || '').includes(w)",
                               arg=ticker_word, timeout=60_000)
    screenshot(page, name)
    dispatched = int(re.sub(r"\D", "", page.inner_text("#cmd-kpi-dispatched")) or 0)
    ticker = page.inner_text("#cmd-ticker")
    page.close()
    return dispatched, ticker


def _step(new_page, base, user, code, action, note, shot, others=()):
    page, console = sign_in(new_page, base, user)
    assert code in rows(page), f"{user}: the case is not in their inbox"
    open_case(page, code)
    assert action in actions(page), (user, actions(page))
    act(page, action, note)
    screenshot(page, shot)
    assert not console.errors, "\n".join(console.errors + errors(page))
    page.close()
    for other in others:  # not their turn: not in their inbox
        p2, _ = sign_in(new_page, base, other)
        assert code not in rows(p2), f"{other} sees {code} in their inbox"
        p2.close()


def _run(new_page, base, tdb, title, shot, rework: bool) -> str:
    before, _ = _wall(new_page, base, title, f"{shot}-0-wall-before")
    code = _report(new_page, base, tdb, title, shot)
    p2, _ = sign_in(new_page, base, "L_street_operator")  # not the street's turn yet
    assert code not in rows(p2), f"L_street_operator sees {code} in their inbox"
    p2.close()
    _step(new_page, base, "L_community_staff", code, "escalate", "社区协调未果", f"{shot}-2-community",
          others=("L_grid_worker", "L_operator"))
    _step(new_page, base, "L_street_operator", code, "escalate", "需区级派遣", f"{shot}-3-street",
          others=("L_community_staff", "L_department"))
    # the district operator files, then dispatches to the routed department (D1, proposed)
    page, console = sign_in(new_page, base, "L_operator")
    open_case(page, code)
    act(page, "file", "立案")
    assert page.locator(".inc-form-dispatch .dash-dropdown").inner_text().strip().startswith("D1")
    act(page, "dispatch", "请尽快处置")
    screenshot(page, f"{shot}-4-operator-dispatched")
    assert "已派遣" in page.inner_text(".inc-facts")
    page.close()
    after, ticker = _wall(new_page, base, title, f"{shot}-5-wall-dispatched", dispatched=before + 1,
                          ticker_word="已派遣")
    assert after == before + 1, (before, after)
    assert title in ticker
    # the department accepts and handles, with a note and a photo chosen by a click
    page, console = sign_in(new_page, base, "L_department")
    open_case(page, code)
    act(page, "accept", "已受理")
    form = page.locator(".inc-form-handle")
    form.wait_for()
    with page.expect_file_chooser() as chooser:
        click(page, form.locator(".inc-upload"))
    chooser.value.set_files(files=[{"name": "现场.png", "mimeType": "image/png", "buffer": PNG}])
    page.wait_for_function("(document.querySelector('.inc-photo-name') || {}).textContent")
    act(page, "handle", "摊位已清理")
    page.wait_for_function("(document.querySelector('.inc-ev-photo') || {}).complete")
    assert page.evaluate("document.querySelector('.inc-ev-photo').naturalWidth") == 2
    screenshot(page, f"{shot}-6-department-handled")
    page.close()
    p2, _ = sign_in(new_page, base, "L_department2")  # another department never sees it
    assert code not in rows(p2)
    p2.close()
    page, console = sign_in(new_page, base, "L_operator")
    open_case(page, code)
    if rework:
        act(page, "return", "仍有摊位，退回重办")
        assert "已退回" in page.inner_text(".inc-facts")
        screenshot(page, f"{shot}-7-operator-returned")
        page.close()
        page, _ = sign_in(new_page, base, "L_department")
        open_case(page, code)
        act(page, "handle", "再次清理完毕")
        page.close()
        page, console = sign_in(new_page, base, "L_operator")
        open_case(page, code)
    act(page, "verify", "核查通过")
    act(page, "close", "结案")
    assert "已结案" in page.inner_text(".inc-facts")
    timeline = page.inner_text(".inc-timeline")
    for word in ("已上报", "已上报上级", "已立案", "已派遣", "已受理", "已处置", "已核查", "已结案", "社区", "街道"):
        assert word in timeline, word
    screenshot(page, f"{shot}-8-operator-closed")
    assert not console.errors, console.errors
    page.close()
    _, ticker = _wall(new_page, base, title, f"{shot}-9-wall-closed", ticker_word="已结案")
    assert "已结案" in ticker
    return code


def test_loop_five_users(loop_app, new_page):
    server, tdb = loop_app
    _run(new_page, server.url, tdb, "占道经营一号", "loop", rework=False)


def test_loop_with_rework(loop_app, new_page):
    server, tdb = loop_app
    code = _run(new_page, server.url, tdb, "占道经营二号", "loop-rework", rework=True)
    assert (ARTIFACTS / "loop-rework-7-operator-returned.png").exists()
    assert tdb.scalar("SELECT count(*) FROM incident_events e JOIN incidents i ON i.id = e.incident_id"
                      " WHERE i.code = %s AND e.to_state = 'returned'", (code,)) == 1
