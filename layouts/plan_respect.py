"""The /plan page's "respect a network when redrawing": the networks offered (those of the
crosswalk picker), the choice checked before it reaches ``geo.planning.api.propose``, and the
comparison of the plan with and without the wish (alignment, grids in band, valid grids,
deviation) read from the proposal's report. Imported by the page module."""

from __future__ import annotations

import dash
from dash import Input, Output, State, html

from geo.errors import GridAtlasError
from layouts import (
    ids,
    strings_plan_respect,  # noqa: F401  (registers the strings)
)
from layouts.i18n import current_lang, t
from layouts.plan_actions import load_or_none
from layouts.secure import secure_callback


def respect_choice(value) -> str | None:
    """The network chosen on the page (``None``: none); GridAtlasError when not a name."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise GridAtlasError("网络选择无效 / invalid network choice")
    return value


@secure_callback(
    "view.plan",
    Output(ids.PLAN_RESPECT, "options"),
    Input(ids.PLAN_NET_PICK, "options"),
)
def respect_options(options):
    """The networks the user may read (the start callback's list for the crosswalk)."""
    if not isinstance(options, list):
        return []
    return [o for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def _pct(value) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _dev(value) -> str:
    return "–" if value is None else f"{float(value):.3f}"


def comparison(report: dict, lang: str) -> html.Div:
    """The two plans side by side (and the current grids' alignment)."""
    cur, plain, resp = report.get("current") or {}, report["plain"], report["respecting"]
    if report.get("used") == "respecting":
        verdict = html.Div(t("respect.used_respecting", lang).format(kept=report.get("kept_whole", 0)),
                           className="ga-ok")
    else:
        why = "、".join(t(f"respect.why.{w}", lang) for w in report.get("reason") or []) \
            if lang == "zh" else ", ".join(t(f"respect.why.{w}", lang) for w in report.get("reason") or [])
        verdict = html.Div(t("respect.used_plain", lang).format(why=why), className="ga-warn")
    rows = [
        ("respect.row.aligned", _pct(cur.get("share_aligned")), _pct(plain.get("share_aligned")),
         _pct(resp.get("share_aligned"))),
        ("respect.row.split", cur.get("split_old_grids", "–"), plain.get("split_old_grids", "–"),
         resp.get("split_old_grids", "–")),
        ("respect.row.in_band", "–", f"{plain['in_band']}/{plain['grids']}", f"{resp['in_band']}/{resp['grids']}"),
        ("respect.row.valid", "–", f"{plain['valid']}/{plain['grids']}", f"{resp['valid']}/{resp['grids']}"),
        ("respect.row.mean_dev", "–", _dev(plain.get("mean_deviation")), _dev(resp.get("mean_deviation"))),
        ("respect.row.max_dev", "–", _dev(plain.get("max_deviation")), _dev(resp.get("max_deviation"))),
    ]
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
        "respect.col.measure", "respect.col.current", "respect.col.plain", "respect.col.respecting")]))
    body = html.Tbody([html.Tr([html.Td(t(key, lang)), html.Td(a), html.Td(b), html.Td(c)],
                               id=f"respect-{key.rsplit('.', 1)[1]}") for key, a, b, c in rows])
    return html.Div(className="ga-respect", children=[
        html.H3(t("respect.title", lang).format(network=report.get("network", ""))),
        verdict,
        html.Table([head, body], className="ga-table ga-respect-table", id="respect-table",
                   style={"fontSize": "0.85rem", "width": "100%"}),
        html.Div(t("respect.note", lang), className="ga-hint"),
    ])


@secure_callback(
    "view.plan",
    Output(ids.PLAN_RESPECT_CMP, "children"),
    Output(ids.PLAN_RESPECT, "value"),
    Input(ids.PLAN_ID, "data"),
    State(ids.PLAN_RESPECT, "value"),
)
def show_comparison(plan_id, chosen):
    """The comparison of the shown proposal, when it was computed respecting a network; the
    choice shows the plan's network (after a reload, e.g. a language switch)."""
    proposal = load_or_none(plan_id)
    if proposal is None:
        return None, dash.no_update
    report = (proposal.report or {}).get("respect")
    if not isinstance(report, dict) or "plain" not in report or "respecting" not in report:
        return None, dash.no_update
    return comparison(report, current_lang()), proposal.params.get("respect_network") or chosen
