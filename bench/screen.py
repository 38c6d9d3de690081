"""Command-centre wall at city scale: first view, bytes and refresh time, vs a naive baseline.

Not part of ``make test``. Builds (or with ``--reuse`` keeps) a city-scale database
(``bench/citygen.py``: 2,576 grids, 1,000,000 buildings, ~1,000,000 households, 50,000
cameras, 20,000 open incidents), starts ``python app.py`` on it, signs in once as a
district-level operator whose scope (``990200``) is the whole city, then measures in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright):

first view
    a NEW browser context each run (cold cache, the session cookie added): from navigation
    start (``performance.timeOrigin``) until the map holds as many
    ``path.leaflet-interactive`` elements as there are boundary features in the initial
    view. The initial view fits the operator's scope (the whole city), so it shows the
    district, its streets and its communities; grids are drawn from zoom 13 only, and are
    counted too when the fitted zoom reaches 13 (it does not for the city). The count is
    asked from the database with the page's own scope rule.
bytes
    every response's encoded body: CDP ``Network.loadingFinished.encodedDataLength`` (bytes
    on the wire, compressed when the server compressed) minus the response head received
    with ``Network.responseReceived``; from navigation until first view and then 1.5 s with
    no request in flight; code (Dash, React, Leaflet bundles) included. Header bytes are
    printed apart.
refresh
    ticks are driven from the page (``set_props('cmd-kick')``, exactly what the interval
    tick does through the same gate), one after another once the previous tick's ``done``
    ran; per tick, the server time of the ``_dash-update-component`` POSTs it caused
    (Resource Timing ``responseStart - requestStart``; the app sends no Server-Timing) is
    summed. p50/p95 over ``--ticks`` ticks (50; 5 with ``--quick``).
baseline
    in the same run, a minimal page (served by a tiny ``http.server``, no compression) that
    fetches exactly the same first-view features as full-precision (15 decimals),
    full-resolution (no coarse copies) GeoJSON exported with ``ST_AsGeoJSON`` and draws
    them as plain SVG paths (same class, same count rule).

Prints medians over ``--runs`` cold loads (3), the load average at start, ratios against
the baseline and the per-callback breakdown of the first view, then one JSON line last:
``first_view_s``, ``bytes``, ``refresh_p50_ms``, ``refresh_p95_ms``,
``baseline_first_view_s``, ``baseline_bytes``.

Usage::

    .venv/bin/python bench/screen.py               # build gridatlas_bench, measure
    .venv/bin/python bench/screen.py --reuse       # keep the database if it holds the city
    .venv/bin/python bench/screen.py --quick       # one demo copy, 5 ticks (~1-2 min)
    .venv/bin/python bench/screen.py --database-url postgresql://...  (an empty database)
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import citygen  # noqa: E402
from geo.serve import AppProcess  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1920, "height": 1080}
USER, PASSWORD = "bench_op", "bench-operator-1"
IDLE_S = 1.5
TARGETS = {"first_view_s": 2.0, "bytes": 1_500_000, "refresh_p95_ms": 150.0, "baseline_ratio": 1 / 3}
GRID_MIN_ZOOM = 13  # geo.repository.wall.GRID_MIN_ZOOM (grids drawn from here in)

# Records, from the first frame on, when the map first holds N interactive paths.
FIRST_VIEW_JS = """
(() => {
  window.__fvWanted = %d;
  window.__fv = null;
  const tick = () => {
    if (window.__fv !== null) return;
    if (document.querySelectorAll('path.leaflet-interactive').length >= window.__fvWanted) {
      window.__fv = performance.now();
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""

# Counts the wall's `done` clientside calls (one per answered refresh).
DONE_HOOK_JS = """
(() => {
  const w = window.dash_clientside && window.dash_clientside.wall;
  if (!w || w.__benchWrapped) return !!w;
  const orig = w.done;
  window.__done = 0;
  w.done = function () { window.__done += 1; return orig.apply(this, arguments); };
  w.__benchWrapped = true;
  return true;
})()
"""

BASELINE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>baseline</title>
<style>html,body{margin:0;height:100%;background:#0b1220}svg{display:block;width:100vw;height:100vh}
path{fill:none;stroke:#4fd1c5;stroke-width:1}</style></head>
<body><svg id="m" xmlns="http://www.w3.org/2000/svg"></svg>
<script>
fetch("features.json").then(function (r) { return r.json(); }).then(function (fc) {
  var svg = document.getElementById("m"), W = svg.clientWidth, H = svg.clientHeight;
  function merc(c) {
    var s = Math.sin(c[1] * Math.PI / 180);
    return [c[0] / 360 + 0.5, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
  }
  var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  function polys(g) { return g.type === "Polygon" ? [g.coordinates] : g.coordinates; }
  fc.features.forEach(function (f) {
    polys(f.geometry).forEach(function (p) { p[0].forEach(function (c) {
      var m = merc(c); x0 = Math.min(x0, m[0]); x1 = Math.max(x1, m[0]);
      y0 = Math.min(y0, m[1]); y1 = Math.max(y1, m[1]); }); });
  });
  var k = Math.min((W - 40) / (x1 - x0), (H - 40) / (y1 - y0));
  var frag = document.createDocumentFragment();
  fc.features.forEach(function (f) {
    var d = [];
    polys(f.geometry).forEach(function (p) { p.forEach(function (ring) {
      ring.forEach(function (c, i) {
        var m = merc(c);
        d.push((i ? "L" : "M") + ((m[0] - x0) * k + 20).toFixed(1) + " " + ((m[1] - y0) * k + 20).toFixed(1));
      });
      d.push("Z");
    }); });
    var el = document.createElementNS("http://www.w3.org/2000/svg", "path");
    el.setAttribute("d", d.join(""));
    el.setAttribute("class", "leaflet-interactive");
    frag.appendChild(el);
  });
  svg.appendChild(frag);
});
</script></body></html>
"""


def say(msg: str) -> None:
    print(msg, flush=True)


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# ----------------------------------------------------------------------------- database


def prepare_database(args) -> tuple[str, str, dict | None]:
    """(build/admin url, app url, build report or None when reused)."""
    from geo import db, localdb

    spec = citygen.QUICK if args.quick else citygen.FULL
    if args.database_url:
        admin = app = args.database_url
        created, created_s = False, 0.0
        if not citygen.is_empty(admin) and not (args.reuse and citygen.city_present(admin, spec)):
            raise SystemExit("--database-url must name an empty database (or hold the same "
                             "city, with --reuse)")
    else:
        lay = localdb.layout()
        localdb.up(lay)
        name = args.dbname or ("gridatlas_bench_quick" if args.quick else "gridatlas_bench")
        admin = lay.admin_url(name)
        app = with_dbname(lay.app_url, name)
        t0 = time.perf_counter()
        created = citygen.ensure_database(lay.admin_url("postgres"), name, fresh=False)
        if not created and not (args.reuse and citygen.city_present(admin, spec)):
            citygen.ensure_database(lay.admin_url("postgres"), name, fresh=True)
            created = True
        created_s = time.perf_counter() - t0
    report = None
    if created or not citygen.city_present(admin, spec):
        t0 = time.perf_counter()
        db.migrate(admin)
        say(f"building the city ({'quick' if args.quick else 'full'}) ...")
        report = citygen.build_city(admin, spec, say=say)
        report["seconds_total"] = round(time.perf_counter() - t0 + created_s, 1)
        say(f"city built in {report['seconds_total']:.1f} s (database, migrations, data): "
            f"{report['counts']}")
    else:
        say("reusing the city already in the database (--reuse)")
    return admin, app, report


def ensure_user(app_url: str) -> None:
    env = dict(os.environ, DATABASE_URL=app_url)
    r = subprocess.run(
        [sys.executable, "-m", "geo", "users", "add", USER, "--role", "operator",
         "--scope", citygen.CITY_CODE, "--password", PASSWORD],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0 and "exists already" not in (r.stdout + r.stderr):
        raise SystemExit(f"could not create {USER}: {r.stdout}{r.stderr}")


def first_view_features(admin_url: str, zoom: float | None, full_geojson: bool = False):
    """Boundary features the initial view shows (the page's scope rule: places inside the
    scope and its ancestors; grids only from zoom 13). With ``full_geojson`` returns the
    FeatureCollection at full precision, else the count."""
    import psycopg2

    scope = ("(p.code LIKE %(place)s || '%%' OR %(place)s LIKE p.code || '%%')")
    parts = [f"SELECT 'district' AS level, p.code, p.name, p.name_en, p.geom FROM districts p WHERE {scope}",
             f"SELECT 'street', p.code, p.name, p.name_en, p.geom FROM streets p WHERE {scope}",
             f"SELECT 'community', p.code, p.name, p.name_en, p.geom FROM communities p WHERE {scope}"]
    if zoom is not None and zoom >= GRID_MIN_ZOOM:
        parts.append(f"""SELECT 'grid', p.code, coalesce(p.name, p.code), p.name, p.geom
                           FROM grids p JOIN grid_versions v ON v.id = p.version_id
                            AND v.is_current WHERE {scope}""")
    union = " UNION ALL ".join(parts)
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            if not full_geojson:
                cur.execute(f"SELECT count(*) FROM ({union}) x", {"place": citygen.CITY_CODE})
                return int(cur.fetchone()[0])
            cur.execute(f"SELECT level, code, name, name_en, ST_AsGeoJSON(geom, 15) FROM ({union}) x "
                        "ORDER BY level, code", {"place": citygen.CITY_CODE})
            feats = [{"type": "Feature", "geometry": json.loads(gj),
                      "properties": {"code": code, "name": name, "name_en": name_en,
                                     "level": level}}
                     for level, code, name, name_en, gj in cur.fetchall()]
            return {"type": "FeatureCollection", "features": feats}
    finally:
        conn.close()


# ----------------------------------------------------------------------------- servers


class App(AppProcess):
    """``python app.py`` on a free port (the wall's own interval set to an hour: the bench
    drives ticks itself)."""

    def __init__(self, database_url: str, log_path: Path, app_dir: Path = ROOT) -> None:
        log_path.write_text("")
        super().__init__(database_url, log_path, env={"REFRESH_SECONDS": "3600"}, cwd=app_dir,
                         timeout=90)


class Baseline:
    """A tiny http.server serving the baseline page and its GeoJSON (no compression)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


# ----------------------------------------------------------------------------- browser


class NetLog:
    """Encoded body bytes per response (CDP), requests in flight, last network activity."""

    def __init__(self, context, page) -> None:
        self.bytes = 0
        self.header_bytes = 0
        self.by_kind: dict[str, int] = {}
        self.by_url: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.head: dict[str, int] = {}
        self.inflight: set[str] = set()
        self.last = time.monotonic()
        self.count = 0
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._head)
        self.cdp.on("Network.loadingFinished", self._done)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable")

    def _sent(self, e) -> None:
        url = e["request"]["url"]
        if not url.startswith("http"):
            return
        self.urls[e["requestId"]] = url
        self.inflight.add(e["requestId"])
        self.last = time.monotonic()

    def _head(self, e) -> None:
        # bytes received when the response head arrived: the status line and headers
        self.head[e["requestId"]] = int(e["response"].get("encodedDataLength") or 0)

    def _done(self, e) -> None:
        rid = e["requestId"]
        if rid not in self.urls:
            return
        total = int(e.get("encodedDataLength") or 0)
        head = min(self.head.get(rid, 0), total)
        self.header_bytes += head
        n = total - head  # the encoded (compressed when compressed) body
        self.bytes += n
        self.count += 1
        kind = _kind(self.urls[rid])
        self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        path = urlsplit(self.urls[rid]).path
        self.by_url[path] = self.by_url.get(path, 0) + n
        self.inflight.discard(rid)
        self.last = time.monotonic()

    def _failed(self, e) -> None:
        self.inflight.discard(e["requestId"])
        self.last = time.monotonic()


def _kind(url: str) -> str:
    path = urlsplit(url).path
    if "_dash-update-component" in path:
        return "callbacks"
    if "_dash-layout" in path or "_dash-dependencies" in path or path in ("/", ""):
        return "page+layout"
    if path.endswith(".js") or "_dash-component-suites" in path:
        return "code (js)"
    if path.endswith(".css"):
        return "css"
    if path.endswith(".json"):
        return "data (json)"
    return "other"


def load_once(browser, url: str, cookies: list, wanted: int, timeout_s: float = 120) -> dict:
    """One cold load in a new context: first view (s), bytes until first view + idle, and
    the page's callback requests."""
    ctx = browser.new_context(viewport=VIEWPORT, bypass_csp=True)  # wait_for_function evals
    if cookies:
        ctx.add_cookies(cookies)
    ctx.add_init_script(FIRST_VIEW_JS % wanted)
    page = ctx.new_page()
    net = NetLog(ctx, page)
    callbacks: list = []
    page.on("requestfinished", lambda r: "_dash-update-component" in r.url and callbacks.append(r))
    page.goto(url, wait_until="commit")
    deadline = time.monotonic() + timeout_s
    fv = None
    while fv is None:
        page.wait_for_timeout(25)
        fv = page.evaluate("window.__fv")
        if time.monotonic() > deadline:
            n = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
            ctx.close()
            raise RuntimeError(f"no first view after {timeout_s} s ({n} of {wanted} paths)")
    while not (not net.inflight and time.monotonic() - net.last >= IDLE_S):
        page.wait_for_timeout(50)
        if time.monotonic() > deadline:
            break
    paths = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    timeline = page.evaluate("""() => {
      const nav = performance.getEntriesByType('navigation')[0] || {};
      const res = performance.getEntriesByType('resource').map(e => ({
        name: e.name, start: e.startTime, end: e.responseEnd, reqStart: e.requestStart,
        respStart: e.responseStart}));
      return {dcl: nav.domContentLoadedEventEnd || 0, load: nav.loadEventEnd || 0, res: res};
    }""")
    rows = []
    for r in callbacks:
        try:
            body = r.post_data_json or {}
            out = body.get("output", "?")
            t = r.timing
            size = r.sizes().get("responseBodySize", 0)
            rows.append({"output": _short(out), "server_ms": _server_ms(t), "bytes": size,
                         "start_ms": t.get("startTime", 0)})
        except Exception:  # noqa: BLE001 - a request of a closed page: skip it
            pass
    result = {"first_view_s": fv / 1000, "bytes": net.bytes, "header_bytes": net.header_bytes,
              "by_kind": dict(net.by_kind),
              "by_url": dict(net.by_url),
              "requests": net.count, "paths": paths, "callbacks": rows,
              "url": page.url, "page": page, "ctx": ctx, "timeline": timeline}
    return result


def _timeline(run: dict) -> str:
    tl = run.get("timeline") or {}
    res = tl.get("res", [])
    code = [r["end"] for r in res if r["name"].endswith(".js") or "_dash-component-suites" in r["name"]]
    layout = [r["end"] for r in res if "_dash-layout" in r["name"] or "_dash-dependencies" in r["name"]]
    cbs = sorted((r for r in res if "_dash-update-component" in r["name"]), key=lambda r: r["start"])
    parts = [f"DOMContentLoaded {tl.get('dcl', 0):.0f}"]
    if code:
        parts.append(f"last script {max(code):.0f}")
    if layout:
        parts.append(f"layout+dependencies {max(layout):.0f}")
    # the callback that carries the boundaries is the largest response
    big = sorted(run.get("callbacks", []), key=lambda c: -c["bytes"])[:1]
    for r in cbs:
        parts.append(f"callback {r['start']:.0f}-{r['end']:.0f}")
    parts.append(f"first view {run['first_view_s'] * 1000:.0f}")
    if big:
        parts.append(f"(largest callback: {big[0]['output']}, {big[0]['bytes']:,} B)")
    return ", ".join(parts)


def _short(output: str) -> str:
    ids = sorted({o.split(".")[0].lstrip(".") for o in output.split("...") if o})
    if "cmd-done" in output:
        return "refresh (cmd-done...)"
    return ",".join(i for i in ids if i)[:60]


def _server_ms(t: dict) -> float:
    rs, re_ = t.get("requestStart", -1), t.get("responseStart", -1)
    if rs is not None and re_ is not None and rs >= 0 and re_ >= rs:
        return re_ - rs
    return float(t.get("responseEnd", 0))


def measure_refresh(page, ticks: int) -> list[float]:
    """Drive ``ticks`` refresh ticks one after another; server ms per tick."""
    if not page.evaluate(DONE_HOOK_JS):
        raise RuntimeError("the wall's clientside functions are not on the page")
    posts: list = []

    def on_finished(r) -> None:
        if "_dash-update-component" in r.url:
            posts.append(r)

    page.on("requestfinished", on_finished)
    per_tick = []
    for _ in range(ticks):
        posts.clear()
        n0 = page.evaluate("window.__done")
        page.evaluate("window.dash_clientside.set_props('cmd-kick', {data: Date.now()})")
        try:
            page.wait_for_function(f"window.__done > {n0}", timeout=60_000, polling=10)
        except Exception as exc:  # noqa: BLE001
            raise RuntimeError(f"a refresh tick did not complete: {exc}") from exc
        page.wait_for_timeout(30)  # let the finished events arrive
        per_tick.append(sum(_server_ms(r.timing) for r in posts))
        page.wait_for_timeout(100)
    page.remove_listener("requestfinished", on_finished)
    return per_tick


def login_cookies(browser, base_url: str) -> list:
    ctx = browser.new_context(viewport=VIEWPORT, bypass_csp=True)  # wait_for_function evals
    page = ctx.new_page()
    page.goto(f"{base_url}/login?next=%2F")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")
    cookies = ctx.cookies()
    ctx.close()
    if not any(c["name"] for c in cookies):
        raise SystemExit("login failed: no session cookie")
    return cookies


def fitted_zoom(browser, base_url: str, cookies: list) -> float | None:
    """Warm-up load: the zoom the page fits the scope to (from the URL it keeps in sync)."""
    ctx = browser.new_context(viewport=VIEWPORT, bypass_csp=True)  # wait_for_function evals
    ctx.add_cookies(cookies)
    page = ctx.new_page()
    page.goto(base_url + "/")
    try:
        page.wait_for_function("new URLSearchParams(location.search).get('z') !== null",
                               timeout=120_000)
        page.wait_for_timeout(1500)
        z = page.evaluate("new URLSearchParams(location.search).get('z')")
    finally:
        ctx.close()
    return float(z) if z is not None else None


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", help="an empty database to build into (default: a "
                    "gridatlas_bench database on the embedded cluster)")
    ap.add_argument("--dbname", help="database name on the embedded cluster")
    ap.add_argument("--reuse", action="store_true", help="keep the database if it holds the city")
    ap.add_argument("--quick", action="store_true", help="one demo copy, 5 ticks, 1 run")
    ap.add_argument("--runs", type=int, help="cold loads per side (default 3; 1 with --quick)")
    ap.add_argument("--ticks", type=int, help="refresh ticks (default 50; 5 with --quick)")
    ap.add_argument("--app-dir", help="serve app.py from another checkout (e.g. a patched "
                    "copy) against the same database, to compare")
    args = ap.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    ticks = args.ticks or (5 if args.quick else 50)
    load_at_start = os.getloadavg()
    say(f"load average at start: {load_at_start[0]:.2f} {load_at_start[1]:.2f} "
        f"{load_at_start[2]:.2f} ({os.cpu_count()} cores)")

    admin, app_url, build = prepare_database(args)
    ensure_user(app_url)
    work = ROOT / ".cache" / "bench" / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    app = App(app_url, work / "app.log", Path(args.app_dir) if args.app_dir else ROOT)
    baseline = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
            cookies = login_cookies(browser, app.url)
            zoom = fitted_zoom(browser, app.url, cookies)
            wanted = first_view_features(admin, zoom)
            say(f"initial view: zoom {zoom}, {wanted} boundary features "
                f"(scope {citygen.CITY_CODE}: district, streets, communities"
                f"{', grids' if zoom is not None and zoom >= GRID_MIN_ZOOM else ''})")
            fc = first_view_features(admin, zoom, full_geojson=True)
            (work / "features.json").write_text(json.dumps(fc, ensure_ascii=False))
            (work / "index.html").write_text(BASELINE_HTML)
            baseline = Baseline(work)

            app_runs, base_runs, last = [], [], None
            for i in range(runs):
                r = load_once(browser, app.url + "/", cookies, wanted)
                if last is not None:
                    last["ctx"].close()
                last = r
                app_runs.append(r)
                b = load_once(browser, baseline.url + "/index.html", [], wanted)
                b["ctx"].close()
                base_runs.append(b)
                say(f"run {i + 1}: app first view {r['first_view_s']:.2f} s, "
                    f"{r['bytes']:,} B ({r['requests']} responses, {r['paths']} paths); "
                    f"baseline {b['first_view_s']:.2f} s, {b['bytes']:,} B")
            say(f"refresh: {ticks} ticks ...")
            per_tick = measure_refresh(last["page"], ticks)
            last["ctx"].close()
            browser.close()
    finally:
        if baseline:
            baseline.stop()
        app.stop()

    fv = statistics.median(r["first_view_s"] for r in app_runs)
    nbytes = int(statistics.median(r["bytes"] for r in app_runs))
    bfv = statistics.median(r["first_view_s"] for r in base_runs)
    bbytes = int(statistics.median(r["bytes"] for r in base_runs))
    p50, p95 = pct(per_tick, 50), pct(per_tick, 95)
    med = sorted(app_runs, key=lambda r: r["first_view_s"])[len(app_runs) // 2]
    say("")
    say(f"first-view bytes (median run): {med['bytes']:,} B of encoded bodies "
        f"(+ {med['header_bytes']:,} B of response headers, not counted)")
    say("first-view bytes by kind (median run): " + ", ".join(
        f"{k} {v:,}" for k, v in sorted(med["by_kind"].items(), key=lambda kv: -kv[1])))
    say("largest responses (median run): " + ", ".join(
        f"{u.rsplit('/', 1)[-1] or u} {v:,}"
        for u, v in sorted(med["by_url"].items(), key=lambda kv: -kv[1])[:8]))
    say("first-view callbacks (median run, server ms / response bytes on the wire):")
    for c in sorted(med["callbacks"], key=lambda c: c["start_ms"]):
        say(f"  {c['server_ms']:8.1f} ms {c['bytes']:>10,} B  {c['output']}")
    say("first-view timeline (median run, ms from navigation start): " + _timeline(med))
    say(f"refresh per tick (ms): min {min(per_tick):.1f}, p50 {p50:.1f}, p95 {p95:.1f}, "
        f"max {max(per_tick):.1f}")
    say("")
    load_now = os.getloadavg()
    say(f"load average at start {load_at_start[0]:.2f}, at end {load_now[0]:.2f} "
        f"({os.cpu_count()} cores)")
    if build:
        say(f"city build: {build['seconds_total']:.1f} s (target <= 180 s; steps "
            + ", ".join(f"{k} {v:.1f}" for k, v in build["steps"].items()) + ")")
    checks = [
        ("first view", f"{fv:.2f} s", fv <= TARGETS["first_view_s"], "<= 2.0 s"),
        ("bytes", f"{nbytes:,} B", nbytes <= TARGETS["bytes"], "<= 1.5 MB"),
        ("refresh p95", f"{p95:.1f} ms", p95 <= TARGETS["refresh_p95_ms"], "<= 150 ms"),
        ("bytes vs baseline", f"{nbytes / bbytes:.3f}", nbytes <= bbytes * TARGETS["baseline_ratio"],
         "<= 1/3"),
    ]
    say(f"baseline: first view {bfv:.2f} s, {bbytes:,} B; app/baseline: time "
        f"{fv / bfv:.2f}x, bytes {nbytes / bbytes:.3f}x")
    for name, value, ok, target in checks:
        say(f"  {'MET ' if ok else 'MISS'} {name}: {value} (target {target})")
    print(json.dumps({
        "first_view_s": round(fv, 3), "bytes": nbytes,
        "refresh_p50_ms": round(p50, 1), "refresh_p95_ms": round(p95, 1),
        "baseline_first_view_s": round(bfv, 3), "baseline_bytes": bbytes,
    }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
