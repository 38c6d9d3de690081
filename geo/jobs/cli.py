"""``python -m geo worker``: a Celery worker running the app's background jobs.

The worker imports the web app by name (``--app``, default ``app``, the checkout's
``app.py``), as ``celery -A`` does: building the app registers every background callback
as a Celery task under a name derived from its source, so the web tier and the workers
agree on the tasks as long as they run the same code. ``geo`` itself imports no Dash:
only this command, at run time, loads the module it is told to.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys

from geo.errors import ConfigError
from geo.jobs.queue import job_settings
from geo.settings import PROJECT_ROOT

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("worker", help="run background jobs from REDIS_URL (Celery)")
    p.add_argument("--app", default="app",
                   help="the module that builds the web app and its job manager (default: app)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="jobs at once, one process each (default: WORKER_CONCURRENCY)")
    p.add_argument("--name", default=None,
                   help="the worker's node name (default: gridatlas-PID@HOST)")
    p.set_defaults(handler=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    settings = job_settings()
    if settings.redis_url is None:
        raise ConfigError("REDIS_URL is not set: the worker takes its jobs from Redis "
                          "(e.g. REDIS_URL=redis://127.0.0.1:6379/0)")
    concurrency = args.concurrency or settings.concurrency
    if not 1 <= concurrency <= 64:
        raise ConfigError(f"--concurrency must be from 1 to 64, got {concurrency}")
    logging.getLogger().setLevel(logging.INFO)
    if str(PROJECT_ROOT) not in sys.path:  # the checkout's app.py, from any folder
        sys.path.insert(0, str(PROJECT_ROOT))
    try:
        module = importlib.import_module(args.app)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--app {args.app}: no such module ({exc.name})") from None
    celery_app = getattr(module, "celery_app", None)
    if celery_app is None:
        raise ConfigError(f"{args.app} builds no Celery application (is REDIS_URL set for it?)")
    name = args.name or f"gridatlas-{os.getpid()}@{socket.gethostname()}"
    # below the web tier's priority where they share cores (the pool's processes inherit it)
    niced = os.nice(max(settings.nice - os.nice(0), 0))
    log.info("worker %s: %d process(es), nice %d, jobs from %s", name, concurrency, niced, settings.redis_safe)
    celery_app.worker_main([
        "worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--pool=prefork",
        f"--hostname={name}", "--without-gossip", "--without-mingle", "-O", "fair",
    ])
    return 0
