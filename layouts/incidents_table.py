"""The /incidents list: filter bar and one page of cases (pure UI, no database)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from dash import dcc, html

from geo.incidents import states as sm
from geo.incidents.listing import SORTS, CaseFilter
from layouts import ids
from layouts.i18n import dropdown, fmt_datetime, t
from layouts.incidents_text import label, time_left


def _opts(rows: list[dict], lang: str) -> list[dict]:
    return [{"label": f"{(r.get('name_en') if lang == 'en' else r.get('name')) or r['code']}",
             "value": r["code"]} for r in rows]


def filter_bar(query: dict, menus: dict, lang: str, dept_locked: bool) -> html.Div:
    """The filters, set from the URL's query (strings)."""
    def q(key: str) -> str | None:
        return query.get(key) or None

    def multi(key: str) -> list[str]:
        return [v for v in (q(key) or "").split(",") if v]

    return html.Div(className="inc-filters", children=[
        dropdown(id=ids.INC_F_STATE, multi=True, value=multi("state"),
                     placeholder=t("inc.f.state", lang), className="inc-f inc-f-wide",
                     options=[{"label": label("state", s, lang), "value": s} for s in sm.STATES]),
        dropdown(id=ids.INC_F_SEVERITY, multi=True, value=multi("severity"),
                     placeholder=t("inc.f.severity", lang), className="inc-f",
                     options=[{"label": t(f"severity.{s}", lang), "value": s} for s in sm.SEVERITIES]),
        dropdown(id=ids.INC_F_CATEGORY, value=q("category"), className="inc-f",
                     placeholder=t("inc.f.category", lang), options=_opts(menus["categories"], lang)),
        dropdown(id=ids.INC_F_STREET, value=q("street"), className="inc-f",
                     placeholder=t("inc.f.street", lang), options=_opts(menus["streets"], lang)),
        dropdown(id=ids.INC_F_COMMUNITY, value=q("community"), className="inc-f",
                     placeholder=t("inc.f.community", lang), options=_opts(menus["communities"], lang)),
        dcc.Input(id=ids.INC_F_GRID, value=q("grid") or "", debounce=True, type="text",
                  placeholder=t("inc.f.grid", lang), className="inc-f-input", maxLength=15),
        dropdown(id=ids.INC_F_DEPARTMENT, value=q("department"), className="inc-f",
                     disabled=dept_locked, placeholder=t("inc.f.department", lang),
                     options=_opts(menus["departments"], lang)),
        dcc.DatePickerRange(id=ids.INC_F_DATES, start_date=q("from"), end_date=q("to"),
                            display_format="YYYY-MM-DD", month_format="YYYY年M月" if lang == "zh"
                            else "MMMM YYYY", start_date_placeholder_text=t("inc.f.from", lang),
                            end_date_placeholder_text=t("inc.f.to", lang), first_day_of_week=1,
                            clearable=True, className="inc-dates"),
        dcc.Input(id=ids.INC_F_TEXT, value=q("q") or "", debounce=True, type="search",
                  placeholder=t("inc.f.text", lang), className="inc-f-input inc-f-text", maxLength=100),
        dcc.Checklist(id=ids.INC_F_OVERDUE, value=["1"] if q("overdue") == "1" else [],
                      options=[{"label": t("inc.f.overdue", lang), "value": "1"}],
                      className="inc-f-check"),
        dropdown(id=ids.INC_F_SORT, value=q("sort") or "reported_desc", clearable=False,
                     className="inc-f inc-f-sort", searchable=False,
                     options=[{"label": t(f"inc.sort.{s}", lang), "value": s} for s in SORTS]),
        html.Button(t("inc.f.reset", lang), id=ids.INC_RESET, className="ga-btn"),
    ])


def export_hrefs(query: dict[str, str]) -> tuple[str, str]:
    """Links to the XLSX and CSV of the filtered list (every page)."""
    rest = {k: v for k, v in query.items() if k not in ("page", "case", "view")}
    qs = ("?" + urlencode(rest)) if rest else ""
    return f"/incidents/export.xlsx{qs}", f"/incidents/export.csv{qs}"


def status_text(result: dict, lang: str) -> str:
    total = result["total"]
    pages = max(1, -(-total // result["page_size"]))
    count = (t("inc.total_capped", lang).format(n=f"{total:,}") if result["total_capped"]
             else t("inc.total", lang).format(n=f"{total:,}"))
    return f"{count} · {t('inc.page', lang).format(p=result['page'], n=pages)}"


def last_page(result: dict) -> bool:
    return result["page"] * result["page_size"] >= result["total"]


def _place(r: dict, names: dict) -> html.Td:
    """The community's name over its grid's number within it (the full code on hover)."""
    grid = r.get("grid") or ""
    community = names["communities"].get(r.get("community"), r.get("community") or "")
    return html.Td(className="inc-place", title=grid or None, children=[
        html.Span(community), html.Br(), html.Span(grid[-3:], className="inc-grid")] if grid
        else community)


def table(result: dict, names: dict, now: datetime, lang: str, selected: str | None) -> html.Div:
    """One page of cases; each row opens its case (a click anywhere on the row)."""
    rows = result["rows"]
    if not rows:
        return html.P(t("table.empty", lang), className="ga-empty")
    head = ["col.code", "col.title", "col.category", "col.severity", "col.state", "inc.col.level",
            "inc.col.place", "inc.col.department", "col.reported", "inc.col.deadline"]
    body = []
    for r in rows:
        left, left_cls = time_left(r, now, lang)
        cat = r["category"] if lang == "en" else (r.get("category_name") or r["category"])
        if lang == "en":
            cat = names["categories_en"].get(r["category"], r["category"])
        dep = r.get("department") or ""
        if dep:
            dep = names["departments"].get(dep, dep) if lang == "zh" else \
                names["departments_en"].get(dep, dep)
        cells = [
            html.Td(r["code"], className="inc-code"), html.Td(r["title"], className="inc-title"),
            html.Td(cat), html.Td(t(f"severity.{r['severity']}", lang)),
            html.Td(label("state", r["state"], lang), className=f"inc-state inc-state-{r['state']}"),
            html.Td(label("level", r["level"], lang)),
            _place(r, names),
            html.Td(dep, className="inc-dep"),
            html.Td(fmt_datetime(datetime.fromisoformat(r["reported_at"]), lang), className="inc-when"),
            html.Td(className="inc-when", children=[  # the deadline over the time left
                fmt_datetime(datetime.fromisoformat(r["due_at"]), lang) if r.get("due_at") else "",
                html.Br(), html.Span(left, className=f"{left_cls} inc-left")]),
        ]
        cls = f"inc-row sev-{r['severity']} state-{r['state']}" + \
            (" inc-row-selected" if r["code"] == selected else "") + (" inc-row-over" if r["overdue"] else "")
        body.append(html.Tr(cells, id={"type": ids.INC_ROW, "index": r["code"]}, n_clicks=0,
                            className=cls, title=r["code"]))
    return html.Table([html.Thead(html.Tr([html.Th(t(k, lang)) for k in head])), html.Tbody(body)],
                      id="incident-list", className="ga-table inc-table")


def query_of(values: dict, flt: CaseFilter | None = None) -> dict[str, str]:
    """The URL query of the page's controls (only what is set)."""
    out: dict[str, str] = {}
    for key in ("state", "severity"):
        if values.get(key):
            out[key] = ",".join(values[key])
    for key in ("category", "street", "community", "department", "from", "to", "q", "grid"):
        v = values.get(key)
        if v:
            out[key] = str(v)[:100]
    if values.get("overdue"):
        out["overdue"] = "1"
    if values.get("sort") and values["sort"] != "reported_desc":
        out["sort"] = values["sort"]
    if values.get("page") and int(values["page"]) > 1:
        out["page"] = str(values["page"])
    if values.get("view") == "inbox":
        out["view"] = "inbox"
    if values.get("case"):
        out["case"] = values["case"]
    return out
