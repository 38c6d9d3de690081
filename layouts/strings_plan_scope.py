"""Strings of the /plan page's first view (the scope's communities); registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "plan3.share": ("在区间内的网格占比：", "Grids in band:"),
    "plan3.share.high": ("≥ 80%", "≥ 80%"),
    "plan3.share.mid": ("50–80%", "50–80%"),
    "plan3.share.low": ("< 50%", "< 50%"),
    "plan3.share.none": ("无网格", "no grids"),
    "plan3.click": ("点击地图上的社区即可选择", "Click a community on the map to choose it"),
    "plan3.in_band": ("{n}/{of} 个网格在区间内", "{n} of {of} grids in band"),
})
