"""Strings of the background jobs (a job lost with its worker); registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "jobs.failed": ("后台计算未完成（处理进程中断或出错），未保存任何结果。请重新计算。",
                    "The background job did not finish (its worker stopped or failed); "
                    "nothing was saved. Run it again."),
})
