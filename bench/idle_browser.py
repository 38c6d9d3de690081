"""What a browser on the server's machine costs the walls, even on idle CPU time only.

Not part of ``make test``. ``bench/load.py``'s planner is a headless Chromium on the same two
cores as the web tier, run under ``SCHED_IDLE`` so that it stands for a person's PC and
takes only CPU time the server leaves. This measures whether that is enough: wall screens'
refreshes against the tier (gunicorn, 4 workers) alone, then beside a Chromium that loads a
heavy page over and over (plotly.js and Dash's components read from the installed packages,
a 40,000-point chart drawn), once on idle CPU time and once at normal priority. The
browser sends no request to the app: whatever it adds to the walls' times comes from sharing
the machine (its cores, caches and memory), not from the server's work.

Figures, each the median of ``--repeats`` rounds of ``--seconds`` of ``--walls`` walls
refreshing every ``--every`` seconds: the walls' p50, p95 and p99 in each setting and the
p95's ratio to the walls alone measured in the same round; the pages the browser loaded.
Prints the load average at start and ends with one JSON line.

Usage::

    .venv/bin/python bench/idle_browser.py              # the embedded cluster's demo district
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SETTINGS = ("alone", "idle", "normal")


def _heavy_page(folder: Path) -> Path:
    """A local page that parses plotly.js and Dash's core components and draws a large
    chart: a page load's kind of work for a browser, with no server."""
    import dash
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    dcc_js = Path(dash.__file__).parent / "dcc" / "dash_core_components.js"
    page = folder / "idle-browser.html"
    page.write_text(
        "<html><body><div id=x></div>"
        f'<script src="{plotly_js.as_uri()}"></script><script src="{dcc_js.as_uri()}"></script>'
        "<script>const d=[];for(let i=0;i<4;i++){const x=[...Array(10000).keys()];"
        "d.push({x:x,y:x.map(Math.random),type:'scattergl'})}Plotly.newPlot('x',d);"
        "</script></body></html>", encoding="utf-8")
    return page


def browse(mode: str, seconds: float, page: str) -> int:
    """The browser's side (a process of its own): load ``page`` again and again."""
    from playwright.sync_api import sync_playwright

    from bench.load import CHROMIUM, CHROMIUM_ARGS
    from bench.planner import idle_priority

    if mode == "idle":
        idle_priority()
    end = time.monotonic() + seconds
    pages = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS + ["--allow-file-access-from-files"])
        print("ready", flush=True)
        while time.monotonic() < end:
            ctx = browser.new_context()
            ctx.new_page().goto(Path(page).as_uri(), wait_until="load")
            ctx.close()
            pages += 1
        browser.close()
    print(pages, flush=True)
    return 0


def _round(clients, tick: dict, mode: str, args, page: Path) -> dict:
    from bench.load import pct, steady

    proc = None
    if mode != "alone":
        proc = subprocess.Popen([sys.executable, "-m", "bench.idle_browser", "--browse", mode,
                                 "--seconds", str(args.seconds + 3), "--page", str(page)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        time.sleep(1.5)  # its first page under way
    answers = steady(clients, tick, args.every, args.seconds)
    pages = None
    if proc is not None:
        out = proc.communicate(timeout=120)[0].split()
        pages = int(out[-1]) if out and out[-1].isdigit() else None
    ms = [a.seconds * 1000 for a in answers]
    return {"n": len(ms), "errors": sum(a.status != 200 for a in answers), "p50": pct(ms, 50),
            "p95": pct(ms, 95), "p99": pct(ms, 99), "pages": pages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--walls", type=int, default=30, help="wall clients (30)")
    ap.add_argument("--every", type=float, default=0.6, help="seconds between a wall's refreshes (0.6)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of each setting (10)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the three settings (3)")
    ap.add_argument("--browse", choices=("idle", "normal"), help=argparse.SUPPRESS)
    ap.add_argument("--page", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.browse:
        return browse(args.browse, args.seconds, args.page)
    if not (1 <= args.walls <= 200 and 0.05 <= args.every <= 60 and 1 <= args.seconds <= 120
            and 1 <= args.repeats <= 10):
        ap.error("--walls 1..200, --every 0.05..60, --seconds 1..120, --repeats 1..10")

    from bench import tier
    from bench.load import WallClient, _record, say
    from geo import localdb
    from geo.serve import free_port

    load_start = os.getloadavg()
    say(f"load average at start: {load_start[0]:.2f} ({os.cpu_count()} cores)")
    lay = localdb.layout()
    localdb.up(lay)
    work = ROOT / ".cache" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    page = _heavy_page(work)
    os.environ["DATABASE_URL"] = lay.app_url
    server = tier.Server(lay.app_url, work / "idle-browser-app.log", port=free_port(), workers=4)
    rounds: dict[str, list[dict]] = {m: [] for m in SETTINGS}
    try:
        rec = _record(server.url)
        clients = [WallClient(server.url) for _ in range(args.walls)]
        for c in clients:
            c.open()
        for r in range(args.repeats):
            for mode in SETTINGS:
                got = _round(clients, rec.tick, mode, args, page)
                got["ratio"] = got["p95"] / rounds["alone"][-1]["p95"] if mode != "alone" else 1.0
                rounds[mode].append(got)
                say(f"round {r + 1}, {mode:6}: {got['n']} refreshes ({got['errors']} errors), "
                    f"p50 {got['p50']:.1f} ms, p95 {got['p95']:.1f} ms ({got['ratio']:.2f}x), p99 {got['p99']:.1f} ms"
                    + (f"; {got['pages']} pages" if got["pages"] is not None else ""))
    finally:
        server.stop()
    med = statistics.median
    out: dict = {"walls": args.walls, "every_s": args.every, "seconds": args.seconds,
                 "repeats": args.repeats, "tier": server.kind, "load_avg_start": round(load_start[0], 2)}
    for mode in SETTINGS:
        rs = rounds[mode]
        out |= {f"{mode}_p50_ms": round(med(x["p50"] for x in rs), 1),
                f"{mode}_p95_ms": round(med(x["p95"] for x in rs), 1),
                f"{mode}_p99_ms": round(med(x["p99"] for x in rs), 1),
                f"{mode}_errors": sum(x["errors"] for x in rs)}
        if mode != "alone":
            out[f"{mode}_p95_ratio"] = round(med(x["ratio"] for x in rs), 2)
            out[f"{mode}_pages"] = [x["pages"] for x in rs]
    say(f"walls' p95: alone {out['alone_p95_ms']} ms, beside a browser on idle CPU time "
        f"{out['idle_p95_ms']} ms ({out['idle_p95_ratio']}x), at normal priority "
        f"{out['normal_p95_ms']} ms ({out['normal_p95_ratio']}x)")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
