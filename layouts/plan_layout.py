"""The /plan page's controls and main column (pure UI; the page module assembles them)."""

from __future__ import annotations

from dash import dcc, html

from layouts import (
    ids,
    plan_maps,
    strings_plan_respect,  # noqa: F401  (registers the respect strings used here)
)
from layouts.i18n import dropdown, t

_EXPORTS = (("gpkg", "GeoPackage"), ("geojson", "GeoJSON"), ("csv", "CSV (Excel)"),
            ("shp", "Shapefile (GBK)"))


def _num(id_: str, label_key: str, value: int | None, lang: str, **kw) -> html.Label:
    return html.Label([t(label_key, lang),
                       dcc.Input(id=id_, type="number", value=value, debounce=True, **kw)],
                      className="ga-field")


def controls(lang: str) -> html.Section:
    # the column sticks beside the maps below the top bar; taller than the window (the
    # comparison, the staff list) it scrolls on its own, so its lower part (accept, commit,
    # export) stays reachable: a sticky column taller than the window hid it. A grid, not
    # the class's flex column: in a column of bounded height flex items would shrink
    return html.Section(className="ga-plan-controls", style={
        "maxHeight": "calc(100vh - 5rem)", "boxSizing": "border-box", "overflowY": "auto",
        "display": "grid", "gridTemplateColumns": "minmax(0, 1fr)", "alignContent": "start"},
        children=[
        html.Label([t("plan.community", lang),
                    dropdown(id=ids.PLAN_COMMUNITY, placeholder=t("plan.pick", lang))],
                   className="ga-field"),
        html.Div(className="ga-row3", children=[
            _num(ids.PLAN_TARGET, "plan.target", None, lang, min=1),
            _num(ids.PLAN_MIN, "plan.min", None, lang, min=0),
            _num(ids.PLAN_MAX, "plan.max", None, lang, min=1),
        ]),
        html.Div(t("plan2.band_hint", lang), className="ga-hint"),
        html.Label([t("plan.mode", lang), dcc.RadioItems(
            id=ids.PLAN_MODE, value="fresh", inline=True,
            options=[{"label": t("plan.fresh", lang), "value": "fresh"},
                     {"label": t("plan.minimal", lang), "value": "minimal"}])], className="ga-field"),
        html.Div(className="ga-row3", children=[_num(ids.PLAN_SEED, "plan.seed", 0, lang, min=0),
                                                _num(ids.PLAN_K, "plan.k", None, lang, min=1)]),
        html.Label([t("plan.lock", lang), dropdown(id=ids.PLAN_LOCK, multi=True)], className="ga-field"),
        html.Label([t("plan.dedicated", lang), dropdown(id=ids.PLAN_DEDICATED, multi=True)],
                   className="ga-field"),
        html.Label([t("respect.pick", lang),
                    dropdown(id=ids.PLAN_RESPECT, placeholder=t("respect.none", lang),
                                 searchable=False)],
                   className="ga-field", title=t("respect.hint", lang)),
        html.Div(className="ga-buttons", children=[
            html.Button(t("plan.run", lang), id=ids.PLAN_RUN, className="ga-btn ga-btn-primary", disabled=True),
            html.Button(t("plan.cancel", lang), id=ids.PLAN_CANCEL, className="ga-btn", disabled=True),
        ]),
        html.Progress(id=ids.PLAN_PROGRESS, value="0", max="3", className="ga-progress"),
        html.Div(id=ids.PLAN_STATUS, className="ga-status"),
        html.Div(id=ids.PLAN_RESPECT_CMP),
        html.H3(t("plan.gate", lang)),
        html.Div(id=ids.PLAN_GATE, className="ga-gate"),
        html.H3(t("plan.churn", lang)),
        html.Div(id=ids.PLAN_CHURN, className="ga-churn"),
        html.H3(t("plan2.staff", lang)),
        html.Div(id=ids.PLAN_STAFF),
        dcc.Checklist(id=ids.PLAN_ACCEPT_BAND, value=[],
                      options=[{"label": t("plan.accept_band", lang), "value": "yes"}]),
        dcc.Input(id=ids.PLAN_NOTE, placeholder=t("plan.note", lang), className="ga-note", type="text"),
        html.Button(t("plan.commit", lang), id=ids.PLAN_COMMIT, className="ga-btn ga-btn-commit", disabled=True),
        html.Div(id=ids.PLAN_COMMIT_MSG, className="ga-status"),
        html.H3(t("plan.export", lang)),
        html.Div(className="ga-buttons", children=[
            dropdown(id=ids.PLAN_EXPORT_FMT, value="gpkg", clearable=False, className="ga-export-fmt",
                         options=[{"label": n, "value": v} for v, n in _EXPORTS]),
            dcc.Checklist(id=ids.PLAN_EXPORT_4490, value=[],
                          options=[{"label": t("plan.export_4490", lang), "value": "4490"}]),
            html.Button(t("plan.export", lang), id=ids.PLAN_EXPORT, className="ga-btn", disabled=True),
        ]),
        html.Div(id=ids.PLAN_EXPORT_MSG, className="ga-status"),
    ])


def main(lang: str) -> html.Section:
    return html.Section(className="ga-plan-main", children=[
        dcc.RadioItems(id=ids.PLAN_VIEW, value="proposal", inline=True, className="ga-view-switch",
                       options=[{"label": t("plan.view_proposal", lang), "value": "proposal"},
                                {"label": t("plan.view_current", lang), "value": "current"},
                                {"label": t("plan.view_both", lang), "value": "both"}]),
        html.Div(id=ids.PLAN_LEGEND),
        html.Div(id=ids.PLAN_SCOPE_LEGEND),
        plan_maps.maps(lang),
        html.Div(className="ga-move", children=[
            html.H3(t("plan.move", lang)),
            html.Div(t("plan.move_hint", lang), id=ids.PLAN_MOVE_INFO),
            html.Div(className="ga-buttons", children=[
                dropdown(id=ids.PLAN_MOVE_TO, className="ga-move-to", placeholder=t("plan.move_to", lang)),
                html.Button(t("plan.move_do", lang), id=ids.PLAN_MOVE, className="ga-btn", disabled=True),
                html.Button(t("plan2.undo", lang), id=ids.PLAN_UNDO, className="ga-btn", disabled=True),
                html.Button(t("plan2.redo", lang), id=ids.PLAN_REDO, className="ga-btn", disabled=True),
            ]),
            html.Div(id=ids.PLAN_MOVE_PREVIEW),
            html.Div(id=ids.PLAN_MOVE_MSG, className="ga-status"),
        ]),
        html.Div(id=ids.PLAN_GRIDS, className="ga-plan-table"),
        html.Div(className="ga-nets", children=[
            html.H3(t("plan2.networks", lang)),
            dcc.Checklist(id=ids.PLAN_NETS, value=[], inline=True, options=[]),
            html.Div(className="ga-buttons", children=[
                dropdown(id=ids.PLAN_NET_PICK, className="ga-cmp",
                             placeholder=t("plan2.crosswalk_pick", lang)),
                html.Button(t("plan2.crosswalk_export", lang), id=ids.PLAN_NET_EXPORT, className="ga-btn"),
            ]),
            html.Div(id=ids.PLAN_NET_TABLE),
        ]),
        html.H3(t("plan.versions", lang)),
        html.Div(id="plan-restore-box", className="ga-restore-ask", hidden=True, children=[
            html.Span(id=ids.PLAN_RESTORE_ASK),
            html.Div(className="ga-buttons", children=[
                html.Button(t("plan2.restore_yes", lang), id=ids.PLAN_RESTORE_YES, className="ga-btn ga-btn-commit"),
                html.Button(t("plan2.restore_no", lang), id=ids.PLAN_RESTORE_NO, className="ga-btn"),
            ]),
        ]),
        html.Div(id=ids.PLAN_VERSIONS),
        html.H3(t("plan.compare", lang)),
        html.Div(className="ga-buttons", children=[dropdown(id=ids.PLAN_CMP_A, className="ga-cmp"),
                                                   dropdown(id=ids.PLAN_CMP_B, className="ga-cmp")]),
        html.Div(id=ids.PLAN_COMPARE),
        html.H3(t("plan.title", lang)),
        html.Div(id=ids.PLAN_TABLE),
    ])
