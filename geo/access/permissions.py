"""The one permission registry: every action the app can perform and who may perform it.

Each mutating callback, route and API endpoint names its action here; the server checks
the current principal's role and scope before acting (hiding buttons is only a courtesy).
"""

from __future__ import annotations

from geo.access.roles import ROLES, Principal
from geo.errors import GridAtlasError

_ALL = frozenset(ROLES)
_FIELD = frozenset({"admin", "operator", "street_operator", "community_staff", "department",
                    "grid_worker"})

# action -> (roles allowed, mutates?, description)
ACTIONS: dict[str, tuple[frozenset[str], bool, str]] = {
    "view.command": (_ALL | {"wall"}, False, "see the command-centre map and KPIs"),
    "view.plan": (frozenset({"admin", "planner", "leader"}), False, "see grid plans"),
    "view.review": (frozenset({"admin", "leader", "planner", "operator", "street_operator"}),
                    False, "see the leaders' review"),
    "view.incidents": (_FIELD | {"leader"}, False, "see incidents"),
    "view.audit": (frozenset({"admin", "leader"}), False, "browse the audit log"),
    "view.field": (frozenset({"admin", "grid_worker", "community_staff", "street_operator"}),
                   False, "open the phone page of the field (inbox, report, patrol)"),
    "view.personal": (frozenset({"admin", "operator", "street_operator", "community_staff"}),
                      False, "see phone numbers and reporters' names unmasked"),
    "wall.alert_ack": (frozenset({"admin", "operator", "street_operator"}), True,
                       "acknowledge an alert on the command-centre wall"),
    "view.camera_stream": (frozenset({"admin", "operator", "street_operator"}), False,
                           "see camera stream addresses"),
    "plan.run": (frozenset({"admin", "planner"}), False, "compute a grid plan"),
    "grids.commit": (frozenset({"admin", "planner"}), True, "commit a new grid version"),
    "grids.restore": (frozenset({"admin", "planner"}), True, "restore a grid version"),
    "incident.transition": (_FIELD, True, "move an incident through its workflow"),
    "incident.create": (_FIELD | {"api"}, True, "report an incident"),
    "data.import": (frozenset({"admin"}), True, "import data files"),
    "users.manage": (frozenset({"admin"}), True, "add or disable users"),
    "apikey.manage": (frozenset({"admin"}), True, "create API keys"),
    "session": (_ALL, False, "sign in and out"),
    "account.password": (_ALL, True, "change one's own password"),
    # the incident loop (geo/incidents/service.py): one key per kind of step
    "incident.local": (frozenset({"admin", "grid_worker", "community_staff", "street_operator"}),
                       True, "resolve on the spot or escalate a case at your own level"),
    "incident.dispatch": (frozenset({"admin", "operator"}), True, "file and dispatch a case"),
    "incident.work": (frozenset({"admin", "department"}), True,
                      "accept and handle a case dispatched to your department"),
    "incident.verify": (frozenset({"admin", "operator"}), True,
                        "verify, return for rework or close a handled case"),
    "incident.evaluate": (frozenset({"admin", "operator"}), True, "record the evaluation of a case"),
    "incident.defer.request": (frozenset({"admin", "department"}), True, "request a deferral"),
    "incident.defer.decide": (frozenset({"admin", "operator"}), True,
                              "approve or reject a deferral, or end one"),
    "incident.urge": (frozenset({"admin", "operator", "street_operator", "leader"}), True,
                      "urge (督办) a case"),
    "incident.comment": (_FIELD | {"leader"}, True, "comment on a case"),
    "incident.photo": (_FIELD, True, "attach a photo to a case"),
    "incident.merge": (frozenset({"admin", "operator"}), True, "merge duplicate cases"),
    "incident.route": (frozenset({"admin"}), True, "edit the routing of categories to departments"),
    # department networks and grid roles (geo/networks/)
    "networks.import": (frozenset({"admin"}), True, "import a department's grid network"),
    "networks.view": (frozenset({"admin", "planner", "leader"}), False,
                      "see department networks, their crosswalk and alignment"),
    "grid_roles.edit": (frozenset({"admin"}), True, "set grid leaders and party branches"),
    "grid_roles.view": (_ALL, False, "see grid leaders and party branches"),
    # 吹哨报到, patrols and the department scorecard (geo/incidents/whistles.py, geo/patrols/,
    # geo/incidents/scorecard.py)
    "incident.whistle": (frozenset({"admin", "street_operator", "community_staff"}), True,
                         "blow a whistle on a case, summoning departments"),
    "incident.report_in": (frozenset({"admin", "department"}), True,
                           "report in (报到) to a whistle that summoned your department"),
    "patrol.run": (frozenset({"grid_worker"}), True, "start, check in on and end a patrol"),
    "patrols.view": (frozenset({"admin", "leader", "operator", "street_operator", "community_staff"}),
                     False, "see grid workers on patrol and patrol coverage"),
    "departments.scorecard": (frozenset({"admin", "leader", "operator", "street_operator"}), False,
                              "see the departments' scorecard"),
}

# Pages and the action that lets a principal open them.
PAGE_ACTIONS: dict[str, str] = {
    "/": "view.command",
    "/plan": "view.plan",
    "/review": "view.review",
    "/incidents": "view.incidents",
    "/audit": "view.audit",
    "/review/print": "view.review",
    "/field": "view.field",
    "/routes": "incident.route",
}


class PermissionDenied(GridAtlasError):
    """The principal may not perform the action (the message says why)."""


def allowed(role: str, action: str) -> bool:
    """True when ``role`` may perform ``action`` somewhere."""
    if action not in ACTIONS:
        return False
    return role in ACTIONS[action][0]


def check(principal: Principal | None, action: str, target_code: str | None = None) -> None:
    """Refuse (raise :class:`PermissionDenied`) unless the principal may act here.

    Parameters
    ----------
    principal:
        Who acts; ``None`` means nobody is signed in.
    action:
        A key of :data:`ACTIONS`; an unknown action is always refused.
    target_code:
        The place acted on (district, street, community or grid code), if any; it must lie
        within the principal's scope.
    """
    if action not in ACTIONS:
        raise PermissionDenied(f"action {action!r} is not registered: refused")
    if principal is None:
        raise PermissionDenied("请先登录 / please sign in")
    roles, mutates, description = ACTIONS[action]
    if principal.anonymous_wall and mutates:
        raise PermissionDenied("the anonymous wall screen is read-only")
    if principal.role not in roles:
        raise PermissionDenied(
            f"role {principal.role} may not {description} (action {action})"
        )
    if target_code is not None and not principal.covers(target_code):
        raise PermissionDenied(
            f"{target_code} lies outside your scope {principal.scope_code} (action {action})"
        )


def page_action(path: str) -> str | None:
    """The action guarding a page path, or None for an unknown path."""
    return PAGE_ACTIONS.get(path.rstrip("/") or "/")
