"""The incident desk: what the /incidents screens read besides the list, actor first.

* :func:`scoped_filter`: a department account lists only its own department's cases and
  those a whistle summoned it to (the scope alone would show it the whole district);
* :func:`inbox_filter`: the cases waiting for this actor's action (待办), as a
  :class:`~geo.incidents.listing.CaseFilter`;
* :func:`available_actions`: exactly the steps this actor may take on a case now (the
  service decides again when the step is taken; this only chooses which forms to show);
* :func:`departments`, :func:`categories`, :func:`grid_outline`: menus and the case map.

No Dash here; every read checks ``view.incidents`` and the actor's scope first.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from geo import db
from geo.access import permissions
from geo.incidents import service
from geo.incidents import states as sm
from geo.incidents.listing import CaseFilter

LOCAL_ROLES = ("grid_worker", "community_staff", "street_operator")
OPEN_STATES = tuple(s for s in sm.STATES if s not in sm.CLOSED_STATES)


def department_code(actor: service.Actor) -> str | None:
    """The code of the department the actor's account is tied to (``None``: none)."""
    if actor.department_id is None:
        return None
    row = db.fetch_one("SELECT code FROM departments WHERE id = %s", (actor.department_id,))
    return row["code"] if row else None


def scoped_filter(actor: service.Actor, flt: CaseFilter) -> CaseFilter:
    """``flt`` narrowed to what the actor works on: a department sees its own cases and the
    cases a whistle summoned it to (吹哨报到), nothing else.

    A department account tied to no department sees nothing (an impossible department).
    """
    if actor.role != "department":
        return flt
    code = department_code(actor)
    if code is None:
        raise service.Denied("department.none", "您的账号未关联任何部门，无法查看事件",
                             "your account is tied to no department: no cases to show")
    return dataclasses.replace(flt, department=code, summoned=flt.summoned or "any")


def inbox_filter(actor: service.Actor, base: CaseFilter | None = None) -> CaseFilter | None:
    """The cases waiting for the actor (待办); ``None`` for a role that acts on none (leader).

    * grid worker, community staff, street operator: reported or escalated cases at their
      own level (resolve or escalate);
    * district operator (and admin): cases arrived at the district (file), filed (dispatch),
      handled (verify) and verified (close);
    * department: its cases dispatched (accept), accepted or returned (handle), and the open
      cases a whistle summoned it to that wait for its report-in (报到).
    """
    base = base or CaseFilter()
    role = actor.role
    if role in LOCAL_ROLES:
        return dataclasses.replace(base, states=("reported", "escalated"),
                                   levels=(service.ROLE_LEVEL[role],))
    if role in ("operator", "admin"):
        return dataclasses.replace(base, states=("reported", "escalated", "filed", "handled",
                                                 "verified"), levels=("district",))
    if role == "department":
        return scoped_filter(actor, dataclasses.replace(
            base, states=("dispatched", "accepted", "returned"), summoned="pending"))
    return None


def _may(actor: service.Actor, action: str) -> bool:
    return permissions.allowed(actor.role, action) and not actor.principal.anonymous_wall


def available_actions(actor: service.Actor, case: Mapping) -> list[str]:
    """The steps the actor may take on ``case`` (as :func:`service.show` returns it) now.

    Names: ``resolve``, ``escalate``, ``file``, ``dispatch``, ``accept``, ``handle``,
    ``defer_request``, ``defer_approve``, ``defer_reject``, ``verify``, ``return``,
    ``close``, ``evaluate``, ``urge``, ``merge``, ``whistle``, ``report_in``. A leader reads
    and changes nothing: none.
    """
    role, state, level = actor.role, case["state"], case["level"]
    if role == "leader" or actor.principal.anonymous_wall:
        return []
    if not actor.principal.covers(case.get("grid_code") or case.get("community_code")
                                  or case.get("street_code") or case.get("district_code")):
        return []
    out: list[str] = []
    is_open = state not in sm.CLOSED_STATES
    own_level = service.ROLE_LEVEL.get(role)
    if _may(actor, "incident.local") and (role == "admin" or own_level == level):
        for name, to in (("resolve", "resolved"), ("escalate", "escalated")):
            if sm.can_transition(state, to, level):
                out.append(name)
    if _may(actor, "incident.dispatch"):
        if sm.can_transition(state, "filed", level):
            out.append("file")
        if state == "filed":
            out.append("dispatch")
    own_case = role == "admin" or (actor.department_id is not None
                                   and case.get("department_id") == actor.department_id)
    if _may(actor, "incident.work") and own_case:
        if state == "dispatched":
            out.append("accept")
        if state in ("accepted", "returned"):
            out.append("handle")
    deferral = case.get("deferral") or {}
    pending = bool(deferral) and deferral.get("decided_at") is None
    if _may(actor, "incident.defer.request") and own_case and state in ("dispatched", "accepted") \
            and not pending:
        out.append("defer_request")
    if _may(actor, "incident.defer.decide") and pending:
        out += ["defer_approve", "defer_reject"]
    if _may(actor, "incident.verify"):
        if state == "handled":
            out += ["verify", "return"]
        if state == "verified":
            out.append("close")
    if _may(actor, "incident.evaluate") and state == "closed":
        out.append("evaluate")
    if _may(actor, "incident.whistle") and is_open and role != "admin":
        out.append("whistle")
    if _may(actor, "incident.report_in") and is_open and actor.department_id is not None:
        code = department_code(actor)
        if any(d["code"] == code and d["reported_at"] is None
               for w in case.get("whistles") or [] for d in w["departments"]):
            out.append("report_in")
    if _may(actor, "incident.urge") and is_open and state not in ("reported", "escalated"):
        out.append("urge")
    if _may(actor, "incident.merge") and is_open:
        out.append("merge")
    return out


def departments(actor: service.Actor) -> list[dict]:
    """Every department (code, name, name_en) for the dispatch and whistle menus."""
    service._permit(actor, "view.incidents")
    return db.fetch_all("SELECT code, name, name_en FROM departments ORDER BY code")


def categories(actor: service.Actor) -> list[dict]:
    """Every category (code, name, name_en, parent code), parents first."""
    service._permit(actor, "view.incidents")
    return db.fetch_all(
        """SELECT c.code, c.name, c.name_en, p.code AS parent
             FROM incident_categories c LEFT JOIN incident_categories p ON p.id = c.parent_id
            ORDER BY coalesce(p.code, c.code), c.parent_id NULLS FIRST, c.code""")


def grid_outline(actor: service.Actor, grid_code: str | None) -> dict | None:
    """The outline of a grid as GeoJSON (WGS-84), if the grid is in the actor's scope."""
    service._permit(actor, "view.incidents")
    if not grid_code or not actor.principal.sees(grid_code):
        return None
    row = db.fetch_one(
        """SELECT ST_AsGeoJSON(g.geom, 6) AS geom FROM grids g
            WHERE g.code = %s ORDER BY g.id DESC LIMIT 1""", (str(grid_code),))
    if row is None or row["geom"] is None:
        return None
    return {"type": "Feature", "properties": {"code": grid_code}, "geometry": json.loads(row["geom"])}
