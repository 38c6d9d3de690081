"""The /plan page's manual adjustment: a building clicked on the proposal map, the grids it
may move to, the live preview of a move, the move itself and undo / redo (imported by the
page module)."""

from __future__ import annotations

import dash
from dash import Input, Output, State, ctx, html

from geo.errors import GridAtlasError
from geo.planning import api as planning
from layouts import ids, plan_store, plan_tables
from layouts.auth import current_principal
from layouts.i18n import current_lang, t
from layouts.plan_actions import band_of, load, load_or_none, may_change
from layouts.secure import secure_callback


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
    """A clicked building: its grid in the proposal and the grids it may move to."""
    lang = current_lang()
    proposal = load_or_none(plan_id)
    props = (click.get("properties") if isinstance(click, dict) else None) or {}
    bid = props.get("id") if isinstance(props, dict) else None
    if proposal is None or isinstance(bid, bool) or not isinstance(bid, int) or bid not in proposal.labels:
        return None, t("plan.move_hint", lang), [], None, True, dash.no_update
    try:
        neighbours = planning.neighbour_grids(current_principal(), proposal, bid)
    except GridAtlasError:
        neighbours = []
    hideout = dict(hideout) if isinstance(hideout, dict) else {}
    hideout["selected"] = bid
    # the panel shows the plan's own building, not what the click claimed
    info = html.Div(t("plan2.picked", lang).format(id=bid, hh=proposal.households.get(bid, 0),
                                                   grid=proposal.labels.get(bid) or "–"), id="plan-picked")
    options = [{"label": c, "value": c} for c in neighbours]
    return bid, info, options, None, not (may_change(current_principal()) and neighbours), hideout


@secure_callback(
    "view.plan",
    Output(ids.PLAN_MOVE_PREVIEW, "children"),
    Input(ids.PLAN_MOVE_TO, "value"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_SELECTED, "data"),
    prevent_initial_call=True,
)
def move_preview(to_grid, plan_id, building):
    """The live effect of the chosen move (nothing is kept until Move is clicked)."""
    lang = current_lang()
    proposal = load_or_none(plan_id)
    if proposal is None or not isinstance(to_grid, str) or isinstance(building, bool) \
            or not isinstance(building, int) or building not in proposal.labels:
        return None
    band = band_of(proposal)
    try:
        moved = planning.move_building(current_principal(), proposal, building, to_grid)
    except GridAtlasError as exc:
        return plan_tables.preview_view(proposal, None, building, to_grid, band, lang, refused=exc.user_msg)
    return plan_tables.preview_view(proposal, moved, building, to_grid, band, lang)


@secure_callback(
    "plan.run",
    Output(ids.PLAN_REV, "data"),
    Output(ids.PLAN_MOVE_MSG, "children"),
    Output(ids.PLAN_MOVE_PREVIEW, "children", allow_duplicate=True),
    Input(ids.PLAN_MOVE, "n_clicks"),
    Input(ids.PLAN_UNDO, "n_clicks"),
    Input(ids.PLAN_REDO, "n_clicks"),
    State(ids.PLAN_ID, "data"),
    State(ids.PLAN_SELECTED, "data"),
    State(ids.PLAN_MOVE_TO, "value"),
    State(ids.PLAN_REV, "data"),
    prevent_initial_call=True,
)
def move(_n, _u, _r, plan_id, building, to_grid, rev):
    """Move the selected building, or undo / redo a move; a refused move names the rule."""
    lang = current_lang()
    nu = dash.no_update
    rev = rev if isinstance(rev, int) and not isinstance(rev, bool) else 0
    try:
        proposal = load(plan_id)
        if proposal is None:
            return nu, None, nu
        if ctx.triggered_id in (ids.PLAN_UNDO, ids.PLAN_REDO):
            direction = "undo" if ctx.triggered_id == ids.PLAN_UNDO else "redo"
            if not plan_store.step(plan_id, direction):
                return nu, None, nu
            done = t("plan2.undone" if direction == "undo" else "plan2.redone", lang)
            return rev + 1, html.Span(done, className="ga-ok"), None
        if building is None or not to_grid:
            return nu, None, nu
        moved = planning.move_building(current_principal(), proposal, building, to_grid)
    except GridAtlasError as exc:
        return nu, html.Span(exc.user_msg, className="ga-bad"), nu
    plan_store.record(plan_id, moved.to_json())
    note = "; ".join(moved.warnings) if moved.warnings else t("plan2.move_ok", lang)
    return rev + 1, html.Span(note, className="ga-warn" if moved.warnings else "ga-ok"), None


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
