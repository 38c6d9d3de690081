"""Names for people of the enumerated values the audit log's entries hold (triage, severity,
level, state, kind, grid-role slot, patrol end reason, role), so /audit never shows a raw key.

Registered as ``audit.v.<kind>.<value>``; :func:`layouts.audit_view.value_label` looks them up.
A test checks every value of the enumerations in ``geo/`` has a label here.
"""

from __future__ import annotations

from geo.access.roles import ROLE_NAMES
from layouts.i18n import register

VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    # 三事分流 (geo.incidents.triage.TRIAGES)
    "triage": {"public": ("公共事务", "public matter"), "shared": ("互助事务", "shared matter"),
               "self": ("自我事务", "residents' own matter")},
    # geo.incidents.states.SEVERITIES
    "severity": {"ordinary": ("一般", "ordinary"), "major": ("重大", "major"), "complex": ("复杂", "complex")},
    # geo.incidents.states.LEVELS, and the place levels of scopes
    "level": {"grid": ("网格", "grid"), "community": ("社区", "community"), "street": ("街道", "street"),
              "district": ("区", "district")},
    # geo.incidents.states.STATES
    "state": {"reported": ("已上报", "reported"), "escalated": ("已上报上级", "escalated"),
              "resolved": ("就地解决", "resolved"), "filed": ("已立案", "filed"),
              "dispatched": ("已派遣", "dispatched"), "accepted": ("已受理", "accepted"),
              "handled": ("已处置", "handled"), "verified": ("已核查", "verified"),
              "closed": ("已结案", "closed"), "evaluated": ("已评价", "evaluated"),
              "returned": ("已退回", "returned"), "deferred": ("缓办", "deferred"),
              "duplicate": ("重复件", "duplicate")},
    # event kinds written with a note (comment, urge, photo) and whistle kinds (geo.incidents.whistles.KINDS)
    "kind": {"comment": ("评论", "comment"), "urge": ("督办", "urge"), "photo": ("照片", "photo"),
             "emergency": ("应急哨", "emergency whistle"), "quick": ("快速哨", "quick whistle"),
             "tough": ("攻坚哨", "tough-case whistle")},
    # grid-role slots (geo.networks.roles.ROLE_WORDS) and the party kinds
    "slot": {"leader": ("网格长", "grid leader"), "party": ("党组织", "party organisation")},
    "party_kind": {"branch": ("党支部", "party branch"), "group": ("党小组", "party group")},
    # why a patrol ended (patrols.ended_reason)
    "patrol_reason": {"worker": ("网格员结束", "ended by the worker"),
                      "timeout": ("超时自动结束", "ended after no check-in")},
    # evaluation grades (geo.incidents.service.GRADES)
    "grade": {"satisfied": ("满意", "satisfied"), "basically_satisfied": ("基本满意", "basically satisfied"),
              "dissatisfied": ("不满意", "dissatisfied")},
    # user roles (geo.access.roles.ROLE_NAMES) and the role of a sign-in with an unknown name
    "role": {**ROLE_NAMES, "unknown": ("未知用户", "unknown user")},
}

register({f"audit.v.{kind}.{value}": names
          for kind, values in VALUE_LABELS.items() for value, names in values.items()})
register({
    "audit.f.party_kind": ("党组织类型", "party kind"),
    "audit.f.grade": ("评价", "grade"),
})
