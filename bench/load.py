"""The city tier under load: walls, Open311 reports, a street's rebalance and a primary outage.

Not part of ``make test``. Starts and stops everything it needs on loopback: the embedded
cluster, a streaming replica of it (``geo db replica up``, stopped again at the end when it
was not up before), the app as one process (``python app.py``, the baseline) and as the tier
(gunicorn, ``--workers`` 4, reads on the replica through ``DATABASE_READ_URL``, background
jobs on a Celery worker through a Redis started for the run). Data: the
city-scale ``gridatlas_bench`` database of ``bench/screen.py`` (built there when missing,
reused when present), or the demo district with ``--demo``. Walls open ``/?kiosk=1``
(``ANONYMOUS_WALL=1``).

recording
    Debian's Chromium (Playwright) opens the wall once and records the real callback POST
    bodies (``/_dash-update-component``) of one refresh tick.
phases (``--duration`` 60 s each; walls and reports at once)
    ``--walls`` clients (100), each with its own kiosk session, replay the tick's POST every
    ``--interval`` seconds (``REFRESH_SECONDS``, default 15) from a random offset; an error
    is any answer other than 200 with fresh data. Meanwhile Open311 reports are posted at
    ``--rate`` (50) a second, open loop, each with its own ``Idempotency-Key``; one refused
    by a 5xx or no answer is sent again (same key) every second until accepted, as a hotline
    client retries. Afterwards the database is asked what arrived: lost (no case) and
    duplicated (a case made twice).
    1. baseline: the single process, primary only;
    2. tier: gunicorn and the replica;
    3. rebalance: the tier while a planner rebalances a street on ``/plan`` like a person
       (Debian's Chromium, headless, in a process of its own on idle CPU time only,
       launched before the phase as a person's PC has its browser open; from the phase's
       start signed in through /login as ``bench_planner``, role planner over the street's
       district, made once): opens /plan, chooses the street, runs it (a background job on
       the Celery worker), ticks "accept grids outside the band", types a
       note, clicks "commit the street" and confirms (a second job: every community in one
       transaction); walls keep refreshing until the page says committed.
       ``rebalance_done`` is read from the database: the page said committed and the
       street's communities have new versions;
    2 and 3 run ``--rebalances`` times (3; 1 with ``--quick``), each pair on another street
    of the district: one tier phase and one rebalance phase show as much of the machine's
    noise as of the rebalance (the same code measured 1.15x to 1.75x between runs), so the
    speed figures are the medians of the repeats (each repeat's own figures are printed and
    kept in the JSON line, ``..._each``); errors, losses and misses count over all of them;
    4. outage: the tier with the primary stopped for ``--outage`` (20) seconds from a quarter
       of the phase: walls stay up on the replica (stale banner allowed, no HTTP error),
       reports get 503 and are retried. ``--no-outage`` skips this phase (a development aid
       on a cluster others use: the primary is never stopped; the outage keys are then
       ``null`` and their checks not made).
herd
    The same clients fire the tick at one instant on the tier restarted just before (cold
    pools), ``--repeats`` times (3).

walls only (``--walls-only``, the hardening check)
    ``--walls`` clients refresh for ``--duration`` on the single process (the baseline) and
    on ``make run``'s gunicorn (``--workers``), both on the primary: no reports, no
    rebalance, no replica, no outage; then the bursts as above. The JSON line holds
    ``walls``, ``wall_p95_ms``, ``wall_errors``, ``herd_errors``, ``herd_max_s`` (the
    slowest burst), ``baseline_wall_p95_ms`` and ``load_avg_start``.

Prints the load average at start, each phase, the counts, the checks, then one JSON line
last with (a contract) ``walls``, ``wall_p95_ms``, ``wall_errors``, ``reports_per_s``,
``report_p95_ms``, ``reports_lost``, ``reports_duplicated``, ``rebalance_done``,
``wall_p95_ratio_during_rebalance``, ``outage_reports_lost``, ``baseline_wall_p95_ms``,
``baseline_report_p95_ms``, ``load_avg_start``, and ``wall_p50_ms``, ``herd_errors``,
``herd_max_s``... Targets on the 2-core machine: wall p95 <= 300 ms with 0 errors; report
p95 <= 150 ms, 0 lost, 0 duplicated; rebalance committed with the wall p95 within 1.5x,
both over its whole phase (``wall_p95_ratio_during_rebalance``) and over only the refreshes
sent while it ran, from the planner's choice of the street on /plan to "committed"
(``wall_p95_ratio_while_rebalancing``, the stricter); nothing lost in the outage; each
burst 0 errors within 10 s. Exits 1 when one is missed.

Usage::

    .venv/bin/python bench/load.py            # the city, 8 phases of 60 s + 3 bursts
    .venv/bin/python bench/load.py --quick    # a tenth of the durations, 1 burst
    .venv/bin/python bench/load.py --demo     # the demo district
    .venv/bin/python bench/load.py --demo --walls 50 --walls-only   # 50 walls alone (hardening)
    .venv/bin/python bench/load.py --quick --no-outage   # development: never stops the primary

The app's own settings pass through the environment (``DB_POOL_MAX=4 bench/load.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cpu_by_group, tier  # noqa: E402
from bench.screen import with_dbname  # noqa: E402
from geo.serve import RedisProcess, WorkerProcess, free_port  # noqa: E402,F401 (free_port: used by tests)


def _replica_dir() -> str | None:
    """The embedded replica's folder (its processes are grouped apart from the primary's)."""
    from geo import localdb

    try:
        return str(localdb.replica_layout(localdb.layout()).base)
    except Exception:  # noqa: BLE001 - only the grouping is less precise
        return None

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
CALLBACK = "/_dash-update-component"
REFRESH_OUTPUT = "cmd-done.data"  # the wall's refresh callback writes this store
TARGETS = {"wall_p95_ms": 300.0, "herd_max_s": 10.0, "report_p95_ms": 150.0}
REQUEST_TIMEOUT_S = 30.0


TRACE: dict = {"phases": {}}  # with --trace: every refresh's time and status, by phase


def say(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100); NaN for no values."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)




# ----------------------------------------------------------------------------- recording


@dataclass
class Recording:
    """Callback POST bodies a real wall sent: at first load, and for one refresh tick."""

    load: list[dict] = field(default_factory=list)
    tick: dict | None = None
    extra: list[dict] = field(default_factory=list)


def record_wall(browser, base_url: str, search_text: str | None = None) -> Recording:
    """Open ``/?kiosk=1`` in ``browser`` (Playwright), record the wall's callback bodies.

    With ``search_text``, also opens ``/`` in the same session (the kiosk view has no
    search box), types it into the wall's search box, presses Enter and clicks the first
    hit: those callback bodies go to ``extra``.
    """
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    seen: list[dict] = []

    def on_request(req) -> None:
        if CALLBACK in req.url and req.method == "POST" and req.post_data:
            seen.append(json.loads(req.post_data))

    page.on("request", on_request)
    try:
        page.goto(base_url + "/?kiosk=1")
        page.wait_for_selector(".ga-updated:has-text(':')", timeout=60_000)
        page.wait_for_timeout(1000)  # the fit's second round (bounds, grids) settles
        rec = Recording(load=list(seen))
        n = len(seen)
        page.evaluate("window.dash_clientside.set_props('cmd-kick', {data: Date.now()})")
        deadline = time.monotonic() + 30
        while rec.tick is None and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            rec.tick = next((b for b in seen[n:] if REFRESH_OUTPUT in b.get("output", "")), None)
        if rec.tick is None:
            raise RuntimeError("the wall sent no refresh POST for a tick")
        if search_text:  # the kiosk view hides the search box: the same session at "/"
            page.goto(base_url + "/")
            page.wait_for_selector(".ga-updated:has-text(':')", timeout=60_000)
            n = len(seen)
            page.fill("#cmd-search", search_text)
            page.press("#cmd-search", "Enter")
            page.wait_for_selector(".ga-hit", timeout=30_000)
            page.locator(".ga-hit").first.click()
            page.wait_for_timeout(1500)
            rec.extra = list(seen[n:])
    finally:
        ctx.close()
    return rec


# ----------------------------------------------------------------------------- clients


@dataclass
class Answer:
    """One replayed POST: HTTP status (0: no answer), seconds, the wall's stale flag, the
    error message of a non-200 answer."""

    status: int
    seconds: float
    stale: bool | None = None
    at: float = 0.0  # time.monotonic() when it was sent
    message: str | None = None
    body: str = ""

    @property
    def fresh(self) -> bool:
        return self.status == 200 and self.stale is not True


class WallClient:
    """One wall screen: its own kiosk session, replaying recorded callback POSTs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def open(self) -> None:
        """A kiosk session (the app runs with ``ANONYMOUS_WALL=1``)."""
        r = self.http.get(self.base_url + "/?kiosk=1", timeout=REQUEST_TIMEOUT_S)
        r.raise_for_status()

    def sign_in(self, username: str, password: str) -> None:
        """A signed-in session through the real form (its CSRF token from the GET)."""
        form = self.http.get(self.base_url + "/login", timeout=REQUEST_TIMEOUT_S).text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = self.http.post(self.base_url + "/login", timeout=REQUEST_TIMEOUT_S,
                           data={"csrf_token": token, "username": username,
                                 "password": password, "next": "/"}, allow_redirects=False)
        if r.status_code != 302:
            raise RuntimeError(f"sign-in as {username} refused ({r.status_code})")

    def post(self, body: dict) -> Answer:
        body = _retrigger(body)
        at, t0 = time.monotonic(), time.perf_counter()
        try:
            r = self.http.post(self.base_url + CALLBACK, json=body, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            return Answer(0, time.perf_counter() - t0, message=type(exc).__name__, at=at)
        seconds = time.perf_counter() - t0
        answer = Answer(r.status_code, seconds, body=r.text[:2000], at=at)
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code == 200 and isinstance(data, dict):
            done = ((data.get("response") or {}).get("cmd-done") or {}).get("data")
            if isinstance(done, dict):
                answer.stale = bool(done.get("stale"))
                answer.message = done.get("message")
        elif isinstance(data, dict):
            answer.message = data.get("error")
        return answer


def _retrigger(body: dict) -> dict:
    """The tick's trigger carries the time of the tick (as the gate sets it)."""
    out = json.loads(json.dumps(body))
    for item in out.get("inputs", []):  # a pattern-matching input is a list: not the trigger
        if isinstance(item, dict) and item.get("id") == "cmd-trigger" \
                and item.get("property") == "data":
            item["value"] = int(time.time() * 1000)
    return out


def herd(clients: list[WallClient], body: dict) -> tuple[list[Answer], float]:
    """Every client posts ``body`` at one instant; (answers, seconds until the last one)."""
    answers: list[Answer | None] = [None] * len(clients)
    gate = threading.Barrier(len(clients) + 1)

    def fire(i: int) -> None:
        gate.wait()
        answers[i] = clients[i].post(body)

    threads = [threading.Thread(target=fire, args=(i,), daemon=True) for i in range(len(clients))]
    for th in threads:
        th.start()
    gate.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join(REQUEST_TIMEOUT_S + 5)
    elapsed = time.perf_counter() - t0
    return [a or Answer(0, elapsed, message="no answer") for a in answers], elapsed


def steady(clients: list[WallClient], body: dict, interval_s: float,
           duration_s: float, seed: int = 1) -> list[Answer]:
    """Each client posts ``body`` every ``interval_s`` from a random offset, for
    ``duration_s`` seconds. The offsets spread over a whole interval even when the phase is
    shorter (``--quick``): the walls keep their rate, and those whose turn falls after the
    phase's end do not refresh in it. (Spread over a 6 s phase, 100 walls of a 15 s interval
    made 2.5 times their rate.)"""
    rng = random.Random(seed)
    offsets = [rng.uniform(0, interval_s) for _ in clients]
    answers: list[Answer] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    end = t0 + duration_s

    def run(i: int) -> None:
        at = t0 + offsets[i]
        while at < end:
            time.sleep(max(0.0, at - time.monotonic()))
            a = clients[i].post(body)
            with lock:
                answers.append(a)
            at += interval_s

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(duration_s + REQUEST_TIMEOUT_S + 5)
    return answers


# ----------------------------------------------------------------------------- main


def _database(args) -> tuple[str, str, str]:
    """(admin url, app url, what data) for the run."""
    from geo import db, localdb

    lay = localdb.layout()
    localdb.up(lay)
    if args.demo:
        return lay.admin_url(), lay.app_url, "demo district (embedded cluster's gridatlas database)"
    from bench import screen

    ns = argparse.Namespace(quick=False, reuse=True, dbname=None, database_url=None)
    admin, app_url, _ = screen.prepare_database(ns)
    db.migrate(admin)
    return admin, app_url, "city scale (gridatlas_bench: 2,576 grids, 1,000,000 buildings)"


def _summary(answers: list[Answer]) -> dict:
    ms = [a.seconds * 1000 for a in answers if a.status]
    bad = [a for a in answers if not a.fresh]
    return {"n": len(answers), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
            "max_ms": max(ms) if ms else float("nan"), "errors": len(bad),
            "http_errors": sum(1 for a in answers if a.status != 200),
            "by_status": {str(s): sum(1 for a in answers if a.status == s)
                          for s in sorted({a.status for a in answers})},
            "stale": sum(1 for a in answers if a.stale),
            # what a failed refresh met: the client's exception (no answer) or the server's message
            "failures": {m: sum(1 for a in answers if a.status != 200 and (a.message or "?") == m)
                         for m in sorted({a.message or "?" for a in answers if a.status != 200})}}


def _report_summary(reps: list[tier.Report], duration_s: float) -> dict:
    first = [r.first_ms for r in reps if r.first_status == 201]
    return {"n": len(reps), "p50_ms": pct(first, 50), "p95_ms": pct(first, 95),
            "accepted_first_try": len(first), "per_s": len(first) / duration_s,
            "first_status": {str(s): sum(1 for r in reps if r.first_status == s)
                             for s in sorted({r.first_status for r in reps})}}


def _phase(name: str, server: tier.Server, clients: list[WallClient], tick: dict, *,
           interval: float, duration: float, key: str, forms, rate: float, retry_s: float,
           during=None, warm: bool = False, seed: int = 1) -> tuple[dict, dict, list[tier.Report]]:
    """Walls and reports at once for ``duration`` (``during``: run beside them, e.g. an
    outage or a rebalance, whose result is added; ``warm``: one unmeasured refresh of every
    wall and a second of reports first; ``seed``: the walls' offsets, see ``steady``)."""
    for c in clients:
        c.open()
    if warm:  # a just-started server: every worker imports, connects and caches once, unmeasured
        herd(clients, tick)
        tier.Reporters(server.url, key, *forms, rate=10, duration_s=1, retry_until_s=5,
                       run=f"warm-{name}-{time.time_ns()}").send_all()
    reps = tier.Reporters(server.url, key, *forms, rate=rate, duration_s=duration,
                          retry_until_s=duration + retry_s, run=f"{name}-{time.time_ns()}")
    extra: dict = {}
    cpu = cpu_by_group.Sampler(_replica_dir())
    cpu.start()
    side = None
    if during is not None:
        side = threading.Thread(target=lambda: extra.update(during() or {}), daemon=True)
    reps.start()
    if side is not None:
        side.start()
    answers = steady(clients, tick, interval, duration, seed)
    while side is not None and side.is_alive():  # a side job still going: walls keep refreshing
        answers += steady(clients, tick, interval, interval, seed)
    reps.join()
    spent = cpu.stop()
    TRACE["phases"][name] = [(round(a.at, 3), round(a.seconds * 1000, 1), a.status) for a in answers]
    w, r = _summary(answers), _report_summary(reps.reports, duration)
    say(f"{name}: walls {w['n']} refreshes p50 {w['p50_ms']:.0f} ms p95 {w['p95_ms']:.0f} ms "
        f"errors {w['errors']} (status {w['by_status']}, stale {w['stale']}"
        f"{', failures ' + str(w['failures']) if w['failures'] else ''}); reports "
        f"{r['n']} p95 {r['p95_ms']:.0f} ms, {r['per_s']:.1f}/s accepted at once "
        f"(first answers {r['first_status']})")
    say(f"  {name}: CPU s by group (nice 0 / niced): " + "; ".join(
        f"{g} {v['nice0_s']:.1f}/{v['niced_s']:.1f}" for g, v in spent.items()))
    return w | {"side": extra, "cpu_s": spent}, r, reps.reports


def _rebalance_street(base_url: str, street: str, state: dict):
    """A street's rebalance, run and committed on ``/plan`` by the bench's planner in a
    headless Chromium (``bench/planner.py``: ``tier.commit_street_from_plan``), beside the
    walls.

    The planner stands for a person at another PC: a process of its own (as a thread of
    this one it held the walls' clients' GIL while it waited for CPU), on idle CPU time
    only, its browser launched, signed in and on /plan here, before the phase, as a person
    at a desk has it open (loading the page is the browser's heaviest work, and on this
    machine even idle CPU time slows the server: ``bench/planner.py``). The caller does this
    before the tier phase (see ``main``). From the rebalance phase's start the planner
    chooses the street, runs it and commits it: all of that is measured. Returns the
    phase's side job."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.planner", base_url, street], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if line != "ready":
        say(f"  the planner's browser did not start: {line[:300]}")
    time.sleep(2.0)  # the browser's start-up settles before the phase

    def run() -> dict:
        result: dict = {"ok": False, "message": "the planner's process gave no result"}
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            for out in proc.stdout:
                try:
                    msg = json.loads(out)
                except ValueError:
                    continue
                if "say" in msg:
                    say(msg["say"])
                elif "result" in msg:
                    result = msg["result"]
        except OSError as exc:
            result["message"] = f"{type(exc).__name__}: {exc}"
        finally:
            proc.wait(timeout=120)
        if not result.get("ok") and result.get("message"):
            say(f"  rebalance on /plan failed: {result['message'][:500]}")
        result.setdefault("end_at", time.monotonic())
        result.setdefault("start_at", result["end_at"])
        result["seconds"] = round(result["end_at"] - result["start_at"], 1)
        state.update(result)
        return {}
    return run


def _ensure_cells(app_url: str, street: str) -> None:
    """Building cells for the street's communities where none are stored (a city built before
    cells were stored has none, and the planner refuses a community without them);
    unmeasured, before the phases."""
    import psycopg2

    conn = psycopg2.connect(app_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT c.code FROM communities c JOIN streets s ON s.id = c.street_id
                            WHERE s.code = %s AND NOT EXISTS (
                                  SELECT 1 FROM building_cells bc WHERE bc.community_id = c.id)
                            ORDER BY c.code""", (street,))
            codes = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    if codes:
        say(f"building cells for {len(codes)} communities of street {street} (none stored) ...")
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "geo", "cells", "rebuild", "--community", *codes],
                       cwd=ROOT, env=dict(os.environ, DATABASE_URL=app_url), check=True,
                       stdout=subprocess.DEVNULL)
        say(f"  done in {time.monotonic() - t0:.1f} s")


def _street_versions(admin: str, street: str) -> int:
    import psycopg2

    conn = psycopg2.connect(admin)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM grid_versions v JOIN communities c ON c.id = v.community_id
                             JOIN streets s ON s.id = c.street_id WHERE s.code = %s""", (street,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _next_streets(admin: str, n: int) -> list[str]:
    """The ``n`` streets to rebalance, all of one district (the planner's scope): those whose
    communities have the most grid numbers left, then the fewest communities."""
    import psycopg2

    conn = psycopg2.connect(admin)
    try:
        with conn.cursor() as cur:
            # grid numbers are never issued twice: earlier runs' commits used some up, so the
            # streets whose communities used the fewest, then the smallest
            cur.execute("""SELECT s.code FROM streets s JOIN communities c ON c.street_id = s.id
                             LEFT JOIN grids g ON g.community_id = c.id
                            GROUP BY s.code
                            ORDER BY max(right(g.code, 3)::int) NULLS FIRST, count(DISTINCT c.id), s.code""")
            codes = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    if not codes:
        raise RuntimeError("the bench data has no street to rebalance")
    return [c for c in codes if c[:6] == codes[0][:6]][:n]


def _work(url: str) -> tuple[Path, Path]:
    """The bench's folder and a fresh app log; the app and the command line use ``url``."""
    work = ROOT / ".cache" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "load-app.log"
    log_path.write_text("")
    os.environ["DATABASE_URL"] = url
    return work, log_path


def _record(base_url: str) -> Recording:
    """One refresh tick of a real wall, recorded in Debian's Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            rec = record_wall(browser, base_url)
        finally:
            browser.close()
    say(f"recorded: {len(rec.load)} callback POSTs at first load, 1 per refresh tick")
    return rec


def _burst(i: int, clients: list[WallClient], tick: dict) -> dict:
    """Every client's tick at one instant on a just-started server; its summary and time."""
    for c in clients:
        c.open()
    answers, elapsed = herd(clients, tick)
    b = _summary(answers) | {"seconds": elapsed}
    say(f"burst {i + 1} ({len(clients)} at one instant, just restarted): all answered in "
        f"{elapsed:.2f} s, p95 {b['p95_ms']:.0f} ms, errors {b['errors']} "
        f"(status {b['by_status']}, stale {b['stale']})")
    return b


def _walls_only(args, url: str, data: str, *, interval: float, duration: float, repeats: int,
                load_start: tuple[float, float, float]) -> int:
    """Walls alone: ``--walls`` clients refreshing for ``duration`` on the single process
    (the baseline) and on gunicorn (``--workers``) against the primary, then the same
    clients at one instant on a just-restarted gunicorn, ``repeats`` times."""
    from geo.settings import get_settings

    settings = get_settings()
    _, log_path = _work(url)
    get_settings.cache_clear()
    port = free_port()
    server = tier.Server(url, log_path, port=port)
    phases: dict[str, dict] = {}
    bursts: list[dict] = []
    try:
        rec = _record(server.url)
        clients = [WallClient(server.url) for _ in range(args.walls)]
        for name in ("baseline", "served"):
            if name == "served":
                server.stop()
                server = tier.Server(url, log_path, port=port, workers=args.workers)
            for c in clients:
                c.open()
            herd(clients, rec.tick)  # a just-started server warms up once, unmeasured
            say(f"{name} ({server.kind}): {args.walls} walls every {interval:g} s for {duration:g} s ...")
            w = _summary(steady(clients, rec.tick, interval, duration))
            say(f"{name}: {w['n']} refreshes p50 {w['p50_ms']:.0f} ms p95 {w['p95_ms']:.0f} ms "
                f"errors {w['errors']} (status {w['by_status']}, stale {w['stale']})")
            phases[name] = w
        for i in range(repeats):
            server.stop()
            server = tier.Server(url, log_path, port=port, workers=args.workers)
            bursts.append(_burst(i, clients, rec.tick))
    finally:
        server.stop()
    served, base = phases["served"], phases["baseline"]
    herd_errors = sum(b["errors"] for b in bursts)
    load_end = os.getloadavg()
    say(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}")
    checks = [
        ("wall p95", f"{served['p95_ms']:.1f} ms", served["p95_ms"] <= TARGETS["wall_p95_ms"], "<= 300 ms"),
        ("wall errors", str(served["errors"]), served["errors"] == 0, "0"),
        ("burst errors", str(herd_errors), herd_errors == 0, "0"),
        ("burst done", f"{max(b['seconds'] for b in bursts):.2f} s",
         all(b["seconds"] <= TARGETS["herd_max_s"] for b in bursts), "<= 10 s each"),
    ]
    for name, value, ok, target in checks:
        say(f"  {'ok  ' if ok else 'MISS'} {name}: {value} (target {target})")
    result = {
        "walls": args.walls, "interval_s": interval, "duration_s": duration, "data": data,
        "walls_only": True, "workers": args.workers, "pool_max": settings.pool_max,
        "pool_timeout_s": settings.pool_timeout, "wall_requests": served["n"],
        "wall_p50_ms": round(served["p50_ms"], 1), "wall_p95_ms": round(served["p95_ms"], 1),
        "wall_max_ms": round(served["max_ms"], 1), "wall_errors": served["errors"],
        "baseline_wall_p95_ms": round(base["p95_ms"], 1), "baseline_wall_errors": base["errors"],
        "wall_p95_ratio_to_baseline": round(served["p95_ms"] / base["p95_ms"], 2),
        "herd_repeats": repeats, "herd_errors": herd_errors,
        "herd_max_s": round(max(b["seconds"] for b in bursts), 2),
        "herd_max_s_each": [round(b["seconds"], 2) for b in bursts],
        "herd_p95_ms": round(statistics.median(b["p95_ms"] for b in bursts), 1),
        "load_avg_start": round(load_start[0], 2), "load_avg_end": round(load_end[0], 2),
        "cores": os.cpu_count(), "quick": args.quick,
    }
    say(json.dumps(result, ensure_ascii=False))
    return 0 if all(ok for _, _, ok, _ in checks) else 1


def main(argv: list[str] | None = None) -> int:
    from geo import localdb
    from geo.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--walls", type=int, default=100, help="wall clients (100)")
    ap.add_argument("--interval", type=float, help="seconds between a wall's refreshes "
                    "(REFRESH_SECONDS, default 15)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of each phase (60)")
    ap.add_argument("--rate", type=float, default=50.0, help="Open311 reports a second (50)")
    ap.add_argument("--outage", type=float, default=20.0,
                    help="seconds the primary is stopped (20; 0: not stopped)")
    ap.add_argument("--no-outage", action="store_true",
                    help="skip the outage phase (a development aid: the primary, which others may "
                         "be using, is never stopped; the outage keys are null)")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn workers of the tier (4)")
    ap.add_argument("--repeats", type=int, help="bursts, each on a restarted app (3; 1 quick)")
    ap.add_argument("--rebalances", type=int, help="tier and rebalance phases, each rebalancing "
                    "another street (3; 1 quick): the speed figures are their medians")
    ap.add_argument("--quick", action="store_true", help="a tenth of the durations, 1 burst, 1 rebalance")
    ap.add_argument("--demo", action="store_true", help="the demo district instead of the city")
    ap.add_argument("--walls-only", action="store_true",
                    help="walls alone (no reports, rebalance, replica or outage): the single "
                         "process and `make run`'s gunicorn on the primary, then the bursts")
    ap.add_argument("--trace", type=Path, help="write every refresh's start, milliseconds and "
                    "status, and the rebalance's milestones, to this JSON file (a diagnostic aid)")
    ap.add_argument("--city", action="store_true", help=argparse.SUPPRESS)  # the default now
    args = ap.parse_args(argv)
    if not 1 <= args.walls <= 500:
        ap.error("--walls must be between 1 and 500")
    settings = get_settings()
    interval = args.interval or settings.refresh_seconds
    scale = 0.1 if args.quick else 1.0
    duration, outage = args.duration * scale, args.outage * scale
    repeats = args.repeats or (1 if args.quick else 3)
    rebalances = args.rebalances or (1 if args.quick else 3)
    if not (0 < duration <= 600 and 0 < interval <= 600 and 1 <= repeats <= 10 and 1 <= rebalances <= 5
            and (args.walls_only or 0 < args.rate <= 500) and 0 <= outage < duration
            and 1 <= args.workers <= 16):
        ap.error("durations up to 600 s, the outage shorter than a phase, --repeats 1..10, --rebalances 1..5, "
                 "--rate up to 500, --workers 1..16")

    load_start = os.getloadavg()
    say(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} "
        f"({os.cpu_count()} cores)")
    admin, url, data = _database(args)
    say(f"data: {data}")
    if args.walls_only:
        return _walls_only(args, url, data, interval=interval, duration=duration,
                           repeats=repeats, load_start=load_start)
    lay = localdb.layout()
    replica_was_up = localdb.replica_status(lay)
    rlay = localdb.replica_up(lay)
    read_url = with_dbname(rlay.app_url, urlsplit(url).path.lstrip("/"))
    say(f"replica: streaming on port {rlay.port} ({'already up' if replica_was_up else 'started'})")
    work, log_path = _work(url)
    get_settings.cache_clear()
    key = tier.api_key(admin)
    forms = tier.report_forms()
    streets = _next_streets(admin, rebalances)
    for street in streets:
        _ensure_cells(url, street)
    tier.ensure_planner(url, streets[0][:6])  # a planner of the streets' district
    port = free_port()
    retry_s = 30.0 * scale + outage

    server = tier.Server(url, log_path, port=port)  # the baseline: one process, the primary only
    redis = worker = None
    pairs: list[dict] = []  # each repeat: its tier phase, its rebalance phase, its planner's state
    try:
        rec = _record(server.url)
        clients = [WallClient(server.url) for _ in range(args.walls)]
        common = {"interval": interval, "duration": duration, "key": key, "forms": forms,
                  "rate": args.rate, "retry_s": retry_s}

        say(f"baseline ({server.kind}): {args.walls} walls every {interval:g} s and "
            f"{args.rate:g} reports/s for {duration:g} s ...")
        base_w, base_r, base_reps = _phase("baseline", server, clients, rec.tick, warm=True, **common)
        server.stop()

        redis = RedisProcess(work / "redis")
        worker = WorkerProcess(url, redis.url, work / "load-worker.log").wait_ready()
        server = tier.Server(url, log_path, port=port, workers=args.workers, read_url=read_url,
                             redis_url=redis.url)
        for i, street in enumerate(streets):
            n = "" if i == 0 else str(i + 1)
            # the planner's browser is started before the tier phase: started between the two
            # phases, it left the walls idle for ~10 s, so the phase began with every worker's
            # wall figures expired (WALL_CACHE_SECONDS), which 100 walls never let happen
            state: dict = {}
            planner = _rebalance_street(server.url, street, state)
            say(f"tier{n} ({server.kind}, reads on the replica, jobs on a Celery worker): the same load ...")
            # a pair shares its walls' offsets; each pair has its own, so that the planner's
            # steps meet another arrangement of refreshes in each repeat (with one arrangement
            # for all, a burst of refreshes met the planner's sign-in in every repeat)
            tier_w, tier_r, tier_reps = _phase(f"tier{n}", server, clients, rec.tick, warm=i == 0,
                                               seed=i + 1, **common)
            before = _street_versions(admin, street)
            say(f"tier + rebalance{n} of street {street} on /plan by {tier.PLANNER} (run, then committed) ...")
            reb_w, reb_r, reb_reps = _phase(f"rebalance{n}", server, clients, rec.tick, during=planner,
                                            seed=i + 1, **common)
            TRACE[f"rebalance{n}"] = {k: v for k, v in state.items() if k.endswith("_at")}
            TRACE[f"planner_requests{n}"] = state.pop("requests", [])
            done = bool(state.get("ok")) and _street_versions(admin, street) > before
            say(f"  rebalance{n}: {state.get('seconds')} s (run {state.get('run_s')} s, "
                f"commit {state.get('commit_s')} s), committed: {done}; the planner's browser "
                f"and its driver used {state.get('browser_cpu_s')} s of CPU (idle priority)")
            pairs.append({"name": n, "street": street, "tier_w": tier_w, "tier_r": tier_r,
                          "tier_reps": tier_reps, "reb_w": reb_w, "reb_r": reb_r,
                          "reb_reps": reb_reps, "state": state, "done": done})

        out_w = out_r = None
        out_reps: list[tier.Report] = []
        if args.no_outage:
            say("outage phase skipped (--no-outage)")
        else:
            say(f"tier + the primary stopped for {outage:g} s ..." if outage else
                "tier (no outage: --outage 0) ...")
            stop = (lambda: (time.sleep(duration / 4), tier.primary_outage(lay, outage, say))[1]) if outage else None
            out_w, out_r, out_reps = _phase("outage", server, clients, rec.tick, during=stop, **common)

        bursts = []
        for i in range(repeats):
            server.stop()
            server = tier.Server(url, log_path, port=port, workers=args.workers, read_url=read_url,
                                 redis_url=redis.url)
            bursts.append(_burst(i, clients, rec.tick))
    finally:
        server.stop()
        for part in (worker, redis):
            if part is not None:
                part.stop()
        if not localdb.status(lay):
            localdb.up(lay)
        if not replica_was_up:
            localdb.replica_down(lay)
    phases = [("baseline", base_reps)]
    for pr in pairs:
        phases += [(f"tier{pr['name']}", pr["tier_reps"]), (f"rebalance{pr['name']}", pr["reb_reps"])]
    phases += [] if out_w is None else [("outage", out_reps)]
    counts = {name: tier.count_reports(admin, reps) for name, reps in phases}
    tier.clean_reports(admin)
    for name, c in counts.items():
        say(f"reports {name}: {c}")
    herd_max = statistics.median(b["seconds"] for b in bursts)
    herd_errors = sum(b["errors"] for b in bursts)
    for pr in pairs:
        pr["ratio"] = pr["reb_w"]["p95_ms"] / pr["tier_w"]["p95_ms"]
        # the stricter reading: only the refreshes sent while the rebalance ran (from the
        # planner's choice of the street to the page saying committed), not the rest of its phase
        st = pr["state"]
        busy = [ms for at, ms, status in TRACE["phases"][f"rebalance{pr['name']}"]
                if status and st.get("start_at", 0) <= at < st.get("end_at", 0)]
        pr["busy_n"], pr["busy_p95"] = len(busy), pct(busy, 95)
        pr["busy_ratio"] = pr["busy_p95"] / pr["tier_w"]["p95_ms"]
        say(f"repeat {pr['name'] or 1} (street {pr['street']}): walls' p95 {pr['tier_w']['p95_ms']:.1f} ms, "
            f"during the rebalance's phase {pr['reb_w']['p95_ms']:.1f} ms ({pr['ratio']:.2f}x); while it "
            f"ran: {pr['busy_n']} refreshes p95 {pr['busy_p95']:.0f} ms ({pr['busy_ratio']:.2f}x)")
    # each speed figure is the median of the repeats (each repeat a tier phase, then the same
    # load with a street's rebalance); errors, losses and misses are counted over all of them
    med = statistics.median
    ratio = med(pr["ratio"] for pr in pairs)
    busy_ratio = med(pr["busy_ratio"] for pr in pairs)
    wall_p95 = med(pr["tier_w"]["p95_ms"] for pr in pairs)
    report_p95 = med(pr["tier_r"]["p95_ms"] for pr in pairs)
    wall_errors = sum(pr["tier_w"]["errors"] + pr["reb_w"]["errors"] for pr in pairs)
    lost = sum(c["lost"] for name, c in counts.items() if name.startswith(("tier", "rebalance")))
    rebalance_done = all(pr["done"] for pr in pairs)
    load_end = os.getloadavg()
    say(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}")

    def each(key: str) -> str:
        return ", ".join(f"{pr[key]:.2f}x" for pr in pairs)

    checks = [
        ("wall p95", f"{wall_p95:.1f} ms (median; worst {max(pr['tier_w']['p95_ms'] for pr in pairs):.1f})",
         all(pr["tier_w"]["p95_ms"] <= TARGETS["wall_p95_ms"] for pr in pairs), "<= 300 ms"),
        ("wall errors", str(wall_errors), wall_errors == 0, "0"),
        ("report p95", f"{report_p95:.1f} ms (median; worst {max(pr['tier_r']['p95_ms'] for pr in pairs):.1f})",
         all(pr["tier_r"]["p95_ms"] <= TARGETS["report_p95_ms"] for pr in pairs), "<= 150 ms"),
        ("reports lost", str(lost), lost == 0, "0"),
        ("reports duplicated", str(sum(c["duplicated"] for c in counts.values())),
         all(c["duplicated"] == 0 for c in counts.values()), "0"),
        ("rebalance done", f"{sum(pr['done'] for pr in pairs)} of {len(pairs)} streets", rebalance_done,
         "committed"),
        ("wall p95 during rebalance", f"{ratio:.2f}x (median of {each('ratio')})", ratio <= 1.5,
         "<= 1.5x unloaded"),
        ("wall p95 while it ran", f"{busy_ratio:.2f}x (median of {each('busy_ratio')})", busy_ratio <= 1.5,
         "<= 1.5x unloaded"),
    ]
    if out_w is not None:
        checks += [
            ("outage reports lost", str(counts["outage"]["lost"]), counts["outage"]["lost"] == 0, "0"),
            ("outage walls up", f"{out_w['http_errors']} HTTP errors, {out_w['stale']} stale",
             out_w["http_errors"] == 0, "0 HTTP errors (stale allowed)"),
        ]
    checks += [
        ("burst errors", str(herd_errors), herd_errors == 0, "0"),
        ("burst done", f"{max(b['seconds'] for b in bursts):.2f} s",
         all(b["seconds"] <= TARGETS["herd_max_s"] for b in bursts), "<= 10 s each"),
    ]
    for name, value, ok, target in checks:
        say(f"  {'ok  ' if ok else 'MISS'} {name}: {value} (target {target})")
    first = pairs[0]
    result = {
        "walls": args.walls, "interval_s": interval, "duration_s": duration, "data": data,
        "workers": args.workers, "celery_worker": True, "replica": True,
        "pool_max": settings.pool_max, "pool_timeout_s": settings.pool_timeout,
        "wall_requests": sum(pr["tier_w"]["n"] for pr in pairs),
        "wall_p50_ms": round(med(pr["tier_w"]["p50_ms"] for pr in pairs), 1),
        "wall_p95_ms": round(wall_p95, 1), "wall_p95_ms_each": [round(pr["tier_w"]["p95_ms"], 1) for pr in pairs],
        "wall_max_ms": round(max(pr["tier_w"]["max_ms"] for pr in pairs), 1),
        "wall_errors": wall_errors,
        "reports_per_s": round(med(pr["tier_r"]["per_s"] for pr in pairs), 1),
        "report_p95_ms": round(report_p95, 1),
        "reports_lost": lost,
        "reports_duplicated": sum(c["duplicated"] for c in counts.values()),
        "rebalance_done": rebalance_done, "rebalance_repeats": len(pairs),
        "rebalance_streets": [pr["street"] for pr in pairs],
        "rebalance_s_each": [pr["state"].get("seconds") for pr in pairs],
        "planner_browser_cpu_s_each": [pr["state"].get("browser_cpu_s") for pr in pairs],
        "wall_p95_ratio_during_rebalance": round(ratio, 2),
        "wall_p95_ratio_during_rebalance_each": [round(pr["ratio"], 2) for pr in pairs],
        "wall_p95_ms_during_rebalance_each": [round(pr["reb_w"]["p95_ms"], 1) for pr in pairs],
        "wall_p95_ratio_while_rebalancing": round(busy_ratio, 2),
        "wall_p95_ratio_while_rebalancing_each": [round(pr["busy_ratio"], 2) for pr in pairs],
        "wall_refreshes_while_rebalancing_each": [pr["busy_n"] for pr in pairs],
        "rebalance_from": "/plan",
        "rebalance_messages": [pr["state"].get("message") for pr in pairs],
        "tier_cpu_s": first["tier_w"].get("cpu_s"), "rebalance_cpu_s": first["reb_w"].get("cpu_s"),
        "outage_skipped": out_w is None, "outage_s": None if out_w is None else outage,
        "outage_reports_lost": counts["outage"]["lost"] if out_w else None,
        "outage_wall_http_errors": out_w["http_errors"] if out_w else None,
        "outage_wall_stale": out_w["stale"] if out_w else None,
        "outage_reports_retried": counts["outage"]["retried"] if out_w else None,
        "baseline_wall_p95_ms": round(base_w["p95_ms"], 1),
        "baseline_report_p95_ms": round(base_r["p95_ms"], 1),
        "baseline_reports_lost": counts["baseline"]["lost"],
        "herd_repeats": repeats, "herd_errors": herd_errors,
        "herd_max_s": round(herd_max, 2), "herd_max_s_each": [round(b["seconds"], 2) for b in bursts],
        "herd_p95_ms": round(statistics.median(b["p95_ms"] for b in bursts), 1),
        "load_avg_start": round(load_start[0], 2), "load_avg_end": round(load_end[0], 2),
        "cores": os.cpu_count(), "quick": args.quick,
    }
    if args.trace:
        args.trace.write_text(json.dumps(TRACE))
    say(json.dumps(result, ensure_ascii=False))
    return 0 if all(ok for _, _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
