"""`python -m geo report` renders one A4 landscape page with Chinese text as text, an
embedded font and a map, with no web server running (poppler-utils checks the file)."""

from __future__ import annotations

import shutil
import subprocess

from tests.browser.conftest import ARTIFACTS
from tests.conftest import run_cli


def _ppm(path):
    """Width, height and RGB bytes of a binary PPM (pdftoppm's default output)."""
    magic, size, _maxval, pixels = path.read_bytes().split(b"\n", 3)  # "P6\nW H\n255\n"
    assert magic == b"P6"
    width, height = (int(x) for x in size.split())
    return width, height, pixels


def test_street_report_pdf_and_png(demo_db, tmp_path):
    assert shutil.which("pdftotext"), "poppler-utils is needed (Makefile APT_PACKAGES)"
    street = demo_db.scalar("SELECT min(code) FROM streets")
    name = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (street,))
    out = tmp_path / "street.pdf"
    r = run_cli("report", "--scope", street, "--period", "quarter", "--out", str(out), url=demo_db.url)
    assert r.returncode == 0, r.stderr
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           1" in info and "A4" in info
    w, h = [float(x) for x in info.split("Page size:")[1].split("pts")[0].split(" x ")]
    assert w > h  # landscape
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{name}网格化管理情况报告" in text and "内部资料" in text and "环比" in text
    assert "© OpenStreetMap contributors" in text
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all(" yes " in row for row in rows)  # every font embedded, with unicode maps
    # the map: rasterise and find the choropleth's colours in the map's area (left half)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(out), str(ARTIFACTS / "report-street")],
                   check=True)
    subprocess.run(["pdftoppm", "-r", "60", "-singlefile", str(out), str(tmp_path / "page")], check=True)
    width, height, pixels = _ppm(tmp_path / "page.ppm")
    colours = {pixels[3 * (y * width + x): 3 * (y * width + x) + 3]
               for y in range(height // 8, height * 7 // 8, 2) for x in range(0, width // 2, 2)}
    colours = {tuple(c) for c in colours}
    palette = {(0xfe, 0xf0, 0xd9), (0xfd, 0xcc, 0x8a), (0xfc, 0x8d, 0x59), (0xe3, 0x4a, 0x33), (0xb3, 0, 0)}
    assert len(palette & colours) >= 2
    png = tmp_path / "street.png"
    r = run_cli("report", "--scope", street, "--out", str(png), url=demo_db.url)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_a_bad_scope(demo_db, tmp_path):
    out = tmp_path / "x.pdf"
    r = run_cli("report", "--scope", "12ab", "--out", str(out), url=demo_db.url)
    assert r.returncode != 0 and not out.exists()
