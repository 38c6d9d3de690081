"""Pure UI pieces of the leaders' review: colours, legend, tooltips, comparison cards, tables.

Everything here turns figures (from :mod:`geo.repository.review`) into components; no
database and no callbacks.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

from dash import dash_table, html

import layouts.strings_review  # noqa: F401  (registers the strings)
from geo.repository import review as rv
from layouts.i18n import t

# sequential classes, light = good, dark = needs attention
PALETTE = ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000")
BAND_COLOURS = {"under": "#3b82f6", "in": "#22c55e", "over": "#ef4444"}
NO_DATA = "#d1d5db"
RATES = {"on_time_rate", "grid_share", "closure_rate", "band_share"}

# rows of the key figures card: (figure key, i18n key)
KEY_FIGURES = (("households", "rv.kpi.households"), ("reported", "rv.kpi.reported"),
               ("incidents_per_1000", "rv.m.incidents_per_1000"), ("due", "rv.kpi.due"),
               ("on_time_rate", "rv.m.on_time_rate"), ("overdue_now", "rv.m.overdue_now"),
               ("grid_share", "rv.m.grid_share"), ("rework", "rv.m.rework"))


def name_of(f: dict, lang: str) -> str:
    return (f.get("name_en") or f.get("name") or f.get("code", "")) if lang == "en" else (
        f.get("name") or f.get("code", ""))


def fmt(metric: str, value: Any, lang: str) -> str:
    """A figure for people: rates in per cent, counts with separators, '—' for none."""
    if value is None:
        return "—"
    if metric in RATES:
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:,.2f}" if metric == "incidents_per_1000" else f"{value:,.1f}"
    return f"{value:,}"


def metric_value(f: dict, metric: str) -> Any:
    return f.get(metric)


def colours(figs: dict[str, dict], metric: str, k: int = 5) -> tuple[dict[str, str], list]:
    """Fill colour per area code and the legend rows ``(colour, label)`` for ``metric``.

    The page works these out in the browser (``assets/review.js``, ``classes``: a metric
    change makes no request); this is the same rule in Python, which a browser test holds the
    script to."""
    lang_rows: list[tuple[str, str]] = []
    if metric == "band" and figs and next(iter(figs.values()))["level"] == "grid":
        out = {c: BAND_COLOURS.get(rv.band_class(f) or "", NO_DATA) for c, f in figs.items()}
        lang_rows = [(BAND_COLOURS[x], t(f"rv.{x}")) for x in ("under", "in", "over")]
        return out, lang_rows
    vals = [metric_value(f, metric) for f in figs.values()]
    cuts = rv.breaks([v for v in vals if v is not None], k)
    n = len(cuts) + 1
    better_high = rv.HIGHER_BETTER[metric]
    # above the grids "band" is the share of grids in their band: shown as a rate
    shown = "band_share" if metric == "band" else metric

    def colour(i: int) -> str:
        # spread n classes over the palette; the worse end is the darkest
        j = round(i * (len(PALETTE) - 1) / max(n - 1, 1))
        return PALETTE[len(PALETTE) - 1 - j] if better_high else PALETTE[j]

    out = {}
    for code, f in figs.items():
        i = rv.classify(metric_value(f, metric), cuts)
        out[code] = NO_DATA if i is None else colour(i)
    known = sorted(v for v in vals if v is not None)
    lo = known[0] if known else None
    for i in range(n):
        a = lo if i == 0 else cuts[i - 1]
        b = cuts[i] if i < len(cuts) else (known[-1] if known else None)
        sep = "–"
        label = (fmt(shown, a, "") + sep + fmt(shown, b, "")) if a != b else fmt(shown, b, "")
        lang_rows.append((colour(i), label))
    return out, lang_rows


def restyle_strings(lang: str) -> dict:
    """The words ``gridatlas_review.restyle`` (assets/review.js) puts on the legend and the
    rank line, in ``lang``: a metric change is worked out in the browser."""
    return {
        "lang": lang,
        "metrics": {m: t(f"rv.m.{m}", lang) for m in rv.METRICS},
        "classes": {x: t(f"rv.{x}", lang) for x in ("under", "in", "over")},
        "peers": {lv: t(f"rv.peers.{lv}", lang) for lv in rv.LEVELS[1:]},
        "band": t("rv.legend.band", lang), "quantile": t("rv.legend.quantile", lang),
        "band_share": t("rv.band_share", lang), "better": t("rv.legend.better", lang),
        "worse": t("rv.legend.worse", lang), "nodata": t("rv.nodata", lang), "rank": t("rv.rank", lang),
    }


def tooltip(f: dict, lang: str, drill: bool) -> str:
    """The hover text of an area (HTML; names escaped)."""
    e = html_lib.escape
    rows = [
        (t("rv.tip.households"), fmt("households", f.get("households"), lang)),
        (t("rv.tip.per_1000"), fmt("incidents_per_1000", f.get("incidents_per_1000"), lang)),
        (t("rv.tip.due"), fmt("due", f.get("due"), lang)),
        (t("rv.tip.on_time"), fmt("on_time_rate", f.get("on_time_rate"), lang)),
        (t("rv.tip.overdue"), fmt("overdue_now", f.get("overdue_now"), lang)),
        (t("rv.tip.cameras"), fmt("cameras", f.get("cameras"), lang)),
        (t("rv.tip.uncovered"), fmt("uncovered", f.get("uncovered"), lang)),
    ]
    band = rv.band_class(f)
    if band:
        rows.insert(1, (t("panel.band"), f"{f['lo']}–{f['hi']} · {t('rv.' + band)}"))
    body = "".join(f"<div>{e(k)}：{e(v)}</div>" if lang != "en" else f"<div>{e(k)}: {e(v)}</div>"
                   for k, v in rows)
    hint = f"<div class='rv-tip-hint'>{e(t('rv.tip.click'))}</div>" if drill else ""
    return f"<b>{e(name_of(f, lang))}</b> <small>{e(f['code'])}</small>{body}{hint}"


def change(now: Any, before: Any, metric: str, label_key: str) -> html.Span:
    """One comparison: arrow, word and number (never colour alone)."""
    label = t(label_key)
    if now is None or before is None:
        return html.Span(f"{label} {t('rv.na')}", className="rv-chg rv-chg-na")
    diff = now - before
    if metric in RATES:
        amount = f"{abs(100 * diff):.1f} {t('rv.pp')}"
    elif before:
        amount = f"{abs(100 * diff / before):.1f}%"
    else:
        amount = f"{abs(diff):,}" if isinstance(diff, int) else f"{abs(diff):,.2f}"
    if abs(diff) < 1e-9:
        return html.Span(f"{label} → {t('rv.flat')}", className="rv-chg rv-chg-flat")
    up = diff > 0
    good = up == rv.HIGHER_BETTER.get(metric, True)
    arrow = "▲" if up else "▼"
    return html.Span(f"{label} {arrow} {t('rv.up' if up else 'rv.down')} {amount}",
                     className="rv-chg " + ("rv-chg-good" if good else "rv-chg-bad"))


def key_figures(fig: dict, lang: str) -> html.Div:
    """Cards of the area's key figures with 环比 and 同比."""
    now, prev, year = fig["now"], fig["prev"], fig["year"]
    cards = []
    for key, label in KEY_FIGURES:
        metric = key if key in rv.HIGHER_BETTER else ("due" if key == "due" else key)
        comparable = key not in ("households", "overdue_now")
        cards.append(html.Div(className="rv-card", **{"data-key": key}, children=[
            html.Div(t(label), className="rv-card-label"),
            html.Div(fmt(key, now.get(key), lang), className="rv-card-value"),
            *([change(now.get(key), prev.get(key), metric, "rv.mom"),
               change(now.get(key), year.get(key), metric, "rv.yoy")] if comparable else []),
        ]))
    return html.Div(cards, className="rv-cards", id="rv-cards")


RANK_COLUMNS = (("rank", "rv.col.rank"), ("name", "rv.col.name"), ("code", "rv.col.code"),
                ("households", "rv.col.households"), ("due", "rv.col.due"),
                ("on_time_rate", "rv.col.on_time"), ("overdue_now", "rv.col.overdue"),
                ("incidents_per_1000", "rv.col.per_1000"), ("grid_share", "rv.col.grid_share"),
                ("rework", "rv.col.rework"), ("cameras", "rv.col.cameras"),
                ("uncovered", "rv.col.uncovered"), ("in_band", "rv.col.in_band"))


def table_rows(figs: dict[str, dict], metric: str, lang: str) -> list[dict]:
    """Rows for a rankings table, ranked by ``metric`` (rates kept as per cent numbers so the
    table sorts them as numbers)."""
    out = []
    for code, f in figs.items():
        r = rv.rank_of(figs, code, metric)
        row = {"rank": r[0] if r else None, "name": name_of(f, lang), "code": code}
        for key, _ in RANK_COLUMNS[3:]:
            v = f.get(key)
            row[key] = round(100 * v, 1) if key in RATES and v is not None else v
        out.append(row)
    out.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))
    return out


def ranking_table(table_id: str, rows: list[dict]) -> dash_table.DataTable:
    cols = []
    for key, label in RANK_COLUMNS:
        name = t(label) + (" (%)" if key in RATES else "")
        cols.append({"id": key, "name": name, "type": "text" if key in ("name", "code") else "numeric"})
    return dash_table.DataTable(
        id=table_id, columns=cols, data=rows, sort_action="native", page_action="none",
        style_table={"overflowX": "auto", "maxHeight": "360px", "overflowY": "auto"},
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 6px", "minWidth": "64px"},
        style_header={"fontWeight": "600", "whiteSpace": "normal", "height": "auto"},
    )


def red_black(lists: dict, lang: str) -> html.Div:
    def block(key: str, rows: list) -> html.Div:
        items = [html.Li(f"{name_of(f, lang)}　{fmt('on_time_rate', f['on_time_rate'], lang)}"
                         f"（{t('rv.col.due')} {f['due']}）") for f in rows]
        return html.Div([html.H4(t(f"rv.{key}")),
                         html.Ol(items) if items else html.P(t("table.empty"))],
                        className=f"rv-{key}list", id=f"rv-{key}list")
    return html.Div([html.H3(t("rv.redblack").format(n=rv.MIN_DUE_FOR_LIST)),
                     html.Div([block("red", lists["red"]), block("black", lists["black"])],
                              className="rv-redblack-lists")], className="rv-redblack")


def export_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Headers (current language) and rows of a rankings table for CSV/XLSX."""
    heads = [t(label) + (" (%)" if key in RATES else "") for key, label in RANK_COLUMNS]
    return heads, [[r.get(key) for key, _ in RANK_COLUMNS] for r in rows]


def message(exc, lang: str) -> str:
    """A ``中文 / English`` error message in the page's language only."""
    msg = getattr(exc, "user_msg", None) or str(exc)
    if " / " in msg:
        zh, en = msg.split(" / ", 1)
        return en.strip() if lang == "en" else zh.strip()
    return msg
