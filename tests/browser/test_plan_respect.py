"""/plan: respecting a department network when redrawing, by clicks at the pixel. The
planner chooses the network in the controls, computes, and sees the plan with and without
the wish side by side (alignment, grids in band, valid grids, deviation) before committing;
in English the same figures are labelled in English."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest

from geo.access.roles import SYSTEM
from geo.networks import store
from geo.planning import api
from tests.browser.conftest import AppServer, login, screenshot
from tests.browser.person import click
from tests.conftest import run_cli

PW = "Plan-respect-2026x"
NET = "党建"
COMMUNITY = "990100001004"


@pytest.fixture(scope="module")
def app(demo_db, tmp_path_factory):
    out = run_cli("users", "add", "r_planner", "--role", "planner", "--scope", "990100",
                  "--password-stdin", url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    # the party-building department's grids: drawn on its own terms (larger grids, another
    # seed), so a plain plan at the usual target cuts many of them and keeping them whole
    # where the band allows shows (two plain plans of different seeds may align already)
    earlier = api.propose(SYSTEM, COMMUNITY, seed=11, target=460, min_hh=420, max_hh=500).grids
    path = tmp_path_factory.mktemp("net") / "party.gpkg"
    gpd.GeoDataFrame({"code": [f"DJ{c}" for c in earlier.code],
                      "name": [f"党建{c[-3:]}" for c in earlier.code]},
                     geometry=list(earlier.geometry), crs=4326).to_file(path, layer="grids")
    store.import_network(SYSTEM, NET, path)
    server = AppServer(demo_db.url)
    yield server
    server.stop()


def _pick_network(page) -> None:
    click(page, "#plan-respect")
    option = page.locator(".dash-dropdown-option[role=option], [role=option]").filter(
        has_text=re.compile(rf"^\s*{NET}\s*$"))
    option.first.wait_for(timeout=30000)
    option.first.scroll_into_view_if_needed()
    box = option.first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        f"document.querySelector('#plan-respect').innerText.includes('{NET}')", timeout=30000)


def _cells(page, row: str) -> list[str]:
    return page.locator(f"#respect-{row} td").all_inner_texts()


def test_respect_a_network_by_clicks(app, new_page):
    page, console = new_page()
    login(page, app.url, "r_planner", PW, f"/plan?community={COMMUNITY}")
    page.wait_for_selector("#plan-run:not([disabled])", timeout=60000)
    _pick_network(page)
    click(page, "#plan-run")
    page.wait_for_selector("#respect-table", timeout=180000)
    page.wait_for_selector("#plan-grid-table", timeout=60000)
    # the comparison is where the planner looks before committing, and visible
    page.locator("#respect-table").scroll_into_view_if_needed()
    assert page.evaluate("""() => { const t = document.querySelector('#respect-table');
        const r = t.getBoundingClientRect();
        return t.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)); }""")
    text = page.inner_text(".ga-respect")
    assert f"与普通方案对比（{NET}）" in text
    assert "显示的是尊重网络边界的方案" in text
    aligned = _cells(page, "aligned")
    assert aligned[0].startswith("对齐率")
    plain, respecting = (float(x.rstrip("%")) for x in aligned[2:4])
    assert plain < respecting
    in_band = _cells(page, "in_band")
    p_in, p_all = map(int, in_band[2].split("/"))
    r_in, r_all = map(int, in_band[3].split("/"))
    assert r_all - r_in <= p_all - p_in
    assert _cells(page, "mean_dev")[3] and _cells(page, "valid")[3]
    # the table stays inside the controls column (nothing cut off or overlapping the maps)
    table = page.locator("#respect-table").bounding_box()
    column = page.locator(".ga-plan-controls").bounding_box()
    assert table["x"] >= column["x"] and table["x"] + table["width"] <= column["x"] + column["width"] + 1
    assert not re.search(r"[A-Za-z]{4,}", text), text  # Chinese throughout
    screenshot(page, "plan-respect-zh")

    # the same comparison in English, the plan kept
    click(page, ".ga-lang")
    page.wait_for_function("document.querySelector('.ga-respect') && "
                           "document.querySelector('.ga-respect').innerText.includes('Compared')",
                           timeout=60000)
    en = page.inner_text(".ga-respect")
    assert f"Compared with the plain plan ({NET})" in en and "Alignment" in en
    assert NET in page.inner_text("#plan-respect")  # the plan's network stays chosen
    screenshot(page, "plan-respect-en")
    assert console.errors == []
