"""The city tier under load: parts of ``bench/load.py`` (servers, Open311 reporters, outage).

``Server`` runs the app as ``python app.py`` (one process: the baseline) or as ``make run``
does (gunicorn, ``WORKERS`` x ``THREADS``), optionally reading from a streaming replica
(``DATABASE_READ_URL``) and with its background jobs on Celery (``REDIS_URL``: a
``geo.serve.RedisProcess`` and a ``geo.serve.WorkerProcess``). ``Reporters`` posts Open311
reports at a fixed rate (open loop), each with its own ``Idempotency-Key``; a report
refused by a 5xx or by no answer is sent again with the same key until it is accepted or
the phase's retry window ends, as a hotline client does (after a 503, no sooner than its
``Retry-After``). ``count_reports`` then counts in the database what arrived: reports lost
and cases made twice. ``primary_outage`` stops the embedded primary for a while and starts
it again. ``commit_street_from_plan`` is a planner rebalancing and committing a street on
``/plan`` in Chromium (``ensure_planner`` makes the account).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from geo.serve import AppProcess

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 30.0
KEY_NAME = "bench_tier"


class Server(AppProcess):
    """The app on a loopback port: ``python app.py`` or gunicorn (``workers`` > 0), with the
    wall open to kiosks, optionally reading from a replica."""

    def __init__(self, database_url: str, log_path: Path, *, port: int, workers: int = 0,
                 threads: int | None = None, read_url: str | None = None,
                 redis_url: str | None = None) -> None:
        env = {"ANONYMOUS_WALL": "1", "DATABASE_READ_URL": read_url or "", "REDIS_URL": redis_url or ""}
        if workers:
            env["WORKERS"] = str(workers)
            if threads:
                env["THREADS"] = str(threads)
        self.kind = f"gunicorn {workers} workers" if workers else "python app.py"
        super().__init__(database_url, log_path, port=port, gunicorn=bool(workers), env=env)


# ----------------------------------------------------------------------------- Open311


@dataclass
class Report:
    """One report: its key, the first attempt's latency and status, and how it ended."""

    key: str
    tag: str
    first_ms: float = 0.0
    first_status: int = 0
    final_status: int = 0
    attempts: int = 0
    answers: list[int] = field(default_factory=list)


def api_key(admin_url: str, name: str = KEY_NAME) -> str:
    """A fresh Open311 key for a bench (the old one of the same name removed)."""
    import psycopg2

    from geo.access import apikeys
    from geo.access.roles import SYSTEM

    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM api_keys WHERE name = %s", (name,))
    conn.close()
    return apikeys.create(SYSTEM, name)


def report_forms(seed: int = 5) -> tuple[list[tuple[float, float]], list[str]]:
    """(building points, leaf category codes) of the database in ``DATABASE_URL``."""
    from geo import db

    pts = [(r["x"], r["y"]) for r in db.fetch_all(
        "SELECT ST_X(pt) AS x, ST_Y(pt) AS y FROM buildings ORDER BY md5(code) LIMIT 2000")]
    cats = [r["code"] for r in db.fetch_all(
        """SELECT c.code FROM incident_categories c WHERE NOT EXISTS
             (SELECT 1 FROM incident_categories k WHERE k.parent_id = c.id) ORDER BY c.code""")]
    return pts, cats


class Reporters:
    """Open311 reports at ``rate`` a second for ``duration_s``, each retried until accepted
    (201) or until ``retry_until_s`` after the phase's start: after a 503 no sooner than its
    ``Retry-After`` (plus up to a second, so the retries spread out), else after a second."""

    def __init__(self, base_url: str, key: str, points, categories, *, rate: float,
                 duration_s: float, retry_until_s: float, run: str, seed: int = 7) -> None:
        self.url = base_url + "/open311/v2/requests.json"
        self.key = key
        self.points, self.categories = points, categories
        self.rate, self.duration_s, self.retry_until_s = rate, duration_s, retry_until_s
        self.run = run
        self.rng = random.Random(seed)
        self.rng_retry = random.Random(seed + 1)
        self.reports: list[Report] = []
        self._threads: list[threading.Thread] = []
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s

    def _send(self, rep: Report, form: dict, give_up: float) -> None:
        while True:
            t0 = time.perf_counter()
            wait = 1.0  # a hotline client's retry
            try:
                r = self._session().post(self.url, data=form, timeout=TIMEOUT_S,
                                         headers={"Idempotency-Key": rep.key})
                status = r.status_code
                after = r.headers.get("Retry-After", "")
                if status == 503 and after.isdigit():  # as HTTP asks: not before, spread out
                    wait = int(after) + self.rng_retry.uniform(0.0, 1.0)
            except requests.RequestException:
                status = 0
            ms = (time.perf_counter() - t0) * 1000
            rep.attempts += 1
            rep.answers.append(status)
            if rep.attempts == 1:
                rep.first_ms, rep.first_status = ms, status
            rep.final_status = status
            if status == 201 or (status and status < 500) or time.monotonic() >= give_up:
                return
            time.sleep(wait)

    def start(self) -> None:
        t0 = time.monotonic() + 0.2
        give_up = t0 + self.retry_until_s
        n = int(self.rate * self.duration_s)
        for i in range(n):
            x, y = self.rng.choice(self.points)
            tag = f"{self.run}-{i}"
            form = {"api_key": self.key, "service_code": self.rng.choice(self.categories),
                    "lat": f"{y:.7f}", "long": f"{x:.7f}", "description": f"压测 {tag}",
                    "phone": "13800000000"}
            rep = Report(key=str(uuid.uuid4()), tag=tag)
            self.reports.append(rep)

            def fire(rep=rep, form=form, at=t0 + i / self.rate) -> None:
                time.sleep(max(0.0, at - time.monotonic()))
                self._send(rep, form, give_up)

            th = threading.Thread(target=fire, daemon=True)
            th.start()
            self._threads.append(th)

    def send_all(self) -> list[Report]:
        """Start and wait for every report."""
        self.start()
        self.join()
        return self.reports

    def join(self) -> None:
        for th in self._threads:
            th.join(self.retry_until_s + TIMEOUT_S + 10)


def count_reports(admin_url: str, reports: list[Report]) -> dict:
    """What arrived: reports with no case (lost) and cases made more than once (by tag)."""
    import psycopg2

    tags = [r.tag for r in reports]
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT substr(description, 4) AS tag, count(*) FROM incidents
                            WHERE reported_by = %s AND description = ANY(%s)
                            GROUP BY 1""",
                        ("apikey:" + KEY_NAME, ["压测 " + t for t in tags]))
            found = dict(cur.fetchall())
    finally:
        conn.close()
    return {"sent": len(reports), "stored": len(found),
            "lost": sum(1 for t in tags if t not in found),
            "duplicated": sum(n - 1 for n in found.values() if n > 1),
            "accepted": sum(1 for r in reports if r.final_status == 201),
            "retried": sum(1 for r in reports if r.attempts > 1)}


def clean_reports(admin_url: str, name: str = KEY_NAME) -> None:
    """Delete every case the bench's key ``name`` made (the city is left as it was)."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        who = "apikey:" + name
        # every table whose rows point at a case (events, history of relocations, ...)
        cur.execute("""SELECT c.conrelid::regclass::text, a.attname
                         FROM pg_constraint c
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                        WHERE c.contype = 'f' AND c.confrelid = 'incidents'::regclass
                          AND c.conrelid <> 'incidents'::regclass""")  # (case links: below)
        for table, column in cur.fetchall():
            cur.execute(sql.SQL("DELETE FROM {} WHERE {} IN (SELECT id FROM incidents WHERE reported_by = %s)")
                        .format(sql.Identifier(table), sql.Identifier(column)), (who,))
        for column in ("duplicate_of", "possible_duplicate_of"):  # links from other cases
            cur.execute(sql.SQL("UPDATE incidents SET {c} = NULL WHERE {c} IN "
                                "(SELECT id FROM incidents WHERE reported_by = %s)")
                        .format(c=sql.Identifier(column)), (who,))
        # every row pointing at these cases is gone (above): the foreign-key checks, one scan of
        # the unindexed self-references per deleted case, are skipped (superuser only)
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("DELETE FROM incidents WHERE reported_by = %s", (who,))
    conn.close()


# ----------------------------------------------------------------------------- outage


def primary_outage(lay, seconds: float, log=print) -> dict:
    """Stop the embedded primary (fast shutdown), wait ``seconds``, start it again."""
    from geo import localdb

    t0 = time.monotonic()
    localdb.down(lay)
    stopped = time.monotonic()
    log(f"  primary stopped ({stopped - t0:.1f} s to stop); down for {seconds:g} s")
    time.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
    localdb.up(lay)
    up = time.monotonic()
    log(f"  primary up again after {up - stopped:.1f} s")
    return {"down_s": round(up - stopped, 1)}


# ----------------------------------------------------------------------------- /plan, as a planner

PLANNER, PLANNER_PASSWORD = "bench_planner", "bench-Planner-2026"


def ensure_planner(app_url: str, scope: str) -> None:
    """The bench's planner (role planner, ``scope``): made once, kept between runs."""
    r = subprocess.run([sys.executable, "-m", "geo", "users", "add", PLANNER, "--role", "planner",
                        "--scope", scope, "--password-stdin"], cwd=ROOT, capture_output=True, text=True,
                       input=PLANNER_PASSWORD + "\n", env={**os.environ, "DATABASE_URL": app_url})
    if r.returncode != 0 and "exists already" not in (r.stdout + r.stderr):
        raise RuntimeError(f"could not create {PLANNER}: {r.stdout}{r.stderr}")


def _click(page, selector: str) -> None:
    """A person's click: at the element's centre on the screen, once it holds still (a page
    still laying out, a map loading above it, moves it between the look and the click)."""
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box, last = loc.bounding_box(), None
    for _ in range(50):
        if box is not None and box == last:
            break
        page.wait_for_timeout(100)
        last, box = box, loc.bounding_box()
    if box is None:
        raise RuntimeError(f"{selector} is not on the screen")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _choose(page, street: str, ms: float) -> None:
    """Choose the street in /plan's street menu as a person does: click the menu, type the
    code, click its option; on a loaded server the page may lag (the menu re-rendering as it
    filters, the Run button enabled by a callback): a choice not taken is made again."""
    for attempt in range(3):
        _click(page, "#plan-street")
        try:  # a click that missed the menu (the page moved) is made again
            page.locator(".dash-dropdown-option[role=option]").first.wait_for(
                timeout=ms if attempt == 2 else 30_000)
        except Exception:  # noqa: BLE001 - not open: click it again
            continue
        page.keyboard.type(street)
        option = page.locator(".dash-dropdown-option[role=option]").filter(has_text=street).first
        option.wait_for(timeout=ms)
        for _ in range(100):  # the menu re-renders as it filters: click the option once it holds still
            if option.bounding_box() is not None:
                break
            page.wait_for_timeout(100)
        _click(page, f".dash-dropdown-option[role=option]:has-text('{street}')")
        try:
            page.wait_for_selector("#plan-street-run:not([disabled])", timeout=ms if attempt == 2 else 60_000)
            return
        except Exception:  # noqa: BLE001 - the choice did not take: the menu is closed first
            page.keyboard.press("Escape")


def planner_page(browser):
    """A browser window as a planner has it open before going to /plan (a context, 1600x1000,
    Chinese, and its page on about:blank): its renderer is started here, not in the visit."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    page = ctx.new_page()
    page.goto("about:blank")
    return page


def sign_in_to_plan(page, base_url: str, *, timeout_s: float = 900.0) -> None:
    """The bench's planner signed in through /login in ``page`` (opened by
    :func:`planner_page`) and looking at /plan, ready to choose a street."""
    from urllib.parse import quote

    page.goto(f"{base_url}/login?next={quote('/plan', safe='')}")
    page.fill("#username", PLANNER)
    page.fill("#password", PLANNER_PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_selector("#plan-street-box:not([hidden])", timeout=timeout_s * 1000)


def commit_street_from_plan(page, base_url: str, street: str, *, note: str,
                            accept_band: bool = True, timeout_s: float = 900.0, log=print) -> dict:
    """A planner's street rebalance on ``/plan``, open in ``page`` (Playwright, signed in by
    :func:`sign_in_to_plan`; its context is closed at the end): choose the street (click,
    type its code, click its option), run it (a background
    job), then commit the whole street (tick "accept grids outside the band" when
    ``accept_band``, as ``geo rebalance --apply --allow-out-of-band`` did; type the note;
    commit; confirm). Returns ``ok`` (the page said committed), ``message`` and the seconds
    of each part; the caller reads the database for the versions themselves."""
    ms = timeout_s * 1000
    ctx = page.context
    out: dict = {"ok": False, "requests": []}
    sent: dict = {}

    def _sent(req) -> None:
        sent[id(req)] = time.monotonic()

    def _done(req) -> None:  # the planner's own requests: when, how long, what (for --trace)
        at = sent.pop(id(req), None)
        if at is not None:
            what = req.url.split("?")[0].replace(base_url, "")
            if what.endswith("_dash-update-component") and req.post_data:
                what = "callback " + str(json.loads(req.post_data).get("output", ""))[:60]
            out["requests"].append((round(at, 3), round((time.monotonic() - at) * 1000, 1), req.method, what))

    page.on("request", _sent)
    page.on("requestfinished", _done)
    try:
        t0 = time.monotonic()
        _choose(page, street, ms)
        _click(page, "#plan-street-run")
        t_run = out["run_at"] = time.monotonic()
        page.wait_for_selector("#plan-street-table, #plan-street-status .ga-bad", timeout=ms)
        out["run_s"] = round(time.monotonic() - t_run, 1)
        out["run_done_at"] = time.monotonic()
        if not page.locator("#plan-street-table").count():
            out["message"] = page.inner_text("#plan-street-status")
            return out
        log(f"  /plan: street {street} computed in {out['run_s']} s: {page.inner_text('#plan-street-status')}")
        page.wait_for_selector("#plan-street-commit-box:not([hidden])", timeout=60_000)
        if accept_band:
            _click(page, "#plan-street-accept-band input")
        _click(page, "#plan-street-note")
        page.keyboard.type(note)
        _click(page, "#plan-street-commit")
        page.wait_for_selector("#plan-street-ask-box:not([hidden])", timeout=60_000)
        if page.locator("#plan-street-yes[disabled]").count():
            out["message"] = page.inner_text("#plan-street-ask")
            return out
        _click(page, "#plan-street-yes")
        t_commit = out["commit_at"] = time.monotonic()
        page.wait_for_selector("#plan-street-commit-msg .ga-ok, #plan-street-commit-msg .ga-bad", timeout=ms)
        out["commit_s"] = round(time.monotonic() - t_commit, 1)
        out["commit_done_at"] = time.monotonic()
        out["message"] = page.inner_text("#plan-street-commit-msg")
        out["ok"] = page.locator("#plan-street-commit-msg .ga-ok").count() > 0
        out["seconds"] = round(time.monotonic() - t0, 1)
        log(f"  /plan: {out['message']}")
        return out
    except Exception:
        page.screenshot(path=str(ROOT / ".cache" / "bench" / "load-plan-failed.png"))  # what the planner saw
        raise
    finally:
        ctx.close()
