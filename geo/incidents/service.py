"""The incident service: every action on a case is one function here (no Dash, no HTTP).

Each action checks the permission registry (:mod:`geo.access.permissions`) and the actor's
scope, applies a legal step of :mod:`geo.incidents.states`, and writes the case row, its
event and the audit entry in **one** transaction; anything else is refused with a
:class:`Refused` error whose message names the rule in Chinese and English and nothing is
written. Pages, the command line and the HTTP API call these functions and write no SQL of
their own.

Concurrency: every write locks the case row (``SELECT ... FOR UPDATE``) and bumps
``incidents.version``. A caller that passes the ``expected_version`` (or
``expected_state``) it showed the user gets :class:`CaseChanged` when someone else acted
first: of two people acting at once exactly one wins.

Time is injected (``now=``) so tests control the clock; the SLA clock is
:class:`geo.incidents.sla.Clock` configured by the settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from psycopg2 import sql

from geo import db
from geo.access import audit, permissions
from geo.access.permissions import PermissionDenied
from geo.access.roles import ROLE_NAMES, SYSTEM, Principal
from geo.errors import GridAtlasError
from geo.gcj02 import gcj02_to_wgs84
from geo.incidents import states as sm
from geo.incidents.sla import Clock
from geo.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "imported"  # data_source of rows written by people through the service

GRADES: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "satisfied"),
    "basically_satisfied": ("基本满意", "basically satisfied"),
    "dissatisfied": ("不满意", "dissatisfied"),
}
_GRADE_ALIASES = {zh: key for key, (zh, _) in GRADES.items()}

# The level each local role acts at (resolve on the spot, escalate).
ROLE_LEVEL: dict[str, str] = {
    "grid_worker": "grid", "community_staff": "community", "street_operator": "street",
    "operator": "district",
}

ACTION_ZH: dict[str, str] = {
    "incident.create": "上报事件", "incident.local": "在本级就地处置或上报事件",
    "incident.dispatch": "立案派遣", "incident.work": "受理和处置事件",
    "incident.verify": "核查、退回或结案", "incident.evaluate": "评价事件",
    "incident.defer.request": "申请缓办", "incident.defer.decide": "审批或结束缓办",
    "incident.urge": "督办", "incident.comment": "评论", "incident.photo": "上传照片",
    "incident.merge": "合并重复件", "incident.route": "设置派遣路由",
    "view.incidents": "查看事件", "users.manage": "管理用户",
    "incident.whistle": "吹哨", "incident.report_in": "报到", "patrol.run": "巡查",
    "patrols.view": "查看巡查", "departments.scorecard": "查看部门考核",
}

STATE_ZH: dict[str, str] = {
    "reported": "已上报", "escalated": "已上报上级", "resolved": "已就地办结", "filed": "已立案",
    "dispatched": "已派遣", "accepted": "已受理", "handled": "已处置", "verified": "已核查",
    "closed": "已结案", "evaluated": "已评价", "returned": "已退回", "deferred": "缓办中",
    "duplicate": "重复件",
}

PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
MAX_TEXT = 2000


# --------------------------------------------------------------------------- errors


class Refused(GridAtlasError):
    """An action refused by a named rule; nothing was written.

    Attributes
    ----------
    rule:
        A short stable name of the rule (``state``, ``scope``, ``location.outside`` ...).
    """

    def __init__(self, rule: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en} [{rule}]")
        self.rule = rule


class Denied(Refused, PermissionDenied):
    """Refused by the permission registry, the scope or the department (HTTP 403)."""


class NotFound(Refused):
    """No such case (or not one the actor may see) (HTTP 404)."""


class CaseChanged(Refused):
    """Someone else acted on the case first (HTTP 409); reload and try again."""


# --------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    """Who acts: the principal plus the department their account is tied to."""

    principal: Principal
    department_id: int | None = None

    @property
    def username(self) -> str:
        return self.principal.username

    @property
    def role(self) -> str:
        return self.principal.role


SYSTEM_ACTOR = Actor(SYSTEM)


def actor_for(principal: Principal) -> Actor:
    """The actor of a signed-in principal (their department looked up by user name)."""
    row = db.fetch_one("SELECT department_id FROM users WHERE username = %s",
                       (principal.username,))
    return Actor(principal, row["department_id"] if row else None)


def actor_by_username(username: str) -> Actor:
    """The actor for ``--as USER`` on the command line: an existing, enabled account."""
    row = db.fetch_one(
        """SELECT username, role, scope_code, display_name, disabled, department_id
             FROM users WHERE username = %s""", (username,))
    if row is None:
        raise Denied("actor.unknown", f"没有用户 {username!r}", f"no user {username!r}")
    if row["disabled"]:
        raise Denied("actor.disabled", f"用户 {username} 已停用", f"user {username} is disabled")
    return Actor(Principal(row["username"], row["role"], row["scope_code"], row["display_name"]),
                 row["department_id"])


def _permit(actor: Actor, action: str, place_code: str | None = None) -> None:
    """The registry's answer, with a Chinese and English message naming the rule."""
    p = actor.principal
    if not permissions.allowed(p.role, action) or p.anonymous_wall:
        role_zh = ROLE_NAMES.get(p.role, (p.role, p.role))[0]
        desc = permissions.ACTIONS.get(action, (None, None, action))[2]
        raise Denied("role", f"角色「{role_zh}」无权{ACTION_ZH.get(action, action)}",
                     f"role {p.role} may not {desc} (action {action})")
    if place_code is not None and not p.covers(place_code):
        raise Denied("scope", f"{place_code} 不在您的管辖范围 {p.scope_code} 内",
                     f"{place_code} lies outside your scope {p.scope_code} (action {action})")
    permissions.check(p, action, place_code)  # the registry itself (same answer)


# --------------------------------------------------------------------------- helpers


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise GridAtlasError("now must be timezone-aware")
    return now


def clock() -> Clock:
    """The SLA clock configured by the settings."""
    return Clock.from_settings(get_settings())


def _text(value: str | None, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    if value is None or not str(value).strip():
        if required:
            raise Refused(f"input.{name}", f"{name} 不能为空", f"{name} must not be empty")
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise Refused(f"input.{name}", f"{name} 超过 {limit} 个字符",
                      f"{name} is longer than {limit} characters")
    return value


def _case_ref(case_id: int | str) -> tuple[str, Any]:
    if isinstance(case_id, bool):
        raise NotFound("case", "事件编号无效", f"{case_id!r} is not a case id or code")
    if isinstance(case_id, int) or (isinstance(case_id, str) and case_id.strip().isdigit()):
        return "id", int(case_id)
    if isinstance(case_id, str) and case_id.strip() and len(case_id) <= 64:
        return "code", case_id.strip()
    raise NotFound("case", "事件编号无效", f"{case_id!r} is not a case id or code")


# One case with its codes and names. The place codes and the duplicates' codes are scalar
# subqueries, not joins: planned as an eight-table join this took 4-10 ms to plan (twenty
# times its execution) on every load, twice per report; as lookups, under a millisecond.
_CASE_SELECT = """
    SELECT i.id, i.code, i.state, i.level, i.severity, i.title, i.description,
           i.reported_at, i.dispatched_at, i.due_at, i.handled_at, i.closed_at, i.closed_level,
           i.version, i.reported_by, i.reporter_name, i.reporter_phone,
           i.evaluation, i.evaluation_comment, i.overdue_marked_due,
           i.category_id, ic.code AS category, ic.name AS category_name,
           ic.name_en AS category_name_en,
           i.department_id, dep.code AS department, dep.name AS department_name,
           i.district_id, (SELECT code FROM districts WHERE id = i.district_id) AS district_code,
           i.street_id, (SELECT code FROM streets WHERE id = i.street_id) AS street_code,
           i.community_id, (SELECT code FROM communities WHERE id = i.community_id) AS community_code,
           i.grid_id, (SELECT code FROM grids WHERE id = i.grid_id) AS grid_code,
           (SELECT code FROM incidents WHERE id = i.duplicate_of) AS duplicate_of,
           (SELECT code FROM incidents WHERE id = i.possible_duplicate_of) AS possible_duplicate_of,
           i.triage, i.patrol_id,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
      FROM incidents i
      JOIN incident_categories ic ON ic.id = i.category_id
      LEFT JOIN departments dep ON dep.id = i.department_id
"""


def _load(cur, case_id: int | str, *, lock: bool) -> dict:
    col, value = _case_ref(case_id)
    query = _CASE_SELECT + (" WHERE i.id = %s" if col == "id" else " WHERE i.code = %s")
    if lock:
        query += " FOR UPDATE OF i"
    cur.execute(query, (value,))
    row = cur.fetchone()
    if row is None:
        raise NotFound("case", f"没有事件 {case_id}", f"no case {case_id}")
    return dict(row)


def _place(case: Mapping) -> str:
    """The most precise place code of a case (what scopes are checked against)."""
    return (case.get("grid_code") or case.get("community_code") or case.get("street_code")
            or case["district_code"])


def _visible(actor: Actor, case: Mapping) -> None:
    """Cases outside the scope are reported as missing (their existence is not leaked)."""
    if not actor.principal.covers(_place(case)):
        raise NotFound("case", f"没有事件 {case['code']}（或不在您的范围内）",
                       f"no case {case['code']} within your scope")


def _expect(case: Mapping, expected_version: int | None, expected_state: str | None) -> None:
    if ((expected_version is not None and int(expected_version) != case["version"])
            or (expected_state is not None and expected_state != case["state"])):
        raise CaseChanged(
            "case.changed",
            f"事件 {case['code']} 已被他人更新（当前：{STATE_ZH.get(case['state'], case['state'])}），"
            "请刷新后重试",
            f"case {case['code']} changed under you (now {case['state']}, version "
            f"{case['version']}); reload it and try again")


def _event(cur, case: Mapping, actor: Actor, at: datetime, *, kind: str = "transition",
           to_state: str | None = None, level: str | None = None, note: str | None = None,
           photo_id: int | None = None, detail: dict | None = None) -> int:
    from_state = case["state"]
    cur.execute(
        """INSERT INTO incident_events (incident_id, at, from_state, to_state, level, actor,
                                        actor_role, note, kind, photo_id, detail, source)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (case["id"], at, from_state, to_state or from_state, level or case["level"],
         actor.username, actor.role, note, kind, photo_id,
         json.dumps(detail, ensure_ascii=False, default=str) if detail else None, SOURCE),
    )
    return int(cur.fetchone()["id"])


_UPDATABLE = frozenset({"state", "level", "department_id", "dispatched_at", "due_at",
                        "handled_at", "closed_at", "closed_level", "duplicate_of",
                        "evaluation", "evaluation_comment", "triage"})


def _update(cur, case_id: int, fields: Mapping[str, Any]) -> int:
    """Write ``fields`` and bump the version; returns the new version."""
    assert set(fields) <= _UPDATABLE, set(fields) - _UPDATABLE
    sets = [sql.SQL("{} = %s").format(sql.Identifier(k)) for k in fields]
    sets.append(sql.SQL("version = version + 1"))
    cur.execute(sql.SQL("UPDATE incidents SET {} WHERE id = %s RETURNING version").format(
        sql.SQL(", ").join(sets)), (*fields.values(), case_id))
    return int(cur.fetchone()["version"])


def _audit(cur, actor: Actor, action: str, case: Mapping, **detail: Any) -> None:
    audit.record(cur, actor.principal, action, target=case["code"], scope_code=_place(case),
                 before_ids=[case["id"]], detail=detail or None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------- photos


def sniff_photo(data: bytes) -> str | None:
    """The image type of ``data`` from its first bytes (JPEG, PNG or WebP), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _store_photo(cur, case_id: int, actor: Actor, data: bytes, at: datetime,
                 content_type: str | None = None) -> int:
    """Store a checked photo in the database (every web worker and machine reads it there)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise Refused("photo.type", "照片应为图片文件", "a photo must be the bytes of an image")
    data = bytes(data)
    limit = get_settings().incident_photo_max_bytes
    if not data:
        raise Refused("photo.empty", "照片为空", "the photo is empty")
    if len(data) > limit:
        raise Refused("photo.size", f"照片超过 {limit // 1024} KB 上限",
                      f"the photo is {len(data)} bytes; at most {limit} are accepted")
    kind = sniff_photo(data)
    if kind is None or (content_type and content_type.lower() != kind):
        raise Refused("photo.type", "照片须为 JPEG、PNG 或 WebP 图片",
                      "a photo must be a JPEG, PNG or WebP image"
                      + (f" (declared {content_type}, found {kind or 'no image'})"
                         if content_type else ""))
    cur.execute(
        """INSERT INTO incident_photos (incident_id, content_type, size_bytes, sha256, data,
                                        uploaded_by, at)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (case_id, kind, len(data), hashlib.sha256(data).hexdigest(), data, actor.username, at))
    return int(cur.fetchone()["id"])


def photo(actor: Actor, photo_id: int) -> tuple[str, bytes]:
    """``(content_type, bytes)`` of a photo of a case the actor may see."""
    with db.transaction(readonly=True) as cur:
        cur.execute("SELECT incident_id, content_type, data FROM incident_photos WHERE id = %s",
                    (int(photo_id),))
        row = cur.fetchone()
        if row is None:
            raise NotFound("photo", f"没有照片 {photo_id}", f"no photo {photo_id}")
        case = _load(cur, row["incident_id"], lock=False)
        _permit(actor, "view.incidents")
        _visible(actor, case)
        return row["content_type"], bytes(row["data"])


# --------------------------------------------------------------------------- location


def _point(lon: Any, lat: Any, crs: str) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise Refused("location.invalid", "经纬度须为数字", "longitude and latitude must be numbers") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise Refused("location.invalid", "经纬度超出范围",
                      f"({lon}, {lat}) is not a longitude/latitude pair")
    crs = (crs or "wgs84").lower().replace("-", "")
    if crs in ("gcj02",):
        x, y = gcj02_to_wgs84(x, y)
    elif crs not in ("wgs84", "epsg:4326", "4326"):
        raise Refused("location.crs", f"不支持的坐标系 {crs}",
                      f"coordinates must be wgs84 or gcj02, not {crs!r}")
    return x, y


def locate(cur, lon: float, lat: float) -> dict | None:
    """The district, street, community and current grid holding a WGS-84 point."""
    cur.execute(
        """WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326) AS g),
           d AS (SELECT d.id, d.code FROM districts d, p WHERE ST_Intersects(d.geom, p.g)
                  ORDER BY d.code LIMIT 1),
           s AS (SELECT s.id, s.code FROM streets s, p, d
                  WHERE s.district_id = d.id AND ST_Intersects(s.geom, p.g) ORDER BY s.code LIMIT 1),
           c AS (SELECT c.id, c.code FROM communities c, p, d
                  WHERE c.district_id = d.id AND ST_Intersects(c.geom, p.g) ORDER BY c.code LIMIT 1),
           g AS (SELECT g.id, g.code FROM grids g
                   JOIN grid_versions v ON v.id = g.version_id AND v.is_current, p, c
                  WHERE g.community_id = c.id AND ST_Intersects(g.geom, p.g) ORDER BY g.code LIMIT 1)
           SELECT d.id AS district_id, d.code AS district_code,
                  (SELECT id FROM s) AS street_id, (SELECT code FROM s) AS street_code,
                  (SELECT id FROM c) AS community_id, (SELECT code FROM c) AS community_code,
                  (SELECT id FROM g) AS grid_id, (SELECT code FROM g) AS grid_code
             FROM d""",
        {"x": lon, "y": lat},
    )
    row = cur.fetchone()
    return dict(row) if row else None


# --------------------------------------------------------------------------- duplicates


def _candidates(cur, category_id: int, lon: float, lat: float, radius_m: float,
                exclude: int | None = None, limit: int = 5) -> list[dict]:
    # a degree box first (GiST index), then the exact distance on the spheroid
    deg = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01)) * 1.05
    cur.execute(
        """WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326) AS g)
           SELECT i.id, i.code, i.title, i.state, i.level, i.reported_at,
                  round(ST_Distance(i.geom::geography, p.g::geography)::numeric, 1) AS distance_m
             FROM incidents i, p
            WHERE i.category_id = %(cat)s AND i.closed_at IS NULL
              AND ST_DWithin(i.geom, p.g, %(deg)s)
              AND ST_DWithin(i.geom::geography, p.g::geography, %(r)s)
              AND i.id IS DISTINCT FROM %(ex)s
            ORDER BY distance_m, i.reported_at LIMIT %(n)s""",
        {"x": lon, "y": lat, "cat": category_id, "deg": deg, "r": radius_m, "ex": exclude,
         "n": limit},
    )
    return [dict(r) for r in cur.fetchall()]


def duplicate_candidates(actor: Actor, *, lon: float, lat: float, category: str,
                         crs: str = "wgs84", radius_m: float | None = None) -> list[dict]:
    """Open cases of the same category within ``radius_m`` (50 m) of a point, nearest first.

    Shown to a reporter before a new case is created: they may attach their report to one
    of them (:func:`attach_report`) instead. Only cases within the actor's scope are listed.
    """
    _permit(actor, "incident.create")
    x, y = _point(lon, lat, crs)
    radius = float(radius_m or get_settings().incident_duplicate_radius_m)
    with db.transaction(readonly=True) as cur:
        cat = _category(cur, category)
        rows = _candidates(cur, cat["id"], x, y, radius, limit=20)
        out = []
        for r in rows:
            case = _load(cur, r["id"], lock=False)
            if actor.principal.covers(_place(case)):
                out.append(_jsonable(r))
    return out[:5]


def _category(cur, code: str) -> dict:
    cur.execute("SELECT id, code, department_id, parent_id FROM incident_categories WHERE code = %s",
                (str(code),))
    row = cur.fetchone()
    if row is None:
        raise Refused("category.unknown", f"未知的事件类别 {code!r}", f"unknown category {code!r}")
    return dict(row)


# --------------------------------------------------------------------------- report


def report(
    actor: Actor,
    *,
    lon: float,
    lat: float,
    category: str,
    severity: str,
    title: str,
    description: str | None = None,
    level: str | None = None,
    crs: str = "wgs84",
    photo: bytes | None = None,
    photo_type: str | None = None,
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    triage: str | None = None,
    now: datetime | None = None,
    cur=None,
    brief: bool = False,
) -> dict:
    """Create a case (state ``reported``) located in its district, street, community, grid.

    Parameters
    ----------
    actor:
        Who reports; needs ``incident.create`` and the point inside their scope (a grid
        worker: inside their own grid).
    lon, lat:
        The point, WGS-84 unless ``crs='gcj02'`` (what Chinese phone maps produce); stored
        as WGS-84.
    level:
        Where the case starts; by default the actor's own level (grid worker: grid,
        community staff: community, street operator: street, others: district).
    photo:
        Optional image bytes (JPEG, PNG or WebP, at most ``INCIDENT_PHOTO_MAX_BYTES``).
    cur:
        Write inside the caller's open transaction (the caller commits or rolls back), so
        an intake can add its own rows atomically (:mod:`geo.incidents.open311`).
    triage:
        ``public``, ``shared`` or ``self`` (三事分流); by default the category's proposal
        (:mod:`geo.incidents.triage`). A grid worker's case reported during their open patrol
        links to it (``patrol_id``).
    brief:
        Return only ``id``, ``code``, ``state``, ``possible_duplicate_of`` and
        ``duplicate_candidates`` (an intake that answers with the code alone skips reading the
        whole case back).

    Returns
    -------
    dict
        The case as :func:`show` returns it, plus ``duplicate_candidates``: open cases of the
        same category within ``INCIDENT_DUPLICATE_RADIUS_M``. The new case is never
        swallowed: it is stored and, with candidates, flagged ``possible_duplicate_of``
        the nearest one.
    """
    at = _now(now)
    _permit(actor, "incident.create")
    x, y = _point(lon, lat, crs)
    if severity not in sm.SEVERITIES:
        raise Refused("severity", f"未知的紧急程度 {severity!r}",
                      f"unknown severity {severity!r}; expected one of {', '.join(sm.SEVERITIES)}")
    title = _text(title, "title", required=True, limit=200)
    description = _text(description, "description")
    from geo.incidents import triage as tri
    from geo.patrols import service as patrols

    tri.check(triage, Refused)
    own = ROLE_LEVEL.get(actor.role, "district")
    level = level or own
    if level not in sm.LEVELS:
        raise Refused("level", f"未知的层级 {level!r}",
                      f"unknown level {level!r}; expected one of {', '.join(sm.LEVELS)}")
    if actor.role in ("grid_worker", "community_staff", "street_operator") and level != own:
        raise Denied("level", f"{ROLE_NAMES[actor.role][0]}只能在{own}级上报",
                     f"a {actor.role} reports at {own} level, not {level}")
    radius = float(get_settings().incident_duplicate_radius_m)
    with (contextlib.nullcontext(cur) if cur is not None else db.transaction()) as cur:
        cat = _category(cur, category)
        where = locate(cur, x, y)
        if where is None:
            raise Refused("location.outside", f"该位置（{x:.6f}, {y:.6f}）不在本区范围内",
                          f"the point ({x:.6f}, {y:.6f}) lies outside the district")
        need = {"grid": "grid_code", "community": "community_code", "street": "street_code"}
        if level in need and where[need[level]] is None:
            raise Refused("location.level", f"该位置不在任何{level}内，不能在{level}级上报",
                          f"the point lies in no {level}: it cannot be reported at {level} level")
        place = where["grid_code"] or where["community_code"] or where["street_code"] \
            or where["district_code"]
        if actor.role == "grid_worker" and not actor.principal.covers(where["grid_code"]):
            raise Denied("location.grid",
                         f"网格员只能上报本网格 {actor.principal.scope_code} 内的事件（该点位于 "
                         f"{where['grid_code'] or '网格之外'}）",
                         f"a grid worker reports only inside their grid {actor.principal.scope_code}"
                         f" (the point is in {where['grid_code'] or 'no grid'})")
        _permit(actor, "incident.create", place)
        dups = _candidates(cur, cat["id"], x, y, radius)
        triage = triage or tri.proposed(cur, cat["id"])
        patrol_id = patrols.open_patrol_id(cur, actor.username, at) \
            if actor.role == "grid_worker" else None
        cur.execute("SELECT nextval('incident_code_seq') AS n")
        seq = int(cur.fetchone()["n"])
        local = at.astimezone(zoneinfo.ZoneInfo(get_settings().timezone))
        code = f"SJ{local:%Y%m%d}{seq:06d}"
        cur.execute(
            """INSERT INTO incidents (code, category_id, title, description, severity, state,
                   level, reported_at, district_id, street_id, community_id, grid_id,
                   reporter_name, reporter_phone, reported_by, possible_duplicate_of, geom, source,
                   triage, patrol_id)
               VALUES (%(code)s, %(cat)s, %(title)s, %(desc)s, %(sev)s, 'reported', %(level)s,
                   %(at)s, %(d)s, %(s)s, %(c)s, %(g)s, %(rn)s, %(rp)s, %(by)s, %(dup)s,
                   ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326), %(src)s, %(triage)s, %(patrol)s)
               RETURNING id""",
            {"code": code, "cat": cat["id"], "title": title, "desc": description, "sev": severity,
             "level": level, "at": at, "d": where["district_id"], "s": where["street_id"],
             "c": where["community_id"], "g": where["grid_id"],
             "rn": _text(reporter_name, "reporter_name", limit=100),
             "rp": _text(reporter_phone, "reporter_phone", limit=40), "by": actor.username,
             "dup": dups[0]["id"] if dups else None, "x": x, "y": y, "src": SOURCE,
             "triage": triage, "patrol": patrol_id},
        )
        case_id = int(cur.fetchone()["id"])
        case = {"id": case_id, "code": code, "state": None, "level": level, **where}
        photo_id = _store_photo(cur, case_id, actor, photo, at, photo_type) if photo else None
        _event(cur, case, actor, at, to_state="reported", level=level, note=description,
               photo_id=photo_id, detail={"crs": crs} if crs != "wgs84" else None)
        case["state"] = "reported"
        if dups:
            _event(cur, case, actor, at, kind="possible_duplicate",
                   detail={"candidates": [d["code"] for d in dups]})
        _audit(cur, actor, "incident.create", case, category=cat["code"], severity=severity,
               level=level, possible_duplicates=[d["code"] for d in dups], triage=triage,
               patrol_id=patrol_id)
        out = ({"id": case_id, "code": code, "state": "reported",
                "possible_duplicate_of": dups[0]["code"] if dups else None} if brief
               else _show(cur, case_id, at))
    out["duplicate_candidates"] = _jsonable(dups)
    return out


def attach_report(actor: Actor, case_id: int | str, *, note: str | None = None,
                  reporter_name: str | None = None, photo: bytes | None = None,
                  now: datetime | None = None) -> dict:
    """Attach a report to an existing open case instead of creating a new one.

    Written as a ``duplicate_report`` event on the case (no state change).
    """
    at = _now(now)
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=False)
        _permit(actor, "incident.create", _place(case))
        if case["closed_at"] is not None:
            raise Refused("case.closed", f"事件 {case['code']} 已办结，请新建上报",
                          f"case {case['code']} is closed: report a new case instead")
        photo_id = _store_photo(cur, case["id"], actor, photo, at) if photo else None
        _event(cur, case, actor, at, kind="duplicate_report", note=_text(note, "note"),
               photo_id=photo_id,
               detail={"reporter_name": _text(reporter_name, "reporter_name", limit=100)})
        _audit(cur, actor, "incident.create", case, attached=True)
        return _show(cur, case["id"], at)


# --------------------------------------------------------------------------- routing


def _proposed(cur, category_id: int, street_id: int | None) -> dict | None:
    cur.execute(
        """SELECT dep.id, dep.code, dep.name, x.via FROM (
               SELECT r.department_id AS id, 'street' AS via, 1 AS rank FROM incident_routes r
                WHERE r.category_id = %(cat)s AND r.street_id = %(s)s
               UNION ALL
               SELECT ic.department_id, 'category', 2 FROM incident_categories ic
                WHERE ic.id = %(cat)s AND ic.department_id IS NOT NULL
               UNION ALL
               SELECT p.department_id, 'parent category', 3 FROM incident_categories ic
                 JOIN incident_categories p ON p.id = ic.parent_id
                WHERE ic.id = %(cat)s AND p.department_id IS NOT NULL) x
             JOIN departments dep ON dep.id = x.id
            ORDER BY x.rank LIMIT 1""",
        {"cat": category_id, "s": street_id},
    )
    row = cur.fetchone()
    return dict(row) if row else None


def proposed_department(actor: Actor, case: Mapping | int | str) -> dict | None:
    """The department a case is routed to: category + street override, else the category's
    default department (else its parent category's); ``None`` when nothing is routed.

    Parameters
    ----------
    actor:
        Who asks: a case outside their scope is reported as missing.
    case:
        A case as :func:`show` returns it, or its id or code.

    Returns
    -------
    dict or None
        ``id``, ``code``, ``name`` and ``via`` (``street``, ``category``, ``parent category``).
    """
    with db.transaction(readonly=True) as cur:
        row = case if isinstance(case, Mapping) and "category_id" in case \
            else _load(cur, case["id"] if isinstance(case, Mapping) else case, lock=False)
        _visible(actor, row)
        return _proposed(cur, row["category_id"], row.get("street_id"))


def _department(cur, code: str) -> dict:
    cur.execute("SELECT id, code, name FROM departments WHERE code = %s", (str(code),))
    row = cur.fetchone()
    if row is None:
        raise Refused("department.unknown", f"未知的部门 {code!r}", f"unknown department {code!r}")
    return dict(row)


def set_route(actor: Actor, *, category: str, street: str, department: str | None,
              now: datetime | None = None) -> dict:
    """Route ``category`` in ``street`` to ``department`` (``None`` removes the override).

    Admins only (``incident.route``); audited.
    """
    _permit(actor, "incident.route")
    at = _now(now)
    with db.transaction() as cur:
        cat = _category(cur, category)
        cur.execute("SELECT id, code FROM streets WHERE code = %s", (str(street),))
        st = cur.fetchone()
        if st is None:
            raise Refused("street.unknown", f"未知的街道 {street!r}", f"unknown street {street!r}")
        _permit(actor, "incident.route", st["code"])
        cur.execute("SELECT d.code FROM incident_routes r JOIN departments d ON d.id = r.department_id"
                    " WHERE r.category_id = %s AND r.street_id = %s", (cat["id"], st["id"]))
        before = cur.fetchone()
        if department is None:
            cur.execute("DELETE FROM incident_routes WHERE category_id = %s AND street_id = %s",
                        (cat["id"], st["id"]))
            dep = None
        else:
            dep = _department(cur, department)
            cur.execute(
                """INSERT INTO incident_routes (category_id, street_id, department_id, updated_by,
                                                updated_at)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (category_id, street_id) DO UPDATE
                      SET department_id = EXCLUDED.department_id,
                          updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at""",
                (cat["id"], st["id"], dep["id"], actor.username, at))
        audit.record(cur, actor.principal, "incident.route", target=f"{cat['code']}@{st['code']}",
                     scope_code=st["code"],
                     detail={"before": before["code"] if before else None,
                             "after": dep["code"] if dep else None})
    return {"category": cat["code"], "street": st["code"], "department": dep["code"] if dep else None}


def list_routes(actor: Actor) -> list[dict]:
    """Every per-street override (category, street, department)."""
    _permit(actor, "view.incidents")
    rows = db.fetch_all(
        """SELECT ic.code AS category, s.code AS street, d.code AS department, r.updated_by,
                  r.updated_at
             FROM incident_routes r JOIN incident_categories ic ON ic.id = r.category_id
             JOIN streets s ON s.id = r.street_id JOIN departments d ON d.id = r.department_id
            ORDER BY s.code, ic.code""")
    return [_jsonable(dict(r)) for r in rows if actor.principal.sees(r["street"])]


def tie_user_to_department(actor: Actor | Principal, username: str, department: str) -> None:
    """Tie a department account to its department (``users add --department``); audited."""
    actor = actor if isinstance(actor, Actor) else Actor(actor)
    _permit(actor, "users.manage")
    with db.transaction() as cur:
        dep = _department(cur, department)
        cur.execute("UPDATE users SET department_id = %s WHERE username = %s RETURNING id, role",
                    (dep["id"], username))
        row = cur.fetchone()
        if row is None:
            raise Refused("user.unknown", f"没有用户 {username!r}", f"no user {username!r}")
        if row["role"] != "department":
            raise Refused("user.role", "只有职能部门账号可以关联部门",
                          f"only a department account is tied to a department ({username} is "
                          f"{row['role']})")
        audit.record(cur, actor.principal, "user.department", target=username,
                     after_ids=[row["id"]], detail={"department": dep["code"]})


def check_department(code: str) -> None:
    """Refuse an unknown department code (before anything is written)."""
    with db.transaction(readonly=True) as cur:
        _department(cur, code)


# --------------------------------------------------------------------------- transitions


def step_action(from_state: str, to_state: str) -> str:
    """The registry action that guards a move (see :mod:`geo.access.permissions`)."""
    if to_state in ("resolved", "escalated"):
        return "incident.local"
    if from_state == "deferred" or to_state == "deferred":
        return "incident.defer.decide"
    if to_state in ("filed", "dispatched"):
        return "incident.dispatch"
    if to_state in ("accepted", "handled"):
        return "incident.work"
    if to_state in ("verified", "returned", "closed"):
        return "incident.verify"
    if to_state == "evaluated":
        return "incident.evaluate"
    if to_state == "duplicate":
        return "incident.merge"
    raise Refused("state", f"未知的状态 {to_state!r}", f"unknown state {to_state!r}")


def _check_actor_rules(actor: Actor, action: str, case: Mapping) -> None:
    """Level and department rules on top of the role and scope."""
    if actor.role == "admin":
        return
    if action == "incident.local" and ROLE_LEVEL.get(actor.role) != case["level"]:
        raise Denied("level",
                     f"该事件在{case['level']}级，{ROLE_NAMES[actor.role][0]}不能在此级处置",
                     f"the case is at {case['level']} level; a {actor.role} acts at "
                     f"{ROLE_LEVEL.get(actor.role)} level")
    if action in ("incident.work", "incident.defer.request") and actor.role == "department":
        if actor.department_id is None:
            raise Denied("department.none", "您的账号未关联任何部门",
                         "your account is tied to no department (users add --department)")
        if case["department_id"] != actor.department_id:
            raise Denied("department.other",
                         f"事件 {case['code']} 派给了其他部门（{case['department'] or '未派遣'}）",
                         f"case {case['code']} is assigned to another department "
                         f"({case['department'] or 'none'})")


def _deferred_from(cur, case_id: int) -> tuple[str, datetime]:
    cur.execute(
        """SELECT from_state, at FROM incident_events
            WHERE incident_id = %s AND kind = 'transition' AND to_state = 'deferred'
            ORDER BY at DESC, id DESC LIMIT 1""", (case_id,))
    row = cur.fetchone()
    if row is None:  # not written by this service: resume to dispatched, no extension
        return "dispatched", None  # type: ignore[return-value]
    return row["from_state"], row["at"]


def _apply(cur, actor: Actor, case: dict, to_state: str, at: datetime, *, note: str | None,
           department: str | None = None, photo: bytes | None = None,
           extra: Mapping[str, Any] | None = None, detail: dict | None = None) -> None:
    """Check and write one state change (row, event, audit) on a locked case."""
    from_state, level = case["state"], case["level"]
    why = sm.explain_transition(from_state, to_state, level)
    if why:
        raise Refused("state", f"事件 {case['code']} 当前{STATE_ZH.get(from_state, from_state)}"
                      f"（{level}级），不能转为「{STATE_ZH.get(to_state, to_state)}」", why)
    action = step_action(from_state, to_state)
    _permit(actor, action, _place(case))
    _check_actor_rules(actor, action, case)
    fields: dict[str, Any] = {"state": to_state}
    new_level = sm.next_level(level) if to_state == "escalated" else level
    fields["level"] = new_level
    detail = dict(detail or {})
    if from_state == "deferred":
        back, since = _deferred_from(cur, case["id"])
        if to_state != back:
            raise Refused("deferral.resume", f"缓办结束后应回到「{STATE_ZH[back]}」",
                          f"a deferred case resumes to {back!r}, the state it was deferred from")
        if since is not None and case["due_at"] is not None:
            fields["due_at"] = clock().extend(case["due_at"], since, at)
            detail["due_at_before"] = case["due_at"]
        cur.execute("UPDATE incident_deferrals SET ended_at = %s WHERE incident_id = %s"
                    " AND approved AND ended_at IS NULL", (at, case["id"]))
    if to_state == "dispatched" and case.get("triage") == "self":
        raise Refused("triage.self", f"事件 {case['code']} 属自我事务，应在社区与居民协商解决，不派遣"
                      "（如需派遣，请先改为公共事务或互助事务）",
                      f"case {case['code']} is a self case (自我事务): it is resolved with the residents "
                      "in the community and never dispatched; change its triage at filing first")
    if to_state == "dispatched" and from_state == "filed":
        if department:
            dep = _department(cur, department)
        else:
            dep = _proposed(cur, case["category_id"], case["street_id"])
            if dep is None:
                raise Refused("department.none",
                              f"类别 {case['category']} 没有默认部门，请指定派遣部门",
                              f"category {case['category']} routes to no department: name one")
        fields["department_id"] = dep["id"]
        detail["department"] = dep["code"]
        if case["dispatched_at"] is None:
            fields["dispatched_at"] = at
            fields["due_at"] = clock().due_at(at, case["severity"])
    if "triage" in (extra or {}) and extra["triage"] != case.get("triage"):
        detail["triage"] = {"before": case.get("triage"), "after": extra["triage"]}
    if to_state == "handled":
        fields["handled_at"] = at
    if to_state == "returned":
        fields["handled_at"] = None  # rework: handled again later, the deadline kept
    if to_state in sm.CLOSED_STATES:
        fields["closed_at"] = at
        fields["closed_level"] = new_level
    fields.update(extra or {})
    photo_id = _store_photo(cur, case["id"], actor, photo, at) if photo else None
    _event(cur, case, actor, at, to_state=to_state, level=new_level, note=note,
           photo_id=photo_id, detail=detail or None)
    case["version"] = _update(cur, case["id"], fields)
    _audit(cur, actor, action, case, from_state=from_state, to_state=to_state,
           level=new_level, **{k: v for k, v in detail.items() if k != "due_at_before"})
    case.update(fields)


def transition(
    actor: Actor,
    case_id: int | str,
    to_state: str,
    *,
    note: str | None = None,
    department: str | None = None,
    expected_version: int | None = None,
    expected_state: str | None = None,
    photo: bytes | None = None,
    triage: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Move a case one legal step (see :data:`geo.incidents.states.TRANSITIONS`).

    Parameters
    ----------
    to_state:
        The state wanted. ``deferred`` goes through :func:`request_deferral` and
        :func:`decide_deferral`, ``evaluated`` through :func:`evaluate`, ``duplicate``
        through :func:`merge_duplicates`; resuming a deferral early is a move back to the
        state it was deferred from (district operator).
    department:
        When dispatching: the department code, overriding :func:`proposed_department`.
    expected_version, expected_state:
        What the actor saw; when the case has moved on since, :class:`CaseChanged`.
    triage:
        When filing: ``public``, ``shared`` or ``self`` (三事分流), replacing the proposal.

    Returns
    -------
    dict
        The case as :func:`show` returns it.
    """
    at = _now(now)
    note = _text(note, "note")
    if triage is not None:
        from geo.incidents.triage import check as check_triage

        check_triage(triage, Refused)
        if to_state != "filed":
            raise Refused("triage.state", "分流类型在立案时确定", "the triage is set when the case is filed")
    if to_state == "deferred":
        raise Refused("deferral.request", "缓办须由部门申请、区值班员批准",
                      "a deferral is requested by the department and approved by the district "
                      "operator (request_deferral / decide_deferral)")
    if to_state == "evaluated":
        raise Refused("evaluation.grade", "评价须给出满意、基本满意或不满意",
                      "an evaluation needs a grade: satisfied, basically_satisfied or dissatisfied")
    if to_state == "duplicate":
        raise Refused("duplicate.merge", "重复件须由区值班员合并",
                      "a duplicate is closed by merging it into the case kept (merge_duplicates)")
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=True)
        _visible(actor, case)
        _expect(case, expected_version, expected_state)
        _apply(cur, actor, case, to_state, at, note=note, department=department, photo=photo,
               extra={"triage": triage} if triage else None)
        return _show(cur, case["id"], at)


def evaluate(actor: Actor, case_id: int | str, grade: str, *, comment: str | None = None,
             expected_version: int | None = None, now: datetime | None = None) -> dict:
    """Record the evaluation of a closed case: 满意 / 基本满意 / 不满意 and a comment."""
    at = _now(now)
    key = _GRADE_ALIASES.get(grade, grade)
    if key not in GRADES:
        raise Refused("evaluation.grade", f"未知的评价 {grade!r}（满意、基本满意、不满意）",
                      f"unknown grade {grade!r}; expected one of {', '.join(GRADES)}")
    comment = _text(comment, "comment")
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=True)
        _visible(actor, case)
        _expect(case, expected_version, None)
        _apply(cur, actor, case, "evaluated", at, note=comment,
               extra={"evaluation": key, "evaluation_comment": comment},
               detail={"grade": key})
        return _show(cur, case["id"], at)


# --------------------------------------------------------------------------- other events


def _note_event(actor: Actor, case_id: int | str, action: str, kind: str, *,
                note: str | None, photo: bytes | None = None, photo_type: str | None = None,
                open_only: bool = False, now: datetime | None = None) -> dict:
    at = _now(now)
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=False)
        _visible(actor, case)
        _permit(actor, action, _place(case))
        if open_only and case["closed_at"] is not None:
            raise Refused("case.closed", f"事件 {case['code']} 已办结", f"case {case['code']} is closed")
        photo_id = _store_photo(cur, case["id"], actor, photo, at, photo_type) if photo else None
        _event(cur, case, actor, at, kind=kind, note=note, photo_id=photo_id)
        _audit(cur, actor, action, case, kind=kind)
        return _show(cur, case["id"], at)


def urge(actor: Actor, case_id: int | str, note: str, *, now: datetime | None = None) -> dict:
    """督办: urge an open case (an ``urge`` event; the state does not change)."""
    return _note_event(actor, case_id, "incident.urge", "urge",
                       note=_text(note, "note", required=True), open_only=True, now=now)


def comment(actor: Actor, case_id: int | str, text: str, *, now: datetime | None = None) -> dict:
    """A comment on a case (a ``comment`` event)."""
    return _note_event(actor, case_id, "incident.comment", "comment",
                       note=_text(text, "comment", required=True), now=now)


def attach_photo(actor: Actor, case_id: int | str, data: bytes, *, content_type: str | None = None,
                 note: str | None = None, now: datetime | None = None) -> dict:
    """Attach a photo (stored in the database; type and size checked)."""
    if not data:
        raise Refused("photo.empty", "照片为空", "the photo is empty")
    return _note_event(actor, case_id, "incident.photo", "photo", note=_text(note, "note"),
                       photo=data, photo_type=content_type, now=now)


# --------------------------------------------------------------------------- deferral


def request_deferral(actor: Actor, case_id: int | str, *, reason: str, until: datetime,
                     now: datetime | None = None) -> dict:
    """The department asks to defer (缓办) a dispatched or accepted case until ``until``."""
    at = _now(now)
    reason = _text(reason, "reason", required=True)
    if until.tzinfo is None or until <= at:
        raise Refused("deferral.until", "缓办截止时间须晚于现在",
                      "a deferral must end in the future (a timezone-aware time)")
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=True)
        _visible(actor, case)
        _permit(actor, "incident.defer.request", _place(case))
        _check_actor_rules(actor, "incident.defer.request", case)
        if not sm.can_transition(case["state"], "deferred", case["level"]):
            raise Refused("deferral.state", f"只有已派遣或已受理的事件可以缓办（当前"
                          f"{STATE_ZH[case['state']]}）",
                          f"only a dispatched or accepted case can be deferred (it is {case['state']})")
        cur.execute("SELECT 1 FROM incident_deferrals WHERE incident_id = %s AND decided_at IS NULL",
                    (case["id"],))
        if cur.fetchone():
            raise Refused("deferral.pending", "该事件已有待审批的缓办申请",
                          "a deferral request for this case awaits a decision already")
        cur.execute(
            """INSERT INTO incident_deferrals (incident_id, reason, requested_by, requested_at,
                                               requested_until)
               VALUES (%s, %s, %s, %s, %s) RETURNING id""",
            (case["id"], reason, actor.username, at, until))
        did = int(cur.fetchone()["id"])
        _event(cur, case, actor, at, kind="deferral_requested", note=reason,
               detail={"until": until, "deferral_id": did})
        _audit(cur, actor, "incident.defer.request", case, until=until, reason=reason)
        return _show(cur, case["id"], at)


def decide_deferral(actor: Actor, case_id: int | str, *, approve: bool, note: str | None = None,
                    expected_version: int | None = None, now: datetime | None = None) -> dict:
    """The district operator approves (the case becomes ``deferred``) or rejects a request."""
    at = _now(now)
    note = _text(note, "note")
    with db.transaction() as cur:
        case = _load(cur, case_id, lock=True)
        _visible(actor, case)
        _expect(case, expected_version, None)
        _permit(actor, "incident.defer.decide", _place(case))
        cur.execute("""SELECT id, reason, requested_until FROM incident_deferrals
                        WHERE incident_id = %s AND decided_at IS NULL FOR UPDATE""", (case["id"],))
        req = cur.fetchone()
        if req is None:
            raise Refused("deferral.none", "该事件没有待审批的缓办申请",
                          "this case has no deferral request awaiting a decision")
        if approve:
            if req["requested_until"] <= at:
                raise Refused("deferral.until", "申请的缓办截止时间已过",
                              "the requested deferral would already be over")
            _apply(cur, actor, case, "deferred", at, note=note,
                   detail={"until": req["requested_until"], "reason": req["reason"],
                           "deferral_id": req["id"]})
        else:
            _event(cur, case, actor, at, kind="deferral_rejected", note=note,
                   detail={"deferral_id": req["id"]})
            _audit(cur, actor, "incident.defer.decide", case, approved=False)
        cur.execute("""UPDATE incident_deferrals SET decided_by = %s, decided_at = %s,
                              approved = %s, decision_note = %s WHERE id = %s""",
                    (actor.username, at, bool(approve), note, req["id"]))
        return _show(cur, case["id"], at)


# --------------------------------------------------------------------------- duplicates


def merge_duplicates(actor: Actor, keep: int | str, duplicates: Iterable[int | str], *,
                     note: str | None = None, now: datetime | None = None) -> dict:
    """Close ``duplicates`` as duplicates of ``keep`` (linked, out of the KPIs).

    Each duplicate must be open; the case kept gets a ``merged`` event listing them.
    """
    at = _now(now)
    note = _text(note, "note")
    refs = list(duplicates)
    if not refs:
        raise Refused("duplicate.none", "请指定重复件", "name at least one duplicate case")
    with db.transaction() as cur:
        kept = _load(cur, keep, lock=False)
        ids = sorted({_load(cur, r, lock=False)["id"] for r in refs})
        if kept["id"] in ids:
            raise Refused("duplicate.self", "事件不能与自身合并", "a case cannot be merged into itself")
        # lock in id order: two merges never deadlock
        locked = {i: _load(cur, i, lock=True) for i in sorted([kept["id"], *ids])}
        kept = locked[kept["id"]]
        _visible(actor, kept)
        _permit(actor, "incident.merge", _place(kept))
        if kept["state"] == "duplicate":
            raise Refused("duplicate.kept", f"{kept['code']} 本身是重复件",
                          f"{kept['code']} is itself a duplicate; merge into its case {kept['duplicate_of']}")
        codes = []
        for i in ids:
            dup = locked[i]
            _visible(actor, dup)
            if dup["closed_at"] is not None:
                raise Refused("duplicate.closed", f"{dup['code']} 已办结，不能作为重复件合并",
                              f"{dup['code']} is closed already: only open cases are merged")
            if dup["district_id"] != kept["district_id"]:
                raise Refused("duplicate.district", "重复件须在同一区",
                              "duplicates must lie in the same district")
            _apply(cur, actor, dup, "duplicate", at, note=note,
                   extra={"duplicate_of": kept["id"]}, detail={"duplicate_of": kept["code"]})
            codes.append(dup["code"])
        _event(cur, kept, actor, at, kind="merged", note=note, detail={"merged": codes})
        return _show(cur, kept["id"], at)


# --------------------------------------------------------------------------- the clock tick


def tick(now: datetime | None = None) -> dict:
    """Mark newly overdue cases once (an ``overdue`` event each) and end expired deferrals.

    Safe to run every minute and from several processes at once: rows are locked, and a
    second run at the same moment changes nothing. Returns the counts.
    """
    at = _now(now)
    actor = Actor(Principal("system:tick", "admin", None))
    ended: list[str] = []
    with db.transaction() as cur:
        cur.execute(
            """SELECT i.id FROM incidents i
                WHERE i.state = 'deferred' AND EXISTS (
                      SELECT 1 FROM incident_deferrals d
                       WHERE d.incident_id = i.id AND d.approved AND d.ended_at IS NULL
                         AND d.requested_until <= %s)
                ORDER BY i.id FOR UPDATE OF i SKIP LOCKED""", (at,))
        for row in cur.fetchall():
            case = _load(cur, row["id"], lock=True)
            back, _since = _deferred_from(cur, case["id"])
            cur.execute("SELECT max(requested_until) AS u FROM incident_deferrals WHERE incident_id = %s"
                        " AND approved AND ended_at IS NULL", (case["id"],))
            until = cur.fetchone()["u"]
            _apply(cur, actor, case, back, until, note="缓办期满 / deferral expired")
            ended.append(case["code"])
        cur.execute(
            """WITH o AS (
                   UPDATE incidents i SET overdue_marked_due = i.due_at
                    WHERE i.closed_at IS NULL AND i.dispatched_at IS NOT NULL
                      AND i.due_at < %(now)s AND i.state <> 'deferred'
                      AND i.overdue_marked_due IS DISTINCT FROM i.due_at
                   RETURNING i.id, i.state, i.level, i.due_at)
               INSERT INTO incident_events (incident_id, at, from_state, to_state, level, actor,
                                            actor_role, kind, detail, source)
               SELECT o.id, %(now)s, o.state, o.state, o.level, %(who)s, 'admin', 'overdue',
                      jsonb_build_object('due_at', o.due_at), 'derived'
                 FROM o
               RETURNING incident_id""",
            {"now": at, "who": actor.username},
        )
        overdue = len(cur.fetchall())
        from geo.patrols.service import end_stale

        patrols_ended = end_stale(cur, at)
        if overdue or ended or patrols_ended:
            audit.record(cur, actor.principal, "incident.tick",
                         detail={"overdue_marked": overdue, "deferrals_ended": ended, "at": at,
                                 "patrols_ended": patrols_ended})
    return {"at": at.isoformat(), "overdue_marked": overdue, "deferrals_ended": len(ended),
            "patrols_ended": len(patrols_ended)}


# --------------------------------------------------------------------------- reads


def _show(cur, case_id: int, now: datetime) -> dict:
    case = _load(cur, case_id, lock=False)
    cur.execute(
        """SELECT id, at, kind, from_state, to_state, level, actor, actor_role, note, photo_id,
                  detail
             FROM incident_events WHERE incident_id = %s ORDER BY at, id""", (case_id,))
    events = [dict(r) for r in cur.fetchall()]
    cur.execute(
        """SELECT id, reason, requested_by, requested_at, requested_until, decided_by,
                  decided_at, approved, ended_at
             FROM incident_deferrals WHERE incident_id = %s ORDER BY requested_at DESC, id DESC
            LIMIT 1""", (case_id,))
    deferral = cur.fetchone()
    out = {k: v for k, v in case.items() if k not in ("overdue_marked_due",)}
    is_open = case["closed_at"] is None
    out["overdue"] = bool(is_open and case["due_at"] is not None and case["state"] != "deferred"
                          and now > case["due_at"])
    out["urgency"] = (sm.urgency(now, case["dispatched_at"], case["due_at"])
                      if is_open and case["due_at"] is not None and case["state"] != "deferred"
                      else None)
    out["deferral"] = dict(deferral) if deferral else None
    if case["state"] == "filed":
        prop = _proposed(cur, case["category_id"], case["street_id"])
        out["proposed_department"] = prop["code"] if prop else None
    out["events"] = events
    from geo.incidents.whistles import case_whistles

    out["whistles"] = case_whistles(cur, case_id, now)
    return _jsonable(out)


def show(actor: Actor, case_id: int | str, *, now: datetime | None = None) -> dict:
    """A case and its events (JSON-ready), for an actor who may see it.

    Reporter names and phones are left out unless the actor may see personal data.
    """
    _permit(actor, "view.incidents")
    at = _now(now)
    with db.transaction(readonly=True) as cur:
        case = _load(cur, case_id, lock=False)
        _visible(actor, case)
        out = _show(cur, case["id"], at)
    if not permissions.allowed(actor.role, "view.personal"):
        out["reporter_name"] = out["reporter_phone"] = None
    return out
