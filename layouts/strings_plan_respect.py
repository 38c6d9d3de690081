"""Strings of /plan's "respect a network when redrawing" (尊重既有网格边界); registered on
import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "respect.pick": ("尊重网络边界（可选）", "Keep a network's boundaries (optional)"),
    "respect.none": ("不指定网络", "No network"),
    "respect.hint": ("在户数区间允许处保持该部门原网格完整；同时计算普通方案以便对比",
                     "Keeps that department's old grids whole where the band allows; the plain "
                     "plan is computed too, for comparison"),
    "respect.title": ("与普通方案对比（{network}）", "Compared with the plain plan ({network})"),
    "respect.used_respecting": ("显示的是尊重网络边界的方案：{kept} 个原网格保持完整",
                                "Shown: the plan keeping the network's boundaries ({kept} old "
                                "grids kept whole)"),
    "respect.used_plain": ("未能满足该要求，显示的是普通方案：{why}",
                           "The wish could not be met; the plain plan is shown: {why}"),
    "respect.why.hard_rules": ("违反硬性规则的网格更多", "more grids break a hard rule"),
    "respect.why.band": ("超出户数区间的网格更多", "more grids out of band"),
    "respect.why.alignment": ("对齐率没有提高", "alignment not improved"),
    "respect.why.none_kept": ("没有可在区间内完整保留的原网格", "no old grid can be kept whole in band"),
    "respect.col.measure": ("指标", "Measure"),
    "respect.col.current": ("现行", "Current"),
    "respect.col.plain": ("普通方案", "Plain"),
    "respect.col.respecting": ("尊重网络", "Respecting"),
    "respect.row.aligned": ("对齐率", "Alignment"),
    "respect.row.split": ("被切分的原网格", "Old grids split"),
    "respect.row.in_band": ("区间内网格", "Grids in band"),
    "respect.row.valid": ("规则全通过", "Passing all rules"),
    "respect.note": ("对齐率：原网格完整落入一个新网格的户数占比。", "Alignment: the share of households "
                     "whose old grid lies within one grid."),
    "respect.row.mean_dev": ("平均偏差", "Mean deviation"),
    "respect.row.max_dev": ("最大偏差", "Largest deviation"),
    "respect.bad_choice": ("网络选择无效", "Invalid network choice"),
})
