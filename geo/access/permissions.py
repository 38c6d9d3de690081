"""The one permission registry: every action the app can perform and who may perform it.

Each mutating callback, route and API endpoint names its action here; the server checks
the current principal's role and scope before acting (hiding buttons is only a courtesy).
"""

from __future__ import annotations

from geo.access.roles import ROLE_NAMES, ROLES, Principal
from geo.errors import GridAtlasError

_ALL = frozenset(ROLES)
_FIELD = frozenset({"admin", "operator", "street_operator", "community_staff", "department",
                    "grid_worker"})

# action -> (roles allowed, mutates?, description, 中文说明). The descriptions complete the
# sentence "role X may not ..." / "角色「X」无权……" of a refusal (see PermissionDenied).
ACTIONS: dict[str, tuple[frozenset[str], bool, str, str]] = {
    "view.command": (_ALL | {"wall"}, False, "see the command-centre map and KPIs",
                     "查看指挥中心地图和指标"),
    "view.plan": (frozenset({"admin", "planner", "leader"}), False, "see grid plans",
                  "查看网格规划方案"),
    "view.review": (frozenset({"admin", "leader", "planner", "operator", "street_operator"}),
                    False, "see the leaders' review",
                    "查看领导审阅"),
    "view.incidents": (_FIELD | {"leader"}, False, "see incidents",
                       "查看事件"),
    "view.audit": (frozenset({"admin", "leader"}), False, "browse the audit log",
                   "查看审计日志"),
    "view.field": (frozenset({"admin", "grid_worker", "community_staff", "street_operator"}),
                   False, "open the phone page of the field (inbox, report, patrol)",
                   "打开移动端页面（待办、上报、巡查）"),
    "view.personal": (frozenset({"admin", "operator", "street_operator", "community_staff"}),
                      False, "see phone numbers and reporters' names unmasked",
                      "查看未脱敏的电话号码和上报人姓名"),
    "wall.alert_ack": (frozenset({"admin", "operator", "street_operator"}), True,
                       "acknowledge an alert on the command-centre wall",
                       "确认指挥大屏上的告警"),
    "view.camera_stream": (frozenset({"admin", "operator", "street_operator"}), False,
                           "see camera stream addresses",
                           "查看摄像头视频流地址"),
    "plan.run": (frozenset({"admin", "planner"}), False, "compute a grid plan",
                 "计算网格方案"),
    "grids.commit": (frozenset({"admin", "planner"}), True, "commit a new grid version",
                     "提交新的网格版本"),
    "grids.restore": (frozenset({"admin", "planner"}), True, "restore a grid version",
                      "恢复网格版本"),
    "incident.transition": (_FIELD, True, "move an incident through its workflow",
                            "推进事件流程"),
    "incident.create": (_FIELD | {"api"}, True, "report an incident",
                        "上报事件"),
    # a district's (or city's) command centre keeps its own base data (geo/importers/uploads.py
    # checks every place written against the scope)
    "data.import": (frozenset({"admin", "operator"}), True, "import data files",
                    "导入数据文件"),
    "users.manage": (frozenset({"admin"}), True, "add or disable users",
                     "新增或停用用户"),
    "apikey.manage": (frozenset({"admin"}), True, "create API keys",
                      "创建接口密钥"),
    "session": (_ALL, False, "sign in and out",
                "登录和退出"),
    "account.password": (_ALL, True, "change one's own password",
                         "修改自己的密码"),
    # the incident loop (geo/incidents/service.py): one key per kind of step
    "incident.local": (frozenset({"admin", "grid_worker", "community_staff", "street_operator"}),
                       True, "resolve on the spot or escalate a case at your own level",
                       "在本级就地处置或上报事件"),
    "incident.dispatch": (frozenset({"admin", "operator"}), True, "file and dispatch a case",
                          "立案并派遣事件"),
    "incident.work": (frozenset({"admin", "department"}), True,
                      "accept and handle a case dispatched to your department",
                      "受理并处置派给本部门的事件"),
    "incident.verify": (frozenset({"admin", "operator"}), True,
                        "verify, return for rework or close a handled case",
                        "核查、退回重办或结案"),
    "incident.evaluate": (frozenset({"admin", "operator"}), True, "record the evaluation of a case",
                          "评价事件"),
    "incident.defer.request": (frozenset({"admin", "department"}), True, "request a deferral",
                               "申请缓办"),
    "incident.defer.decide": (frozenset({"admin", "operator"}), True,
                              "approve or reject a deferral, or end one",
                              "审批或结束缓办"),
    "incident.urge": (frozenset({"admin", "operator", "street_operator", "leader"}), True,
                      "urge a case",
                      "督办事件"),
    "incident.comment": (_FIELD | {"leader"}, True, "comment on a case",
                         "评论事件"),
    "incident.photo": (_FIELD, True, "attach a photo to a case",
                       "为事件上传照片"),
    "incident.merge": (frozenset({"admin", "operator"}), True, "merge duplicate cases",
                       "合并重复事件"),
    "incident.route": (frozenset({"admin"}), True, "edit the routing of categories to departments",
                       "设置事件类别到部门的派遣路由"),
    # department networks and grid roles (geo/networks/)
    "networks.import": (frozenset({"admin"}), True, "import a department's grid network",
                        "导入部门的网格体系"),
    "networks.view": (frozenset({"admin", "planner", "leader"}), False,
                      "see department networks, their crosswalk and alignment",
                      "查看部门网格体系及其对照和对齐情况"),
    "grid_roles.edit": (frozenset({"admin"}), True, "set grid leaders and party branches",
                        "设置网格长和党支部"),
    "grid_roles.view": (_ALL, False, "see grid leaders and party branches",
                        "查看网格长和党支部"),
    # 吹哨报到, patrols and the department scorecard (geo/incidents/whistles.py, geo/patrols/,
    # geo/incidents/scorecard.py)
    "incident.whistle": (frozenset({"admin", "street_operator", "community_staff"}), True,
                         "blow a whistle on a case, summoning departments",
                         "就事件吹哨，召集部门报到"),
    "incident.report_in": (frozenset({"admin", "department"}), True,
                           "report in to a whistle that summoned your department",
                           "向召集本部门的吹哨报到"),
    "patrol.run": (frozenset({"grid_worker"}), True, "start, check in on and end a patrol",
                   "开始巡查、签到和结束巡查"),
    "patrols.view": (frozenset({"admin", "leader", "operator", "street_operator", "community_staff"}),
                     False, "see grid workers on patrol and patrol coverage",
                     "查看巡查中的网格员和巡查覆盖"),
    "departments.scorecard": (frozenset({"admin", "leader", "operator", "street_operator"}), False,
                              "see the departments' scorecard",
                              "查看部门考核"),
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
    "/import": "data.import",
}


class PermissionDenied(GridAtlasError):
    """The principal may not perform the action (the message says why).

    ``user_msg`` is "中文 / English". The parts are kept as well, so a page can say it in
    one language: ``reason`` is ``unregistered``, ``signed_out``, ``read_only`` (the
    anonymous wall), ``role`` or ``scope``; ``role``, ``action``, ``target`` and ``scope``
    are what the refusal names (``None`` where it names nothing).
    """

    def __init__(self, user_msg: str, *, reason: str | None = None, role: str | None = None,
                 action: str | None = None, target: str | None = None,
                 scope: str | None = None) -> None:
        super().__init__(user_msg)
        self.reason = reason
        self.role = role
        self.action = action
        self.target = target
        self.scope = scope


def description(action: str, lang: str = "zh") -> str:
    """What ``action`` lets one do, in Chinese (``zh``) or English; the key if unknown."""
    if action not in ACTIONS:
        return action
    return ACTIONS[action][3] if lang == "zh" else ACTIONS[action][2]


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
        raise PermissionDenied(f"操作 {action!r} 未登记，已拒绝 / action {action!r} is not registered: refused",
                               reason="unregistered", action=action)
    if principal is None:
        raise PermissionDenied("请先登录 / please sign in", reason="signed_out", action=action)
    roles, mutates, description_en, description_zh = ACTIONS[action]
    if principal.anonymous_wall and mutates:
        raise PermissionDenied("大屏匿名访问为只读 / the anonymous wall screen is read-only",
                               reason="read_only", role=principal.role, action=action)
    if principal.role not in roles:
        role_zh = ROLE_NAMES.get(principal.role, (principal.role,))[0]
        raise PermissionDenied(
            f"角色「{role_zh}」无权{description_zh} / "
            f"role {principal.role} may not {description_en} (action {action})",
            reason="role", role=principal.role, action=action,
        )
    if target_code is not None and not principal.covers(target_code):
        raise PermissionDenied(
            f"{target_code} 不在您的管辖范围 {principal.scope_code} 内 / "
            f"{target_code} lies outside your scope {principal.scope_code} (action {action})",
            reason="scope", role=principal.role, action=action, target=target_code,
            scope=principal.scope_code,
        )


def page_action(path: str) -> str | None:
    """The action guarding a page path, or None for an unknown path."""
    return PAGE_ACTIONS.get(path.rstrip("/") or "/")
