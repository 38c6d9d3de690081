"""Strings of the /plan page's street rebalance (a background job); registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "street.title": ("整街道重划（后台计算）", "Rebalance a whole street (background job)"),
    "street.hint": ("为所选街道的每个社区计算新方案；完成后可逐个社区查看并提交，或一次提交整条街道"
                    "（所有通过校验的社区在同一事务中写入新版本）。",
                    "Computes a proposal for every community of the chosen street; then review and "
                    "commit each community's proposal as for a single community, or commit the whole "
                    "street (every community that passes the checks, in one transaction)."),
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
    # committing the whole street (layouts.plan_street_commit)
    "street.commit_title": ("提交整条街道", "Commit the whole street"),
    "street.commit_hint": ("通过校验的社区各写入一个新版本（同一事务，全部成功或全部不写入）；未通过校验的社区"
                           "保持不变并列出。网格员随其网格调整，与单个社区提交相同。",
                           "Every community that passes the checks gets a new version (one transaction: "
                           "all or nothing); communities that fail are listed and left as they are. Grid "
                           "workers follow their grids as in a single community's commit."),
    "street.commit": ("提交整条街道", "Commit the street"),
    "street.confirm": ("街道 {street}：将提交 {ok} 个社区的新版本{refused}。确认提交吗？",
                       "Street {street}: {ok} communities will get a new version{refused}. Commit?"),
    "street.confirm_refused": ("；{n} 个社区未通过校验，保持不变（{names}）",
                               "; {n} fail the checks and are left as they are ({names})"),
    "street.confirm_none": ("街道 {street}：没有通过校验的社区，无法提交。可勾选接受超出户数区间的网格，"
                            "或逐个社区调整方案。",
                            "Street {street}: no community passes the checks, nothing to commit. Accept "
                            "out-of-band grids, or adjust each community's proposal."),
    "street.confirm_yes": ("确认提交", "Commit"),
    "street.confirm_no": ("返回", "Back"),
    "street.committing": ("正在提交整条街道…", "Committing the street…"),
    "street.committed": ("街道 {street} 已提交：{n} 个社区写入新版本，{left} 个社区保持不变（用时 {s} 秒）",
                         "Street {street} committed: {n} communities have a new version, {left} left as "
                         "they are ({s} s)"),
    "street.col_outcome": ("结果", "Outcome"),
    "street.col_workers": ("网格员（换网格/共）", "Grid workers (changed grid / all)"),
    "street.out_committed": ("已提交为第 {no} 版（{n} 个网格）", "version {no} ({n} grids)"),
    "street.out_gate": ("未提交：{rules}", "not committed: {rules}"),
    "street.out_conflict": ("未提交：方案计算后该社区已有新版本，请重新计算",
                            "not committed: the community changed since the proposal was computed; "
                            "run it again"),
    "street.out_missing": ("未提交：没有方案", "not committed: no proposal"),
    "street.stale": ("方案已过期或不可用，请重新计算整街道方案", "The proposals expired or are unavailable: "
                     "run the street again"),
})
