"""The incident list as a file: XLSX or CSV of every case matching a filter, actor first.

The filter comes from the /incidents page's URL (:func:`filter_from_query`, also used by the
page itself, so the file holds exactly what the page lists). Rows are read page by page
through :func:`geo.incidents.listing.list_cases` (the actor's scope first; a department its
own cases) up to :data:`MAX_ROWS`. CSV is UTF-8 with a byte-order mark (Excel opens it as
UTF-8); headers and state names are Chinese in Chinese mode.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from geo.incidents import desk, listing, service
from geo.incidents.listing import CaseFilter
from geo.settings import get_settings

MAX_ROWS = 10_000
FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "csv": "text/csv; charset=utf-8"}
QUERY_KEYS = ("state", "severity", "category", "street", "community", "grid", "department",
              "overdue", "from", "to", "q", "sort", "page", "size")

LEVEL_ZH = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}
SEVERITY_ZH = {"ordinary": "一般", "major": "重大", "complex": "复杂"}
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("code", "编号", "Code"), ("title", "标题", "Title"), ("category", "类别", "Category"),
    ("severity", "紧急程度", "Severity"), ("state", "状态", "State"), ("level", "层级", "Level"),
    ("street", "街道", "Street"), ("community", "社区", "Community"), ("grid", "网格", "Grid"),
    ("department", "责任部门", "Department"), ("reported_at", "上报时间", "Reported"),
    ("dispatched_at", "派遣时间", "Dispatched"), ("due_at", "处置时限", "Deadline"),
    ("closed_at", "办结时间", "Closed"), ("overdue", "是否超时", "Overdue"),
)


def _bad(what: str, value) -> service.Refused:
    return service.Refused(f"filter.{what}", f"筛选条件无效：{what} = {str(value)[:40]!r}",
                           f"invalid filter {what} = {str(value)[:40]!r}")


def _day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _bad(what, value) from None


def _int(value: str | None, what: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise _bad(what, value) from None


def _list(value) -> tuple[str, ...]:
    if not value:
        return ()
    raw = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(v.strip() for v in raw if v and v.strip())


def filter_from_query(query: Mapping[str, object]) -> CaseFilter:
    """A :class:`CaseFilter` from the page's query parameters (strings, as in a URL).

    ``state`` and ``severity`` are comma-separated; ``from``/``to`` are local dates, both
    included; ``overdue=1``; ``q`` free text; ``sort``, ``page``, ``size``. Unknown values
    are refused by :func:`listing.list_cases` with the filter named; malformed dates and
    numbers here.
    """
    def one(key: str) -> str | None:
        value = query.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        value = str(value).strip() if value is not None else None
        if value and len(value) > 100:
            raise _bad(key, value)
        return value or None

    tz = zoneinfo.ZoneInfo(get_settings().timezone)
    d0, d1 = _day(one("from"), "from"), _day(one("to"), "to")
    return CaseFilter(
        states=_list(one("state")), severities=_list(one("severity")),
        category=one("category"), street=one("street"), community=one("community"),
        grid=one("grid"), department=one("department"),
        overdue=one("overdue") in ("1", "true", "yes"),
        start=datetime.combine(d0, time(0), tz) if d0 else None,
        end=datetime.combine(d1 + timedelta(days=1), time(0), tz) if d1 else None,
        text=one("q"), sort=one("sort") or "reported_desc",
        page=_int(one("page"), "page", 1), page_size=_int(one("size"), "size", 50),
    )


def query_from_filter(flt: CaseFilter) -> dict[str, str]:
    """The inverse of :func:`filter_from_query`: only the parameters that are set."""
    tz = zoneinfo.ZoneInfo(get_settings().timezone)
    out: dict[str, str] = {}
    if flt.states:
        out["state"] = ",".join(flt.states)
    if flt.severities:
        out["severity"] = ",".join(flt.severities)
    for key in ("category", "street", "community", "grid", "department"):
        if getattr(flt, key):
            out[key] = str(getattr(flt, key))
    if flt.overdue:
        out["overdue"] = "1"
    if flt.start:
        out["from"] = flt.start.astimezone(tz).date().isoformat()
    if flt.end:
        out["to"] = (flt.end.astimezone(tz) - timedelta(days=1)).date().isoformat()
    if flt.text:
        out["q"] = flt.text
    if flt.sort != "reported_desc":
        out["sort"] = flt.sort
    if flt.page != 1:
        out["page"] = str(flt.page)
    if flt.page_size != 50:
        out["size"] = str(flt.page_size)
    return out


def rows(actor: service.Actor, flt: CaseFilter, *, now: datetime | None = None) -> list[dict]:
    """Every case matching ``flt`` (all pages, at most :data:`MAX_ROWS`), actor first."""
    flt = desk.scoped_filter(actor, flt)
    out: list[dict] = []
    page = 1
    while len(out) < MAX_ROWS:
        got = listing.list_cases(actor, dataclasses.replace(
            flt, page=page, page_size=listing.MAX_PAGE_SIZE), now=now)
        out += got["rows"]
        if len(got["rows"]) < listing.MAX_PAGE_SIZE:
            break
        page += 1
    return out[:MAX_ROWS]


def _cell(row: Mapping, key: str, lang: str, tz) -> object:
    value = row.get(key)
    zh = lang != "en"
    if key in ("reported_at", "dispatched_at", "due_at", "closed_at"):
        if not value:
            return ""
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if key == "state":
        return service.STATE_ZH.get(value, value) if zh else value
    if key == "level":
        return LEVEL_ZH.get(value, value) if zh else value
    if key == "severity":
        return SEVERITY_ZH.get(value, value) if zh else value
    if key == "category":
        return (row.get("category_name") or value) if zh else value
    if key == "department":
        return (row.get("department_name") or value or "") if zh else (value or "")
    if key == "overdue":
        return ("是" if value else "否") if zh else ("yes" if value else "no")
    return "" if value is None else value


def export(actor: service.Actor, flt: CaseFilter, fmt: str, lang: str = "zh", *,
           now: datetime | None = None) -> tuple[bytes, str, str]:
    """``(content, mimetype, filename)`` of the filtered list as ``xlsx`` or ``csv``."""
    if fmt not in FORMATS:
        raise service.Refused("export.format", "导出格式须为 xlsx 或 csv",
                              f"the export format is xlsx or csv, not {fmt!r}")
    data = rows(actor, flt, now=now)
    tz = zoneinfo.ZoneInfo(get_settings().timezone)
    head = [zh if lang != "en" else en for _, zh, en in COLUMNS]
    table = [[_cell(r, key, lang, tz) for key, _, _ in COLUMNS] for r in data]
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M")
    name = f"incidents-{stamp}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(head)
        writer.writerows(table)
        return ("\ufeff" + buf.getvalue()).encode("utf-8"), FORMATS[fmt], name
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "事件" if lang != "en" else "incidents"
    ws.append(head)
    for line in table:
        ws.append(line)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), FORMATS[fmt], name


__all__ = ["COLUMNS", "FORMATS", "MAX_ROWS", "export", "filter_from_query", "query_from_filter",
           "rows"]
