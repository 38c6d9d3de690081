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

import json
import logging
import os
import threading
import time
import uuid
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
#: A job still PENDING this long after its message expired (``JOB_PENDING_TIMEOUT_S``) was
#: taken by no worker: the margin covers a worker that took it at the last moment and has
#: not yet recorded STARTED.
PENDING_GRACE_S = 2.0

# Markers in a failed job's message that choose what the page says (:func:`report_failure`).
REDIS_DOWN = "gridatlas:redis-unavailable"
NO_WORKER = "gridatlas:no-worker"
#: The id given to a job that could not be submitted (Redis down): never a Celery task.
UNSUBMITTED = "unsubmitted-"


#: Test hook, off by default: the path of a file. While that file exists, a job reaching
#: :func:`hold` waits there (at most :data:`HOLD_MAX_S`), so a test can act on a job
#: "mid-job" (cancel it, kill its process) however fast the job is. Never set in production.
HOLD_ENV = "GRIDATLAS_TEST_JOB_HOLD_FILE"
HOLD_MAX_S = 300.0


def hold(step: str) -> None:
    """The test hook :data:`HOLD_ENV`: wait at ``step`` while its file exists (after saying
    so in the log, with this process's id). Does nothing when the setting is not set."""
    path = os.environ.get(HOLD_ENV)
    if not path or not Path(path).exists():
        return
    log.warning("job held at step %s in process %d (test hook %s)", step, os.getpid(), HOLD_ENV)
    deadline = time.monotonic() + HOLD_MAX_S
    while Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    log.warning("job released at step %s in process %d", step, os.getpid())


def _error(msg: str) -> dict:
    return {"background_callback_error": {"msg": msg, "tb": ""}}


def _queue_errors() -> tuple[type[BaseException], ...]:
    """What the Redis client, kombu and Celery raise when Redis cannot be reached."""
    import kombu.exceptions
    import redis

    return (redis.RedisError, kombu.exceptions.OperationalError, OSError)


class CeleryJobs(dash.CeleryManager):
    """Dash's ``CeleryManager`` that tells a lost job from a running or cancelled one.

    Celery marks a job FAILURE when the process running it dies (``WorkerLostError``);
    Dash's own job function catches every exception of the callback and stores it as the
    result, so FAILURE without a result means the job was lost. A cancelled job is
    REVOKED and stays silent, as Dash intends.

    Redis down never makes a 500: a submission gets an :data:`UNSUBMITTED` id and every
    poll of a job ends its wait as a failed job whose message says Redis is unavailable.
    A job no worker took within ``pending_timeout_s`` (its message carries that expiry,
    so a worker started later discards it) is revoked and reported the same way.
    """

    def __init__(self, celery_app, pending_timeout_s: int = 60, **kwargs) -> None:
        super().__init__(celery_app, **kwargs)
        self.pending_timeout_s = pending_timeout_s
        self._down = _queue_errors()
        # the job this request's get_result found still running: Dash asks job_running right
        # after, and a job that ended in between must still read as running (else Dash ends
        # the wait with a 204 and drops the result the next poll would have taken)
        self._seen_waiting = threading.local()

    def call_job_fn(self, key, job_fn, args, context):
        task_id = uuid.uuid4().hex
        try:
            # when it was submitted, for the no-worker check of any web process
            self.handle.backend.client.set(_submitted_key(task_id), repr(time.time()), ex=24 * 3600)
            job_fn.apply_async((key, self._make_progress_key(key), args, context), task_id=task_id,
                               expires=self.pending_timeout_s)
        except self._down as exc:
            log.warning("background job not submitted: Redis unavailable: %s", exc)
            return UNSUBMITTED + task_id
        return task_id

    def get_result(self, key, job):
        self._seen_waiting.job = None
        if isinstance(job, str) and job.startswith(UNSUBMITTED):
            return _error(f"{REDIS_DOWN}: the job could not be submitted")
        try:
            return self._result(key, job)
        except self._down as exc:
            log.warning("background job %s: Redis unavailable: %s", job, exc)
            return _error(f"{REDIS_DOWN}: {type(exc).__name__}")

    def _result(self, key, job):
        result = self._take(key, job)
        if result is not self.UNDEFINED or not job:
            return result
        if self.handle.backend.client.get(_ended_key(job)):
            return result  # cancelled or replaced by the page: ends in silence, as Dash intends
        task = self.get_task(job)
        state = task.state
        if state == "SUCCESS" or self.result_ready(key):
            # it finished since the first read: hand the result over now (Dash ends the
            # wait when it sees the job no longer running, and would drop it)
            result = self._take(key, job)
            if result is not self.UNDEFINED:
                return result
        if state == "FAILURE" or self._worker_gone(job, task):
            log.warning("background job %s was lost: %r", job, task.result)
            return _error(f"job lost with its worker: {task.result!r}")
        if state == "PENDING" and self._unclaimed(job):
            return _error(f"{NO_WORKER}: no worker took the job within {self.pending_timeout_s} s")
        if state in _WAITING:
            self._seen_waiting.job = job
            return result
        # Over, without a result: only a job this page cancelled or replaced ends in
        # silence (above: Dash answers 204 and the page stops waiting); anything else would
        # leave the user with no result and no word, so it is a failed job.
        reason = str(task.result or "")
        log.warning("background job %s ended %s without a result: %s", job, state, reason[:200])
        if state == "REVOKED" and "no worker" in reason:
            return _error(f"{NO_WORKER}: {reason}")
        return _error(f"job ended {state} without a result")

    def _take(self, key, job):
        """The job's result, once, or ``UNDEFINED``; its keys are cleared. Unlike Dash's
        ``get_result``, a finished job is not terminated: a revoke with ``terminate``
        signals the pool process by pid, which may already run the next job."""
        raw = self.handle.backend.get(key)
        if raw is None:
            return self.UNDEFINED
        if job:
            self.handle.backend.client.set(_done_key(job), "1", ex=3600)
        self.clear_cache_entry(key)
        self.clear_cache_entry(self._make_progress_key(key))
        return json.loads(raw)

    def _unclaimed(self, job: str) -> bool:
        """True when ``job`` is still waiting in the queue after its message expired: no
        worker took it. It is revoked (and marked so for every web process); a worker that
        reads its message later finds it expired and does not run it."""
        raw = self.handle.backend.client.get(_submitted_key(job))
        try:
            submitted = float(raw) if raw is not None else None
        except ValueError:
            submitted = None
        if submitted is None or time.time() - submitted < self.pending_timeout_s + PENDING_GRACE_S:
            return False
        log.warning("background job %s: no worker took it within %d s; revoked", job, self.pending_timeout_s)
        self.handle.control.revoke(job)
        self.handle.backend.mark_as_revoked(job, reason="no worker took the job")
        return True

    def job_running(self, job):
        if isinstance(job, str) and job.startswith(UNSUBMITTED):
            return False
        if job and getattr(self._seen_waiting, "job", None) == job:
            self._seen_waiting.job = None
            return True  # as this poll's get_result saw it: the next poll takes the result
        try:
            if job and self.handle.backend.client.get(_ended_key(job)):
                return False  # cancelled: even a job still queued (PENDING) is not waited for
            return super().job_running(job)
        except self._down:
            return False  # Redis down: nothing to wait for (get_result said why)

    def terminate_job(self, job):
        """Cancel ``job`` (Cancel, or the page replacing it), remembered so that its end
        stays silent; a job whose result was already handed over is left alone."""
        if not job or (isinstance(job, str) and job.startswith(UNSUBMITTED)):
            return None
        try:
            client = self.handle.backend.client
            if client.get(_done_key(job)):
                return None
            client.set(_ended_key(job), "1", ex=24 * 3600)
            return super().terminate_job(job)
        except self._down as exc:
            log.warning("background job %s not cancelled: Redis unavailable: %s", job, exc)
            return None

    def get_progress(self, key):
        try:
            return super().get_progress(key)
        except self._down:
            return None

    def get_updated_props(self, key):
        try:
            return super().get_updated_props(key)
        except self._down:
            return {}

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # as in CeleryJobs: a job this request's get_result saw running reads as running
        # when Dash asks right after, so a job ending in between is not dropped with a 204
        self._seen_waiting = threading.local()

    def get_result(self, key, job):
        self._seen_waiting.job = None
        result = super().get_result(key, job)
        if result is not self.UNDEFINED or not job:
            return result
        if super().job_running(job):
            self._seen_waiting.job = job
            return result
        if self.result_ready(key):  # it wrote its result and ended since the first read
            return super().get_result(key, job)
        if self.handle.get(_ended_key(job)):
            return result  # cancelled or replaced
        log.warning("background job process %s ended without a result", job)
        return {"background_callback_error": {"msg": f"job process {job} ended without a result", "tb": ""}}

    def job_running(self, job):
        if job and getattr(self._seen_waiting, "job", None) == job:
            self._seen_waiting.job = None
            return True  # as this poll's get_result saw it: the next poll takes the result
        return super().job_running(job)


#: Celery states of a job not over yet.
_WAITING = frozenset({"PENDING", "RECEIVED", "STARTED", "RETRY", "PROGRESS"})


def _done_key(job: str) -> str:
    return f"gridatlas:job-done:{job}"


def _submitted_key(job: str) -> str:
    return f"gridatlas:job-submitted:{job}"


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
    return CeleryJobs(make_celery(settings.redis_url), pending_timeout_s=settings.pending_timeout_s)


def celery_app(jobs) -> object | None:
    """The Celery application behind ``jobs`` (what ``python -m geo worker`` runs), or None."""
    return jobs.handle if isinstance(jobs, CeleryJobs) else None


def failure_message(exc: Exception, failed: str = "jobs.failed") -> str:
    """What the page says of a job that did not finish (logged): Redis down, no worker took
    it, or ``failed`` (the string key for a job lost with its worker or failing)."""
    text = str(exc)
    log.error("background job failed: %s", text[:2000])
    if REDIS_DOWN in text:
        return t("jobs.unavailable")
    if NO_WORKER in text:
        return t("jobs.no_worker").format(s=job_settings().pending_timeout_s)
    return t(failed)


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
        message = failure_message(exc)
        values: list = [dash.no_update] * outputs
        values[message_at] = html.Span(message, className="ga-bad", role="alert")
        return values

    return on_error
