"""Components of the /import page: the form, the preview and the result (no database)."""

from __future__ import annotations

from dash import dcc, html

from geo.importers import KIND_NAMES
from geo.importers.uploads import CITY_WIDE_KINDS, UPLOAD_SUFFIXES, Preview, max_upload_bytes
from layouts import import_ids as ids
from layouts import strings_import  # noqa: F401  (registers the strings)
from layouts.i18n import dropdown, t
from layouts.import_text import say


def kind_options(lang: str, scoped: bool) -> list[dict]:
    """The kinds a user may import (the city-wide ones only without a scope)."""
    return [{"label": t("import.k." + k, lang), "value": k}
            for k in KIND_NAMES if not (scoped and k in CITY_WIDE_KINDS)]


def form(lang: str) -> html.Div:
    """The kind, the file and the options."""
    mb = max_upload_bytes() // (1024 * 1024)
    return html.Div(className="ga-import-form", children=[
        html.Label(className="ga-field", children=[
            t("import.kind", lang),
            dropdown(lang=lang, id=ids.KIND, value="buildings", clearable=False, searchable=False,
                     options=kind_options(lang, scoped=False), className="ga-import-kind"),
        ]),
        html.Div(className="ga-field", children=[
            t("import.file", lang),
            dcc.Upload(
                id=ids.FILE, multiple=False, accept=",".join(UPLOAD_SUFFIXES),
                max_size=mb * 1024 * 1024, className="ga-import-drop",
                className_active="ga-import-drop ga-import-drop-active",
                className_reject="ga-import-drop ga-import-drop-reject",
                className_disabled="ga-import-drop ga-import-drop-disabled",
                children=html.Div([t("import.drop", lang), " ",
                                   html.A(t("import.browse", lang), className="ga-link")]),
            ),
            html.Div(t("import.formats", lang).format(mb=mb), className="ga-hint"),
        ]),
        html.Details(className="ga-import-options", children=[
            html.Summary(t("import.options", lang)),
            html.Label(className="ga-field", children=[
                t("import.fields", lang),
                dcc.Textarea(id=ids.FIELDS, rows=3, className="ga-import-fields",
                             placeholder=t("import.fields_hint", lang)),
            ]),
            html.Div(className="ga-import-row", children=[
                html.Label(className="ga-field", children=[
                    t("import.encoding", lang),
                    dropdown(lang=lang, id=ids.ENCODING, value="", clearable=False, searchable=False,
                             options=[{"label": t("import.encoding_auto", lang), "value": ""},
                                      {"label": "UTF-8", "value": "utf-8"},
                                      {"label": t("import.encoding_gbk", lang), "value": "gbk"}]),
                ]),
                html.Label(className="ga-field", children=[
                    t("import.crs", lang),
                    dcc.Input(id=ids.CRS, type="text", placeholder="EPSG:4549", debounce=True),
                ]),
            ]),
        ]),
    ])


def _size(n: int, lang: str) -> str:
    zh = lang == "zh"
    if n < 1024:
        return f"{n} 字节" if zh else f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} 千字节" if zh else f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} 兆字节" if zh else f"{n / (1024 * 1024):.1f} MB"


def field_label(name: str, lang: str) -> str:
    """A canonical field as the preview shows it: 户数（households）in Chinese."""
    key = f"import.f.{name}"
    if lang != "zh" or key not in strings_import.KEYS:
        return name
    return f"{t(key, lang)}（{name}）"


def _geometry(name: str, lang: str) -> str:
    key = f"import.g.{name}"
    return t(key, lang) if key in strings_import.KEYS else name


def file_info(name: str, size: int, lang: str) -> html.Div:
    return html.Div(t("import.uploaded", lang).format(name=name, size=_size(size, lang)), className="ga-import-file")


def preview_view(p: Preview, lang: str) -> html.Div:
    """Rows, CRS, geometry, fields used, notes and the problem (or none)."""
    rows = [
        (t("import.rows", lang), f"{p.rows:,}"),
        (t("import.crs", lang), p.crs or t("import.crs_none", lang)),
    ]
    if p.geometry:
        geoms = [_geometry(g, lang) for g in p.geometry]
        rows.append((t("import.geometry", lang), "、".join(geoms) if lang == "zh" else ", ".join(geoms)))
    if p.columns:
        used = [f"{field_label(k, lang)} ← {v}" for k, v in p.columns.items()]
        rows.append((t("import.columns", lang), "；".join(used) if lang == "zh" else "; ".join(used)))
    if p.repaired:
        rows.append((t("import.repairs", lang), f"{p.repaired:,}"))
    if p.notes:
        rows.append((t("import.notes", lang), "；".join(say(n, lang) for n in p.notes)
                     if lang == "zh" else "; ".join(p.notes)))
    table = html.Table(className="ga-table ga-import-preview-table", children=[html.Tbody([
        html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])])
    verdict = (html.Div([html.Strong(t("import.problem_lead", lang)), say(p.problem, lang)],
                        className="ga-import-problem ga-bad", role="alert")
               if p.problem else html.Div(t("import.no_problem", lang), className="ga-ok-box"))
    sampled = (html.Div(t("import.sampled", lang).format(checked=p.checked, rows=p.rows), className="ga-hint")
               if p.checked < p.rows and not p.problem else None)
    return html.Div(className="ga-import-preview", children=[
        html.H3(t("import.preview", lang)), table, verdict, sampled])


def result_view(kind: str, file: str, counts: dict, notes: list[str], repaired: int, lang: str) -> html.Div:
    """What a committed import wrote."""
    items = []
    for key, value in counts.items():
        label = t(f"import.c.{key}", lang) if f"import.c.{key}" in strings_import.KEYS else key
        if isinstance(value, dict):
            value = "、".join(f"{k} {v}" for k, v in value.items()) if lang == "zh" else \
                ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, int):
            value = f"{value:,}"
        items.append(html.Tr([html.Th(label), html.Td(str(value))]))
    if repaired:
        items.append(html.Tr([html.Th(t("import.repairs", lang)), html.Td(f"{repaired:,}")]))
    body = [html.Div(t("import.done", lang).format(kind=t("import.k." + kind, lang), file=file),
                     className="ga-ok-box", role="status"),
            html.Table(className="ga-table ga-import-result-table", children=[html.Tbody(items)])]
    if notes:
        body.append(html.Ul([html.Li(say(n, lang)) for n in notes], className="ga-hint"))
    return html.Div(body, className="ga-import-result")
