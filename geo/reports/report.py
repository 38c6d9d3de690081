"""The one-page report of a street or community (A4 landscape) as standalone HTML.

Title, issuing unit, date, a map of the area's communities or grids coloured by the on-time
closure rate (an inline SVG with scale bar, north arrow, legend and the OSM attribution where
the data derives from OSM), the key figures with 环比 and 同比, and the 内部资料 marking. The
same HTML is shown by the /review/print page and rendered to PDF by :mod:`geo.reports.pdf`.
"""

from __future__ import annotations

import html
import math
from datetime import date
from pathlib import Path
from typing import Any

from geo.repository import review as rv
from geo.repository import summary
from geo.repository.scope import Scope

CSS = Path(__file__).resolve().parents[2] / "assets" / "review.css"
PALETTE = ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000")
LABELS = {
    "title": ("{name}网格化管理情况报告", "Grid management report: {name}"),
    "unit": ("编制单位：{unit}", "Issued by: {unit}"),
    "unit_default": ("网格化管理指挥中心", "Grid management command centre"),
    "date": ("日期：{date}", "Date: {date}"),
    "period": ("统计周期：{a} 至 {b}", "Period: {a} to {b}"),
    "internal": ("内部资料", "INTERNAL"),
    "north": ("北", "N"),
    "osm": ("© OpenStreetMap contributors", "© OpenStreetMap contributors"),
    "legend": ("按时结案率（分位数分级）", "On-time closure rate (quantile classes)"),
    "nodata": ("无数据", "no data"),
    "key": ("关键指标", "Key figures"),
    "figure": ("指标", "Figure"),
    "now": ("本期", "This period"),
    "mom": ("环比", "vs previous"),
    "yoy": ("同比", "vs a year ago"),
    "up": ("上升", "up"), "down": ("下降", "down"), "flat": ("持平", "no change"),
    "na": ("—", "—"), "pp": ("个百分点", "pp"),
    "households": ("户数", "Households"), "grids": ("网格数", "Grids"),
    "reported": ("上报事件", "Reported"), "incidents_per_1000": ("每千户事件数", "Per 1,000 households"),
    "due": ("应结案件", "Cases due"), "on_time_rate": ("按时结案率", "On-time closure rate"),
    "overdue_now": ("当前超时", "Overdue now"), "grid_share": ("网格内结案占比", "Closed at grid level"),
    "rework": ("返工次数", "Rework"), "cameras": ("在线摄像头", "Cameras online"),
    "uncovered": ("300米内无摄像头楼栋", "Buildings without a camera within 300 m"),
    "footer": ("数据来源：GridAtlas 网格图鉴；{areas}按时结案率着色", "Source: GridAtlas; {areas} by on-time rate"),
    "areas.district": ("各区", "districts"), "areas.street": ("各街道", "streets"),
    "areas.community": ("各社区", "communities"), "areas.grid": ("各网格", "grids"),
}
KEYS = ("households", "grids", "reported", "incidents_per_1000", "due", "on_time_rate",
        "overdue_now", "grid_share", "rework", "cameras", "uncovered")
RATES = {"on_time_rate", "grid_share"}
HIGHER_BETTER = {"on_time_rate", "grid_share"}


def _l(key: str, lang: str) -> str:
    zh, en = LABELS[key]
    return en if lang == "en" else zh


def _fmt(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if key in RATES:
        return f"{100 * v:.1f}%"
    return f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"


def _change(key: str, now: Any, before: Any, lang: str) -> str:
    if now is None or before is None or key in ("households", "grids", "cameras", "uncovered"):
        return _l("na", lang)
    d = now - before
    if abs(d) < 1e-9:
        return "→ " + _l("flat", lang)
    if key in RATES:
        amount = f"{abs(100 * d):.1f} {_l('pp', lang)}"
    elif before:
        amount = f"{abs(100 * d / before):.1f}%"
    else:
        amount = _fmt(key, abs(d))
    return f"{'▲' if d > 0 else '▼'} {_l('up' if d > 0 else 'down', lang)} {amount}"


def _rings(geom: dict) -> list[list[list[float]]]:
    polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
    return [ring for poly in polys for ring in poly]


def map_svg(features: list[dict], colours: dict[str, str], width: int = 600,
            height: int = 500) -> tuple[str, float]:
    """An SVG of the features (equirectangular at the mean latitude, north up) and the
    metres per SVG unit (for the scale bar)."""
    pts = [p for f in features for ring in _rings(f["geometry"]) for p in ring]
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"></svg>', 1.0
    lat0 = sum(p[1] for p in pts) / len(pts)
    k = math.cos(math.radians(lat0))
    xs, ys = [p[0] * k for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = 12
    s = min((width - 2 * pad) / max(x1 - x0, 1e-9), (height - 2 * pad) / max(y1 - y0, 1e-9))
    ox = pad + ((width - 2 * pad) - s * (x1 - x0)) / 2
    oy = pad + ((height - 2 * pad) - s * (y1 - y0)) / 2
    paths = []
    for f in features:
        d = " ".join("M" + " L".join(f"{ox + s * (x * k - x0):.1f},{oy + s * (y1 - y):.1f}"
                                     for x, y in ring) + " Z" for ring in _rings(f["geometry"]))
        fill = colours.get(f["properties"]["code"], "#d1d5db")
        paths.append(f'<path d="{d}" fill="{fill}" stroke="#333" stroke-width="0.8" '
                     'fill-rule="evenodd"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'preserveAspectRatio="xMidYMid meet">{"".join(paths)}</svg>')
    return svg, 110_574 / s  # metres per unit (latitude degrees are ~110.6 km)


def _nice(metres: float) -> int:
    for n in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if n >= metres:
            return n
    return 100000


def build(scope: Scope, code: str, period: rv.Period, *, lang: str = "zh",
          unit: str | None = None, on: date | None = None) -> dict[str, Any]:
    """The report's data: title, figures, map SVG, legend rows (scope checked first)."""
    scope.require(code)
    level = rv.level_of(code)
    if level not in ("city", "district", "street", "community"):
        raise rv.ReviewError("报告针对市、区、街道或社区 / a report covers a city, district, street or "
                             "community")
    sub = rv.child_level(level)
    crumbs = rv.breadcrumb(scope, code)
    name = crumbs[-1]["name_en" if lang == "en" else "name"]
    areas = rv.map_areas(scope, code, sub)
    # the sub-areas' figures and the area's own (with 环比, 同比), asset figures read once
    fv = rv.view_figures(scope, code, sub, period, rankings=False)
    figs = fv["figs"]
    vals = [f["on_time_rate"] for f in figs.values() if f["on_time_rate"] is not None]
    cuts = rv.breaks(vals)
    n = len(cuts) + 1
    cols = {}
    for c, f in figs.items():
        i = rv.classify(f["on_time_rate"], cuts)
        cols[c] = "#d1d5db" if i is None else PALETTE[len(PALETTE) - 1 - round(i * 4 / max(n - 1, 1))]
    legend = []
    for i in range(n):
        a = (min(vals) if vals else None) if i == 0 else cuts[i - 1]
        b = cuts[i] if i < len(cuts) else (max(vals) if vals else None)
        legend.append((PALETTE[len(PALETTE) - 1 - round(i * 4 / max(n - 1, 1))],
                       f"{_fmt('on_time_rate', a)}–{_fmt('on_time_rate', b)}"))
    svg, m_per_unit = map_svg(areas["features"], cols)
    key = fv["key"]
    return {"code": code, "name": name, "level": level, "sub": sub, "period": period,
            "svg": svg, "m_per_unit": m_per_unit, "legend": legend, "figures": key,
            "osm": summary.has_osm_data(scope), "unit": unit or _l("unit_default", lang),
            "date": (on or rv.today()).isoformat(), "lang": lang}


def render_html(data: dict[str, Any], *, standalone: bool = True) -> str:
    """The report as one HTML document (CSS inlined; no scripts, no network)."""
    lang, e = data["lang"], html.escape
    now, prev, year = data["figures"]["now"], data["figures"]["prev"], data["figures"]["year"]
    rows = "".join(
        f"<tr><td>{e(_l(k, lang))}</td><td class='num'>{e(_fmt(k, now.get(k)))}</td>"
        f"<td>{e(_change(k, now.get(k), prev.get(k), lang))}</td>"
        f"<td>{e(_change(k, now.get(k), year.get(k), lang))}</td></tr>" for k in KEYS)
    # scale bar: a nice length near a quarter of the map's width (600 units)
    metres = _nice(data["m_per_unit"] * 150)
    # the SVG (600 x 500 units) meets a 165 x 140 mm box: 0.275 mm per unit
    bar_mm = 0.275 * metres / data["m_per_unit"]
    bar_label = f"{metres // 1000} km" if metres >= 1000 else f"{metres} m"
    legend = "".join(f"<div class='rv-legend-row'><span class='rv-swatch' style='background:{c}'>"
                     f"</span><span>{e(lbl)}</span></div>" for c, lbl in data["legend"])
    p = data["period"]
    css = CSS.read_text(encoding="utf-8") if standalone else ""
    body = f"""
<div class="rvp" id="rvp">
  <div class="rvp-internal">{e(_l("internal", lang))}</div>
  <div class="rvp-head">
    <h1>{e(_l("title", lang).format(name=data["name"]))}</h1>
    <div class="rvp-meta">{e(_l("unit", lang).format(unit=data["unit"]))}<br>
      {e(_l("date", lang).format(date=data["date"]))}<br>
      {e(_l("period", lang).format(a=p.start.isoformat(), b=p.end.isoformat()))}</div>
  </div>
  <div class="rvp-body">
    <div class="rvp-map">{data["svg"]}
      <div class="rvp-north">▲<br>{e(_l("north", lang))}</div>
      <div class="rvp-scale"><div class="rvp-scale-bar" style="width:{bar_mm:.1f}mm"></div>{bar_label}</div>
      <div class="rvp-legend"><div class="rv-legend"><div class="rv-legend-title">{e(_l("legend", lang))}</div>
        {legend}<div class="rv-legend-row"><span class="rv-swatch" style="background:#d1d5db"></span>
        <span>{e(_l("nodata", lang))}</span></div></div></div>
      {f'<div class="rvp-attr">{e(_l("osm", lang))}</div>' if data["osm"] else ""}
    </div>
    <div><h2 style="font-size:13pt;margin:0 0 2mm">{e(_l("key", lang))}</h2>
      <table><thead><tr><th>{e(_l("figure", lang))}</th><th>{e(_l("now", lang))}</th>
      <th>{e(_l("mom", lang))}</th><th>{e(_l("yoy", lang))}</th></tr></thead><tbody>{rows}</tbody></table>
    </div>
  </div>
  <div class="rvp-foot"><span>{e(_l("footer", lang).format(areas=_l("areas." + data["sub"], lang)))}</span>
    <span>{e(data["code"])}</span></div>
</div>"""
    if not standalone:
        return body
    return (f'<!DOCTYPE html><html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
            f"<title>{e(_l('title', lang).format(name=data['name']))}</title>"
            f"<style>:root{{--ga-font:'Noto Sans CJK SC','Noto Sans SC',sans-serif}}"
            f"html,body{{margin:0;background:#fff}}{css}</style></head><body>{body}</body></html>")
