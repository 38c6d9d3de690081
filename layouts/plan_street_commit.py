"""The /plan page's "commit the whole street": after a street job has listed its proposals
(``layouts.plan_street``), the planner may commit every community that passes the checks
at once. The click asks first (how many communities get a new version, which are left as
they are and why); the confirmed commit runs as a background job, like the street's
computation (a worker, the user captured in the signed token), and calls
:func:`geo.planning.street.commit_street`: one transaction, all or nothing. The outcome per
community (new version, or the reason it was left) replaces the question. Imported by
``layouts.plan_street``."""

from __future__ import annotations

import logging

import dash
from dash import Input, Output, State, ctx, dcc, html

from geo.access.permissions import check
from geo.errors import GridAtlasError
from geo.planning import api as planning
from geo.planning import street as street_commit
from layouts import ids, plan_store
from layouts.auth import current_principal, secret_key
from layouts.i18n import current_lang, rules_text, t
from layouts.jobs import report_failure
from layouts.plan_actions import accepts, may_change
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

KEYS = "plan-street-keys"  # {"street": code, "plans": [{"code", "name", "key"}]} of the last job
BOX = "plan-street-commit-box"
ACCEPT = "plan-street-accept-band"
NOTE = "plan-street-note"
COMMIT = "plan-street-commit"
ASK_BOX = "plan-street-ask-box"
ASK = "plan-street-ask"
YES = "plan-street-yes"
NO = "plan-street-no"
COMMITTING = "plan-street-committing"
MSG = "plan-street-commit-msg"
OUTCOME = "plan-street-outcome"

#: More communities than any street has: a larger list from the browser is refused.
MAX_PLANS = 200


def components(lang: str) -> list:
    """The commit's controls (hidden until a street job has proposals), its question and
    its outcome."""
    return [
        dcc.Store(id=KEYS),
        html.Div(id=BOX, className="ga-street-commit", hidden=True, children=[
            html.H4(t("street.commit_title", lang)),
            html.Div(t("street.commit_hint", lang), className="ga-hint"),
            dcc.Checklist(id=ACCEPT, value=[], options=[{"label": t("plan.accept_band", lang), "value": "yes"}]),
            html.Div(className="ga-buttons", children=[
                dcc.Input(id=NOTE, placeholder=t("plan.note", lang), className="ga-note", type="text",
                          maxLength=500, style={"flex": "0 1 24rem"}),
                html.Button(t("street.commit", lang), id=COMMIT, className="ga-btn ga-btn-commit"),
            ]),
            html.Div(id=ASK_BOX, className="ga-restore-ask", hidden=True, role="alertdialog", children=[
                html.Span(id=ASK),
                html.Div(className="ga-buttons", children=[
                    html.Button(t("street.confirm_yes", lang), id=YES, className="ga-btn ga-btn-commit"),
                    html.Button(t("street.confirm_no", lang), id=NO, className="ga-btn"),
                ]),
            ]),
            html.Div(t("street.committing", lang), id=COMMITTING, className="ga-hint", hidden=True),
        ]),
        html.Div(id=MSG, className="ga-status"),
        html.Div(id=OUTCOME, className="ga-plan-table"),
    ]


def keys_data(street: str, plans: list[dict]) -> dict | None:
    """What the job leaves for the commit: the street and each proposal's id."""
    return {"street": street, "plans": plans} if plans else None


def _plans(data) -> tuple[str, list[dict]]:
    """The street and its ``{"code", "name", "key"}`` entries from the page's store; a
    malformed value is refused (the ids are opaque, the proposals checked when loaded)."""
    street = data.get("street") if isinstance(data, dict) else None
    if not (isinstance(street, str) and len(street) == 9 and street.isdigit()):
        raise GridAtlasError(t("street.stale"))
    plans = data.get("plans")
    if not isinstance(plans, list) or not 0 < len(plans) <= MAX_PLANS or not all(
            isinstance(p, dict) and isinstance(p.get("code"), str) and isinstance(p.get("name"), str)
            and plan_store.valid_id(p.get("key")) for p in plans):
        raise GridAtlasError(t("street.stale"))
    return data["street"], plans


def _load(principal, plans: list[dict]) -> list:
    """The stored proposals the principal may see; an expired one stops the commit."""
    out = []
    for p in plans:
        proposal = planning.load_proposal(principal, plan_store.get(p["key"]))
        if proposal is None or proposal.community_code != p["code"]:
            raise GridAtlasError(t("street.stale"))
        out.append(proposal)
    return out


@secure_callback(
    "view.plan",
    Output(BOX, "hidden"),
    Output(MSG, "children", allow_duplicate=True),
    Output(OUTCOME, "children", allow_duplicate=True),
    Input(KEYS, "data"),
    prevent_initial_call=True,
)
def show_box(data):
    """The commit's controls once a street job has proposals, for a user who may commit (a
    new job's proposals clear the last commit's outcome; a commit empties the store and
    keeps its outcome shown)."""
    fresh = isinstance(data, dict) and bool(data.get("plans"))
    if not fresh:
        return True, dash.no_update, dash.no_update
    return not may_change(current_principal()), None, None


@secure_callback(
    "grids.commit",
    Output(ASK, "children"),
    Output(ASK_BOX, "hidden"),
    Output(YES, "disabled"),
    Input(COMMIT, "n_clicks"),
    Input(NO, "n_clicks"),
    Input(KEYS, "data"),
    Input(ACCEPT, "value"),
    prevent_initial_call=True,
)
def ask(_n, _no, data, accept):
    """The commit click asks first: which communities get a new version, which are left as
    they are (by the proposals' checks; the commit checks them again). Nothing is written.
    Changing the out-of-band box withdraws the question (its answer would be stale)."""
    if ctx.triggered_id != COMMIT:
        return None, True, True
    lang = current_lang()
    try:
        street, plans = _plans(data)
        proposals = _load(current_principal(), plans)
    except GridAtlasError as exc:
        return html.Span(exc.user_msg, className="ga-bad"), False, True
    names = {p["code"]: p["name"] for p in plans}
    refused = [p.community_code for p in proposals if p.blocking(allow_out_of_band=accepts(accept))]
    ok = len(proposals) - len(refused)
    if not ok:
        return t("street.confirm_none", lang).format(street=street), False, True
    more = t("street.confirm_refused", lang).format(
        n=len(refused), names=(", " if lang == "en" else "、").join(names[c] for c in refused)) if refused else ""
    return t("street.confirm", lang).format(street=street, ok=ok, refused=more), False, False


@secure_callback(
    "grids.commit",
    Output(OUTCOME, "children"),
    Output(MSG, "children"),
    Output(KEYS, "data", allow_duplicate=True),
    Output(ASK_BOX, "hidden", allow_duplicate=True),
    Output("plan-street-results", "children", allow_duplicate=True),
    Output("plan-street-status", "children", allow_duplicate=True),
    Input(YES, "n_clicks"),
    State(ids.PLAN_TOKEN, "data"),
    State(KEYS, "data"),
    State(NOTE, "value"),
    State(ACCEPT, "value"),
    State(ids.PLAN_BOOT, "data"),
    background=True,
    running=[(Output(YES, "disabled"), True, False), (Output(NO, "disabled"), True, False),
             (Output(COMMIT, "disabled"), True, False), (Output(COMMITTING, "hidden"), False, True)],
    on_error=report_failure(6, 1),  # a job lost with its worker: the transaction never committed
    prevent_initial_call=True,
)
def commit(n, token, data, note, accept, boot):
    """The confirmed commit, in a worker, as the user who asked: every community of the street
    that passes the checks, in one transaction; the outcome per community replaces the list
    of proposals (a committed one is not offered again; a refused one keeps its link)."""
    from geo.repository import session

    session.after_fork()  # never use the web process's connections from a worker
    nu = dash.no_update
    lang = boot.get("lang") if isinstance(boot, dict) and boot.get("lang") in ("zh", "en") else "zh"
    if not n:
        return nu, nu, nu, nu, nu, nu
    try:
        principal = plan_store.principal_from(token, secret_key())
        check(principal, "grids.commit")
        street, plans = _plans(data)
        if note is not None and not isinstance(note, str):
            raise GridAtlasError("备注必须是文字 / the note must be text")
        result = street_commit.commit_street(principal, street, _load(principal, plans),
                                             note=(note or "").strip()[:500] or None,
                                             allow_out_of_band=accepts(accept))
    except GridAtlasError as exc:
        return nu, html.Span(exc.user_msg, className="ga-bad", role="alert"), nu, True, nu, nu
    msg = t("street.committed", lang).format(street=street, n=len(result.committed), left=len(result.refused),
                                             s=f"{result.seconds:.1f}")
    # the job's "N need attention before they can be committed" line is over: the outcome says it
    return _outcome(result, plans, lang), html.Span(msg, className="ga-ok"), None, True, None, None


def _outcome(result: street_commit.StreetCommitResult, plans: list[dict], lang: str) -> html.Table:
    """Per community: its new version and how many grid workers changed grid, or why it was
    left as it is, with the link to its proposal when the checks refused it (to adjust it by
    hand in the community's review)."""
    names = {p["code"]: p["name"] for p in plans}
    keys = {p["code"]: p["key"] for p in plans}
    rows = []
    for c in result.committed:
        moved = sum(1 for w in c.workers if w.get("from") != w.get("to"))
        rows.append((c.community_code, html.Span(t("street.out_committed", lang).format(
            no=c.version_no, n=len(c.codes)), className="ga-ok"), f"{moved} / {len(c.workers)}", None))
    for r in result.refused:
        text = (t("street.out_gate", lang).format(rules=rules_text(r.rules, lang)) if r.reason == "gate"
                else t(f"street.out_{r.reason}", lang))
        link = (html.A(t("street.open", lang), href=f"/plan?community={r.community}&plan={keys[r.community]}",
                       className="ga-link") if r.reason == "gate" and r.community in keys else None)
        rows.append((r.community, html.Span(text, className="ga-bad"), "—", link))
    rows.sort(key=lambda x: x[0])
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
        "street.col_community", "street.col_outcome", "street.col_workers", "street.col_open")]))
    return html.Table(className="ga-table", id="plan-street-outcome-table", children=[head, html.Tbody([
        html.Tr([html.Td(f"{names.get(code, code)} · {code}"), html.Td(outcome), html.Td(workers), html.Td(link)])
        for code, outcome, workers, link in rows])])
