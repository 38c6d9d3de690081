"""Open311 GeoReport v2: the 12345 hotline's and apps' view of the incident loop.

The HTTP edge (:mod:`layouts.open311`) parses nothing itself: it hands the query string or
the form to these functions and answers what they return, or :class:`Open311Error`'s
``status`` with the spec's body ``[{"code": ..., "description": ...}]``.

* ``services``: the leaf incident categories (``service_code`` = the category code).
* ``list_requests`` (GET, no key): filters ``status`` (``open``, ``closed``, both comma
  separated), ``service_code`` (comma separated), ``start_date``/``end_date`` (W3C times;
  a date alone is midnight in ``TIMEZONE``), ``service_request_id``, ``page`` (from 1) and
  ``page_size`` (at most 1,000). By default the last 90 days, newest first. The
  reporter's name and phone are never part of an answer.
* ``create_request`` (POST, ``api_key`` from ``python -m geo apikey create``): reports the
  case through :func:`geo.incidents.service.report` at district level and files it
  (``reported`` > ``filed``, actor ``system:open311``) in **one** transaction, together with
  the ``Idempotency-Key`` record when the client sent one: a retried POST with the same key
  and the same fields answers the first case; the same key with other fields is refused
  (422). ``coordinate_system=gcj02`` (an extension) reads ``lat``/``long`` as GCJ-02; they
  are stored as WGS-84. A point within 50 m of an open case of the same category is stored
  and flagged (``service_notice`` names the case), never swallowed.

Status: ``closed`` for the closed states (resolved, closed, evaluated, duplicate), else
``open``; ``status_notes`` carries the Chinese state (and 已超时 when overdue);
``expected_datetime`` is the deadline once the case is dispatched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from geo import db
from geo.access import apikeys
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.incidents import service
from geo.incidents import states as sm
from geo.settings import get_settings

log = logging.getLogger(__name__)

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
DEFAULT_DAYS = 90
MAX_PAGE_SIZE = 1000
INTAKE = service.Actor(Principal("system:open311", "admin", None))
_IDEM_RE = re.compile(r"[\x21-\x7e]{1,200}")
_LIST_PARAMS = {"status", "service_code", "start_date", "end_date", "page", "page_size",
                "service_request_id", "jurisdiction_id"}


class Open311Error(GridAtlasError):
    """An Open311 request refused: ``status`` is the HTTP status, the message the description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status

    def body(self) -> list[dict]:
        """The spec's error body."""
        return [{"code": self.status, "description": self.user_msg}]


def _tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(get_settings().timezone)


def _w3c(value: datetime | None) -> str | None:
    return value.astimezone(_tz()).isoformat(timespec="seconds") if value else None


# --------------------------------------------------------------------------- reads


def discovery(base_url: str) -> dict:
    """The discovery document for the endpoint at ``base_url`` (``.../open311/v2/``)."""
    return {
        "changeset": "2024-01-01T00:00:00+08:00",
        "contact": "12345 政务服务便民热线 / 12345 citizen hotline",
        "key_service": "python -m geo apikey create NAME (管理员 / an administrator)",
        "endpoints": [{
            "specification": SPEC_URL,
            "url": base_url.rstrip("/"),
            "changeset": "2024-01-01T00:00:00+08:00",
            "type": "production",
            "formats": ["application/json"],
        }],
    }


def services() -> list[dict]:
    """The leaf incident categories as Open311 services, by code."""
    rows = db.fetch_all(
        """SELECT c.code, c.name, c.name_en, c.class, p.name AS group_name
             FROM incident_categories c
             LEFT JOIN incident_categories p ON p.id = c.parent_id
            WHERE NOT EXISTS (SELECT 1 FROM incident_categories k WHERE k.parent_id = c.id)
            ORDER BY c.code""")
    return [{
        "service_code": r["code"],
        "service_name": r["name"],
        "description": f"{r['name']} / {r['name_en']}",
        "metadata": False,
        "type": "realtime",
        "keywords": r["name_en"],
        "group": r["group_name"] or ("部件" if r["class"] == "component" else "事件"),
    } for r in rows]


def _when(name: str, raw: str, *, end: bool) -> datetime:
    """A W3C time; a date alone is the start (or, for ``end``, the end) of that day."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            value = datetime.combine(day + timedelta(days=1) if end else day, time(), _tz())
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=_tz())
    except ValueError:
        raise Open311Error(400, f"{name} 格式错误，应为 W3C 时间如 2024-05-01T08:00:00+08:00 / "
                                f"{name} {raw!r} is not a W3C date-time") from None
    return value


def _int_param(params: Mapping[str, str], name: str, default: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= hi:
        raise Open311Error(400, f"{name} 应为 1 到 {hi} 的整数 / {name} must be a whole number "
                                f"from 1 to {hi}, got {raw!r}")
    return int(raw)


def _codes(raw: str | None) -> list[str]:
    return [c.strip() for c in (raw or "").split(",") if c.strip()]


_SELECT = """
    SELECT i.code, i.state, i.description, i.title, i.reported_at, i.dispatched_at, i.due_at,
           i.closed_at, greatest(i.reported_at, i.dispatched_at, i.handled_at, i.closed_at)
               AS updated_at,
           ic.code AS service_code, ic.name AS service_name, dep.name AS agency,
           dup.code AS duplicate_of, pdup.code AS possible_duplicate_of,
           coalesce(g.name, c.name, s.name) AS place_name,
           ST_Y(i.geom) AS lat, ST_X(i.geom) AS lon
      FROM incidents i
      JOIN incident_categories ic ON ic.id = i.category_id
      LEFT JOIN departments dep ON dep.id = i.department_id
      LEFT JOIN streets s ON s.id = i.street_id
      LEFT JOIN communities c ON c.id = i.community_id
      LEFT JOIN grids g ON g.id = i.grid_id
      LEFT JOIN incidents dup ON dup.id = i.duplicate_of
      LEFT JOIN incidents pdup ON pdup.id = i.possible_duplicate_of
"""


def _request(row: Mapping, now: datetime) -> dict:
    """One case as an Open311 service request (no reporter name or phone, ever)."""
    state = row["state"]
    closed = state in sm.CLOSED_STATES
    notes = service.STATE_ZH.get(state, state)
    if not closed and row["due_at"] is not None and state != "deferred" and now > row["due_at"]:
        notes += "（已超时）"
    if row["duplicate_of"]:
        notes += f"（与 {row['duplicate_of']} 合并）"
    notice = (f"可能与 {row['possible_duplicate_of']} 重复 / possibly a duplicate of "
              f"{row['possible_duplicate_of']}") if row["possible_duplicate_of"] else ""
    return {
        "service_request_id": row["code"],
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": row["service_name"],
        "service_code": row["service_code"],
        "description": row["description"] or row["title"],
        "agency_responsible": row["agency"],
        "service_notice": notice,
        "requested_datetime": _w3c(row["reported_at"]),
        "updated_datetime": _w3c(row["updated_at"]),
        "expected_datetime": _w3c(row["due_at"]) if row["dispatched_at"] else None,
        "address": row["place_name"],
        "address_id": None,
        "zipcode": None,
        "lat": float(row["lat"]),
        "long": float(row["lon"]),
        "media_url": None,
    }


def list_requests(params: Mapping[str, str], *, now: datetime | None = None) -> list[dict]:
    """Service requests matching the GET parameters (see the module docstring).

    Raises
    ------
    Open311Error
        400 for a malformed date, page or status, an unknown service code or a start after
        the end.
    """
    now = now or datetime.now(UTC)
    unknown = sorted(set(params) - _LIST_PARAMS)
    if unknown:
        raise Open311Error(400, f"不支持的参数 {', '.join(unknown)} / unsupported parameter "
                                f"{', '.join(unknown)}")
    start = _when("start_date", params["start_date"], end=False) if params.get("start_date") \
        else None
    end = _when("end_date", params["end_date"], end=True) if params.get("end_date") else None
    if start is None and end is None:
        start, end = now - timedelta(days=DEFAULT_DAYS), None
    elif start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if end is not None and start >= end:
        raise Open311Error(400, "start_date 须早于 end_date / start_date must come before end_date")
    statuses = set(_codes(params.get("status"))) or {"open", "closed"}
    if not statuses <= {"open", "closed"}:
        raise Open311Error(400, f"status 应为 open 或 closed / status must be open or closed, got "
                                f"{params.get('status')!r}")
    page = _int_param(params, "page", 1, 100_000)
    size = _int_param(params, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    codes = _codes(params.get("service_code"))
    ids = _codes(params.get("service_request_id"))
    where = ["i.reported_at >= %(start)s"]
    args: dict[str, Any] = {"start": start, "closed": sorted(sm.CLOSED_STATES),
                            "limit": size, "offset": (page - 1) * size}
    if end is not None:
        where.append("i.reported_at < %(end)s")
        args["end"] = end
    if statuses == {"open"}:
        where.append("NOT (i.state = ANY(%(closed)s))")
    elif statuses == {"closed"}:
        where.append("i.state = ANY(%(closed)s)")
    if ids:
        where.append("i.code = ANY(%(ids)s)")
        args["ids"] = ids[:MAX_PAGE_SIZE]
    with db.transaction(readonly=True) as cur:
        if codes:
            cur.execute("SELECT id, code FROM incident_categories WHERE code = ANY(%s)", (codes,))
            found = {r["code"]: r["id"] for r in cur.fetchall()}
            missing = [c for c in codes if c not in found]
            if missing:
                raise Open311Error(400, f"未知的服务代码 {', '.join(missing)} / unknown "
                                        f"service_code {', '.join(missing)}")
            where.append("i.category_id = ANY(%(cats)s)")
            args["cats"] = list(found.values())
        cur.execute(_SELECT + " WHERE " + " AND ".join(where)
                    + " ORDER BY i.reported_at DESC, i.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                    args)
        rows = cur.fetchall()
    return [_request(r, now) for r in rows]


def get_request(code: str, *, now: datetime | None = None) -> list[dict]:
    """One service request by its id (the case code), as a one-element list.

    Raises
    ------
    Open311Error
        404 when there is no such case.
    """
    now = now or datetime.now(UTC)
    code = (code or "").strip()
    row = db.fetch_one(_SELECT + " WHERE i.code = %s", (code,)) if 0 < len(code) <= 64 else None
    if row is None:
        raise Open311Error(404, f"没有服务请求 {code} / no service request {code!r}")
    return [_request(row, now)]


# --------------------------------------------------------------------------- create


def _number(form: Mapping[str, str], name: str) -> float:
    try:
        value = float(form[name])
    except (TypeError, ValueError):
        raise Open311Error(400, f"{name} 须为数字 / {name} must be a number") from None
    if not math.isfinite(value):
        raise Open311Error(400, f"{name} 须为有限数字 / {name} must be a finite number")
    return value


def _fingerprint(form: Mapping[str, str]) -> str:
    fields = sorted((k, v) for k, v in form.items() if k != "api_key")
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def authenticate(api_key: str | None) -> Principal:
    """The principal of a valid key; 401 otherwise (no key, unknown or revoked)."""
    principal = apikeys.verify(api_key)
    if principal is None:
        raise Open311Error(401, "缺少或无效的 api_key / api_key missing or invalid")
    return principal


def create_request(form: Mapping[str, str], *, idempotency_key: str | None = None,
                   now: datetime | None = None) -> tuple[list[dict], bool]:
    """Create (report and file) a case from an Open311 POST form.

    Parameters
    ----------
    form:
        The form fields: ``api_key``, ``service_code``, ``lat``, ``long``, ``description``,
        optionally ``first_name``, ``last_name``, ``phone`` (stored, never answered),
        ``coordinate_system`` (``wgs84`` or ``gcj02``), ``severity`` (ordinary, major,
        complex; default ordinary).
    idempotency_key:
        The ``Idempotency-Key`` header, if any.

    Returns
    -------
    (answer, created)
        The spec's ``[{"service_request_id": CODE, ...}]`` and False when the key was seen
        before (the first case is answered, nothing new is written).

    Raises
    ------
    Open311Error
        401 bad key; 400 missing location, unknown service, outside the district, bad
        values; 403 outside the key's scope; 422 an Idempotency-Key reused with other
        fields. Nothing is written.
    """
    principal = authenticate(form.get("api_key"))
    actor = service.Actor(principal)
    if idempotency_key is not None and not _IDEM_RE.fullmatch(idempotency_key):
        raise Open311Error(400, "Idempotency-Key 须为 1 到 200 个可见 ASCII 字符 / Idempotency-Key "
                                "must be 1 to 200 printable ASCII characters")
    if not form.get("lat") or not form.get("long"):
        raise Open311Error(400, "缺少位置：请提供 lat 和 long / location required: lat and long")
    lat, lon = _number(form, "lat"), _number(form, "long")
    code = (form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "缺少 service_code / service_code required")
    crs = (form.get("coordinate_system") or "wgs84").strip().lower()
    severity = (form.get("severity") or "ordinary").strip()
    description = (form.get("description") or "").strip() or None
    name = " ".join(p for p in ((form.get("last_name") or "").strip(),
                                (form.get("first_name") or "").strip()) if p) or None
    at = now or datetime.now(UTC)
    fingerprint = _fingerprint(form)
    keyname = principal.username
    try:
        with db.transaction() as cur:
            if idempotency_key is not None:
                # one writer per key: a concurrent retry waits here, then finds the row
                cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 311))",
                            (f"{keyname}\n{idempotency_key}",))
                cur.execute(
                    """SELECT r.request_sha256, i.code, pdup.code AS possible_duplicate_of
                         FROM open311_requests r JOIN incidents i ON i.id = r.incident_id
                         LEFT JOIN incidents pdup ON pdup.id = i.possible_duplicate_of
                        WHERE r.api_key = %s AND r.idempotency_key = %s""",
                    (keyname, idempotency_key))
                seen = cur.fetchone()
                if seen is not None:
                    if seen["request_sha256"] != fingerprint:
                        raise Open311Error(422, "该 Idempotency-Key 已用于另一个请求 / this "
                                                "Idempotency-Key was used for a different request")
                    return [_created(seen["code"], seen["possible_duplicate_of"])], False
            cur.execute("SELECT name FROM incident_categories WHERE code = %s", (code,))
            cat = cur.fetchone()
            if cat is None:
                raise Open311Error(400, f"未知的服务代码 {code} / unknown service_code {code!r}")
            title = f"{cat['name']}：{description[:40]}" if description else cat["name"]
            out = service.report(actor, lon=lon, lat=lat, category=code, severity=severity,
                                 title=title, description=description, level="district", crs=crs,
                                 reporter_name=name, reporter_phone=form.get("phone"), now=at,
                                 cur=cur, brief=True)
            case = service._load(cur, out["id"], lock=True)
            service._apply(cur, INTAKE, case, "filed", at,
                           note="12345 热线 / Open311 受理立案",
                           detail={"channel": "open311", "api_key": keyname})
            if idempotency_key is not None:
                cur.execute(
                    """INSERT INTO open311_requests (api_key, idempotency_key, request_sha256,
                                                     incident_id, created_at)
                       VALUES (%s, %s, %s, %s, %s)""",
                    (keyname, idempotency_key, fingerprint, out["id"], at))
    except service.Denied as exc:
        raise Open311Error(403, exc.user_msg) from None
    except service.Refused as exc:
        raise Open311Error(400, exc.user_msg) from None
    log.info("open311: %s created %s", keyname, out["code"])
    return [_created(out["code"], out.get("possible_duplicate_of"))], True


def _created(code: str, possible_duplicate_of: str | None) -> dict:
    notice = (f"已登记；附近有同类未结事件 {possible_duplicate_of}，可能重复 / recorded; possibly a "
              f"duplicate of {possible_duplicate_of}") if possible_duplicate_of else ""
    return {"service_request_id": code, "service_notice": notice, "account_id": None}
