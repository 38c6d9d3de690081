"""The case view of /incidents: facts, a small map, the timeline and the action forms."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import dash_leaflet as dl
from dash import html

import layouts.strings_scorecard  # noqa: F401  (the whistle lines' strings)
from geo.access.roles import ROLE_NAMES
from layouts import ids
from layouts.i18n import fmt_datetime, t
from layouts.incidents_forms import forms
from layouts.incidents_text import label, time_left


def _dt(value, lang: str) -> str:
    if not value:
        return ""
    return fmt_datetime(datetime.fromisoformat(value) if isinstance(value, str) else value, lang)


def _fact(key: str, value, cls: str = "") -> html.Div:
    return html.Div(className=f"inc-fact {cls}".strip(),
                    children=[html.Span(key, className="inc-fact-k"), html.Span(value, className="inc-fact-v")])


def _bounds(outline: dict | None, lon: float, lat: float) -> list[list[float]]:
    xs, ys = [lon], [lat]
    if outline:
        def walk(c):
            if isinstance(c[0], (int, float)):
                xs.append(c[0])
                ys.append(c[1])
            else:
                for x in c:
                    walk(x)
        walk(outline["geometry"]["coordinates"])
    pad = 0.0004
    return [[min(ys) - pad, min(xs) - pad], [max(ys) + pad, max(xs) + pad]]


def case_map(case: dict, outline: dict | None) -> dl.Map:
    """The case's point and its grid's outline; no tiles, no controls (nothing in English)."""
    lon, lat = case["lon"], case["lat"]
    children = []
    if outline:
        children.append(dl.GeoJSON(data={"type": "FeatureCollection", "features": [outline]},
                                   style={"color": "#1d4ed8", "weight": 2, "fillOpacity": 0.08}))
    children.append(dl.CircleMarker(center=[lat, lon], radius=8,
                                    pathOptions={"color": "#b91c1c", "fillColor": "#ef4444",
                                                 "fillOpacity": 0.9, "weight": 2}))
    # center and zoom, not bounds: a redrawn case would make Leaflet compare bounds it no
    # longer holds (a page error)
    (s, w), (n, e) = _bounds(outline, lon, lat)
    zoom = max(10, min(19, int(math.log2(min(440 * 360 / (256 * (e - w)), 210 * 170 / (256 * (n - s)))))))
    return dl.Map(children=children, center=[(s + n) / 2, (w + e) / 2], zoom=zoom, zoomControl=False,
                  attributionControl=False, className="inc-map", id=f"inc-case-map-{case['code']}",
                  style={"height": "220px", "width": "100%"})


def _event_title(ev: dict, lang: str) -> str:
    if ev["kind"] == "transition":
        return label("state", ev["to_state"], lang)
    return label("ev", ev["kind"], lang)


def timeline(case: dict, lang: str) -> html.Ol:
    items = []
    for ev in case["events"]:
        role = ROLE_NAMES.get(ev.get("actor_role"), (ev.get("actor_role"), ev.get("actor_role")))
        who = t("inc.ev.by", lang).format(who=ev["actor"], role=role[1] if lang == "en" else role[0])
        detail = ev.get("detail") or {}
        extra = []
        if detail.get("department"):
            extra.append(f"→ {detail['department']}")
        if detail.get("departments"):
            extra.append(f"→ {', '.join(detail['departments'])}")
        body = [
            html.Div(className="inc-ev-head", children=[
                html.Span(_event_title(ev, lang), className=f"inc-ev-what inc-ev-{ev['kind']}"),
                html.Span(label("level", ev["level"], lang), className="inc-ev-level"),
                html.Span(_dt(ev["at"], lang), className="inc-ev-at"),
            ]),
            html.Div(" ".join([who, *extra]), className="inc-ev-who"),
        ]
        if ev.get("note"):
            body.append(html.Div(ev["note"], className="inc-ev-note"))
        if ev.get("photo_id"):
            src = f"/incidents/photo/{int(ev['photo_id'])}"
            body.append(html.A(html.Img(src=src, alt=t("inc.ev.photo", lang), className="inc-ev-photo"),
                               href=src, target="_blank"))
        items.append(html.Li(body, className="inc-ev"))
    return html.Ol(items, className="inc-timeline")


def _whistles(case: dict, lang: str) -> html.Div | None:
    if not case.get("whistles"):
        return None
    rows = []
    for w in case["whistles"]:
        # who was summoned, who came and when, who is late (layouts/strings_scorecard.py)
        deps = [html.Li(className=f"inc-wh-dep inc-wh-{d['status']}", **{"data-department": d["code"]}, children=[
            html.Span(f"{d['code']} {d.get('name') or ''}".strip(), className="inc-wh-name"),
            html.Span(t("whistle." + d["status"], lang), className="inc-wh-status"),
            html.Span(t("wh.came", lang).format(at=_dt(d["reported_at"], lang), who=d.get("reported_by") or "")
                      if d.get("reported_at") else "", className="inc-wh-came"),
            html.Span(d.get("note") or "", className="inc-wh-note"),
        ]) for d in w["departments"]]
        head = t("wh.head", lang).format(kind=t("whistle." + w["kind"], lang), at=_dt(w["blown_at"], lang),
                                         who=w.get("blown_by") or "", due=_dt(w["due_at"], lang))
        rows.append(html.Li([html.Div(head, className="inc-wh-head"), html.Ul(deps, className="inc-wh-deps")],
                            className="inc-wh"))
    return html.Div([html.H3(t("inc.case.whistles", lang)), html.Ul(rows, className="inc-whistles")])


def case_view(case: dict, actions: list[str], outline: dict | None, departments: list[dict],
              names: dict, lang: str, readonly: bool) -> list:
    """Everything the case panel shows, for the actions this user may take now."""
    now = datetime.now(UTC)
    left, left_cls = time_left(case, now, lang)
    dep = case.get("department")
    facts = [
        _fact(t("col.state", lang), label("state", case["state"], lang), f"inc-state-{case['state']}"),
        _fact(t("inc.col.level", lang), label("level", case["level"], lang)),
        _fact(t("col.severity", lang), t(f"severity.{case['severity']}", lang)),
        _fact(t("col.category", lang), (case.get("category_name_en") if lang == "en"
                                        else case.get("category_name")) or case["category"]),
        _fact(t("inc.case.place", lang), " / ".join(x for x in (
            names["communities"].get(case.get("community_code"), case.get("community_code")),
            case.get("grid_code")) if x)),
        _fact(t("inc.case.reported", lang), _dt(case["reported_at"], lang)),
        _fact(t("inc.case.triage", lang), label("triage", case.get("triage"), lang)),
    ]
    if dep:
        facts.append(_fact(t("inc.case.department", lang), f"{dep} {names['departments'].get(dep, '')}"))
    if case.get("proposed_department"):
        p = case["proposed_department"]
        facts.append(_fact(t("inc.case.proposed", lang), f"{p} {names['departments'].get(p, '')}"))
    if case.get("due_at"):
        facts.append(_fact(t("inc.case.due", lang), f"{_dt(case['due_at'], lang)} {left}", left_cls))
    deferral = case.get("deferral")
    if deferral and deferral.get("decided_at") is None:
        facts.append(_fact(t("inc.case.deferral", lang), t("inc.case.deferral_until", lang).format(
            d=_dt(deferral["requested_until"], lang), r=deferral["reason"])))
    if case.get("possible_duplicate_of"):
        facts.append(_fact("", t("inc.case.dup", lang).format(c=case["possible_duplicate_of"])))
    if readonly:
        acts = [html.P(t("inc.case.readonly", lang), className="inc-readonly")]
    elif actions:
        acts = forms(actions, case, departments, lang)
    else:
        acts = [html.P(t("inc.case.no_actions", lang), className="ga-empty")]
    return [
        html.Div(className="inc-case-head", children=[
            html.H2([html.Span(case["code"], className="inc-case-code"), " ", case["title"]]),
            html.Button(t("inc.case.close", lang), id={"type": ids.INC_CASE_CLOSE, "index": 0},
                        className="ga-btn ga-btn-small"),
        ]),
        html.Div(facts, className="inc-facts"),
        html.Div(case.get("description") or "", className="inc-desc"),
        case_map(case, outline),
        html.H3(t("inc.case.actions", lang)),
        html.Div(acts, className="inc-actions", **{"data-version": str(case.get("version"))}),
        _whistles(case, lang),
        html.H3(t("inc.case.timeline", lang)),
        timeline(case, lang),
    ]
