"""Tables and panels of the /plan page built from what ``geo.planning`` returns (pure UI)."""

from __future__ import annotations

from dash import html

from geo.planning.band import Band
from layouts import ids
from layouts.components import data_table
from layouts.i18n import fmt_datetime, rule_label, rules_text, status_label, t


def signed_pct(value: float | None) -> str:
    """-0.135 -> "-14%" (a minus sign for grids below the target)."""
    if value is None:
        return ""
    return f"{value:+.0%}"


def grid_table(proposal, band: Band, workload: dict | None, lang: str):
    """The proposal's grids: households, signed deviation, the last 12 months' incidents in
    the current grid of the same code and in the proposed grid, status and rules."""
    now = {g["code"]: g["incidents"] for g in ((workload or {}).get("current") or {}).get("grids", [])}
    new = {g["code"]: g["incidents"] for g in ((workload or {}).get("other") or {}).get("grids", [])}
    rows = proposal.grids.drop(columns="geometry").to_dict("records")

    def dash_if_none(v):
        return "–" if v is None else v

    columns = [
        ("col.code", "code"),
        ("col.households", "households"),
        ("plan2.col_dev", lambda r: signed_pct(band.deviation_signed(int(r["households"])))),
        ("plan2.col_inc_now", lambda r: dash_if_none(now.get(r["code"]))),
        ("plan2.col_inc_new", lambda r: dash_if_none(new.get(r["code"]))),
        ("col.pp", lambda r: f"{r['pp']:.2f}" if r.get("pp") is not None else ""),
        ("col.moved", lambda r: r.get("households_moved", "")),
        ("col.status", lambda r: status_label(r.get("status"), lang)),
        ("col.rules", lambda r: rules_text(r.get("failed_rules"), lang)),
    ]
    return data_table(sorted(rows, key=lambda r: r["code"]), columns, table_id="plan-grid-table",
                      row_class=lambda r: "bad" if r.get("failed_rules") else "")


def churn_view(proposal, lang: str):
    c = proposal.churn
    pairs = [("plan.hh_moved", f"{c.get('households_moved', 0):,}"),
             ("plan.bld_moved", f"{c.get('buildings_moved', 0):,}"),
             ("plan.grids_before_after", f"{c.get('grids_before', 0)} → {c.get('grids_after', 0)}"),
             ("plan.codes_kept", f"{c.get('grids_kept', 0)}")]
    items = [html.Div([html.Span(t(k, lang)), html.Strong(v)]) for k, v in pairs]
    if proposal.moves:
        items.append(html.Div(t("plan2.moves", lang).format(n=len(proposal.moves))))
    return html.Div(items, className="ga-churn-grid")


def _infeasible_view(proposal, lang: str):
    """The regions the engine proved cannot be put in band (regions without households are
    left out), so the planner knows that no adjustment will mend those grids."""
    regs = [r for r in (proposal.totals or {}).get("infeasible_regions") or [] if r.get("households")]
    if not regs:
        return None
    items = [html.Li(t("plan.infeasible_region", lang).format(
        buildings=r["buildings"], households=r["households"],
        why=t(f"proof.{r.get('proof', 'other')}", lang))) for r in regs]
    return html.Div([html.Div(t("plan.infeasible", lang)), html.Ul(items)], className="ga-gate-proof")


def gate_view(proposal, lang: str):
    gate = [g for g in proposal.gate if g["severity"] != "exempt"]
    if not gate:
        return html.Div(t("plan.gate_ok", lang), className="ga-ok-box")
    items: dict[str, list[str]] = {}
    for g in gate:
        items.setdefault(g["rule"], []).append(g["code"])
    return html.Div([
        html.Ul([html.Li([html.Strong(rule_label(rule, lang)), ": ", ", ".join(sorted(codes))],
                         className=f"gate-{rule}") for rule, codes in sorted(items.items())],
                className="ga-gate-list"),
        _infeasible_view(proposal, lang),
    ])


def staff_view(staff: dict | None, lang: str, *, committed: dict | None = None):
    """Which workers (and grid-scoped accounts) change grid and which grids have none:
    the preview before a commit, or what the commit did (``committed``)."""
    src = committed if committed is not None else staff
    if not src:
        return None
    workers = src.get("workers") or []
    moved = [w for w in workers if w.get("moved", w.get("from") != w.get("to"))]
    parts = []
    if not workers:
        parts.append(html.Div(t("plan2.staff_none", lang)))
    elif moved:
        parts.append(html.Ul([html.Li(t("plan2.staff_moved", lang).format(
            worker=w["worker"], name=w.get("name") or "–", src=w.get("from") or "–",
            dst=w.get("to") or "–")) for w in moved], className="ga-staff-moved"))
    else:
        parts.append(html.Div(t("plan2.staff_none_moved", lang)))
    kept = len(workers) - len(moved)
    if workers and kept:
        parts.append(html.Div(t("plan2.staff_kept", lang).format(n=kept)))
    accounts = src.get("accounts") or []
    if accounts:
        parts.append(html.Div(t("plan2.staff_accounts", lang).format(items="、".join(
            f"{a['username']} {a['from']} → {a['to'] or '–'}" for a in accounts)),
            className="ga-staff-accounts"))
    vacant = src.get("vacant_grids") or []
    if vacant:
        parts.append(html.Div(t("plan2.staff_vacant", lang).format(codes="、".join(vacant)),
                              className="ga-warn ga-staff-vacant"))
    return html.Div(parts, className="ga-staff")


def preview_view(proposal, moved, building: int, to_grid: str, band: Band, lang: str,
                 refused: str | None = None):
    """The live effect of moving ``building`` to ``to_grid``: both grids' households before
    and after with their band state, and the rules (a refusal names the rule)."""
    if refused:
        return html.Div(t("plan2.preview_refused", lang).format(why=refused), className="ga-bad")
    src = proposal.labels.get(building)
    hh = dict(zip(proposal.grids["code"], proposal.grids["households"], strict=True))
    hh_new = dict(zip(moved.grids["code"], moved.grids["households"], strict=True))
    # a changed grid gets a new code: follow the building and the grid left behind
    new_dst = moved.labels.get(building)
    left = {moved.labels.get(b) for b, c in proposal.labels.items() if c == src and b != building}
    new_src = next(iter(left)) if len(left) == 1 else None
    items = []
    for before_code, after_code in ((src, new_src), (to_grid, new_dst)):
        before = int(hh.get(before_code, 0))
        after = int(hh_new.get(after_code, 0)) if after_code else 0
        state = band.state(after)
        label = before_code if after_code in (None, before_code) else f"{before_code} → {after_code}"
        items.append(html.Li(t("plan2.preview_row", lang).format(
            code=label, before=before, after=after, state=t(f"plan2.state.{state}", lang)),
            className=f"state-{state}"))
    fails = sorted({r for fr in moved.grids["failed_rules"] for r in fr})
    rules = (html.Div(t("plan2.preview_warn", lang).format(why=rules_text(fails, lang)), className="ga-warn")
             if fails else html.Div(t("plan2.preview_ok", lang), className="ga-ok"))
    return html.Div([html.Strong(t("plan2.preview_title", lang)), html.Ul(items), rules],
                    className="ga-move-preview")


def versions_table(rows: list[dict], can_restore: bool, lang: str):
    body = [html.Tr([
        html.Td(f"v{r['version_no']}"),
        html.Td(fmt_datetime(r["created_at"], lang)),
        html.Td(r.get("created_by") or ""),
        html.Td(r.get("note") or "", className="ga-version-note"),
        html.Td(r.get("grids")),
        html.Td(f"{r.get('in_band', 0)}/{r.get('grids', 0)}"),
        html.Td("●" if r.get("is_current") else ""),
        # read-only users get no button at all: a new button would fire the restore
        # callback, which the server refuses them
        html.Td(html.Button(t("plan.restore", lang), id={"type": ids.PLAN_RESTORE, "index": r["id"]},
                            className="ga-btn ga-btn-small", disabled=bool(r.get("is_current")))
                if can_restore else ""),
    ]) for r in rows]
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in
                               ("col.version", "col.created", "col.by", "plan2.col_note",
                                "col.grids", "plan2.col_in_band", "col.current")] + [html.Th("")]))
    return html.Table([head, html.Tbody(body)], className="ga-table", id="plan-versions-table")


def compare_view(diff: dict, lang: str):
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


def crosswalk_table(rows: list[dict], lang: str):
    columns = [("plan2.col_net_code", "network_code"), ("plan2.col_grid_code", "grid_code"),
               ("col.households", "households"), ("plan2.col_buildings", "buildings"),
               ("plan2.col_share", lambda r: f"{r['share_of_network_households']:.0%}")]
    return html.Div(data_table(rows, columns, table_id="plan-crosswalk-table"), className="ga-crosswalk")


def alignment_view(before, after, lang: str):
    """The network's alignment with this community's grids, now and with the proposal."""
    items = []
    for key, al in (("plan2.align_before", before), ("plan2.align_after", after)):
        if al is None:
            continue
        com = al.communities[0] if al.communities else None
        if com is None or com.get("share_aligned") is None:
            sep = ": " if lang == "en" else "："
            items.append(html.Li(f"{t(key, lang)}{sep}{t('plan2.align_na', lang)}"))
            continue
        items.append(html.Li(t("plan2.align_row", lang).format(
            label=t(key, lang), share=f"{com['share_aligned']:.0%}",
            split=com["split_old_grids"], olds=com["old_grids"])))
    return html.Div([html.Strong(t("plan2.alignment", lang)), html.Ul(items)], className="ga-net-align",
                    id="plan-alignment")
