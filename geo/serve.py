"""The production web tier: gunicorn's options and hooks, read from the settings.

``gunicorn.conf.py`` at the top of the checkout takes everything from here, so ``make run``
(``gunicorn -c gunicorn.conf.py app:server``) and the tests serve the same way.

Stateless between workers: sessions live in the ``sessions`` table, the CSRF token in the
signed session cookie (one key for every worker, made by the master before it forks),
proposals and background jobs in the disk caches under ``.cache/`` (one machine), locks in
PostgreSQL. The app is imported once in the master (``preload_app``): importing it connects
to nothing, and the planning engine is loaded there so that a background job, a fork of a
worker, never forks a half-imported module. Each worker drops any inherited database pool
after the fork.
"""

from __future__ import annotations

import logging

from geo.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A request is a page, a callback or a tile: anything slower than this is stuck (a long
# rebalance runs as a background job, outside the request).
TIMEOUT_S = 120
GRACEFUL_TIMEOUT_S = 20


def options(settings: Settings | None = None) -> dict:
    """gunicorn settings (the names of ``gunicorn.conf.py``) for these settings."""
    s = settings or get_settings()
    return {
        "bind": [f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"],
        "workers": s.workers,
        "worker_class": "gthread",
        "threads": s.threads,
        "preload_app": True,
        "timeout": TIMEOUT_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": 5,
        # a worker is replaced after this many requests (with jitter, so not all at once):
        # bounds the growth of any cache or leak
        "max_requests": 5000,
        "max_requests_jitter": 500,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "gridatlas",
        # gunicorn's control socket is one path per OS user (~/.gunicorn): a second server on
        # the machine (a test, another checkout) would take it over; signals do the job
        "control_socket_disable": True,
    }


def on_starting(server) -> None:
    """In the master, before any worker: say how the tier is sized."""
    s = get_settings()
    pool_total = s.workers * s.pool_max
    if s.threads > s.pool_max:
        log.warning("THREADS=%d > DB_POOL_MAX=%d: the extra threads wait at the pool",
                    s.threads, s.pool_max)
    log.info("gunicorn: %d workers x %d threads, up to %d database connections",
             s.workers, s.threads, pool_total)


def post_fork(server, worker) -> None:
    """In each new worker: forget the master's database pools (never share a socket)."""
    from geo import db

    db.after_fork()
