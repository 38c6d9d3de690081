"""Grid planning (/plan): propose, inspect, adjust, commit, restore and export grid plans.

Planners act within their scope; leaders see everything read-only. The rebalance runs as
a background callback (a worker process) acting as the user captured when it was
submitted; proposals stay on the server (``layouts.plan_store``).
"""

from __future__ import annotations

import json
import logging

import dash
import dash_leaflet as dl
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash_extensions.javascript import Namespace

import geo.partition.engine  # noqa: F401,E402  (the same reason: loaded before any fork)
import geo.partition.graph  # noqa: F401,E402
import geo.partition.kernels  # noqa: E402
import geo.planning.codes  # noqa: F401,E402
from geo.access.permissions import allowed, check
from geo.errors import GridAtlasError

# Imported here, at start-up: a background job is a fork of a busy web process, and a
# module being imported by another thread at that moment would stay locked in the child.
from geo.planning import api as planning
from geo.planning.export import download as export_download
from geo.repository import session, summary
from geo.repository.scope import Scope
from layouts import ids, plan_store
from layouts.auth import current_principal, secret_key
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, fmt_datetime, rule_label, rules_text, status_label, t
from layouts.secure import secure_callback

log = logging.getLogger(__name__)
# compiled search kernels: loaded here, so the forked rebalance jobs inherit them
geo.partition.kernels.warm()

dash.register_page(__name__, path="/plan", title="GridAtlas · 网格规划", name="plan")

_plan = Namespace("gridatlas", "plan")
_EXPORTS = (("gpkg", "GeoPackage"), ("geojson", "GeoJSON"), ("csv", "CSV (Excel)"),
            ("shp", "Shapefile (GBK)"))


def _num(id_: str, label_key: str, value: int | None, lang: str, **kw) -> html.Label:
    return html.Label([t(label_key, lang),
                       dcc.Input(id=id_, type="number", value=value, debounce=True, **kw)],
                      className="ga-field")


def layout(community=None, **_query) -> html.Div:
    lang = current_lang()
    try:  # the URL's community only when it is one inside the user's scope (no database)
        community = Scope.of(current_principal()).require_community(community) if community else None
    except GridAtlasError:
        community = None
    return html.Div(
        className="ga-page ga-plan",
        children=[
            dcc.Store(id=ids.PLAN_BOOT, data={"community": community}),
            dcc.Store(id=ids.PLAN_TOKEN),
            dcc.Store(id=ids.PLAN_ID),
            dcc.Store(id=ids.PLAN_REV, data=0),
            dcc.Store(id=ids.PLAN_SELECTED),
            dcc.Download(id=ids.PLAN_DOWNLOAD),
            page_header("plan.title", "plan.intro"),
            html.Div(id=ids.PLAN_READONLY, className="ga-readonly"),
            html.Div(id=ids.PLAN_ERROR, className="ga-error", role="alert"),
            html.Div(
                className="ga-plan-grid",
                children=[
                    html.Section(
                        className="ga-plan-controls",
                        children=[
                            html.Label([t("plan.community", lang),
                                        dcc.Dropdown(id=ids.PLAN_COMMUNITY,
                                                     placeholder=t("plan.pick", lang))],
                                       className="ga-field"),
                            html.Div(className="ga-row3", children=[
                                _num(ids.PLAN_TARGET, "plan.target", 400, lang, min=1),
                                _num(ids.PLAN_MIN, "plan.min", 300, lang, min=0),
                                _num(ids.PLAN_MAX, "plan.max", 500, lang, min=1),
                            ]),
                            html.Label([t("plan.mode", lang), dcc.RadioItems(
                                id=ids.PLAN_MODE, value="fresh", inline=True,
                                options=[{"label": t("plan.fresh", lang), "value": "fresh"},
                                         {"label": t("plan.minimal", lang), "value": "minimal"}])],
                                className="ga-field"),
                            html.Div(className="ga-row3", children=[
                                _num(ids.PLAN_SEED, "plan.seed", 0, lang, min=0),
                                _num(ids.PLAN_K, "plan.k", None, lang, min=1),
                            ]),
                            html.Label([t("plan.lock", lang),
                                        dcc.Dropdown(id=ids.PLAN_LOCK, multi=True)],
                                       className="ga-field"),
                            html.Label([t("plan.dedicated", lang),
                                        dcc.Dropdown(id=ids.PLAN_DEDICATED, multi=True)],
                                       className="ga-field"),
                            html.Div(className="ga-buttons", children=[
                                html.Button(t("plan.run", lang), id=ids.PLAN_RUN,
                                            className="ga-btn ga-btn-primary", disabled=True),
                                html.Button(t("plan.cancel", lang), id=ids.PLAN_CANCEL,
                                            className="ga-btn", disabled=True),
                            ]),
                            html.Progress(id=ids.PLAN_PROGRESS, value="0", max="3",
                                          className="ga-progress"),
                            html.Div(id=ids.PLAN_STATUS, className="ga-status"),
                            html.H3(t("plan.gate", lang)),
                            html.Div(id=ids.PLAN_GATE, className="ga-gate"),
                            html.H3(t("plan.churn", lang)),
                            html.Div(id=ids.PLAN_CHURN, className="ga-churn"),
                            dcc.Checklist(id=ids.PLAN_ACCEPT_BAND, value=[], options=[
                                {"label": t("plan.accept_band", lang), "value": "yes"}]),
                            dcc.Input(id=ids.PLAN_NOTE, placeholder=t("plan.note", lang),
                                      className="ga-note", type="text"),
                            html.Button(t("plan.commit", lang), id=ids.PLAN_COMMIT,
                                        className="ga-btn ga-btn-commit", disabled=True),
                            html.Div(id=ids.PLAN_COMMIT_MSG, className="ga-status"),
                            html.H3(t("plan.export", lang)),
                            html.Div(className="ga-buttons", children=[
                                dcc.Dropdown(id=ids.PLAN_EXPORT_FMT, value="gpkg",
                                             clearable=False, className="ga-export-fmt",
                                             options=[{"label": n, "value": v}
                                                      for v, n in _EXPORTS]),
                                dcc.Checklist(id=ids.PLAN_EXPORT_4490, value=[], options=[
                                    {"label": t("plan.export_4490", lang), "value": "4490"}]),
                                html.Button(t("plan.export", lang), id=ids.PLAN_EXPORT,
                                            className="ga-btn", disabled=True),
                            ]),
                            html.Div(id=ids.PLAN_EXPORT_MSG, className="ga-status"),
                        ],
                    ),
                    html.Section(
                        className="ga-plan-main",
                        children=[
                            dcc.RadioItems(
                                id=ids.PLAN_VIEW, value="proposal", inline=True,
                                className="ga-view-switch",
                                options=[{"label": t("plan.view_proposal", lang), "value": "proposal"},
                                         {"label": t("plan.view_current", lang), "value": "current"},
                                         {"label": t("plan.view_both", lang), "value": "both"}]),
                            html.Div(className="ga-plan-maps", id="plan-maps", children=[
                                dl.Map(id=ids.PLAN_MAP, center=(35, 105), zoom=4,
                                       className="ga-plan-map", children=[
                                    dl.GeoJSON(id=ids.PLAN_CURRENT, style=_plan("currentStyle")),
                                    dl.GeoJSON(id=ids.PLAN_PROPOSED, style=_plan("proposedStyle"),
                                               onEachFeature=_plan("gridTooltip"),
                                               hideout={"min": 300, "max": 500}),
                                    dl.GeoJSON(id=ids.PLAN_BUILDINGS, style=_plan("buildingStyle"),
                                               hideout={"selected": None, "labels": {}}),
                                    dl.ScaleControl(imperial=False, position="bottomleft"),
                                ]),
                                dl.Map(id=ids.PLAN_MAP2, center=(35, 105), zoom=4,
                                       className="ga-plan-map ga-plan-map2", children=[
                                    dl.GeoJSON(id=ids.PLAN_CURRENT2, style=_plan("currentFill"),
                                               onEachFeature=_plan("gridTooltip"),
                                               hideout={"min": 300, "max": 500}),
                                ]),
                            ]),
                            html.Div(className="ga-move", children=[
                                html.H3(t("plan.move", lang)),
                                html.Div(t("plan.move_hint", lang), id=ids.PLAN_MOVE_INFO),
                                html.Div(className="ga-buttons", children=[
                                    dcc.Dropdown(id=ids.PLAN_MOVE_TO, className="ga-move-to",
                                                 placeholder=t("plan.move_to", lang)),
                                    html.Button(t("plan.move_do", lang), id=ids.PLAN_MOVE,
                                                className="ga-btn", disabled=True),
                                ]),
                                html.Div(id=ids.PLAN_MOVE_MSG, className="ga-status"),
                            ]),
                            html.Div(id=ids.PLAN_GRIDS, className="ga-plan-table"),
                            html.H3(t("plan.versions", lang)),
                            html.Div(id=ids.PLAN_VERSIONS),
                            html.H3(t("plan.compare", lang)),
                            html.Div(className="ga-buttons", children=[
                                dcc.Dropdown(id=ids.PLAN_CMP_A, className="ga-cmp"),
                                dcc.Dropdown(id=ids.PLAN_CMP_B, className="ga-cmp"),
                            ]),
                            html.Div(id=ids.PLAN_COMPARE),
                            html.H3(t("plan.title", lang)),
                            html.Div(id=ids.PLAN_TABLE),
                        ],
                    ),
                ],
            ),
        ],
    )


def _may_change(principal) -> bool:
    return principal is not None and allowed(principal.role, "grids.commit")


# ----------------------------------------------------------------------------- start


@secure_callback(
    "view.plan",
    Output(ids.PLAN_COMMUNITY, "options"),
    Output(ids.PLAN_COMMUNITY, "value"),
    Output(ids.PLAN_TOKEN, "data"),
    Output(ids.PLAN_READONLY, "children"),
    Output(ids.PLAN_TABLE, "children"),
    Output(ids.PLAN_ERROR, "children"),
    Input(ids.PLAN_BOOT, "data"),
)
def start(boot):
    """Communities in scope, the signed user for background jobs, read-only notice."""
    lang = current_lang()
    en = lang == "en"
    principal = current_principal()
    try:
        rows = summary.community_summary(Scope.of(principal))
    except GridAtlasError as exc:
        return [], None, None, None, None, f"{t('error.db', lang)}: {exc.user_msg}"
    options = [{"label": f"{r['name_en'] if en and r['name_en'] else r['name']} · {r['code']}",
                "value": r["code"]} for r in rows if len(r["code"]) == 12]
    wanted = boot.get("community") if isinstance(boot, dict) else None
    value = wanted if any(o["value"] == wanted for o in options) else None
    columns = [
        ("col.code", "code"),
        ("col.community", lambda r: (r["name_en"] if en and r["name_en"] else r["name"])),
        ("col.street", lambda r: (r["street_en"] if en and r["street_en"] else r["street"])),
        ("col.households", lambda r: f"{r['households']:,}"),
        ("col.grids", "grids"),
        ("col.in_band", lambda r: f"{r['in_band']}/{r['grids']}"),
        ("col.version", "version_no"),
    ]
    token = plan_store.sign(principal, secret_key()) if _may_change(principal) else None
    notice = None if _may_change(principal) else t("plan.readonly", lang)
    return (options, value, token, notice,
            data_table(rows, columns, table_id="plan-communities"), None)


@secure_callback(
    "view.plan",
    Output(ids.PLAN_CURRENT, "data"),
    Output(ids.PLAN_CURRENT2, "data"),
    Output(ids.PLAN_BUILDINGS, "data"),
    Output(ids.PLAN_MAP, "viewport"),
    Output(ids.PLAN_MAP2, "viewport"),
    Output(ids.PLAN_LOCK, "options"),
    Output(ids.PLAN_DEDICATED, "options"),
    Output(ids.PLAN_DEDICATED, "value"),
    Output(ids.PLAN_RUN, "disabled"),
    Output(ids.PLAN_ID, "data", allow_duplicate=True),
    Input(ids.PLAN_COMMUNITY, "value"),
    Input(ids.PLAN_REV, "data"),
    State(ids.PLAN_ID, "data"),
    prevent_initial_call=True,
)
def load_community(code, _rev, plan_id):
    """Current grids and buildings of the chosen community; lock and dedicated choices."""
    principal = current_principal()
    empty = (None, None, None, dash.no_update, dash.no_update, [], [], [], True, None)
    if not code:
        return empty
    try:
        layers = summary.community_map(Scope.of(principal), code)
    except GridAtlasError as exc:
        log.info("plan page: community %r refused: %s", str(code)[:40], exc.user_msg)
        return empty
    current, buildings, bounds = layers["grids"], layers["buildings"], layers["bounds"]
    grid_opts = [{"label": ft["properties"]["code"], "value": ft["properties"]["code"]}
                 for ft in current["features"]]
    dedicated = [ft["properties"]["code"] for ft in current["features"]
                 if ft["properties"].get("kind") == "dedicated"]
    view = ({"bounds": bounds, "transition": "fitBounds", "options": {"animate": False}}
            if bounds else dash.no_update)
    keep_plan = ctx.triggered_id == ids.PLAN_REV and plan_id
    return (current, current, buildings, view, view, grid_opts, grid_opts, dedicated,
            not _may_change(principal), plan_id if keep_plan else None)


# ----------------------------------------------------------------------------- propose


@secure_callback(
    "plan.run",
    Output(ids.PLAN_ID, "data"),
    Output(ids.PLAN_STATUS, "children"),
    Input(ids.PLAN_RUN, "n_clicks"),
    State(ids.PLAN_TOKEN, "data"),
    State(ids.PLAN_COMMUNITY, "value"),
    State(ids.PLAN_TARGET, "value"),
    State(ids.PLAN_MIN, "value"),
    State(ids.PLAN_MAX, "value"),
    State(ids.PLAN_MODE, "value"),
    State(ids.PLAN_SEED, "value"),
    State(ids.PLAN_K, "value"),
    State(ids.PLAN_LOCK, "value"),
    State(ids.PLAN_DEDICATED, "value"),
    background=True,
    running=[(Output(ids.PLAN_RUN, "disabled"), True, False),
             (Output(ids.PLAN_CANCEL, "disabled"), False, True)],
    cancel=[Input(ids.PLAN_CANCEL, "n_clicks")],
    progress=[Output(ids.PLAN_PROGRESS, "value"), Output(ids.PLAN_PROGRESS, "max")],
    prevent_initial_call=True,
)
def run_plan(set_progress, _n, token, code, target, lo, hi, mode, seed, k, locked, dedicated):
    """Compute a proposal in a worker process, as the user who asked for it."""
    session.after_fork()  # never use the web process's connections from a worker
    lang = "zh"
    try:
        principal = plan_store.principal_from(token, secret_key())
        check(principal, "plan.run")
        code = Scope.of(principal).require_community(code)
        set_progress(("1", "3"))
        proposal = planning.propose(
            principal, code, target=_int(target, 400), min_hh=_int(lo, 300),
            max_hh=_int(hi, 500), mode=mode or "fresh", seed=_int(seed, 0),
            grids=_int(k, None), locked_codes=_codes(locked),
            dedicated_codes=_codes(dedicated))
        set_progress(("2", "3"))
        key = plan_store.put(proposal.to_json())
        set_progress(("3", "3"))
    except GridAtlasError as exc:
        return dash.no_update, html.Span(exc.user_msg, className="ga-bad")
    n_grids = len(proposal.grids)
    return key, t("plan.view_proposal", lang) + f": {n_grids} " + t("col.grids", lang)


def _int(value, default):
    """A number field's value as an int (``default`` when empty); GridAtlasError else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GridAtlasError(f"数值无效 / not a number: {str(value)[:20]!r}")
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise GridAtlasError(f"数值无效 / not a number: {str(value)[:20]!r}") from None
    if not 0 <= number <= 1_000_000:
        raise GridAtlasError(f"数值超出范围 / out of range: {number}")
    return number


def _codes(values) -> tuple[str, ...]:
    """Grid codes picked in a multi-select (strings only)."""
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise GridAtlasError("网格选择无效 / the grid choices must be grid codes")
    return tuple(values)


def _load(plan_id):
    """The stored proposal, only when the signed-in user may see its community."""
    return planning.load_proposal(current_principal(), plan_store.get(plan_id))


def _load_or_none(plan_id):
    try:
        return _load(plan_id)
    except GridAtlasError as exc:
        log.info("plan %s refused: %s", str(plan_id)[:40], exc.user_msg)
        return None


def _infeasible_view(proposal, lang: str):
    """The regions the engine proved cannot be put in band, so the planner knows that no
    adjustment will mend those grids (regions without households are left out)."""
    regs = [r for r in (proposal.totals or {}).get("infeasible_regions") or [] if r.get("households")]
    if not regs:
        return None
    items = [html.Li(t("plan.infeasible_region", lang).format(
        buildings=r["buildings"], households=r["households"],
        why=t(f"proof.{r.get('proof', 'other')}", lang))) for r in regs]
    return html.Div([html.Div(t("plan.infeasible", lang)), html.Ul(items)], className="ga-gate-proof")


def _gate_view(proposal, lang: str):
    gate = [g for g in proposal.gate if g["severity"] != "exempt"]
    if not gate:
        return html.Div(t("plan.gate_ok", lang), className="ga-ok-box")
    items = {}
    for g in gate:
        items.setdefault(g["rule"], []).append(g["code"])
    return html.Div([
        html.Ul([html.Li([html.Strong(rule_label(rule, lang)), ": ", ", ".join(sorted(codes))],
                         className=f"gate-{rule}") for rule, codes in sorted(items.items())],
                className="ga-gate-list"),
        _infeasible_view(proposal, lang),
    ])


@secure_callback(
    "view.plan",
    Output(ids.PLAN_PROPOSED, "data"),
    Output(ids.PLAN_BUILDINGS, "hideout"),
    Output(ids.PLAN_GATE, "children"),
    Output(ids.PLAN_CHURN, "children"),
    Output(ids.PLAN_GRIDS, "children"),
    Output(ids.PLAN_COMMIT, "disabled"),
    Output(ids.PLAN_EXPORT, "disabled"),
    Input(ids.PLAN_ID, "data"),
    Input(ids.PLAN_ACCEPT_BAND, "value"),
    State(ids.PLAN_BUILDINGS, "hideout"),
)
def show_proposal(plan_id, accept, hideout):
    """The proposal over the current grids, its table, churn and validity gate."""
    lang = current_lang()
    principal = current_principal()
    proposal = _load_or_none(plan_id)
    hideout = dict(hideout) if isinstance(hideout, dict) else {}
    if proposal is None:
        hideout["labels"] = {}
        return None, hideout, None, None, None, True, True
    grids = proposal.grids.to_crs(4326)
    data = json.loads(grids.to_json(drop_id=True))
    hideout["labels"] = {str(k): v for k, v in proposal.labels.items()}
    c = proposal.churn
    churn = html.Div([
        html.Div([html.Span(t("plan.hh_moved", lang)), html.Strong(f"{c.get('households_moved', 0):,}")]),
        html.Div([html.Span(t("plan.bld_moved", lang)), html.Strong(f"{c.get('buildings_moved', 0):,}")]),
        html.Div([html.Span(t("plan.grids_before_after", lang)),
                  html.Strong(f"{c.get('grids_before', 0)} → {c.get('grids_after', 0)}")]),
        html.Div([html.Span(t("plan.codes_kept", lang)), html.Strong(f"{c.get('grids_kept', 0)}")]),
    ], className="ga-churn-grid")
    rows = grids.drop(columns="geometry").to_dict("records")
    columns = [
        ("col.code", "code"),
        ("col.households", "households"),
        ("col.deviation", lambda r: f"{r['deviation']:+.0%}" if r.get("deviation") is not None else ""),
        ("col.pp", lambda r: f"{r['pp']:.2f}" if r.get("pp") is not None else ""),
        ("col.moved", lambda r: r.get("households_moved", "")),
        ("col.status", lambda r: status_label(r.get("status"), lang)),
        ("col.rules", lambda r: rules_text(r.get("failed_rules"), lang)),
    ]
    table = data_table(sorted(rows, key=lambda r: r["code"]), columns, table_id="plan-grid-table",
                       row_class=lambda r: "bad" if r.get("failed_rules") else "")
    blocked = bool(proposal.blocking(allow_out_of_band=_accepts(accept)))
    return (data, hideout, _gate_view(proposal, lang), churn, table,
            blocked or not _may_change(principal), False)


@secure_callback(
    "view.plan",
    Output("plan-maps", "className"),
    Input(ids.PLAN_VIEW, "value"),
)
def switch_view(view):
    view = view if view in ("proposal", "current", "both") else "proposal"
    return f"ga-plan-maps view-{view}"


def _accepts(accept) -> bool:
    return isinstance(accept, list) and "yes" in accept


# ----------------------------------------------------------------------------- adjust


@secure_callback(
    "view.plan",
    Output(ids.PLAN_SELECTED, "data"),
    Output(ids.PLAN_MOVE_INFO, "children"),
    Output(ids.PLAN_MOVE_TO, "options"),
    Output(ids.PLAN_MOVE_TO, "value"),
    Output(ids.PLAN_MOVE, "disabled"),
    Output(ids.PLAN_BUILDINGS, "hideout", allow_duplicate=True),
    Input(ids.PLAN_BUILDINGS, "clickData"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_BUILDINGS, "hideout"),
    prevent_initial_call=True,
)
def pick_building(click, plan_id, hideout):
    """A clicked building: its grid in the proposal and the neighbouring grids."""
    lang = current_lang()
    proposal = _load_or_none(plan_id)
    props = (click.get("properties") if isinstance(click, dict) else None) or {}
    bid = props.get("id") if isinstance(props, dict) else None
    if proposal is None or isinstance(bid, bool) or not isinstance(bid, int) \
            or bid not in proposal.labels:
        return None, t("plan.move_hint", lang), [], None, True, dash.no_update
    current = proposal.labels.get(bid)
    try:
        neighbours = planning.neighbour_grids(current_principal(), proposal, bid)
    except GridAtlasError:
        neighbours = []
    # the panel shows the plan's own building, not what the click claimed
    row = proposal.households.get(bid, 0)
    hideout = dict(hideout) if isinstance(hideout, dict) else {}
    hideout["selected"] = bid
    info = html.Div([html.Strong(f"#{bid}"), f" · {row} ",
                     t("col.households", lang), " · ", current or "–"])
    options = [{"label": c, "value": c} for c in neighbours]
    return (bid, info, options, None,
            not (_may_change(current_principal()) and neighbours), hideout)


@secure_callback(
    "plan.run",
    Output(ids.PLAN_REV, "data"),
    Output(ids.PLAN_MOVE_MSG, "children"),
    Input(ids.PLAN_MOVE, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_SELECTED, "data"),
    State(ids.PLAN_MOVE_TO, "value"),
    State(ids.PLAN_REV, "data"),
    prevent_initial_call=True,
)
def move(_n, plan_id, building, to_grid, rev):
    """Move the selected building; a move that breaks a rule is refused by name."""
    try:
        proposal = _load(plan_id)
        if proposal is None or building is None or not to_grid:
            return dash.no_update, None
        moved = planning.move_building(current_principal(), proposal, building, to_grid)
    except GridAtlasError as exc:
        return dash.no_update, html.Span(exc.user_msg, className="ga-bad")
    plan_store.replace(plan_id, moved.to_json())
    note = "; ".join(moved.warnings) if moved.warnings else "OK"
    rev = rev if isinstance(rev, int) and not isinstance(rev, bool) else 0
    return rev + 1, html.Span(note, className="ga-warn" if moved.warnings else "ga-ok")


@secure_callback(
    "view.plan",
    Output(ids.PLAN_ID, "data", allow_duplicate=True),
    Input(ids.PLAN_REV, "data"),
    State(ids.PLAN_ID, "data"),
    prevent_initial_call=True,
)
def reshow(_rev, plan_id):
    """After a manual move the same proposal id is shown again (its content changed)."""
    return plan_id if plan_store.valid_id(plan_id) else None


# ----------------------------------------------------------------------------- commit etc.


@secure_callback(
    "grids.commit",
    Output(ids.PLAN_COMMIT_MSG, "children"),
    Output(ids.PLAN_COMMUNITY, "value", allow_duplicate=True),
    Output(ids.PLAN_ID, "data", allow_duplicate=True),
    Input(ids.PLAN_COMMIT, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_NOTE, "value"),
    State(ids.PLAN_ACCEPT_BAND, "value"),
    State(ids.PLAN_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def commit(_n, plan_id, note, accept, community):
    """Commit the proposal as a new grid version (refused on conflict or failed rules)."""
    try:
        proposal = _load(plan_id)
        if proposal is None:
            return None, dash.no_update, dash.no_update
        if note is not None and not isinstance(note, str):
            raise GridAtlasError("备注必须是文字 / the note must be text")
        result = planning.commit(current_principal(), proposal, note=note or None,
                                 allow_out_of_band=_accepts(accept))
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad"), dash.no_update, dash.no_update
    msg = f"✓ v{result.version_no} ({len(result.codes)} {t('col.grids')})"
    # reselecting the community reloads the current grids and the versions
    return html.Span(msg, className="ga-ok"), proposal.community_code, None


@secure_callback(
    "view.plan",
    Output(ids.PLAN_DOWNLOAD, "data"),
    Output(ids.PLAN_EXPORT_MSG, "children"),
    Input(ids.PLAN_EXPORT, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_EXPORT_FMT, "value"),
    State(ids.PLAN_EXPORT_4490, "value"),
    prevent_initial_call=True,
)
def export(_n, plan_id, fmt, cgcs):
    """Download the proposal as GeoPackage, GeoJSON, CSV (UTF-8 BOM) or Shapefile (GBK);
    a refusal (permission, format) is said on the page. No file stays on the server."""
    crs = "EPSG:4490" if isinstance(cgcs, list) and "4490" in cgcs else "EPSG:4326"
    try:
        proposal = _load(plan_id)
        if proposal is None:
            return dash.no_update, None
        name, content = export_download(current_principal(), proposal, fmt, crs)
    except GridAtlasError as exc:
        return dash.no_update, html.Span(exc.user_msg, className="ga-bad")
    return dcc.send_bytes(content, name), None


@secure_callback(
    "view.plan",
    Output(ids.PLAN_VERSIONS, "children"),
    Output(ids.PLAN_CMP_A, "options"),
    Output(ids.PLAN_CMP_B, "options"),
    Input(ids.PLAN_COMMUNITY, "value"),
    Input(ids.PLAN_COMMIT_MSG, "children"),
)
def versions(code, _committed):
    lang = current_lang()
    principal = current_principal()
    if not code:
        return None, [], []
    try:
        rows = planning.list_versions(principal, code)
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad"), [], []
    can = _may_change(principal)
    body = [html.Tr([
        html.Td(f"v{r['version_no']}"),
        html.Td(fmt_datetime(r["created_at"], lang)),
        html.Td(r.get("created_by") or ""),
        html.Td(r.get("grids")),
        html.Td("●" if r.get("is_current") else ""),
        # read-only users get no button at all: a new button would fire the restore
        # callback, which the server refuses them
        html.Td(html.Button(t("plan.restore", lang), id={"type": ids.PLAN_RESTORE, "index": r["id"]},
                            className="ga-btn ga-btn-small", disabled=bool(r.get("is_current")))
                if can else ""),
    ]) for r in rows]
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in
                               ("col.version", "col.created", "col.by", "col.grids",
                                "col.current")] + [html.Th("")]))
    options = [{"label": f"v{r['version_no']}", "value": r["id"]} for r in rows]
    return html.Table([head, html.Tbody(body)], className="ga-table"), options, options


@secure_callback(
    "grids.restore",
    Output(ids.PLAN_COMMIT_MSG, "children", allow_duplicate=True),
    Input({"type": ids.PLAN_RESTORE, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def restore(clicks):
    if not isinstance(clicks, list) or not any(clicks):
        return dash.no_update
    version_id = ctx.triggered_id.get("index") if isinstance(ctx.triggered_id, dict) else None
    try:
        result = planning.restore(current_principal(), _version_id(version_id))
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad")
    return html.Span(f"✓ v{result.version_no}", className="ga-ok")


@secure_callback(
    "view.plan",
    Output(ids.PLAN_COMPARE, "children"),
    Input(ids.PLAN_CMP_A, "value"),
    Input(ids.PLAN_CMP_B, "value"),
    prevent_initial_call=True,
)
def compare(a, b):
    if not a or not b or a == b:
        return None
    try:
        diff = planning.compare(_version_id(a), _version_id(b), principal=current_principal())
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad")
    return _compare_view(diff, current_lang())


def _version_id(value) -> int:
    """A version id from the page (a positive integer); GridAtlasError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise GridAtlasError(f"版本无效 / not a version: {str(value)[:20]!r}")
    return value


def _compare_view(diff: dict, lang: str):
    """The sign-off view: grids kept, added and removed, households per grid, churn."""
    rows = diff.get("grids", [])

    def hh(v):
        return "–" if v is None else f"{v:,}"

    columns = [("col.code", "code"), ("col.status", lambda r: status_label(r.get("status"), lang)),
               ("col.households", lambda r: f"{hh(r.get('households_a'))} → {hh(r.get('households_b'))}")]
    def side(label):
        if (label or {}).get("kind") == "version":
            return f"v{label['version_no']}"
        return t("plan.view_proposal", lang)

    summary = html.P(
        f"{side(diff.get('a'))} → {side(diff.get('b'))} · "
        f"{t('plan.hh_moved', lang)} {diff.get('households_moved', 0):,} · "
        f"{t('plan.bld_moved', lang)} {diff.get('buildings_moved', 0):,} · "
        f"+{len(diff.get('added', []))} / −{len(diff.get('removed', []))}")
    return html.Div([summary, data_table(rows, columns, table_id="plan-compare-table",
                                         row_class=lambda r: f"cmp-{r['status']}")])
