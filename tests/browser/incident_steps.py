"""Clicks and keys of a person working cases on /incidents (shared by the incident browser
tests): every step at the pixel centre of what is seen, text typed on the keyboard."""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import login

PW = "incident-password-1"
# console.error's arguments in full (Dash's messages are cut short in the console text)
_KEEP_ERRORS = """window.__errs = []; (function () { const e = console.error; console.error = function () {
  try { window.__errs.push(JSON.stringify(Array.from(arguments)).slice(0, 2000)); } catch (x) {}
  return e.apply(console, arguments); }; })();"""


def errors(page) -> list[str]:
    return page.evaluate("window.__errs || []")


def click(page, locator) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box, f"not visible: {locator}"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def type_into(page, locator, text: str) -> None:
    click(page, locator)
    page.keyboard.type(text)


def choose(page, dropdown, text: str) -> None:
    """Pick an option of a dcc.Dropdown: click it, type, Enter."""
    click(page, dropdown)
    page.keyboard.type(text)
    page.wait_for_selector(".Select-menu-outer, .dash-dropdown .VirtualizedSelectOption, [role=option]",
                           timeout=10_000)
    page.keyboard.press("Enter")


def sign_in(new_page, base: str, username: str, path: str = "/incidents?view=inbox"):
    page, console = new_page(1600, 1000)
    page.add_init_script(_KEEP_ERRORS)
    login(page, base, username, PW, path)
    if path.startswith("/incidents"):
        page.wait_for_selector("#inc-status", state="attached")
    return page, console


def wait_list(page) -> None:
    page.wait_for_function(
        "document.querySelector('#inc-table') && !document.querySelector('#inc-table')"
        ".closest('[data-dash-is-loading=true]') && document.querySelector('#inc-table').children.length > 0")


def rows(page) -> list[str]:
    wait_list(page)
    return page.locator("#incident-list tr.inc-row").evaluate_all("rs => rs.map(r => r.title)")


def open_case(page, code: str) -> None:
    wait_list(page)
    page.wait_for_selector(f"#incident-list tr[title='{code}']", timeout=15_000)
    click(page, page.locator(f"#incident-list tr[title='{code}'] td.inc-title"))
    page.wait_for_function(
        f"(document.querySelector('.inc-case-code') || {{}}).textContent === '{code}'", timeout=15_000)


def act(page, action: str, note: str | None = None, expect_ok: bool = True) -> str:
    """Fill the form of ``action`` (its note) and press its button; the message shown."""
    form = page.locator(f".inc-form-{action}")
    form.wait_for(state="visible", timeout=15_000)
    if note is not None:
        type_into(page, form.locator("textarea"), note)
    version = page.locator(".inc-actions").get_attribute("data-version")
    before = page.inner_text(".inc-act-msg")
    click(page, form.locator("button.ga-btn"))
    page.wait_for_function(
        "b => { const m = document.querySelector('.inc-act-msg'); return m && m.innerText !== b"
        " && m.querySelector('.ga-ok, .ga-bad'); }", arg=before, timeout=20_000)
    msg = page.inner_text(".inc-act-msg")
    if expect_ok:
        assert page.locator(".inc-act-msg .ga-ok").count() == 1, msg
        page.wait_for_function(  # the case redrawn after the step
            f"(document.querySelector('.inc-actions') || {{dataset: {{}}}}).dataset.version !== '{version}'",
            timeout=15_000)
    return msg


def actions(page) -> list[str]:
    return page.locator(".inc-form").evaluate_all(
        "fs => fs.map(f => [...f.classList].find(c => c.startsWith('inc-form-')).slice(9))")


# ----------------------------------------------------------------------------- the phone (/field)

PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


def tap(page, locator) -> None:
    """A finger on the centre of what is seen."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box and box["width"] >= 1, f"not visible: {locator}"
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _text_has(page, selector: str, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s) || {innerText: ''}).innerText.includes(t)",
        arg=[selector, text], timeout=timeout)


def phone_sign_in(new_page, base: str, username: str, lon: float, lat: float):
    """A grid worker's phone (390 x 844, touch, located at ``lon, lat``) signed in through the
    real form, typed and tapped: the app sends a phone from the wall to /field."""
    page, console = new_page(390, 844, 2, is_mobile=True, has_touch=True, user_agent=PHONE_UA,
                             locale="zh-CN", geolocation={"latitude": lat, "longitude": lon},
                             permissions=["geolocation"])
    page.add_init_script(_KEEP_ERRORS)
    page.goto(f"{base}/login?next=%2F")
    for selector, text in (("#username", username), ("#password", PW)):
        tap(page, page.locator(selector))
        page.keyboard.type(text)
    tap(page, page.locator("button[type=submit]"))
    page.wait_for_selector(".field-page", timeout=30_000)
    assert page.url.endswith("/field"), page.url
    return page, console


def _pick_category(page, name: str) -> None:
    """Open the category menu by a tap and tap the option; again if the pick did not take
    (a menu still scrolling to its first item on a loaded machine)."""
    option = page.locator(f"[role=option]:has-text('{name}'):not(#field-severity *) >> visible=true").first
    for _ in range(3):
        tap(page, page.locator("#field-category"))
        option.wait_for(timeout=15_000)
        page.wait_for_timeout(300)  # the menu scrolls to the chosen item as it opens
        tap(page, option)
        try:
            _text_has(page, "#field-category", name, timeout=5_000)
            return
        except PlaywrightTimeout:  # the pick did not take: the menu is tapped again
            page.keyboard.press("Escape")
    raise AssertionError(f"category {name!r} could not be picked")


def report_on_phone(page, category: str, severity: str, title: str, description: str,
                    photo: bytes | None = None) -> str:
    """Report a case on /field where the phone stands, by taps and typing; its code.

    The 上报 tab, 使用我的位置 (the phone's position), the category and severity, title and
    description typed, a photo chosen from the camera roll, 提交上报. When an open case of the
    category is within 50 m, "report it anyway" is tapped (a test run before may have left
    one there).
    """
    tap(page, page.locator(".field-tab:has-text('上报')"))
    tap(page, page.locator("#field-locate"))
    _text_has(page, "#field-point-text", "手机定位")
    _pick_category(page, category)
    tap(page, page.locator(f"#field-severity label:has-text('{severity}')"))
    tap(page, page.locator("#field-title"))
    page.keyboard.type(title)
    tap(page, page.locator("#field-desc"))
    page.keyboard.type(description)
    if photo is not None:
        with page.expect_file_chooser() as chooser:
            tap(page, page.locator("#field-photo .field-btn"))
        chooser.value.set_files(files=[{"name": "现场照片.png", "mimeType": "image/png", "buffer": photo}])
        _text_has(page, "#field-photo-name", "现场照片")
    tap(page, page.locator("#field-submit"))
    page.wait_for_function(
        "(document.querySelector('#field-report-msg') || {innerText: ''}).innerText.includes('已上报事件')"
        " || !!document.querySelector('#field-dups button')", timeout=30_000)
    if "已上报事件" not in page.inner_text("#field-report-msg"):
        tap(page, page.locator("#field-force"))
        _text_has(page, "#field-report-msg", "已上报事件")
    return page.inner_text("#field-report-msg").split("已上报事件", 1)[1].strip().split()[0]


def wait_in_phone_inbox(page, code: str) -> None:
    """The case shows in the phone's 待办 inbox (its tab tapped, then 刷新)."""
    tap(page, page.locator(".field-tab:has-text('待办')"))
    tap(page, page.locator("#field-inbox-refresh"))
    page.wait_for_selector(f".field-case[data-code='{code}']", timeout=30_000)


def escalate_on_phone(page, code: str) -> None:
    """上报上级 on the case's card in the phone's inbox: the card leaves the inbox."""
    tap(page, page.locator(f".field-case[data-code='{code}'] button:has-text('上报上级')"))
    _text_has(page, "#field-inbox-msg", f"事件 {code} 已上报上级")
    page.wait_for_selector(f".field-case[data-code='{code}']", state="detached", timeout=30_000)
