"""Background jobs on Celery and Redis (``REDIS_URL``), for several machines.

Without ``REDIS_URL`` the app keeps its single-machine job manager (a disk cache and a
process per job, no server). With it, the app's background callbacks run as Celery tasks
on the workers that ``python -m geo worker`` starts, on any machine that reaches the
database and Redis. This package holds the framework-free part: the settings and the
Celery application; the Dash side (the job manager) is built in ``layouts/jobs.py``.
"""

from geo.jobs.queue import JobSettings, QueueUnavailable, job_settings, make_celery

__all__ = ["JobSettings", "QueueUnavailable", "job_settings", "make_celery"]
