"""The report's renderer (headless Chromium through Playwright's sync API) works from a
thread whose asyncio loop runs too: a caller inside an event loop, or another sync
Playwright open in the same thread, as in a test session that also drives a browser."""

from __future__ import annotations

import asyncio
import threading

from geo.reports import pdf

HTML = "<!doctype html><html><body><h1>报告 Report</h1></body></html>"


def test_renders_a_pdf():
    assert pdf.render(HTML).startswith(b"%PDF")


def test_renders_inside_a_running_event_loop():
    async def inside() -> bytes:
        assert asyncio.get_running_loop().is_running()
        return pdf.render(HTML)  # a sync call from a coroutine: the loop is running here

    out: list[bytes] = []  # a thread of its own: the session may run a loop in this one
    t = threading.Thread(target=lambda: out.append(asyncio.run(inside())))
    t.start()
    t.join()
    assert out and out[0].startswith(b"%PDF")
