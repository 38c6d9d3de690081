"""Interface strings in Chinese (default) and English, and locale-aware formatting.

The language is chosen by the ``lang`` cookie (set by the switch in the top bar), else
the ``GRIDATLAS_LANG`` setting.
"""

from __future__ import annotations

from datetime import datetime

import flask

from geo.settings import get_settings

LANGS = ("zh", "en")

STRINGS: dict[str, tuple[str, str]] = {
    # key: (Chinese, English)
    "app.title": ("GridAtlas 网格图鉴", "GridAtlas"),
    "app.subtitle": ("网格化管理指挥平台", "Urban grid management"),
    "nav.command": ("指挥中心", "Command centre"),
    "nav.plan": ("网格规划", "Grid planning"),
    "nav.review": ("领导审阅", "Review"),
    "nav.incidents": ("事件", "Incidents"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.logout": ("退出", "Sign out"),
    "nav.password": ("修改密码", "Password"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.intro": ("谁在何时、何地做了什么（只增不改，保留至少180天）。",
                    "Who did what, when and where (append-only, kept at least 180 days)."),
    "audit.actor": ("操作人", "Actor"),
    "audit.action": ("操作", "Action"),
    "audit.all": ("全部", "All"),
    "col.at": ("时间", "When"),
    "col.role": ("角色", "Role"),
    "col.scope": ("范围", "Scope"),
    "col.target": ("对象", "Target"),
    "col.detail": ("详情", "Detail"),
    "wall.title": ("网格化管理指挥中心", "Grid management command centre"),
    "kpi.open": ("在办事件", "Open incidents"),
    "kpi.overdue": ("超时", "Overdue"),
    "kpi.dispatched_today": ("今日派遣", "Dispatched today"),
    "kpi.closed_today": ("今日结案", "Closed today"),
    "kpi.ontime": ("按时结案率（7日）", "On-time closure (7 d)"),
    "kpi.prev": ("前7日", "previous 7 d"),
    "kpi.cameras": ("摄像头在线", "Cameras online"),
    "chart.title": ("各街道在办 / 超时", "Open / overdue by street"),
    "chart.open": ("在办", "open"),
    "chart.overdue": ("超时", "overdue"),
    "ticker.title": ("最新动态", "Latest events"),
    "layer.buildings": ("楼栋", "Buildings"),
    "layer.cameras": ("摄像头（雪亮工程）", "Cameras"),
    "layer.police": ("警务室", "Police rooms"),
    "layer.incidents": ("在办事件", "Open incidents"),
    "layer.density": ("7日事件密度", "7-day incident density"),
    "layer.labels": ("名称", "Labels"),
    "legend.awaiting": ("待派遣（按时长）", "awaiting dispatch (by age)"),
    "legend.on_time": ("已派遣·时间充足", "dispatched, on time"),
    "legend.due_soon": ("剩余不足25%", "under 25% time left"),
    "legend.overdue": ("已超时", "overdue"),
    "legend.deferred": ("缓办", "deferred"),
    "legend.cam_online": ("在线", "online"),
    "legend.cam_offline": ("离线", "offline"),
    "legend.cam_fault": ("故障", "fault"),
    "legend.police": ("警务室", "police room"),
    "filter.street": ("街道", "Street"),
    "filter.community": ("社区", "Community"),
    "filter.category": ("类别", "Category"),
    "filter.severity": ("紧急程度", "Severity"),
    "search.placeholder": ("搜索网格编码、社区、地址（支持拼音首字母）",
                           "Search grid code, community, address (pinyin initials too)"),
    "search.none": ("无结果", "No match"),
    "stale": ("数据未更新：无法连接服务器或数据库，正在重试…",
              "Data is stale: the server or database cannot be reached; retrying…"),
    "panel.grid": ("网格", "Grid"),
    "panel.community": ("社区", "Community"),
    "panel.street": ("街道", "Street"),
    "panel.worker": ("网格员", "Grid worker"),
    "panel.vacant": ("空缺", "vacant"),
    "panel.households": ("户数", "Households"),
    "panel.band": ("区间", "band"),
    "panel.in_band": ("在区间内", "in band"),
    "panel.below": ("低于区间", "below band"),
    "panel.above": ("高于区间", "above band"),
    "panel.buildings": ("楼栋", "Buildings"),
    "panel.cameras": ("摄像头", "Cameras"),
    "panel.open_incidents": ("在办事件", "Open incidents"),
    "panel.zoom": ("定位", "Zoom to"),
    "panel.camera": ("摄像头", "Camera"),
    "panel.type": ("类型", "Type"),
    "panel.status": ("状态", "Status"),
    "panel.owner": ("权属", "Owner"),
    "panel.heartbeat": ("最近心跳", "Last heartbeat"),
    "panel.stream": ("视频流", "Stream"),
    "panel.incident": ("事件", "Incident"),
    "panel.due": ("处置时限", "Due"),
    "panel.department": ("责任部门", "Department"),
    "panel.reporter": ("上报人", "Reporter"),
    "panel.police": ("警务室", "Police room"),
    "panel.phone": ("电话", "Phone"),
    "panel.address": ("地址", "Address"),
    "plan.community": ("社区", "Community"),
    "plan.target": ("目标户数", "Target"),
    "plan.min": ("下限", "Min"),
    "plan.max": ("上限", "Max"),
    "plan.mode": ("方式", "Mode"),
    "plan.fresh": ("全新划分", "Fresh"),
    "plan.minimal": ("最小调整", "Minimal change"),
    "plan.seed": ("随机种子", "Seed"),
    "plan.k": ("网格数（可选）", "Grids (optional)"),
    "plan.lock": ("锁定网格", "Locked grids"),
    "plan.dedicated": ("专属网格（学校、医院、园区等）", "Dedicated grids (schools, hospitals, parks...)"),
    "plan.run": ("计算方案", "Compute plan"),
    "plan.cancel": ("取消", "Cancel"),
    "plan.running": ("正在计算…", "Computing…"),
    "plan.view": ("显示", "Show"),
    "plan.view_proposal": ("新方案", "Proposal"),
    "plan.view_current": ("现行网格", "Current grids"),
    "plan.view_both": ("并排对比", "Side by side"),
    "plan.gate": ("校验", "Validity gate"),
    "plan.gate_ok": ("全部规则通过", "Every rule passes"),
    "plan.infeasible": ("已证明无法全部满足户数区间（任何划分都做不到）：",
                        "Proven impossible to put every grid in band (no partition can):"),
    "plan.infeasible_region": ("{buildings} 栋楼、{households} 户：{why}",
                               "{buildings} buildings, {households} households: {why}"),
    "proof.count": ("总户数无法分成区间内的网格", "the total cannot be split into grids in band"),
    "proof.pockets": ("部分楼栋只能同属一个网格，合计超过上限",
                      "buildings that can only share one grid hold more than the maximum"),
    "proof.cover": ("任何连通的楼栋组合都无法全部落在区间内",
                    "no combination of connected groups of buildings in band covers it"),
    "proof.exact": ("精确求解器证明无解", "the exact solver proved that no partition exists"),
    "proof.other": ("已证明无解", "proven to have no partition"),
    "plan.churn": ("变动", "Churn"),
    "plan.hh_moved": ("调整户数", "Households moved"),
    "plan.bld_moved": ("调整楼栋", "Buildings moved"),
    "plan.grids_before_after": ("网格数（前→后）", "Grids (before→after)"),
    "plan.codes_kept": ("保留编码", "Codes kept"),
    "grid_status.kept": ("保留", "kept"),
    "grid_status.new": ("新增", "new"),
    "grid_status.added": ("新增", "added"),
    "grid_status.removed": ("撤销", "removed"),
    "rule.inside_community": ("超出社区", "outside the community"),
    "rule.whole_buildings": ("楼栋被拆分", "building split"),
    "rule.contiguity": ("不连通", "not contiguous"),
    "rule.one_piece": ("多块", "in pieces"),
    "rule.coverage": ("覆盖有缝隙或重叠", "gaps or overlaps"),
    "rule.band": ("户数超出区间", "households out of band"),
    "plan.accept_band": ("接受超出户数区间的网格", "Accept grids outside the band"),
    "plan.note": ("说明（可选）", "Note (optional)"),
    "plan.commit": ("提交新版本", "Commit new version"),
    "plan.export": ("导出", "Export"),
    "plan.export_4490": ("CGCS2000 (EPSG:4490)", "CGCS2000 (EPSG:4490)"),
    "plan.versions": ("版本", "Versions"),
    "plan.restore": ("恢复", "Restore"),
    "plan.compare": ("比较两个版本", "Compare two versions"),
    "plan.move": ("移动楼栋", "Move a building"),
    "plan.move_hint": (
        "点击地图上的楼栋，将其移入相邻网格。",
        "Click a building on the map to move it into a neighbouring grid.",
    ),
    "plan.move_to": ("移入网格", "Move to grid"),
    "plan.move_do": ("移动", "Move"),
    "plan.readonly": (
        "只读：领导可查看方案与版本，不能修改。",
        "Read-only: leaders may view plans and versions, not change them.",
    ),
    "plan.pick": ("请选择社区", "Choose a community"),
    "col.deviation": ("偏差", "Deviation"),
    "col.pp": ("紧凑度", "Compactness"),
    "col.moved": ("调入户数", "Households moved"),
    "col.status": ("状态", "Status"),
    "col.rules": ("未通过规则", "Failed rules"),
    "col.created": ("创建时间", "Created"),
    "col.by": ("创建人", "By"),
    "col.current": ("现行", "Current"),
    "lang.switch": ("English", "中文"),
    "layer.district": ("区界", "District"),
    "layer.street": ("街道", "Streets"),
    "layer.community": ("社区", "Communities"),
    "layer.grid": ("网格", "Grids"),
    "map.empty": ("数据库中还没有边界数据：请导入或加载演示区。",
                  "No boundaries in the database yet: import some or load the demo district."),
    "error.db": ("无法连接数据库", "Cannot reach the database"),
    "plan.title": ("网格规划", "Grid planning"),
    "plan.intro": ("各社区当前网格与户数区间（300–500户）。选择社区进行重划。",
                   "Current grids per community against the household band (300–500)."),
    "review.title": ("领导审阅", "Review"),
    "review.intro": ("各街道、社区网格概况。", "Streets and communities at a glance."),
    "incidents.title": ("事件", "Incidents"),
    "incidents.intro": ("最新上报的事件。", "The latest reported incidents."),
    "col.code": ("编码", "Code"),
    "col.community": ("社区", "Community"),
    "col.street": ("街道", "Street"),
    "col.households": ("户数", "Households"),
    "col.grids": ("网格数", "Grids"),
    "col.in_band": ("在区间内", "In band"),
    "col.version": ("版本", "Version"),
    "col.title": ("标题", "Title"),
    "col.category": ("类别", "Category"),
    "col.severity": ("紧急程度", "Severity"),
    "col.state": ("状态", "State"),
    "col.reported": ("上报时间", "Reported"),
    "col.grid": ("网格", "Grid"),
    "table.empty": ("暂无数据", "No data yet"),
    "severity.ordinary": ("一般", "ordinary"),
    "severity.major": ("重大", "major"),
    "severity.complex": ("复杂", "complex"),
    "state.reported": ("已上报", "reported"),
    "state.escalated": ("已上报上级", "escalated"),
    "state.resolved": ("就地解决", "resolved"),
    "state.filed": ("已立案", "filed"),
    "state.dispatched": ("已派遣", "dispatched"),
    "state.accepted": ("已受理", "accepted"),
    "state.handled": ("已处置", "handled"),
    "state.verified": ("已核查", "verified"),
    "state.closed": ("已结案", "closed"),
    "state.evaluated": ("已评价", "evaluated"),
    "state.returned": ("已退回", "returned"),
    "state.deferred": ("缓办", "deferred"),
}



def register(strings: dict[str, tuple[str, str]]) -> None:
    """Add a feature's strings (``key: (Chinese, English)``) to :data:`STRINGS`.

    Each feature keeps its strings in its own module (``layouts/strings_<feature>.py``)
    and registers them on import, so features never edit one shared dictionary. A key
    registered twice with different texts is a programming error.
    """
    for key, pair in strings.items():
        if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise ValueError(f"string {key!r} needs (Chinese, English)")
        if key in STRINGS and STRINGS[key] != pair:
            raise ValueError(f"string {key!r} is already registered with other texts")
        STRINGS[key] = pair

def status_label(status: str | None, lang: str | None = None) -> str:
    """A grid's status in a plan or a comparison (``kept``, ``new``...), else as given."""
    key = f"grid_status.{status}"
    return t(key, lang) if key in STRINGS else (status or "")


def rule_label(rule: str, lang: str | None = None) -> str:
    """A failed rule's name for people (``band`` -> 户数超出区间), else as given."""
    key = f"rule.{rule}"
    return t(key, lang) if key in STRINGS else rule


def rules_text(rules, lang: str | None = None) -> str:
    """Failed rules as one phrase (、 between them in Chinese)."""
    sep = ", " if (lang or current_lang()) == "en" else "、"
    return sep.join(rule_label(r, lang) for r in rules or [])


def current_lang() -> str:
    """Language of the current request: the ``lang`` cookie, else the setting."""
    lang = None
    if flask.has_request_context():
        lang = flask.request.cookies.get("lang")
    return lang if lang in LANGS else get_settings().default_language


def t(key: str, lang: str | None = None) -> str:
    """The string for ``key`` in ``lang`` (default: the current request's language)."""
    zh, en = STRINGS[key]
    return en if (lang or current_lang()) == "en" else zh


def fmt_datetime(value: datetime | None, lang: str | None = None) -> str:
    """2026年11月21日 14:05 in Chinese, 2026-11-21 14:05 in English (24-hour clock)."""
    if value is None:
        return ""
    tz = get_settings().timezone
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo(tz)) if value.tzinfo else value
    if (lang or current_lang()) == "en":
        return local.strftime("%Y-%m-%d %H:%M")
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


# Dash's dropdown writes its own words (search box, select all, "n selected", no options):
# every dropdown of the app is made by ``dropdown`` so those are in the user's language too.
_DROPDOWN_LABELS = {
    "zh-CN": {"select_all": "全选", "deselect_all": "取消全选", "selected_count": "已选 {num_selected} 项",
              "search": "搜索", "clear_search": "清除搜索", "clear_selection": "清除所选",
              "no_options_found": "没有匹配的选项"},
    "en": {"select_all": "Select all", "deselect_all": "Deselect all",
           "selected_count": "{num_selected} selected", "search": "Search", "clear_search": "Clear search",
           "clear_selection": "Clear selection", "no_options_found": "No options found"},
}


def dropdown(lang: str | None = None, **props):
    """``dcc.Dropdown(**props)`` with its built-in words in ``lang`` (default: the request's)."""
    from dash import dcc

    props.setdefault("labels", _DROPDOWN_LABELS["en" if (lang or current_lang()) == "en" else "zh-CN"])
    return dcc.Dropdown(**props)

