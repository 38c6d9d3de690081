"""Strings of the department scorecard and the patrol coverage on /review and its print view."""

from layouts.i18n import register

register({
    "sc.title": ("部门考核排名（街道吹哨、部门报到）", "Department scorecard (whistles and reports)"),
    "sc.intro": ("统计周期内各职能部门响应街道吹哨、按时办结、返工与群众满意情况，按按时办结率排序。",
                 "How each department answered the street's whistles, met its deadlines, reworked "
                 "and satisfied residents in the period, ranked by the on-time rate."),
    "sc.rank": ("排名", "Rank"),
    "sc.department": ("部门", "Department"),
    "sc.whistles": ("被吹哨次数", "Whistles"),
    "sc.reported_on_time": ("按时报到", "Reported on time"),
    "sc.median": ("报到用时中位数（分钟）", "Median minutes to report"),
    "sc.due": ("到期事件", "Cases due"),
    "sc.on_time_rate": ("按时办结率", "On-time rate"),
    "sc.rework": ("返工次数", "Rework"),
    "sc.satisfaction": ("满意率", "Satisfaction"),
    "sc.empty": ("本周期内没有部门被吹哨或到期的事件。", "No department was summoned or had cases due in this period."),
    "sc.pick": ("请先在地图上选择区、街道或社区。", "Choose a district, street or community on the map first."),
    "sc.print": ("打印考核排名", "Print the ranking"),
    "sc.pdf": ("下载考核排名 PDF", "Download the ranking as PDF"),
    "sc.sheet.title": ("{name}部门考核排名", "Department scorecard of {name}"),
    "sc.sheet.period": ("统计周期：{a} 至 {b}", "Period: {a} to {b}"),
    "sc.sheet.date": ("制表日期：{d}", "Printed on {d}"),
    "sc.sheet.note": ("排名依次按按时办结率、按时报到率、满意率（高者在前）、返工次数（少者在前）。"
                      "按时报到：报到时间不晚于吹哨时限；满意率：评价为满意或基本满意的占比。",
                      "Ranked by the on-time rate, then the share of whistles answered on time, then "
                      "satisfaction (highest first), then rework (fewest first). On time: reported by the "
                      "whistle's deadline; satisfaction: share graded satisfied or basically satisfied."),
    "sc.sheet.internal": ("内部资料", "Internal"),
    "sc.of": ("{n}/{d}", "{n} of {d}"),
    # the ranking sheet's PDF, a background job (layouts/pdf_job.py)
    "scpdf.cancel": ("取消", "Cancel"),
    "scpdf.busy": ("正在生成考核排名 PDF", "Generating the ranking's PDF"),
    "scpdf.queued": ("已提交，等待后台处理…", "Submitted: waiting for a background worker…"),
    "scpdf.step.read": ("正在读取考核数据（第 1 步，共 3 步）…", "Reading the scorecard (step 1 of 3)…"),
    "scpdf.step.render": ("正在排版生成 PDF（第 2 步，共 3 步）…", "Laying out the PDF (step 2 of 3)…"),
    "scpdf.step.done": ("已生成（第 3 步，共 3 步）", "Done (step 3 of 3)"),
    "scpdf.done": ("已生成，已开始下载：{name}（{kb} KB）", "Ready, download started: {name} ({kb} KB)"),
    "scpdf.cancelled": ("已取消生成考核排名 PDF，未生成任何文件。",
                        "The ranking's PDF was cancelled; no file was made."),
    "scpdf.again": ("可再次点击“下载考核排名 PDF”重新生成。", "Click “Download the ranking as PDF” to make it again."),
    "pc.title": ("网格巡查覆盖率", "Patrol coverage by grid"),
    "pc.intro": ("统计周期内，距网格员签到轨迹 {m} 米以内的楼栋占该网格楼栋的比例；覆盖率低的网格在前。",
                 "The share of each grid's buildings within {m} m of a check-in track in the period; "
                 "the least covered grids first."),
    "pc.grid": ("网格", "Grid"),
    "pc.buildings": ("楼栋数", "Buildings"),
    "pc.covered": ("已覆盖楼栋", "Covered"),
    "pc.share": ("覆盖率", "Coverage"),
    "pc.summary": ("{n} 个网格，楼栋 {b} 栋，已覆盖 {c} 栋（{s}）；{z} 个网格本周期无巡查覆盖。",
                   "{n} grids, {b} buildings, {c} covered ({s}); {z} grids had no patrol coverage."),
    "pc.empty": ("该范围内没有现行网格。", "No current grid in this area."),
    "pc.none": ("无楼栋", "no buildings"),
    "pc.shown": ("下表列出覆盖率最低的 {k} 个网格。", " The table lists the {k} least covered grids."),
    # the whistle lines of the case view (layouts/incidents_case.py)
    "wh.head": ("{kind} · {who} 于 {at} 吹哨 · 报到时限 {due}", "{kind} · blown by {who} at {at} · report by {due}"),
    "wh.came": ("{at} 由 {who} 报到", "reported by {who} at {at}"),
})
