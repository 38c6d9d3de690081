"""Render the one-page report to PDF or PNG with headless Chromium (Playwright's sync API).

The HTML is complete in itself (:func:`geo.reports.report.render_html`: CSS inlined, the map
an inline SVG, no scripts or network), so rendering needs no web server: the page is loaded
with ``set_content``. Chinese text stays text and Chromium embeds the CJK font it uses
(Noto Sans CJK from fonts-noto-cjk).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
# A4 landscape at 96 dpi
A4_W, A4_H = 1123, 794


class RenderError(GridAtlasError):
    """Chromium could not render the report."""


def render(html: str, fmt: str = "pdf") -> bytes:
    """The report as PDF (one A4 landscape page) or PNG bytes."""
    if fmt not in ("pdf", "png"):
        raise RenderError(f"格式无效 / unknown format {fmt!r} (pdf or png)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise RenderError("缺少 Playwright / Playwright is not installed") from exc
    if not os.path.exists(CHROMIUM):
        raise RenderError(f"找不到 Chromium / Chromium not found at {CHROMIUM}")
    if _loop_running():
        # Playwright's sync API refuses a thread whose asyncio loop runs (a caller inside an
        # event loop, another sync Playwright open in this thread): render in a thread of its own
        return _in_thread(html, fmt)
    return _render(sync_playwright, html, fmt)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_thread(html: str, fmt: str) -> bytes:
    from playwright.sync_api import sync_playwright

    out: dict = {}

    def run() -> None:
        try:
            out["pdf"] = _render(sync_playwright, html, fmt)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = exc

    t = threading.Thread(target=run, name="report-render", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["pdf"]


def _render(sync_playwright, html: str, fmt: str) -> bytes:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": A4_W, "height": A4_H}, device_scale_factor=2)
            page.set_content(html, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            if fmt == "png":
                return page.screenshot(full_page=False, type="png")
            return page.pdf(format="A4", landscape=True, print_background=True,
                            prefer_css_page_size=True,
                            margin={"top": "0", "bottom": "0", "left": "0", "right": "0"})
        finally:
            browser.close()
