"""Strings of the /plan page's street rebalance (a background job); registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "street.title": ("整街道重划（后台计算）", "Rebalance a whole street (background job)"),
    "street.hint": ("为所选街道的每个社区计算新方案；完成后逐个社区查看并提交，与单个社区的流程相同。",
                    "Computes a proposal for every community of the chosen street; then review and "
                    "commit each community's proposal as for a single community."),
    "street.pick": ("选择街道", "Choose a street"),
    "street.run": ("计算整街道方案", "Run the street"),
    "street.cancel": ("取消", "Cancel"),
    "street.progress": ("已完成 {i}/{n} 个社区", "{i} of {n} communities done"),
    "street.done": ("街道 {street}：{n} 个社区已有新方案，{blocked} 个需处理后才能提交",
                    "Street {street}: {n} communities have a proposal; {blocked} need attention "
                    "before they can be committed"),
    "street.none": ("该街道没有可重划的社区", "This street has no community to rebalance"),
    "street.col_community": ("社区", "Community"),
    "street.col_grids": ("网格数（前→后）", "Grids (before → after)"),
    "street.col_moved": ("调整户数", "Households moved"),
    "street.col_gate": ("校验", "Checks"),
    "street.col_open": ("方案", "Proposal"),
    "street.ok": ("可提交", "ready to commit"),
    "street.blocked": ("未通过：{rules}", "failed: {rules}"),
    "street.open": ("查看并提交", "Review and commit"),
})
