"""The /plan page's first view: before a community is chosen the proposal map shows the
communities of the user's scope (filled by the share of their grids in band, named), and a
click on one chooses it in the dropdown. Imported by the page module."""

from __future__ import annotations

import logging

import dash
from dash import Input, Output

from geo.errors import GridAtlasError
from geo.repository import summary
from geo.repository.scope import Scope
from layouts import (
    ids,
    plan_maps,
    strings_plan_scope,  # noqa: F401  (registers the strings)
)
from layouts.auth import current_principal
from layouts.i18n import current_lang
from layouts.secure import secure_callback

log = logging.getLogger(__name__)
_NONE = {"type": "FeatureCollection", "features": []}  # (None would leave the layer drawn)


@secure_callback(
    "view.plan",
    Output(ids.PLAN_SCOPE, "data"),
    Output(ids.PLAN_SCOPE_LEGEND, "children"),
    Input(ids.PLAN_COMMUNITY, "value"),
    prevent_initial_call=True,
)
def scope_map(code):
    """The scope's communities while none is chosen (the start fills the dropdown first);
    nothing once one is."""
    if code:
        return _NONE, None
    lang = current_lang()
    try:
        data = summary.community_outlines(Scope.of(current_principal()))
    except GridAtlasError as exc:
        log.info("plan page: scope outlines refused: %s", exc.user_msg)
        return _NONE, None
    if not data["features"]:
        return _NONE, None
    return plan_maps.with_scope_labels(data, lang), plan_maps.scope_legend(lang)


@secure_callback(
    "view.plan",
    Output(ids.PLAN_COMMUNITY, "value", allow_duplicate=True),
    Input(ids.PLAN_SCOPE, "clickData"),
    prevent_initial_call=True,
)
def pick_community(click):
    """A community clicked on the map is chosen, as in the dropdown (only one in scope)."""
    props = click.get("properties") if isinstance(click, dict) else None
    code = props.get("code") if isinstance(props, dict) else None
    try:
        return Scope.of(current_principal()).require_community(code)
    except GridAtlasError:
        return dash.no_update
