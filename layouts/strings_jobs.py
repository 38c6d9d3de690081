"""Strings of the background jobs (a job lost with its worker, Redis down, no worker);
registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "jobs.failed": ("后台计算未完成（处理进程中断或出错），未保存任何结果。请重新计算。",
                    "The background job did not finish (its worker stopped or failed); "
                    "nothing was saved. Run it again."),
    "jobs.unavailable": ("任务队列（Redis）暂不可用：后台计算无法提交或查看，未保存任何结果。请稍后重新计算。",
                         "The job queue (Redis) is unavailable: the background job cannot be "
                         "submitted or followed; nothing was saved. Try again later."),
    "jobs.no_worker": ("没有后台处理进程（worker）接收此任务（{s} 秒内无人处理），任务已取消，未保存任何结果。"
                       "请联系管理员启动 worker（python -m geo worker）后重新计算。",
                       "No worker has taken the job (none within {s} s); it was cancelled and nothing "
                       "was saved. Ask the administrator to start a worker (python -m geo worker), "
                       "then run it again."),
})
