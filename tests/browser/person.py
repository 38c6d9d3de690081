"""What a person does and sees, shared by the browser tests: a click at the centre of the
element's box on screen (``page.mouse.click``, never a callback or Playwright's own
``click``), whether an element is the one on top where it is drawn, and the text of a
downloaded PDF."""

from __future__ import annotations

import subprocess

__all__ = ["click", "on_top", "options_settled", "pdf_text"]


def click(page, target, *, settle: bool = False, timeout_ms: float = 30000) -> None:
    """Click ``target`` (a selector, its first match, or a Locator) at its centre.

    The element is waited for until visible and scrolled into view. With ``settle`` the click
    waits until the box stops moving (parts of a page that arrive later push it down).
    """
    loc = page.locator(target).first if isinstance(target, str) else target
    for attempt in range(5):
        loc.wait_for(state="visible", timeout=timeout_ms)
        try:
            loc.scroll_into_view_if_needed()
            box = loc.bounding_box()
            break
        except Exception as err:  # the page redrew it (a list filtering as one types): find it again
            if "not attached" not in str(err) or attempt == 4:
                raise
            page.wait_for_timeout(150)
    if settle:
        for _ in range(60):
            page.wait_for_timeout(200)
            loc.scroll_into_view_if_needed()
            now = loc.bounding_box()
            if now and now == box:
                break
            box = now
    assert box and box["width"] > 0, f"not visible: {target}"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def options_settled(page, tries: int = 50) -> None:
    """Wait until the dropdown options shown stop changing: a searchable list filters and
    redraws as one types, and a click during a redraw lands on an option that is gone."""
    shown = None
    for _ in range(tries):
        now = page.evaluate("() => Array.from(document.querySelectorAll('.dash-dropdown-option'))"
                            ".map(e => e.innerText).join('|')")
        if now == shown:
            return
        shown = now
        page.wait_for_timeout(300)


def on_top(page, selector: str) -> bool:
    """True when the element's centre, as a person sees it, is that element."""
    return page.evaluate("""sel => { const e = document.querySelector(sel), r = e.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return e === hit || e.contains(hit); }""", selector)


def pdf_text(path) -> str:
    """The text of a PDF file (poppler's ``pdftotext``, keeping the layout)."""
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
