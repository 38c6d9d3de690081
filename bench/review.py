"""Leaders' review at city scale: first view of /review, a metric change, a street's PDF.

Not part of ``make test``. Uses the city of ``bench/screen.py`` (database ``gridatlas_bench``
on the embedded cluster; built there, reused here: run ``bench/screen.py`` first when it is
missing) or, with ``--demo``, a database holding the demo district. A leader with the whole
city as scope signs in once; every cold load is a new browser context carrying the session.

Figures (Debian's Chromium through Playwright):

* ``first_view_s``: navigation start until the map shows every street of the scope, the
  key figures are on the page and the legend is drawn; ``--runs`` cold loads, median and
  p95. Target <= 1.5 s.
* same-run baselines of each cold load, for reading the figure above on a shared machine:
  ``shell_s``, navigation start until Dash's renderer has the app's callbacks
  (``_dash-dependencies`` received: the scripts and start-up any page of the app costs, before
  the page itself is asked for), and ``rankings_s``,
  until the streets' ranking table is filled (it loads after the first view).
* ``metric_ms``: a metric chosen in the selector (set on the component, as a click does)
  until the legend shows the new metric, on the last cold load's page once it has finished
  loading; ``--changes`` changes, median and p95. Target p95 <= 300 ms.
* ``pdf_s``: the "下载 PDF" button at a street until the browser has the file; median of 3.
  Target <= 5 s.

Prints the load average at start (the machine is shared: read the figures with it) and ends
with one JSON line. ``--checkout DIR`` reads the city from the embedded cluster of another
checkout (whose cluster holds ``gridatlas_bench``) without starting or reconfiguring it.

Usage::

    .venv/bin/python bench/review.py                 # the city in gridatlas_bench
    .venv/bin/python bench/review.py --demo URL      # a database holding the demo instead
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import citygen, screen  # noqa: E402

USER, PASSWORD = "bench_leader", "Bench-leader-2026"
TARGETS = {"first_view_s": 1.5, "metric_p95_ms": 300.0, "pdf_s": 5.0}
SERVER_MS: list[float] = []  # per first view: the slowest callback's server time (ms)
METRICS = ("on_time_rate", "overdue_now", "incidents_per_1000", "band", "hh_per_camera", "rework")


def say(msg: str) -> None:
    print(msg, flush=True)


def ensure_leader(app_url: str, scope: str) -> None:
    env = dict(os.environ, DATABASE_URL=app_url)
    r = subprocess.run([sys.executable, "-m", "geo", "users", "add", USER, "--role", "leader",
                        "--scope", scope, "--password", PASSWORD],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0 and "exists already" not in (r.stdout + r.stderr):
        raise SystemExit(f"could not create {USER}: {r.stdout}{r.stderr}")


def count(admin_url: str, query: str, params: tuple) -> int:
    import psycopg2

    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def login(browser, base_url: str) -> list:
    ctx = browser.new_context(viewport=screen.VIEWPORT, bypass_csp=True)
    page = ctx.new_page()
    page.goto(f"{base_url}/login?next=%2F")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")
    cookies = ctx.cookies()
    ctx.close()
    return cookies


SHELL_S: list[float] = []  # per first view: until the page's controls are drawn
RANKINGS_S: list[float] = []  # per first view: until the streets' ranking table is filled


def first_view(browser, url: str, cookies: list, n_streets: int) -> tuple[float, object, object]:
    ctx = browser.new_context(viewport=screen.VIEWPORT, bypass_csp=True, locale="zh-CN")
    ctx.add_cookies(cookies)
    page = ctx.new_page()
    page.goto(url + "/review", wait_until="commit")
    # one loop in the page marks each moment on the frame it is first seen
    marks = page.evaluate(f"""async () => {{
        const t = {{}}; const t0 = performance.now();
        const text = (sel) => {{ const e = document.querySelector(sel); return e ? e.innerText : ''; }};
        while (performance.now() - t0 < 600000) {{
            if (!t.view && document.querySelectorAll('#rv-map path.leaflet-interactive').length >= {n_streets}
                && text('#rv-cards-box') && text('#rv-legend-box')) {{ t.view = performance.now(); }}
            if (!t.rankings && document.querySelector('#rv-streets table td')) {{ t.rankings = performance.now(); }}
            if (t.view && t.rankings) {{ break; }}
            await new Promise(r => requestAnimationFrame(r));
        }}
        return t; }}""")
    if "view" not in marks:
        raise SystemExit("the first view did not complete within 10 minutes")
    shell = page.evaluate("""performance.getEntriesByType('resource')
        .filter(e => e.name.includes('_dash-dependencies')).map(e => e.responseEnd)""")
    SHELL_S.append((min(shell) if shell else float("nan")) / 1000)
    RANKINGS_S.append(marks.get("rankings", float("nan")) / 1000)
    # the slowest callback answered before the view was complete (the page's own since the
    # view comes with the layout)
    server = page.evaluate(f"""performance.getEntriesByType('resource')
        .filter(e => e.name.includes('_dash-update-component') && e.responseEnd <= {marks['view']})
        .map(e => e.responseStart - e.requestStart)""")
    SERVER_MS.append(max(server) if server else 0.0)
    return marks["view"] / 1000, ctx, page


def metric_changes(page, n: int) -> list[float]:
    """Per change: ms from setting the selector's value until the legend shows the metric."""
    out = []
    current = page.evaluate("new URLSearchParams(location.search).get('metric') || 'on_time_rate'")
    for i in range(n):
        metric = [m for m in METRICS if m != current][i % (len(METRICS) - 1)]
        before = page.inner_text("#rv-legend-box")
        ms = page.evaluate("""async (m) => {
            const before = document.querySelector('#rv-legend-box').innerText;
            const t0 = performance.now();
            window.dash_clientside.set_props('rv-metric', {value: m});
            while (document.querySelector('#rv-legend-box').innerText === before) {
                await new Promise(r => requestAnimationFrame(r));
                if (performance.now() - t0 > 30000) { return -1; }
            }
            return performance.now() - t0; }""", metric)
        if ms < 0:
            raise SystemExit(f"the legend did not change for {metric} (it read {before[:60]!r})")
        out.append(ms)
        current = metric
    return out


def pdf_once(page) -> float:
    box = page.locator("#rv-pdf").bounding_box()
    t0 = time.perf_counter()
    with page.expect_download(timeout=120000) as dl:
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    dl.value.path()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", metavar="URL", help="a database holding the demo district instead")
    ap.add_argument("--runs", type=int, default=5, help="cold first views (default 5)")
    ap.add_argument("--changes", type=int, default=30, help="metric changes (default 30)")
    ap.add_argument("--checkout", metavar="DIR", type=Path,
                    help="the checkout whose embedded cluster holds gridatlas_bench (default: this "
                         "one); its cluster must be running and is not reconfigured")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    say(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} CPUs)")
    if args.demo:
        admin = app_url = args.demo
        scope, data = "990100", "demo"
    else:
        from geo import localdb

        if args.checkout:
            lay = localdb.layout(args.checkout.resolve())
            if not localdb.status(lay):
                raise SystemExit(f"the cluster of {args.checkout} is not running")
        else:
            lay = localdb.layout()
            localdb.up(lay)
        admin = lay.admin_url("gridatlas_bench")
        if not citygen.city_present(admin, citygen.FULL):
            raise SystemExit("gridatlas_bench does not hold the city: run bench/screen.py first, "
                             "or pass --demo URL")
        # the city may predate the latest migrations (0014 keeps the camera gaps the review reads)
        from geo import db

        applied = db.migrate(admin)
        if applied:
            say(f"applied migrations {applied} to gridatlas_bench")
        app_url = screen.with_dbname(lay.app_url, "gridatlas_bench")
        scope, data = citygen.CITY_CODE, "city (gridatlas_bench)"
    say(f"data: {data}")
    ensure_leader(app_url, scope)
    n_streets = count(admin, "SELECT count(*) FROM streets WHERE left(code, 6) = %s", (scope,))
    street = count(admin, "SELECT min(code)::bigint FROM streets WHERE left(code, 6) = %s", (scope,))
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.gettempdir()) / f"bench-review-{os.getpid()}.log"
    app = screen.App(app_url, log)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=screen.CHROMIUM, args=screen.CHROMIUM_ARGS)
            cookies = login(browser, app.url)
            warm, ctx, _ = first_view(browser, app.url, cookies, n_streets)  # warms the server
            ctx.close()
            say(f"warm-up first view: {warm:.2f} s")
            views = []
            for i in range(args.runs):
                s, ctx, page = first_view(browser, app.url, cookies, n_streets)
                views.append(s)
                say(f"first view {i + 1}: {s:.2f} s (shell {SHELL_S[-1]:.2f} s, slowest callback "
                    f"{SERVER_MS[-1]:.0f} ms on the server, rankings at {RANKINGS_S[-1]:.2f} s)")
                if i < args.runs - 1:
                    ctx.close()
            # a metric is changed on a page that has finished loading (the rankings and the
            # sections below the view arrive after it), as a leader reading the map does
            page.wait_for_selector("#rv-streets table td", timeout=600000)
            page.wait_for_load_state("networkidle", timeout=600000)
            changes = metric_changes(page, args.changes)
            say("metric changes (ms): " + " ".join(f"{c:.0f}" for c in changes))
            ctx.close()
            ctx = browser.new_context(viewport=screen.VIEWPORT, bypass_csp=True, accept_downloads=True)
            ctx.add_cookies(cookies)
            page = ctx.new_page()
            page.goto(f"{app.url}/review?level=community&area={street}")
            page.wait_for_selector("#rv-cards-box .rv-card", timeout=120000)
            pdfs = [pdf_once(page) for _ in range(3)]
            say("street PDF (s): " + " ".join(f"{p:.2f}" for p in pdfs))
            ctx.close()
            browser.close()
    finally:
        app.stop()
    out = {
        "data": data, "load_avg_start": [round(x, 2) for x in load],
        "first_view_median_s": round(statistics.median(views), 3),
        "first_view_p95_s": round(screen.pct(views, 95), 3),
        "metric_median_ms": round(statistics.median(changes), 1),
        "metric_p95_ms": round(screen.pct(changes, 95), 1),
        "pdf_median_s": round(statistics.median(pdfs), 2), "pdf_p95_s": round(screen.pct(pdfs, 95), 2),
        "streets": n_streets, "runs": args.runs, "changes": args.changes,
        # the view's callback's server time per cold first view (its share of the first view)
        "first_view_server_median_ms": round(statistics.median(SERVER_MS[1:] or SERVER_MS), 1),
        # same-run baselines: the app's shell (scripts and start-up, before the page), and when the
        # rankings, which load after the view, were filled
        "shell_median_s": round(statistics.median(SHELL_S[1:] or SHELL_S), 3),
        "rankings_median_s": round(statistics.median(RANKINGS_S[1:] or RANKINGS_S), 3),
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }
    out["targets_met"] = {"first_view": max(out["first_view_median_s"],
                                            out["first_view_p95_s"]) <= TARGETS["first_view_s"],
                          "metric": out["metric_p95_ms"] <= TARGETS["metric_p95_ms"],
                          "pdf": out["pdf_median_s"] <= TARGETS["pdf_s"]}
    say(f"first view median {out['first_view_median_s']} s, p95 {out['first_view_p95_s']} s "
        f"(target {TARGETS['first_view_s']} s; the page's shell alone: median {out['shell_median_s']} s)")
    say(f"metric change median {out['metric_median_ms']} ms, p95 {out['metric_p95_ms']} ms "
        f"(target p95 {TARGETS['metric_p95_ms']:.0f} ms)")
    say(f"street PDF median {out['pdf_median_s']} s (target {TARGETS['pdf_s']} s)")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
