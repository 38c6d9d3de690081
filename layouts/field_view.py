"""Components of the field page (/field): the phone layout, inbox cards, duplicate
suggestions and the patrol card. No database, no callbacks."""

from __future__ import annotations

import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace

from geo.incidents import states as sm
from layouts import field_ids as fid
from layouts import strings_field  # noqa: F401 (registers the strings)
from layouts.i18n import dropdown, fmt_datetime, t

_js = Namespace("gridatlas", "field")
AUTO_CHECKIN_MINUTES = 5
_DEFAULT_CENTER = [35.0, 105.0]
FORCE_SHOWN = "field-btn field-btn-ghost field-force"
FORCE_HIDDEN = "field-btn is-hidden"


def _tab(key: str, label: str, active: bool) -> html.Button:
    return html.Button(t(label), id={"type": fid.TAB, "index": key}, n_clicks=0,
                       className="field-tab" + (" is-active" if active else ""),
                       **{"data-tab": key})


def _geo_texts(lang: str) -> dict[str, str]:
    keys = ("point_tap", "point_gps", "geo_denied", "geo_failed", "locating", "no_point", "photo_set")
    return {k: t(f"field.{k}", lang) for k in keys}


def page(lang: str, *, worker: bool, scope_code: str | None, gcj02: bool, basemap_url: str | None,
         photo_max_bytes: int) -> html.Div:
    """The whole phone layout; data arrives through the page's callbacks."""
    tabs = [("inbox", "field.tab.inbox"), ("report", "field.tab.report")]
    if worker:
        tabs.append(("patrol", "field.tab.patrol"))
    base = [dl.TileLayer(url=basemap_url, attribution="")] if basemap_url else []
    severities = [{"label": t(f"severity.{s}", lang), "value": s} for s in sm.SEVERITIES]
    scope = t("field.scope", lang).format(code=scope_code) if scope_code else t("field.scope_all", lang)
    return html.Div(
        id=fid.ROOT,
        className="field-page tab-inbox",
        **{"data-zoom-in": t("field.zoom_in", lang), "data-zoom-out": t("field.zoom_out", lang)},
        children=[
            dcc.Store(id=fid.CONFIG, data={"gcj02": gcj02, "auto_min": AUTO_CHECKIN_MINUTES,
                                          "txt": _geo_texts(lang)}),
            dcc.Store(id=fid.POINT),
            dcc.Store(id=fid.INBOX_REV, data=0),
            dcc.Store(id=fid.PATROL_REV, data=0),
            dcc.Store(id=fid.PATROL_GPS),
            dcc.Interval(id=fid.PATROL_TICK, interval=AUTO_CHECKIN_MINUTES * 60_000, disabled=True),
            html.Div(className="field-head", children=[
                html.H1(t("field.title", lang)),
                html.Span(scope, className="field-scope"),
            ]),
            html.Nav(className="field-tabs", id=fid.TABS, role="tablist",
                     children=[_tab(k, label, k == "inbox") for k, label in tabs]),
            html.Div(className="field-map-wrap", children=[
                dl.Map(
                    id=fid.MAP, center=_DEFAULT_CENTER, zoom=4, className="field-map",
                    attributionControl=False, zoomControl=True, trackViewport=False,
                    children=[
                        *base,
                        dl.GeoJSON(id=fid.GRID, data=None, style=_js("gridStyle"),
                                   interactive=False),
                        dl.GeoJSON(id=fid.MARKER_LAYER, data=None,
                                   pointToLayer=_js("pointMarker"), interactive=False),
                        dl.ScaleControl(imperial=False, position="bottomleft"),
                    ],
                ),
            ]),
            html.Section(className="field-section field-inbox-section", children=[
                html.Div(className="field-row", children=[
                    html.Div(id=fid.INBOX_MSG, className="field-msg", role="status"),
                    html.Button(t("field.refresh", lang), id=fid.INBOX_REFRESH,
                                className="field-btn field-btn-ghost"),
                ]),
                html.Div(id=fid.INBOX, className="field-inbox"),
            ]),
            html.Section(className="field-section field-report-section", children=[
                html.P(t("field.map_hint", lang), className="field-hint"),
                html.Div(className="field-row", children=[
                    html.Button(t("field.locate", lang), id=fid.LOCATE,
                                className="field-btn field-btn-ghost"),
                    html.Span(t("field.no_point", lang), id=fid.POINT_TEXT, className="field-point"),
                ]),
                html.Div(id=fid.GEO_MSG, className="field-msg field-bad", role="alert"),
                html.Label(t("field.category", lang), htmlFor=fid.CATEGORY),
                dropdown(id=fid.CATEGORY, placeholder=t("field.category_pick", lang),
                             searchable=False, clearable=False, className="field-select"),
                html.Label(t("field.severity", lang)),
                dcc.RadioItems(id=fid.SEVERITY, options=severities, value="ordinary",
                               className="field-chips", inputClassName="field-chip-input",
                               labelClassName="field-chip"),
                html.Label(t("field.title_label", lang), htmlFor=fid.TITLE),
                dcc.Input(id=fid.TITLE, type="text", maxLength=200, className="field-input",
                          placeholder=t("field.title_ph", lang)),
                html.Label(t("field.desc", lang), htmlFor=fid.DESC),
                dcc.Textarea(id=fid.DESC, maxLength=2000, className="field-input field-textarea",
                             placeholder=t("field.desc_ph", lang)),
                dcc.Upload(id=fid.PHOTO, accept="image/*", multiple=False,
                           max_size=photo_max_bytes * 2, className="field-upload",
                           children=html.Div(t("field.photo", lang), className="field-btn field-btn-ghost")),
                html.Div(id=fid.PHOTO_NAME, className="field-photo-name"),
                html.Div(id=fid.DUPS, className="field-dups"),
                html.Button(t("field.report_anyway", lang), id=fid.FORCE, n_clicks=0, className=FORCE_HIDDEN),
                html.Div(id=fid.REPORT_MSG, className="field-msg", role="status"),
                html.Button(t("field.submit", lang), id=fid.SUBMIT, className="field-btn field-btn-primary"),
            ]),
            html.Section(className="field-section field-patrol-section", children=[
                html.Div(id=fid.PATROL, className="field-patrol"),
                html.Div(id=fid.PATROL_MSG, className="field-msg", role="status"),
                html.Div(className="field-patrol-buttons", children=[
                    html.Button(t("field.patrol.start", lang), id=fid.PATROL_START,
                                className="field-btn field-btn-primary is-hidden"),
                    html.Button(t("field.patrol.checkin", lang), id=fid.PATROL_CHECKIN,
                                className="field-btn field-btn-primary is-hidden"),
                    html.Button(t("field.patrol.end", lang), id=fid.PATROL_END,
                                className="field-btn field-btn-danger is-hidden"),
                ]),
                html.P(t("field.patrol.auto", lang).format(n=AUTO_CHECKIN_MINUTES), className="field-hint")
                if worker else None,
            ]),
        ],
    )


def level_name(level: str | None, lang: str) -> str:
    return t(f"field.level.{level}", lang) if level in sm.LEVELS else (level or "")


def inbox(rows: list[dict], total: int, names_en: dict[str, str], lang: str) -> list:
    """One card per case waiting, each with its two actions (resolve, escalate)."""
    if not rows:
        return [html.P(t("field.inbox.empty", lang), className="field-empty")]
    out: list = [html.P(t("field.inbox.count", lang).format(n=total), className="field-count")]
    for r in rows:
        category = names_en.get(r["category"], r["category"]) if lang == "en" else r["category_name"]
        state = t(f"state.{r['state']}", lang)
        level = t("field.at_level", lang).format(level=level_name(r["level"], lang))
        key = f"{r['code']}|{{to}}|{r['state']}"
        actions = [html.Button(t("field.resolve", lang), n_clicks=0, className="field-btn field-btn-ok",
                               id={"type": fid.ACT, "index": key.format(to="resolved")})]
        # a street operator's escalation sends the case to the district (filed there)
        actions.append(html.Button(t("field.escalate", lang), n_clicks=0, className="field-btn field-btn-warn",
                                   id={"type": fid.ACT, "index": key.format(to="escalated")}))
        out.append(html.Article(className=f"field-case sev-{r['severity']}", **{"data-code": r["code"]},
                                children=[
            html.Div(className="field-case-head", children=[
                html.Span(t(f"severity.{r['severity']}", lang), className="field-sev"),
                html.Strong(r["title"], className="field-case-title"),
            ]),
            html.Div(f"{r['code']} · {category}", className="field-case-meta"),
            html.Div(f"{state} · {level} · {fmt_datetime_iso(r['reported_at'], lang)}",
                     className="field-case-meta"),
            html.Div(className="field-case-actions", children=actions),
        ]))
    if total > len(rows):
        out.append(html.P(t("field.inbox.more", lang).format(n=total - len(rows)), className="field-hint"))
    return out


def fmt_datetime_iso(value, lang: str) -> str:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return fmt_datetime(value, lang)


def duplicates(rows: list[dict], radius_m: int, lang: str) -> list:
    """Open cases nearby of the same category, each with "add to this case" (the page shows
    "new case anyway" below them)."""
    items = [html.Li(className="field-dup", children=[
        html.Div(t("field.dup_line", lang).format(code=r["code"], title=r["title"],
                                                   d=round(float(r["distance_m"]))),
                 className="field-dup-text"),
        html.Button(t("field.attach", lang), id={"type": fid.ATTACH, "index": r["code"]}, n_clicks=0,
                    className="field-btn field-btn-primary"),
    ]) for r in rows]
    return [html.P(t("field.dups", lang).format(m=radius_m), className="field-dups-head"),
            html.Ul(items, className="field-dup-list")]


def patrol(p: dict | None, worker: bool, lang: str) -> list:
    """The patrol card: none, or the open patrol with its check-ins (latest first)."""
    if not worker:
        return [html.P(t("field.patrol.only_worker", lang), className="field-empty")]
    if p is None:
        return [html.P(t("field.patrol.none", lang), className="field-patrol-state")]
    checks = p.get("checkins") or []
    lines = []
    for c in reversed(checks[-8:]):
        flag = (" · " + t("field.patrol.flagged", lang).format(m=round(c["outside_m"] or 0))
                if c.get("flagged") else "")
        lines.append(html.Li(f"{fmt_datetime_iso(c['at'], lang)} · {c['lat']:.5f}, {c['lon']:.5f}{flag}",
                             className="field-checkin" + (" is-flagged" if c.get("flagged") else "")))
    return [
        html.P(t("field.patrol.on", lang).format(grid=p["grid_code"]), className="field-patrol-state is-on"),
        html.P(t("field.patrol.since", lang).format(t=fmt_datetime_iso(p["started_at"], lang))),
        html.P(t("field.patrol.count", lang).format(n=len(checks)), className="field-patrol-count"),
        html.P(t("field.patrol.cases", lang).format(n=len(p.get("incidents") or []))),
        html.Ul(lines, className="field-checkins"),
    ]
