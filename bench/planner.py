"""The load benchmark's planner, in a process of its own: a person at another PC who
rebalances a street on ``/plan`` (``bench.tier.commit_street_from_plan``).

``bench/load.py`` starts it before its rebalance phase::

    python -m bench.planner BASE_URL STREET

It launches Debian's Chromium (headless) under ``SCHED_IDLE``, opens its window, signs in
and opens /plan (a planner at a desk with the page open), prints ``ready`` and waits
for a line on its standard input (at its end instead, the benchmark is gone: it exits and
commits nothing); then it chooses, runs and commits the street,
and prints one JSON line: the flow's result with ``start_at`` / ``end_at`` and its own
requests, on the machine's monotonic clock (shared by every process, so the caller can
place them among the walls' refreshes).

Why a process: the planner's browser stands for a person's PC, so it runs only on CPU time
the server leaves idle. As a thread of the benchmark it also held the benchmark's GIL while
it waited for that idle time, and the walls' clients, threads of the same process, then
waited with it: their measured refresh times grew by what the planner waited, not by
anything the server did.

Why the page is open before: idle CPU time is not free on this machine. A Chromium on
``SCHED_IDLE`` loading a heavy page, with no request to the app at all, raised the p95 of
wall refreshes against the tier from 4.3 ms to 9.5 ms (``bench/idle_browser.py``): it still
takes the caches and the memory the server's processes run on. Loading /plan is the
browser's heaviest work (its scripts, then the district's map), and it made most of the slow
refreshes of a rebalance phase when it ran inside it. A person's PC does that work on its own
CPU; the server's part of it (sign-in, page, about ten callbacks) is small.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import tier  # noqa: E402
from bench.load import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def idle_priority() -> None:
    """This process, and every process it starts from now on (Playwright's driver, the
    browser and the renderers it forks later), on idle CPU time only: the policy is
    inherited and Chromium, which sets its renderers' niceness itself, leaves it alone.
    Where ``SCHED_IDLE`` is refused, the lowest niceness."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    except OSError:
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        pass


def _descendants_cpu_s() -> float:
    """CPU seconds used so far by this process's descendants (Playwright's driver, the
    browser and its renderers): read here, before they exit, since the benchmark's own
    reading at the phase's end no longer sees them. A renderer that has exited is counted in
    the process that waited for it (its ``children_*`` times)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:  # gone meanwhile
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    base_url, street = argv[0], argv[1]
    idle_priority()
    state: dict = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = tier.planner_page(browser)  # the window is open before the phase,
                tier.sign_in_to_plan(page, base_url)  # signed in and on /plan, as at a desk
                page.wait_for_load_state("networkidle")  # the map drawn before the tier phase
                print("ready", flush=True)
                if not sys.stdin.readline():  # the benchmark ended before its phase: never act
                    return 1
                state["start_at"] = time.monotonic()
                cpu0 = _descendants_cpu_s()
                try:
                    state.update(tier.commit_street_from_plan(
                        page, base_url, street, note="bench/load.py",
                        log=lambda m: print(json.dumps({"say": m}, ensure_ascii=False), flush=True)))
                finally:
                    state["browser_cpu_s"] = round(_descendants_cpu_s() - cpu0, 2)
            finally:
                browser.close()
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which goes on
        state.update(ok=False, message=f"{type(exc).__name__}: {str(exc)[:500]}")
    state["end_at"] = time.monotonic()
    state.setdefault("start_at", state["end_at"])
    print(json.dumps({"result": state}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
