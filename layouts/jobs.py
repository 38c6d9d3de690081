"""The background job manager: this machine's processes, or Celery workers (REDIS_URL).

Without ``REDIS_URL`` a job is a process forked from the web process, its state in a disk
cache (Dash's ``DiskcacheManager``): one machine, no server. With ``REDIS_URL`` the same
background callbacks run as Celery tasks on ``python -m geo worker`` processes, their
state in Redis (Dash's ``CeleryManager``): any machine that reaches the database and
Redis. A job acts as the user captured when it was submitted (the signed token it gets as
an argument, ``layouts.plan_store.sign``), never as whoever runs the worker.

A job whose worker process was killed has no result: Dash would end the wait silently.
:class:`CeleryJobs` reports it as a failed job instead, and :func:`report_failure` shows
the page's message, so the user knows nothing was saved and runs it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import dash
from dash import html

from geo.jobs import job_settings, make_celery
from layouts import strings_jobs  # noqa: F401  (registers the strings)
from layouts.i18n import t

log = logging.getLogger(__name__)


class CeleryJobs(dash.CeleryManager):
    """Dash's ``CeleryManager`` that tells a lost job from a running or cancelled one.

    Celery marks a job FAILURE when the process running it dies (``WorkerLostError``);
    Dash's own job function catches every exception of the callback and stores it as the
    result, so FAILURE without a result means the job was lost. A cancelled job is
    REVOKED and stays silent, as Dash intends.
    """

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is self.UNDEFINED and job:
            task = self.get_task(job)
            if task is not None and task.state == "FAILURE":
                log.warning("background job %s was lost: %r", job, task.result)
                return {"background_callback_error": {
                    "msg": f"job lost with its worker: {task.result!r}", "tb": ""}}
        return result


def manager(cache_dir: Path):
    """The job manager this process's settings ask for; connects to nothing.

    Parameters
    ----------
    cache_dir:
        The disk cache folder of the single-machine manager (used without ``REDIS_URL``).
    """
    settings = job_settings()
    if settings.redis_url is None:
        import diskcache

        return dash.DiskcacheManager(diskcache.Cache(str(cache_dir)))
    log.info("background jobs go to Celery workers through %s", settings.redis_safe)
    return CeleryJobs(make_celery(settings.redis_url))


def celery_app(jobs) -> object | None:
    """The Celery application behind ``jobs`` (what ``python -m geo worker`` runs), or None."""
    return jobs.handle if isinstance(jobs, CeleryJobs) else None


def report_failure(outputs: int, message_at: int) -> Callable[[Exception], list]:
    """A background callback's ``on_error``: the callback's outputs unchanged but one,
    which tells the user the job did not finish and nothing was saved.

    Parameters
    ----------
    outputs:
        How many outputs the callback has.
    message_at:
        The position of the output that shows messages (its ``children``).
    """
    def on_error(exc: Exception) -> list:
        log.error("background job failed: %s", str(exc)[:2000])
        values: list = [dash.no_update] * outputs
        values[message_at] = html.Span(t("jobs.failed"), className="ga-bad")
        return values

    return on_error
