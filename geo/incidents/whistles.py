"""吹哨报到: a street (or community) blows a whistle on a case; the departments summoned report in.

A street operator (a **street** whistle) or community staff (a **community** whistle, for a
case in their community) blows a whistle of a kind on an open case, naming the departments
summoned. Each kind has a time to report (``WHISTLE_LIMIT_EMERGENCY|QUICK|TOUGH``, by default
30 minutes, 2 hours and 1 day): ``due_at = blown_at + limit(kind)``. Each summoned department
reports in (报到) with a note; the case shows who came and when, and who is late.

Both are events of the incident service (kinds ``whistle`` and ``report_in``), written with
their rows and the audit entry in one transaction, after the registry (``incident.whistle``,
``incident.report_in``) and the scope (the case's place inside the actor's scope) agree.
Neither changes the case's state nor bumps its version (like an urge or a comment).

Readings
--------
* A department is **on time** when ``reported_at <= due_at``; **late** when it reported after;
  **missed** when it has not reported and ``due_at`` is past; **waiting** before that.
* One report answers every pending summons of that department on the case (two whistles
  calling the same department are answered by its one arrival).
* A report to a closed case is refused: a summons unanswered when the case closed stays
  missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from geo import db
from geo.settings import WHISTLE_DEFAULTS, get_settings

KINDS: tuple[str, ...] = ("emergency", "quick", "tough")
KIND_ZH: dict[str, str] = {"emergency": "应急哨", "quick": "快速哨", "tough": "攻坚哨"}
DEFAULT_LIMITS: dict[str, timedelta] = {
    "emergency": timedelta(minutes=30), "quick": timedelta(hours=2), "tough": timedelta(days=1)}
assert set(DEFAULT_LIMITS) == set(WHISTLE_DEFAULTS) == set(KINDS)

MAX_DEPARTMENTS = 20
# The level of the whistle each role blows.
ROLE_WHISTLE_LEVEL = {"street_operator": "street", "community_staff": "community", "admin": "street"}


def limit(kind: str) -> timedelta:
    """The time to report for a whistle of ``kind`` (settings, else :data:`DEFAULT_LIMITS`)."""
    return (get_settings().whistle_limits or {}).get(kind) or DEFAULT_LIMITS[kind]


def status(reported_at: datetime | None, due_at: datetime, now: datetime) -> str:
    """``on_time``, ``late``, ``missed`` or ``waiting`` (see the module docstring)."""
    if reported_at is not None:
        return "on_time" if reported_at <= due_at else "late"
    return "missed" if now > due_at else "waiting"


def _codes(departments: str | Iterable[str], refused) -> list[str]:
    raw = departments.split(",") if isinstance(departments, str) else list(departments or [])
    codes = [str(c).strip() for c in raw if str(c).strip()]
    if not codes:
        raise refused("whistle.departments", "请至少指定一个被召集的部门",
                      "name at least one department summoned")
    if len(set(codes)) != len(codes):
        raise refused("whistle.departments", "部门重复", f"a department is named twice: {', '.join(codes)}")
    if len(codes) > MAX_DEPARTMENTS:
        raise refused("whistle.departments", f"一次吹哨最多召集 {MAX_DEPARTMENTS} 个部门",
                      f"a whistle summons at most {MAX_DEPARTMENTS} departments")
    return codes


def blow(actor, case_id: int | str, kind: str, departments: str | Iterable[str], *,
         note: str | None = None, now: datetime | None = None) -> dict:
    """Blow a whistle of ``kind`` on an open case, summoning ``departments`` (codes).

    Parameters
    ----------
    actor:
        A street operator (street whistle), community staff (community whistle) or admin;
        the case must lie in their scope.
    kind:
        ``emergency``, ``quick`` or ``tough``.
    departments:
        Department codes (a list, or one comma-separated string).

    Returns
    -------
    dict
        The case as :func:`geo.incidents.service.show` returns it (with ``whistles``).
    """
    from geo.incidents import service as svc

    at = svc._now(now)
    if kind not in KINDS:
        raise svc.Refused("whistle.kind", f"未知的哨种 {kind!r}（emergency 应急、quick 快速、tough 攻坚）",
                          f"unknown whistle kind {kind!r}; expected one of {', '.join(KINDS)}")
    codes = _codes(departments, svc.Refused)
    note = svc._text(note, "note")
    due = at + limit(kind)
    with db.transaction() as cur:
        case = svc._load(cur, case_id, lock=False)
        svc._visible(actor, case)
        svc._permit(actor, "incident.whistle", svc._place(case))
        if case["closed_at"] is not None:
            raise svc.Refused("case.closed", f"事件 {case['code']} 已办结，不能吹哨",
                              f"case {case['code']} is closed: no whistle")
        deps = [svc._department(cur, c) for c in codes]
        level = ROLE_WHISTLE_LEVEL[actor.role]
        cur.execute(
            """INSERT INTO incident_whistles (incident_id, kind, level, blown_by, blown_at, due_at, note)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (case["id"], kind, level, actor.username, at, due, note))
        wid = int(cur.fetchone()["id"])
        for dep in deps:
            cur.execute("INSERT INTO incident_whistle_departments (whistle_id, department_id)"
                        " VALUES (%s, %s)", (wid, dep["id"]))
        svc._event(cur, case, actor, at, kind="whistle", note=note,
                   detail={"whistle_id": wid, "kind": kind, "level": level, "due_at": due,
                           "departments": codes})
        svc._audit(cur, actor, "incident.whistle", case, whistle_id=wid, kind=kind, level=level,
                   due_at=due, departments=codes)
        return svc._show(cur, case["id"], at)


def report_in(actor, case_id: int | str, *, note: str | None = None,
              department: str | None = None, now: datetime | None = None) -> dict:
    """The actor's department reports in (报到) to the whistles on a case that summoned it.

    Parameters
    ----------
    actor:
        A department account tied to its department (``incident.report_in``); an admin names
        the ``department``.
    department:
        Only for an admin; a department account reports for its own department.

    Raises
    ------
    Denied
        Rule ``whistle.not_summoned`` when no whistle on the case summoned the department.
    Refused
        ``whistle.reported`` when it has reported to every whistle already; ``case.closed``.
    """
    from geo.incidents import service as svc

    at = svc._now(now)
    note = svc._text(note, "note")
    with db.transaction() as cur:
        case = svc._load(cur, case_id, lock=False)
        svc._visible(actor, case)
        svc._permit(actor, "incident.report_in", svc._place(case))
        if actor.role == "admin":
            if not department:
                raise svc.Refused("department.none", "请指定报到的部门", "name the department reporting in")
            dep = svc._department(cur, department)
        else:
            if actor.department_id is None:
                raise svc.Denied("department.none", "您的账号未关联任何部门",
                                 "your account is tied to no department (users add --department)")
            cur.execute("SELECT id, code, name FROM departments WHERE id = %s", (actor.department_id,))
            dep = dict(cur.fetchone())
            if department and department != dep["code"]:
                raise svc.Denied("department.other", "只能为本部门报到",
                                 f"you report in for your own department {dep['code']} only")
        cur.execute(
            """SELECT wd.whistle_id, wd.reported_at, w.due_at, w.blown_at
                 FROM incident_whistle_departments wd
                 JOIN incident_whistles w ON w.id = wd.whistle_id
                WHERE w.incident_id = %s AND wd.department_id = %s AND w.blown_at <= %s
                ORDER BY w.blown_at, w.id FOR UPDATE OF wd""", (case["id"], dep["id"], at))
        rows = [dict(r) for r in cur.fetchall()]
        if not rows:
            raise svc.Denied("whistle.not_summoned",
                             f"事件 {case['code']} 的吹哨没有召集 {dep['name']}（{dep['code']}）",
                             f"no whistle on case {case['code']} summoned department {dep['code']}")
        pending = [r for r in rows if r["reported_at"] is None]
        if not pending:
            raise svc.Refused("whistle.reported", f"{dep['name']} 已报到",
                              f"department {dep['code']} has reported in to every whistle on "
                              f"case {case['code']} already")
        if case["closed_at"] is not None:
            raise svc.Refused("case.closed", f"事件 {case['code']} 已办结",
                              f"case {case['code']} is closed")
        ids = [r["whistle_id"] for r in pending]
        cur.execute(
            """UPDATE incident_whistle_departments SET reported_at = %s, reported_by = %s, note = %s
                WHERE department_id = %s AND whistle_id = ANY(%s)""",
            (at, actor.username, note, dep["id"], ids))
        late = [r["whistle_id"] for r in pending if at > r["due_at"]]
        svc._event(cur, case, actor, at, kind="report_in", note=note,
                   detail={"department": dep["code"], "whistles": ids, "late": late})
        svc._audit(cur, actor, "incident.report_in", case, department=dep["code"], whistles=ids,
                   late=late)
        return svc._show(cur, case["id"], at)


def case_whistles(cur, case_id: int, now: datetime) -> list[dict]:
    """The whistles of a case, oldest first, each with its departments (codes in order).

    Each whistle: ``id``, ``kind``, ``level``, ``blown_by``, ``blown_at``, ``due_at``, ``note``,
    ``late`` (codes late or missed) and ``departments``: ``code``, ``name``, ``reported_at``
    (or ``None``), ``reported_by``, ``note`` and ``status`` (:func:`status` at ``now``).
    """
    cur.execute(
        """SELECT w.id, w.kind, w.level, w.blown_by, w.blown_at, w.due_at, w.note,
                  d.code, d.name, wd.reported_at, wd.reported_by, wd.note AS report_note
             FROM incident_whistles w
             JOIN incident_whistle_departments wd ON wd.whistle_id = w.id
             JOIN departments d ON d.id = wd.department_id
            WHERE w.incident_id = %s
            ORDER BY w.blown_at, w.id, d.code""", (case_id,))
    out: dict[int, dict] = {}
    for r in cur.fetchall():
        w = out.setdefault(r["id"], {
            "id": r["id"], "kind": r["kind"], "kind_name": KIND_ZH[r["kind"]], "level": r["level"],
            "blown_by": r["blown_by"], "blown_at": r["blown_at"], "due_at": r["due_at"],
            "note": r["note"], "late": [], "departments": []})
        st = status(r["reported_at"], r["due_at"], now)
        w["departments"].append({"code": r["code"], "name": r["name"], "reported_at": r["reported_at"],
                                 "reported_by": r["reported_by"], "note": r["report_note"],
                                 "status": st})
        if st in ("late", "missed"):
            w["late"].append(r["code"])
    return list(out.values())
