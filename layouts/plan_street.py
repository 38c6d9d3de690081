"""The /plan page's street rebalance: a planner whose scope covers a street runs every
community of that street as one background job (Celery workers with ``REDIS_URL``, a
process of this machine without), with its progress per community. Each community's
proposal is kept like a single community's (``layouts.plan_store``) and listed with a link
that opens it in the page's usual review and commit flow; nothing is committed by the job.
Once the proposals are listed, the planner may commit the whole street
(``layouts.plan_street_commit``: asked first, then one transaction). Imported by the page
module."""

from __future__ import annotations

import logging

import dash
from dash import Input, Output, State, html

from geo.access.permissions import check
from geo.errors import GridAtlasError
from geo.planning import api as planning
from geo.repository import session, summary
from geo.repository.scope import Scope
from layouts import (
    ids,
    plan_store,
    plan_street_commit,
    strings_plan_street,  # noqa: F401  (registers the strings)
)
from layouts.auth import current_principal, secret_key
from layouts.i18n import current_lang, dropdown, rule_label, t
from layouts.jobs import report_failure
from layouts.plan_actions import int_or, may_change
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

# this section's component ids (page-prefixed, like layouts/ids.py)
STREET = "plan-street"
STREET_BOX = "plan-street-box"
STREET_RUN = "plan-street-run"
STREET_CANCEL = "plan-street-cancel"
STREET_PROGRESS = "plan-street-progress"
STREET_PROGRESS_TEXT = "plan-street-progress-text"
STREET_STATUS = "plan-street-status"
STREET_RESULTS = "plan-street-results"


def section(lang: str) -> html.Section:
    """The street rebalance's controls and results (hidden until the user may run it)."""
    return html.Section(id=STREET_BOX, className="ga-plan-street", hidden=True, children=[
        html.H3(t("street.title", lang)),
        html.Div(t("street.hint", lang), className="ga-hint"),
        html.Div(className="ga-buttons", children=[
            dropdown(id=STREET, className="ga-cmp", placeholder=t("street.pick", lang)),
            html.Button(t("street.run", lang), id=STREET_RUN, className="ga-btn ga-btn-primary", disabled=True),
            html.Button(t("street.cancel", lang), id=STREET_CANCEL, className="ga-btn", disabled=True),
        ]),
        html.Progress(id=STREET_PROGRESS, value="0", max="1", className="ga-progress"),
        html.Div(id=STREET_PROGRESS_TEXT, className="ga-hint"),
        html.Div(id=STREET_STATUS, className="ga-status"),
        html.Div(id=STREET_RESULTS, className="ga-plan-table"),
        *plan_street_commit.components(lang),
    ])


def _streets(scope: Scope, rows: list[dict], en: bool) -> list[dict]:
    """One option per street the scope covers whole (its code: a community's first 9); a
    planner of one community has none."""
    seen: dict[str, str] = {}
    for r in rows:
        code = r["code"]
        if len(code) == 12 and code[:9] not in seen and scope.covers(code[:9]):
            name = r["street_en"] if en and r.get("street_en") else r["street"]
            seen[code[:9]] = f"{name} · {code[:9]}"
    return [{"label": label, "value": code} for code, label in sorted(seen.items())]


@secure_callback(
    "view.plan",
    Output(STREET, "options"),
    Output(STREET_BOX, "hidden"),
    Input(ids.PLAN_BOOT, "data"),
)
def street_options(_boot):
    """The streets a planner may rebalance (none, and the section hidden, for readers and
    for a planner whose scope holds no whole street)."""
    principal = current_principal()
    if not may_change(principal):
        return [], True
    try:
        scope = Scope.of(principal)
        options = _streets(scope, summary.community_summary(scope), current_lang() == "en")
    except GridAtlasError as exc:
        log.info("plan page: streets refused: %s", exc.user_msg)
        return [], True
    return options, not options


@secure_callback(
    "view.plan",
    Output(STREET_RUN, "disabled", allow_duplicate=True),
    Input(STREET, "value"),
    prevent_initial_call=True,
)
def street_chosen(street):
    return not (isinstance(street, str) and street)


def street_communities(principal, street) -> tuple[str, list[dict]]:
    """The street's code and its communities inside ``principal``'s scope (code order);
    a street outside the scope is refused (PermissionDenied)."""
    if not (isinstance(street, str) and len(street) == 9):
        raise GridAtlasError("街道代码无效（应为 9 位数字）/ not a street code (9 digits)")
    scope = Scope.of(principal)
    street = scope.require(street, what="street")
    rows = summary.community_summary(scope.narrow(street))
    return street, [r for r in rows if len(r["code"]) == 12 and r["code"].startswith(street)]


@secure_callback(
    "plan.run",
    Output(STREET_RESULTS, "children"),
    Output(STREET_STATUS, "children"),
    Output(plan_street_commit.KEYS, "data"),
    Input(STREET_RUN, "n_clicks"),
    State(ids.PLAN_TOKEN, "data"),
    State(STREET, "value"),
    State(ids.PLAN_MODE, "value"),
    State(ids.PLAN_SEED, "value"),
    State(ids.PLAN_BOOT, "data"),
    background=True,
    running=[(Output(STREET_RUN, "disabled"), True, False),
             (Output(STREET_CANCEL, "disabled"), False, True)],
    cancel=[Input(STREET_CANCEL, "n_clicks")],
    progress=[Output(STREET_PROGRESS, "value"), Output(STREET_PROGRESS, "max"),
              Output(STREET_PROGRESS_TEXT, "children")],
    on_error=report_failure(3, 1),  # a job lost with its worker, Redis down, no worker
    prevent_initial_call=True,
)
def run_street(set_progress, _n, token, street, mode, seed, boot):
    """Every community of the street, one after the other, as the user who asked; each
    proposal kept for the usual review and commit, and listed for the street's commit
    (nothing is committed here)."""
    session.after_fork()  # never use the web process's connections from a worker
    lang = boot.get("lang") if isinstance(boot, dict) and boot.get("lang") in ("zh", "en") else "zh"
    en = lang == "en"
    try:
        principal = plan_store.principal_from(token, secret_key())
        check(principal, "plan.run")
        street, rows = street_communities(principal, street)
    except GridAtlasError as exc:
        return dash.no_update, html.Span(exc.user_msg, className="ga-bad"), None
    if not rows:
        return None, t("street.none", lang), None
    n = len(rows)
    set_progress(("0", str(n), t("street.progress", lang).format(i=0, n=n)))
    body, blocked, done, plans = [], 0, 0, []
    for i, r in enumerate(rows, start=1):
        name = r["name_en"] if en and r.get("name_en") else r["name"]
        try:
            proposal = planning.propose(principal, r["code"], mode=mode if mode in planning.MODES else "fresh",
                                        seed=int_or(seed, 0))
            key = plan_store.put(proposal.to_json())
        except GridAtlasError as exc:
            body.append(_row(r["code"], name, None, None, html.Span(exc.user_msg, className="ga-bad"), None, lang))
        else:
            done += 1
            plans.append({"code": r["code"], "name": name, "key": key})
            rules = sorted({g["rule"] for g in proposal.blocking()})
            blocked += bool(rules)
            churn = proposal.churn or {}
            gate = (html.Span(t("street.ok", lang), className="ga-ok") if not rules else
                    html.Span(t("street.blocked", lang).format(rules="、".join(rule_label(x, lang) for x in rules)),
                              className="ga-bad"))
            body.append(_row(r["code"], name, f"{churn.get('grids_before', '?')} → {len(proposal.grids)}",
                             churn.get("households_moved"), gate, key, lang))
        set_progress((str(i), str(n), t("street.progress", lang).format(i=i, n=n)))
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
        "street.col_community", "street.col_grids", "street.col_moved", "street.col_gate", "street.col_open")]))
    table = html.Table(className="ga-table", id="plan-street-table", children=[head, html.Tbody(body)])
    return (table, t("street.done", lang).format(street=street, n=done, blocked=blocked),
            plan_street_commit.keys_data(street, plans))


def _row(code, name, grids, moved, gate, key, lang) -> html.Tr:
    link = (html.A(t("street.open", lang), href=f"/plan?community={code}&plan={key}", className="ga-link")
            if key else None)
    return html.Tr(children=[
        html.Td(f"{name} · {code}"), html.Td(grids or "—"),
        html.Td("—" if moved is None else f"{moved:,}"), html.Td(gate), html.Td(link)])
