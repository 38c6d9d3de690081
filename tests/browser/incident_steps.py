"""Clicks and keys of a person working cases on /incidents (shared by the incident browser
tests): every step at the pixel centre of what is seen, text typed on the keyboard."""

from __future__ import annotations

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
