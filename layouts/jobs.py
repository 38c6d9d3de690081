"""The background job manager: this machine's processes, or Celery workers (REDIS_URL).

Without ``REDIS_URL`` a job is a process forked from the web process, its state in a disk
cache (Dash's ``DiskcacheManager``): one machine, no server. With ``REDIS_URL`` the same
background callbacks run as Celery tasks on ``python -m geo worker`` processes, their
state in Redis (Dash's ``CeleryManager``): any machine that reaches the database and
Redis. A job acts as the user captured when it was submitted (the signed token it gets as
an argument, ``layouts.plan_store.sign``), never as whoever runs the worker.

A job whose worker process was killed has no result: Dash would end the wait silently,
and a job whose whole worker died would be waited for forever. :class:`CeleryJobs` (and
:class:`DiskJobs` on one machine) report such a job as failed instead, and
:func:`report_failure` shows the page's message, so the user knows nothing was saved and
runs it again.
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

#: A STARTED job's worker is asked whether it is alive at most this often (seconds) ...
LIVENESS_EVERY_S = 5.0
#: ... waiting this long for its answer ...
LIVENESS_TIMEOUT_S = 2.0
#: ... and this many unanswered questions in a row make the job lost.
LIVENESS_MISSES = 2


class CeleryJobs(dash.CeleryManager):
    """Dash's ``CeleryManager`` that tells a lost job from a running or cancelled one.

    Celery marks a job FAILURE when the process running it dies (``WorkerLostError``);
    Dash's own job function catches every exception of the callback and stores it as the
    result, so FAILURE without a result means the job was lost. A cancelled job is
    REVOKED and stays silent, as Dash intends.
    """

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is not self.UNDEFINED or not job:
            return result
        task = self.get_task(job)
        if task.state == "SUCCESS" or self.result_ready(key):
            # it finished since the first read: hand the result over now (Dash ends the
            # wait when it sees the job no longer running, and would drop it)
            return super().get_result(key, job)
        if task.state == "FAILURE" or self._worker_gone(job, task):
            log.warning("background job %s was lost: %r", job, task.result)
            return {"background_callback_error": {
                "msg": f"job lost with its worker: {task.result!r}", "tb": ""}}
        return result

    def _worker_gone(self, job: str, task) -> bool:
        """True when the worker that started ``job`` no longer answers: the whole worker
        (or its machine) died and nobody is left to mark the job failed.

        The worker named in the STARTED state is pinged at most once per
        :data:`LIVENESS_EVERY_S` for a job, whichever web process polls; only
        :data:`LIVENESS_MISSES` unanswered pings in a row declare it gone (a busy worker
        answers late, not never). The job is then marked FAILURE for everyone.
        """
        info = task.info if task.state == "STARTED" else None
        host = info.get("hostname") if isinstance(info, dict) else None
        if not isinstance(host, str) or not host:
            return False
        client = self.handle.backend.client
        key = f"gridatlas:job-liveness:{job}"
        if not client.set(key + ":checked", "1", nx=True, ex=max(1, int(LIVENESS_EVERY_S))):
            return False  # checked a moment ago (by this or another web process)
        if self.handle.control.ping(destination=[host], timeout=LIVENESS_TIMEOUT_S):
            client.delete(key)
            return False
        misses = client.incr(key)
        client.expire(key, 3600)
        log.info("background job %s: worker %s did not answer (%d)", job, host, misses)
        if misses < LIVENESS_MISSES:
            return False
        from billiard.exceptions import WorkerLostError

        self.handle.backend.mark_as_failure(
            job, WorkerLostError(f"worker {host} stopped answering"), call_errbacks=False)
        return True


class DiskJobs(dash.DiskcacheManager):
    """Dash's ``DiskcacheManager`` (one machine) that reports a job process that died
    without a result (killed, out of memory) as a failed job; a cancelled or replaced job
    (ended through :meth:`terminate_job`) stays silent, as Dash intends."""

    def terminate_job(self, job):
        if job:
            self.handle.set(_ended_key(job), True, expire=24 * 3600)
        return super().terminate_job(job)

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is not self.UNDEFINED or not job or self.job_running(job):
            return result
        if self.result_ready(key):  # it wrote its result and ended since the first read
            return super().get_result(key, job)
        if self.handle.get(_ended_key(job)):
            return result  # cancelled or replaced
        log.warning("background job process %s ended without a result", job)
        return {"background_callback_error": {"msg": f"job process {job} ended without a result", "tb": ""}}


def _ended_key(job) -> str:
    return f"gridatlas-job-ended-{job}"


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

        return DiskJobs(diskcache.Cache(str(cache_dir)))
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
