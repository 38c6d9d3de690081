"""Wall screens under load: 50 walls refreshing at their interval, and 50 at one instant.

Not part of ``make test``. Starts ``python app.py`` itself (``ANONYMOUS_WALL=1``: each wall
opens ``/?kiosk=1`` like a kiosk screen) on loopback, against the embedded cluster's demo
database (``python -m geo db url``) or, with ``--city``, the city-scale ``gridatlas_bench``
database of ``bench/screen.py`` (built there when missing, reused when present).

recording
    Debian's Chromium (Playwright) opens the wall once and records the real callback POST
    bodies (``/_dash-update-component``): those of the first load, and the one POST a
    refresh tick makes (driven through the wall's own gate, ``set_props('cmd-kick')``).
steady
    ``--walls`` clients (50), each with its own kiosk session, replay the tick's POST every
    ``--interval`` seconds (``REFRESH_SECONDS``, default 15), each starting at a random
    offset within the first interval, for ``--duration`` seconds (60). Per request: the
    loopback latency; an error is any answer other than 200 with fresh data (a 5xx, a
    timeout, or the wall's stale state).
herd
    The same clients fire the tick at one instant (a barrier), on an app restarted just
    before (cold pool, as after a restart), ``--repeats`` times (3). Per burst: the time
    until the last answer, errors as above.

Prints the load average at start, the steady percentiles, each burst, then one JSON line
last: ``walls``, ``wall_p50_ms``, ``wall_p95_ms``, ``wall_errors``, ``herd_errors``,
``herd_max_s`` (median of the bursts), ``load_avg_start``, ``data``... Targets on the 2-core
machine: steady p95 <= 300 ms, 0 errors; each burst 0 errors, done within 10 s. Exits 1
when a target is missed.

Usage::

    .venv/bin/python bench/load.py            # demo data, 60 s steady + 3 bursts (~2 min)
    .venv/bin/python bench/load.py --quick    # a tenth of the duration (6 s), 1 burst
    .venv/bin/python bench/load.py --city     # the city-scale database (bench/screen.py)

The app's own settings pass through the environment (``DB_POOL_MAX=4 bench/load.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
CALLBACK = "/_dash-update-component"
REFRESH_OUTPUT = "cmd-done.data"  # the wall's refresh callback writes this store
TARGETS = {"wall_p95_ms": 300.0, "herd_max_s": 10.0}
REQUEST_TIMEOUT_S = 30.0


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- the app


class App:
    """``python app.py`` on a port, with the wall open to kiosks (``ANONYMOUS_WALL=1``)."""

    def __init__(self, database_url: str, log_path: Path, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = dict(os.environ, DATABASE_URL=database_url, PORT=str(self.port),
                    HOST="127.0.0.1", ANONYMOUS_WALL="1")
        full.update(env or {})
        self._log = open(log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app did not start; see {log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


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
        t0 = time.perf_counter()
        try:
            r = self.http.post(self.base_url + CALLBACK, json=body, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            return Answer(0, time.perf_counter() - t0, message=type(exc).__name__)
        seconds = time.perf_counter() - t0
        answer = Answer(r.status_code, seconds, body=r.text[:2000])
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
    ``duration_s`` seconds."""
    rng = random.Random(seed)
    offsets = [rng.uniform(0, min(interval_s, duration_s)) for _ in clients]
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


def _database(args) -> tuple[str, str]:
    """(app url, what data) for the run."""
    from geo import localdb

    if args.database_url:
        return args.database_url, "given database"
    lay = localdb.layout()
    localdb.up(lay)
    if not args.city:
        return lay.app_url, "demo district (embedded cluster's gridatlas database)"
    from bench import screen

    ns = argparse.Namespace(quick=False, reuse=True, dbname=None, database_url=None)
    _, app_url, _ = screen.prepare_database(ns)
    return app_url, "city scale (gridatlas_bench: 2,576 grids, 1,000,000 buildings)"


def _summary(answers: list[Answer]) -> dict:
    ms = [a.seconds * 1000 for a in answers if a.status]
    bad = [a for a in answers if not a.fresh]
    return {"n": len(answers), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95),
            "max_ms": max(ms) if ms else float("nan"), "errors": len(bad),
            "by_status": {str(s): sum(1 for a in answers if a.status == s)
                          for s in sorted({a.status for a in answers})},
            "stale": sum(1 for a in answers if a.stale)}


def main(argv: list[str] | None = None) -> int:
    from geo.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--walls", type=int, default=50, help="wall clients (50)")
    ap.add_argument("--interval", type=float, help="seconds between a wall's refreshes "
                    "(REFRESH_SECONDS, default 15)")
    ap.add_argument("--duration", type=float, default=60.0, help="steady phase seconds (60)")
    ap.add_argument("--repeats", type=int, help="bursts, each on a restarted app (3; 1 quick)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the duration, 1 burst")
    ap.add_argument("--city", action="store_true", help="the city-scale bench database")
    ap.add_argument("--database-url", help="another database holding data")
    args = ap.parse_args(argv)
    if not 1 <= args.walls <= 500:
        ap.error("--walls must be between 1 and 500")
    settings = get_settings()
    interval = args.interval or settings.refresh_seconds
    duration = args.duration / 10 if args.quick else args.duration
    repeats = args.repeats or (1 if args.quick else 3)
    if not (0 < duration <= 600 and 0 < interval <= 600 and 1 <= repeats <= 10):
        ap.error("--duration and --interval up to 600 s, --repeats 1..10")

    load_start = os.getloadavg()
    say(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} "
        f"({os.cpu_count()} cores)")
    url, data = _database(args)
    say(f"data: {data}")
    say(f"app settings: DB_POOL_MAX={settings.pool_max}, DB_POOL_TIMEOUT={settings.pool_timeout:g} s "
        f"(Flask's threaded server: one thread per connection)")
    work = ROOT / ".cache" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "load-app.log"
    log_path.write_text("")

    from playwright.sync_api import sync_playwright

    app = App(url, log_path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
            try:
                rec = record_wall(browser, app.url)
            finally:
                browser.close()
        say(f"recorded: {len(rec.load)} callback POSTs at first load, 1 per refresh tick "
            f"({len(json.dumps(rec.tick)):,} B body)")
        clients = [WallClient(app.url) for _ in range(args.walls)]
        for c in clients:
            c.open()

        say(f"steady: {args.walls} walls every {interval:g} s for {duration:g} s ...")
        steady_answers = steady(clients, rec.tick, interval, duration)
        s = _summary(steady_answers)
        say(f"steady: {s['n']} refreshes, p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, "
            f"max {s['max_ms']:.1f} ms, errors {s['errors']} (status {s['by_status']}, "
            f"stale {s['stale']})")

        bursts = []
        for i in range(repeats):
            port = app.port
            app.stop()
            app = App(url, log_path, port=port)  # cold: as after a restart
            answers, elapsed = herd(clients, rec.tick)
            b = _summary(answers)
            b["seconds"] = elapsed
            bursts.append(b)
            say(f"burst {i + 1} ({args.walls} at one instant, app just restarted): all answered "
                f"in {elapsed:.2f} s, p50 {b['p50_ms']:.0f} ms, p95 {b['p95_ms']:.0f} ms, "
                f"errors {b['errors']} (status {b['by_status']}, stale {b['stale']})")
    finally:
        app.stop()

    herd_max = statistics.median(b["seconds"] for b in bursts)
    herd_errors = sum(b["errors"] for b in bursts)
    load_end = os.getloadavg()
    say(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}")
    checks = [
        ("steady p95", f"{s['p95_ms']:.1f} ms", s["p95_ms"] <= TARGETS["wall_p95_ms"], "<= 300 ms"),
        ("steady errors", str(s["errors"]), s["errors"] == 0, "0"),
        ("burst errors", str(herd_errors), herd_errors == 0, "0"),
        ("burst done", f"{max(b['seconds'] for b in bursts):.2f} s",
         all(b["seconds"] <= TARGETS["herd_max_s"] for b in bursts), "<= 10 s each"),
    ]
    for name, value, ok, target in checks:
        say(f"  {'ok  ' if ok else 'MISS'} {name}: {value} (target {target})")
    say(json.dumps({
        "walls": args.walls, "interval_s": interval, "duration_s": duration, "data": data,
        "pool_max": settings.pool_max, "pool_timeout_s": settings.pool_timeout,
        "wall_requests": s["n"], "wall_p50_ms": round(s["p50_ms"], 1),
        "wall_p95_ms": round(s["p95_ms"], 1), "wall_max_ms": round(s["max_ms"], 1),
        "wall_errors": s["errors"], "herd_repeats": repeats, "herd_errors": herd_errors,
        "herd_max_s": round(herd_max, 2), "herd_max_s_each": [round(b["seconds"], 2) for b in bursts],
        "herd_p95_ms": round(statistics.median(b["p95_ms"] for b in bursts), 1),
        "load_avg_start": round(load_start[0], 2), "load_avg_end": round(load_end[0], 2),
        "cores": os.cpu_count(), "quick": args.quick,
    }, ensure_ascii=False))
    return 0 if all(ok for _, _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
