"""Browser harness: the real app in a subprocess on a test database, driven by Debian's
Chromium through Playwright (never ``playwright install``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from geo.serve import AppProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


_free_port = free_port  # the name other test modules import


class AppServer(AppProcess):
    """``python app.py`` on a free port against one database (its log under tests/artifacts/)."""

    def __init__(self, database_url: str, extra_env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        port = port or _free_port()
        log = ARTIFACTS / f"app-{port}-{int(time.time() * 1000) % 100000}.log"
        super().__init__(database_url, log, port=port, env=extra_env, ready_path="/", timeout=60)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class ConsoleLog:
    """Console errors and failed requests seen by a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


@pytest.fixture()
def new_page(browser):
    """Factory: a fresh context (cold cache) and page; returns (page, console log)."""
    contexts = []

    def make(width: int = 1920, height: int = 1080, scale: float = 1, **kw):
        # Playwright evaluates wait_for_function's strings with eval, which the app's CSP
        # forbids; tests/browser/test_security_headers.py renders the pages under the CSP
        kw.setdefault("bypass_csp", True)
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=scale, **kw)
        contexts.append(ctx)
        page = ctx.new_page()
        return page, ConsoleLog(page)

    yield make
    for ctx in contexts:
        ctx.close()


def screenshot(page, name: str) -> Path:
    """Save a screenshot under tests/artifacts/ (looked at by a person after a run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def login(page, base_url: str, username: str, password: str, path: str = "/") -> None:
    """Sign in through the real form (Enter submits it) and land on ``path``."""
    from urllib.parse import quote

    page.goto(f"{base_url}/login?next={quote(path, safe='')}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_selector(".ga-topbar", state="attached")
