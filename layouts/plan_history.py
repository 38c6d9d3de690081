"""The /plan page's callbacks for versions (restore with confirmation, compare), export
(the plan's grids and a network's crosswalk) and department networks (overlay, crosswalk,
alignment). Imported by the page module, which registers the page."""

from __future__ import annotations

import csv
import io
import logging

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html

from geo.errors import GridAtlasError
from geo.networks import crosswalk as net_crosswalk
from geo.networks import overlay as net_overlay
from geo.planning import api as planning
from geo.planning.export import download as export_download
from geo.repository.scope import Scope
from layouts import ids, plan_maps, plan_tables
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.plan_actions import load, load_or_none, may_change, network_names, version_id
from layouts.secure import secure_callback

log = logging.getLogger(__name__)


def _crosswalk_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(net_crosswalk.CROSSWALK_COLUMNS)
    for r in rows:
        w.writerow([r["network_code"], r["grid_code"] or "", r["households"], r["buildings"],
                    f"{r['share_of_network_households']:.6f}"])
    return buf.getvalue().encode("utf-8-sig")


@secure_callback(
    "view.plan",
    Output(ids.PLAN_DOWNLOAD, "data"),
    Output(ids.PLAN_EXPORT_MSG, "children"),
    Input(ids.PLAN_EXPORT, "n_clicks"),
    Input(ids.PLAN_NET_EXPORT, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_EXPORT_FMT, "value"),
    State(ids.PLAN_EXPORT_4490, "value"),
    State(ids.PLAN_NET_PICK, "value"),
    State(ids.PLAN_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def export(_n, _nx, plan_id, fmt, cgcs, network, community):
    """Download the proposal (GeoPackage, GeoJSON, CSV with BOM, Shapefile in GBK), or the
    chosen network's crosswalk with it (or with the current grids) as CSV. No file stays
    on the server; a refusal is said on the page."""
    crs = "EPSG:4490" if isinstance(cgcs, list) and "4490" in cgcs else "EPSG:4326"
    principal = current_principal()
    try:
        proposal = load(plan_id)
        if ctx.triggered_id == ids.PLAN_NET_EXPORT:
            name = network_names([network])[0] if network else None
            where = proposal.community_code if proposal is not None else community
            if not name or not where:
                return dash.no_update, None
            rows = net_overlay.community_crosswalk(
                principal, name, where, assignment=proposal.labels if proposal is not None else None)
            return dcc.send_bytes(_crosswalk_csv(rows), f"crosswalk-{where}.csv"), None
        if proposal is None:
            return dash.no_update, None
        name, content = export_download(principal, proposal, fmt, crs)
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
    options = [{"label": f"v{r['version_no']}", "value": r["id"]} for r in rows]
    return plan_tables.versions_table(rows, may_change(principal), lang), options, options


@secure_callback(
    "view.plan",
    Output(ids.PLAN_RESTORE_ASK, "children"),
    Output(ids.PLAN_RESTORE_PENDING, "data"),
    Output("plan-restore-box", "hidden"),
    Input({"type": ids.PLAN_RESTORE, "index": ALL}, "n_clicks"),
    Input(ids.PLAN_COMMIT_MSG, "children"),
    Input(ids.PLAN_RESTORE_NO, "n_clicks"),
    State(ids.PLAN_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def restore_ask(clicks, _msg, _no, code):
    """A Restore click asks first (which version, what happens); nothing is written yet."""
    lang = current_lang()
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not isinstance(clicks, list) or not any(clicks):
        return None, None, True
    try:
        vid = version_id(trig.get("index"))
        rows = planning.list_versions(current_principal(), code)
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad"), None, False
    row = next((r for r in rows if r["id"] == vid), None)
    if row is None or row.get("is_current"):
        return None, None, True
    return t("plan2.restore_ask", lang).format(no=row["version_no"]), vid, False


@secure_callback(
    "grids.restore",
    Output(ids.PLAN_COMMIT_MSG, "children", allow_duplicate=True),
    Input(ids.PLAN_RESTORE_YES, "n_clicks"),
    State(ids.PLAN_RESTORE_PENDING, "data"),
    prevent_initial_call=True,
)
def restore(n, pending):
    """The confirmed restore (a new current version copying the old one)."""
    if not n or pending is None or isinstance(pending, bool):
        return dash.no_update
    try:
        result = planning.restore(current_principal(), version_id(pending))
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad")
    return html.Span(t("plan2.restored", current_lang()).format(no=result.version_no), className="ga-ok")


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
        diff = planning.compare(version_id(a), version_id(b), principal=current_principal())
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad")
    return plan_tables.compare_view(diff, current_lang())


# ----------------------------------------------------------------------------- networks


@secure_callback(
    "view.plan",
    Output(ids.PLAN_NET_LAYER, "children"),
    Input(ids.PLAN_NETS, "value"),
    Input(ids.PLAN_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def show_networks(names, code):
    """Each ticked network's outlines over the community, in its own colour, labelled."""
    if not code:
        return []
    try:
        chosen = network_names(names)
        return [plan_maps.network_layer(name, slot, net_overlay.network_outlines(current_principal(), name, code))
                for slot, name in enumerate(chosen)]
    except GridAtlasError as exc:
        log.info("network overlay refused: %s", exc.user_msg)
        return []


@secure_callback(
    "view.plan",
    Output(ids.PLAN_NET_TABLE, "children"),
    Input(ids.PLAN_NET_PICK, "value"),
    Input(ids.PLAN_COMMUNITY, "value"),
    Input(ids.PLAN_ID, "data"),
    prevent_initial_call=True,
)
def network_tables(network, code, plan_id):
    """The chosen network's crosswalk (with the proposal when there is one) and its
    alignment with the community's grids before and after the proposal."""
    lang = current_lang()
    principal = current_principal()
    if not network or not code:
        return None
    try:
        name = network_names([network])[0]
        proposal = load_or_none(plan_id)
        if proposal is not None and proposal.community_code != code:
            proposal = None
        labels = proposal.labels if proposal is not None else None
        rows = net_overlay.community_crosswalk(principal, name, code, assignment=labels)
        code = Scope.of(principal).require_community(code)
        before = net_crosswalk.alignment(principal, name, community_code=code)
        after = (net_crosswalk.alignment(principal, name, community_code=code, assignment=labels)
                 if labels is not None else None)
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad")
    return html.Div([plan_tables.alignment_view(before, after, lang), html.H4(t("plan2.crosswalk", lang)),
                     plan_tables.crosswalk_table(rows, lang)])
