"""Grid planning (/plan): propose, inspect, adjust by hand, commit, restore and export plans.

Planners act within their scope; leaders see everything read-only. The rebalance runs as
a background callback (a worker process) acting as the user captured when it was
submitted; proposals stay on the server (``layouts.plan_store``). Maps, tables and input
checks live in ``layouts.plan_maps``, ``layouts.plan_tables`` and ``layouts.plan_actions``;
the manual moves in ``layouts.plan_adjust``.
"""

from __future__ import annotations

import json
import logging

import dash
from dash import ClientsideFunction, Input, Output, State, clientside_callback, ctx, dcc, html

import geo.partition.engine  # noqa: F401  (loaded before any fork of a background job)
import geo.partition.graph  # noqa: F401
import geo.partition.kernels
import geo.planning.codes  # noqa: F401
from geo.access.permissions import check
from geo.errors import GridAtlasError
from geo.networks.store import list_networks

# Imported here, at start-up: a background job is a fork of a busy web process, and a
# module being imported by another thread at that moment would stay locked in the child.
from geo.planning import api as planning
from geo.planning import versions as plan_versions
from geo.planning import workload
from geo.planning.band import community_band
from geo.repository import session, summary, wall
from geo.repository.scope import Scope
from layouts import (
    ids,
    plan_adjust,  # noqa: F401  (a building picked and moved by hand, undo / redo)
    plan_history,  # noqa: F401  (versions, restore, compare, export and networks callbacks)
    plan_layout,
    plan_maps,
    plan_respect,
    plan_scope,  # noqa: F401  (the scope's communities before one is chosen)
    plan_store,
    plan_street,  # a whole street's rebalance as one background job
    plan_tables,
    strings_plan,  # noqa: F401  (registers the page's strings)
)
from layouts.auth import current_principal, secret_key
from layouts.components import data_table, page_header
from layouts.i18n import current_lang, t
from layouts.jobs import hold, report_failure
from layouts.plan_actions import (
    accepts,
    band_of,
    codes,
    int_or,
    load,
    load_or_none,
    may_change,
)
from layouts.secure import secure_callback

log = logging.getLogger(__name__)
# compiled search kernels: loaded here, so the forked rebalance jobs inherit them
geo.partition.kernels.warm()

dash.register_page(__name__, path="/plan", title="GridAtlas · 网格规划", name="plan")



def layout(community=None, plan=None, **_query) -> html.Div:
    lang = current_lang()
    try:  # the URL's community only when it is one inside the user's scope (no database)
        community = Scope.of(current_principal()).require_community(community) if community else None
    except GridAtlasError:
        community = None
    plan = plan if community and plan_store.valid_id(plan) else None
    return html.Div(className="ga-page ga-plan", children=[
        dcc.Store(id=ids.PLAN_BOOT, data={"community": community, "plan": plan, "lang": lang}),
        dcc.Store(id=ids.PLAN_TOKEN), dcc.Store(id=ids.PLAN_ID), dcc.Store(id=ids.PLAN_REV, data=0),
        dcc.Store(id=ids.PLAN_SELECTED), dcc.Store(id=ids.PLAN_BOUNDS), dcc.Store(id=ids.PLAN_FITTED),
        dcc.Store(id=ids.PLAN_URL), dcc.Store(id=ids.PLAN_COMMITTED), dcc.Store(id=ids.PLAN_RESTORE_PENDING),
        dcc.Download(id=ids.PLAN_DOWNLOAD),
        page_header("plan.title", "plan.intro"),
        html.Div(id=ids.PLAN_READONLY, className="ga-readonly"),
        html.Div(id=ids.PLAN_ERROR, className="ga-error", role="alert"),
        html.Div(className="ga-plan-grid", children=[plan_layout.controls(lang), plan_layout.main(lang)]),
        plan_street.section(lang),
    ])


# ----------------------------------------------------------------------------- start


@secure_callback(
    "view.plan",
    Output(ids.PLAN_COMMUNITY, "options"),
    Output(ids.PLAN_COMMUNITY, "value"),
    Output(ids.PLAN_TOKEN, "data"),
    Output(ids.PLAN_READONLY, "children"),
    Output(ids.PLAN_TABLE, "children"),
    Output(ids.PLAN_ERROR, "children"),
    Output(ids.PLAN_NETS, "options"),
    Output(ids.PLAN_NET_PICK, "options"),
    Output(ids.PLAN_BOUNDS, "data"),
    Output(ids.PLAN_ID, "data", allow_duplicate=True),
    Input(ids.PLAN_BOOT, "data"),
    prevent_initial_call="initial_duplicate",
)
def start(boot):
    """Communities in scope, networks, the scope's extent, the signed user for background
    jobs, the read-only notice; the community and plan the URL named (after a reload)."""
    lang = current_lang()
    en = lang == "en"
    principal = current_principal()
    try:
        scope = Scope.of(principal)
        rows = summary.community_summary(scope)
        bounds = wall.extent(scope)
    except GridAtlasError as exc:
        return [], None, None, None, None, f"{t('error.db', lang)}: {exc.user_msg}", [], [], None, dash.no_update
    options = [{"label": f"{r['name_en'] if en and r['name_en'] else r['name']} · {r['code']}",
                "value": r["code"]} for r in rows if len(r["code"]) == 12]
    boot = boot if isinstance(boot, dict) else {}
    wanted = boot.get("community")
    value = wanted if any(o["value"] == wanted for o in options) else None
    plan_id = None
    proposal = load_or_none(boot.get("plan")) if value else None
    if proposal is not None and proposal.community_code == value:
        plan_id = boot.get("plan")
    try:
        nets = [{"label": n["name"], "value": n["name"]} for n in list_networks(principal)]
    except GridAtlasError:
        nets = []
    columns = [
        ("col.code", "code"),
        ("col.community", lambda r: (r["name_en"] if en and r["name_en"] else r["name"])),
        ("col.street", lambda r: (r["street_en"] if en and r["street_en"] else r["street"])),
        ("col.households", lambda r: f"{r['households']:,}"),
        ("col.grids", "grids"),
        ("col.in_band", lambda r: f"{r['in_band']}/{r['grids']}"),
        ("col.version", "version_no"),
    ]
    token = plan_store.sign(principal, secret_key()) if may_change(principal) else None
    notice = None if may_change(principal) else t("plan.readonly", lang)
    # the plan store starts empty: setting it to nothing again would only run everything that
    # listens to it (the proposal, its comparison, the network tables) once more for nothing
    return (options, value, token, notice, data_table(rows, columns, table_id="plan-communities"), None,
            nets, nets, None if value else bounds, plan_id if plan_id is not None else dash.no_update)


@secure_callback(
    "view.plan",
    Output(ids.PLAN_CURRENT, "data"),
    Output(ids.PLAN_CURRENT2, "data"),
    Output(ids.PLAN_BUILDINGS, "data"),
    Output(ids.PLAN_BOUNDS, "data", allow_duplicate=True),
    Output(ids.PLAN_LOCK, "options"),
    Output(ids.PLAN_DEDICATED, "options"),
    Output(ids.PLAN_DEDICATED, "value"),
    Output(ids.PLAN_RUN, "disabled"),
    Output(ids.PLAN_ID, "data", allow_duplicate=True),
    Output(ids.PLAN_TARGET, "value"),
    Output(ids.PLAN_MIN, "value"),
    Output(ids.PLAN_MAX, "value"),
    Output(ids.PLAN_LEGEND, "children"),
    Input(ids.PLAN_COMMUNITY, "value"),
    Input(ids.PLAN_REV, "data"),
    State(ids.PLAN_ID, "data"),
    prevent_initial_call=True,
)
def load_community(code, _rev, plan_id):
    """Current grids (coloured by the community's band, labelled) and buildings of the
    chosen community; its band in the inputs; lock and dedicated choices."""
    lang = current_lang()
    principal = current_principal()
    nu = dash.no_update
    # no proposal before and none now: the plan store is left alone (see start)
    cleared = nu if plan_id is None else None
    empty = (None, None, None, nu, [], [], [], True, cleared, None, None, None, None)
    if not code:
        return empty
    try:
        layers = summary.community_map(Scope.of(principal), code)
        band = community_band(principal, code)
    except GridAtlasError as exc:
        log.info("plan page: community %r refused: %s", str(code)[:40], exc.user_msg)
        return empty
    current = plan_maps.with_states(layers["grids"], band, lang)
    feats = current["features"] if current else []
    grid_opts = [{"label": ft["properties"]["code"], "value": ft["properties"]["code"]} for ft in feats]
    dedicated = [ft["properties"]["code"] for ft in feats if ft["properties"].get("kind") == "dedicated"]
    proposal = load_or_none(plan_id)
    keep = plan_id if proposal is not None and proposal.community_code == code else cleared
    on_rev = ctx.triggered_id == ids.PLAN_REV
    band_values = (nu, nu, nu) if on_rev else (band.target, band.min, band.max)
    return (current, current, layers["buildings"], nu if on_rev else layers["bounds"], grid_opts, grid_opts,
            dedicated, not may_change(principal), keep, *band_values, plan_maps.legend(band, lang))


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
    State(ids.PLAN_RESPECT, "value"),
    State(ids.PLAN_BOOT, "data"),
    background=True,
    running=[(Output(ids.PLAN_RUN, "disabled"), True, False),
             (Output(ids.PLAN_CANCEL, "disabled"), False, True)],
    cancel=[Input(ids.PLAN_CANCEL, "n_clicks")],
    progress=[Output(ids.PLAN_PROGRESS, "value"), Output(ids.PLAN_PROGRESS, "max")],
    on_error=report_failure(2, 1),  # a job lost with its worker: say so, nothing was saved
    prevent_initial_call=True,
)
def run_plan(set_progress, _n, token, code, target, lo, hi, mode, seed, k, locked, dedicated, respect, boot):
    """Compute a proposal in a worker process, as the user who asked for it, in the language
    of the page that asked (a worker has no request to read the cookie from)."""
    session.after_fork()  # never use the web process's connections from a worker
    lang = boot.get("lang") if isinstance(boot, dict) and boot.get("lang") in ("zh", "en") else "zh"
    try:
        principal = plan_store.principal_from(token, secret_key())
        check(principal, "plan.run")
        code = Scope.of(principal).require_community(code)
        set_progress(("1", "3"))
        hold("propose")  # a test hook, off unless GRIDATLAS_TEST_JOB_HOLD_FILE is set
        # an empty field takes the community's own band (propose reads it)
        proposal = planning.propose(
            principal, code, target=int_or(target, None), min_hh=int_or(lo, None),
            max_hh=int_or(hi, None), mode=mode if mode in planning.MODES else "fresh",
            seed=int_or(seed, 0), grids=int_or(k, None), locked_codes=codes(locked),
            dedicated_codes=codes(dedicated), respect_network=plan_respect.respect_choice(respect))
        set_progress(("2", "3"))
        key = plan_store.put(proposal.to_json())
        set_progress(("3", "3"))
    except GridAtlasError as exc:
        return dash.no_update, html.Span(exc.user_msg, className="ga-bad")
    return key, t("plan.view_proposal", lang) + f": {len(proposal.grids)} " + t("col.grids", lang)


@secure_callback(
    "view.plan",
    Output(ids.PLAN_PROPOSED, "data"),
    Output(ids.PLAN_BUILDINGS, "hideout"),
    Output(ids.PLAN_GATE, "children"),
    Output(ids.PLAN_CHURN, "children"),
    Output(ids.PLAN_GRIDS, "children"),
    Output(ids.PLAN_COMMIT, "disabled"),
    Output(ids.PLAN_EXPORT, "disabled"),
    Output(ids.PLAN_UNDO, "disabled"),
    Output(ids.PLAN_REDO, "disabled"),
    Output(ids.PLAN_STAFF, "children"),
    Input(ids.PLAN_ID, "data"),
    Input(ids.PLAN_ACCEPT_BAND, "value"),
    Input(ids.PLAN_COMMITTED, "data"),
    State(ids.PLAN_BUILDINGS, "hideout"),
)
def show_proposal(plan_id, accept, committed, hideout):
    """The proposal over the current grids: its table (signed deviation, the last 12 months'
    incidents now and as proposed), churn, gate and the workers who would change grid."""
    lang = current_lang()
    principal = current_principal()
    proposal = load_or_none(plan_id)
    hideout = dict(hideout) if isinstance(hideout, dict) else {}
    if proposal is None:
        hideout["labels"], hideout["selected"] = {}, None
        return None, hideout, None, None, None, True, True, True, True, None
    band = band_of(proposal)
    data = plan_maps.with_states(json.loads(proposal.grids.to_crs(4326).to_json(drop_id=True)), band, lang)
    hideout["labels"] = {str(k): v for k, v in proposal.labels.items()}
    try:
        work = workload.replay(principal, proposal.community_code, proposal=proposal, months=12)
    except GridAtlasError as exc:
        log.info("workload replay refused: %s", exc.user_msg)
        work = None
    is_committed = bool(plan_id) and committed == plan_id
    staff = None
    if not is_committed:
        try:
            staff = plan_tables.staff_view(plan_versions.preview_staff(principal, proposal), lang)
        except GridAtlasError as exc:
            log.info("staff preview refused: %s", exc.user_msg)
    blocked = bool(proposal.blocking(allow_out_of_band=accepts(accept)))
    undo, redo = plan_store.depth(plan_id)
    can = may_change(principal)
    return (data, hideout, plan_tables.gate_view(proposal, lang), plan_tables.churn_view(proposal, lang),
            plan_tables.grid_table(proposal, band, work, lang), blocked or not can or is_committed, False,
            not (can and undo) or is_committed, not (can and redo) or is_committed,
            staff if not is_committed else dash.no_update)


@secure_callback(
    "view.plan",
    Output("plan-maps", "className"),
    Input(ids.PLAN_VIEW, "value"),
)
def switch_view(view):
    view = view if view in ("proposal", "current", "both") else "proposal"
    return f"ga-plan-maps view-{view}"


# the maps are fitted (and a map just shown resized) in the browser
clientside_callback(
    ClientsideFunction(namespace="gridatlas_plan", function_name="fit"),
    Output(ids.PLAN_FITTED, "data"),
    Input(ids.PLAN_VIEW, "value"),
    Input(ids.PLAN_BOUNDS, "data"),
)
clientside_callback(
    ClientsideFunction(namespace="gridatlas_plan", function_name="url"),
    Output(ids.PLAN_URL, "data"),
    Input(ids.PLAN_COMMUNITY, "value"),
    Input(ids.PLAN_ID, "data"),
    prevent_initial_call=True,
)


# ----------------------------------------------------------------------------- commit etc.


@secure_callback(
    "grids.commit",
    Output(ids.PLAN_COMMIT_MSG, "children"),
    Output(ids.PLAN_COMMITTED, "data"),
    Output(ids.PLAN_REV, "data", allow_duplicate=True),
    Output(ids.PLAN_STAFF, "children", allow_duplicate=True),
    Input(ids.PLAN_COMMIT, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_NOTE, "value"),
    State(ids.PLAN_ACCEPT_BAND, "value"),
    State(ids.PLAN_REV, "data"),
    prevent_initial_call=True,
)
def commit(_n, plan_id, note, accept, rev):
    """Commit the proposal as a new grid version (refused on conflict or failed rules); the
    proposal stays on the page (to export it) and the workers who moved are listed."""
    lang = current_lang()
    nu = dash.no_update
    try:
        proposal = load(plan_id)
        if proposal is None:
            return None, nu, nu, nu
        if note is not None and not isinstance(note, str):
            raise GridAtlasError("备注必须是文字 / the note must be text")
        result = planning.commit(current_principal(), proposal, note=(note or "").strip()[:500] or None,
                                 allow_out_of_band=accepts(accept))
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad"), nu, nu, nu
    msg = t("plan2.committed", lang).format(no=result.version_no, n=len(result.codes))
    rev = rev if isinstance(rev, int) and not isinstance(rev, bool) else 0
    staff = plan_tables.staff_view(None, lang, committed={
        "workers": [{**w, "moved": w.get("from") != w.get("to")} for w in result.workers],
        "accounts": result.accounts, "vacant_grids": result.vacant_grids})
    return html.Span(msg, className="ga-ok"), plan_id, rev + 1, staff


