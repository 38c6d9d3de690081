"""The Celery application the web tier submits jobs to and the workers run them from.

Redis is both the broker (the queue of submitted jobs) and the result backend (states,
progress and results, which Dash's ``CeleryManager`` reads). The configuration makes a
lost job a failed job: a job is acknowledged when a worker takes it
(``task_acks_late=False``), so a worker process killed mid-job marks it FAILURE
(Celery's ``WorkerLostError``) instead of running it again behind the user's back; the
user is told and submits it again. ``task_track_started`` records the process that runs a
job (its host and pid) in its STARTED state.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from geo.errors import ConfigError, GridAtlasError

log = logging.getLogger(__name__)

class QueueUnavailable(GridAtlasError):
    """Redis (the job queue, its states and the proposals kept there) cannot be reached.

    ``user_msg`` names no host, port or password; the driver's words go to the log only.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__("任务队列（Redis）暂不可用，无法提交或查看后台计算，请稍后重试 / "
                         "The job queue (Redis) is unavailable: background jobs cannot be "
                         "submitted or followed; try again later")
        self.detail = detail


#: How long Redis keeps a finished job's state (Dash deletes the result once read).
RESULT_TTL_S = 24 * 3600
_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class JobSettings:
    """Where jobs go and how many run at once on one worker.

    Attributes
    ----------
    redis_url:
        ``REDIS_URL`` (``redis://[:password@]host:port/db``, ``rediss://`` for TLS or
        ``unix://`` for a socket); ``None`` keeps the single-machine job manager.
    concurrency:
        Jobs one ``python -m geo worker`` runs at once, each in its own process
        (``WORKER_CONCURRENCY``, default: the machine's cores).
    pending_timeout_s:
        A job no worker has taken after this many seconds is cancelled and the user told
        that no worker took it (``JOB_PENDING_TIMEOUT_S``, default 60, from 1 to 3600);
        its message expires then, so a worker started later discards it.
    nice:
        The CPU priority a worker's processes run at (``WORKER_NICE``, default 10, from 0
        to 19, as ``nice``): where workers share cores with the web tier, a rebalance yields
        the CPU to the requests people wait on; alone on a machine it changes nothing.
    """

    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    concurrency: int = 1
    pending_timeout_s: int = 60
    nice: int = 10

    @property
    def redis_safe(self) -> str | None:
        """The Redis URL without its password, for logs and messages."""
        if self.redis_url is None:
            return None
        parts = urlsplit(self.redis_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


def _check_url(raw: str) -> str:
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError("REDIS_URL is not a valid URL (redis://host:port/0)") from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError("REDIS_URL names no host (redis://host:port/0)")
    if parts.scheme != "unix" and parts.path not in ("", "/") and not re.fullmatch(r"/\d{1,2}", parts.path):
        raise ConfigError("REDIS_URL's path must be a database number such as /0")
    return raw


def load_job_settings(environ: dict | None = None) -> JobSettings:
    """Read and validate ``REDIS_URL``, ``WORKER_CONCURRENCY``, ``JOB_PENDING_TIMEOUT_S`` and
    ``WORKER_NICE`` (no caching)."""
    env = os.environ if environ is None else environ
    raw = (env.get("REDIS_URL") or "").strip()
    conc_raw = (env.get("WORKER_CONCURRENCY") or "").strip()
    concurrency = os.cpu_count() or 1
    if conc_raw:
        if not conc_raw.isdigit() or not 1 <= int(conc_raw) <= 64:
            raise ConfigError(f"WORKER_CONCURRENCY must be a whole number from 1 to 64, got {conc_raw!r}")
        concurrency = int(conc_raw)
    pending_raw = (env.get("JOB_PENDING_TIMEOUT_S") or "").strip()
    pending = 60
    if pending_raw:
        if not pending_raw.isdigit() or not 1 <= int(pending_raw) <= 3600:
            raise ConfigError("JOB_PENDING_TIMEOUT_S must be a whole number of seconds from 1 to 3600, "
                              f"got {pending_raw!r}")
        pending = int(pending_raw)
    nice_raw = (env.get("WORKER_NICE") or "").strip()
    nice = 10
    if nice_raw:
        if not nice_raw.isdigit() or not 0 <= int(nice_raw) <= 19:
            raise ConfigError(f"WORKER_NICE must be a whole number from 0 to 19, got {nice_raw!r}")
        nice = int(nice_raw)
    return JobSettings(redis_url=_check_url(raw) if raw else None, concurrency=concurrency,
                       pending_timeout_s=pending, nice=nice)


@lru_cache(maxsize=1)
def job_settings() -> JobSettings:
    """The process's job settings, read once."""
    return load_job_settings()


def make_celery(redis_url: str, name: str = "gridatlas"):
    """A Celery application on ``redis_url`` (broker and result backend).

    Importing it connects to nothing: Celery connects when a job is first submitted or
    when a worker starts.

    Parameters
    ----------
    redis_url:
        A URL accepted by :func:`load_job_settings`.
    name:
        The application's name (shown in the worker's log).
    """
    from celery import Celery, signals

    app = Celery(name, broker=_check_url(redis_url), backend=redis_url)
    app.conf.update(
        # JSON only: a pickled message from anyone who reaches Redis would run code
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_track_started=True,
        task_acks_late=False,
        worker_prefetch_multiplier=1,  # a long job does not hold others queued behind it
        result_expires=RESULT_TTL_S,
        broker_connection_retry_on_startup=True,
        # Redis down: a submission fails within about a second (the page says so), not
        # after Celery's default retries
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.3,
                                   "interval_max": 0.3},
        broker_connection_timeout=3,
        redis_socket_connect_timeout=3,
        redis_socket_timeout=10,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        timezone="UTC",
        enable_utc=True,
    )
    signals.task_prerun.connect(_started, weak=False, dispatch_uid="gridatlas-job-started")
    signals.task_postrun.connect(_finished, weak=False, dispatch_uid="gridatlas-job-finished")
    return app


def _started(task_id=None, task=None, **_kw) -> None:
    log.info("job %s (%s) started in process %d", task_id, getattr(task, "name", "?"), os.getpid())


def _finished(task_id=None, task=None, state=None, **_kw) -> None:
    log.info("job %s (%s) %s in process %d", task_id, getattr(task, "name", "?"), state, os.getpid())
