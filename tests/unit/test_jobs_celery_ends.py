"""How a Celery job's wait ends, against a real Redis (``tests/celery_fixtures.py``): a
finished job's result is handed over once and the job is never "terminated" afterwards (a
revoke with terminate signals a pool process by pid, which may already run the next job);
only a job the page cancelled or replaced ends in silence (Dash's 204, the page stops
waiting); a job over without a result for any other reason is a failed job with a message,
never a page that stops waiting without a word."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from geo.jobs import make_celery
from layouts.jobs import NO_WORKER, CeleryJobs
from tests.celery_fixtures import redis_url  # noqa: F401  (the session's Redis)


@pytest.fixture()
def jobs(redis_url):  # noqa: F811
    return CeleryJobs(make_celery(redis_url, name="ends"), pending_timeout_s=60)


@pytest.fixture()
def broadcasts(redis_url):  # noqa: F811
    """Control commands (revoke, terminate) sent to the workers from now on."""
    sub = redis.Redis.from_url(redis_url).pubsub()
    sub.psubscribe("*pidbox*")
    sub.get_message(timeout=1)  # the subscription's confirmation

    def sent() -> list:
        out, deadline = [], time.monotonic() + 0.5
        while time.monotonic() < deadline:
            msg = sub.get_message(timeout=0.1)
            if msg and msg["type"] == "pmessage":
                out.append(msg)
        return out

    yield sent
    sub.close()


def _ids() -> tuple[str, str]:
    return f"key-{uuid.uuid4().hex}", uuid.uuid4().hex


def _is_error(result) -> bool:
    return isinstance(result, dict) and "background_callback_error" in result


def test_a_finished_job_is_handed_over_and_never_terminated(jobs, broadcasts):
    key, job = _ids()
    backend = jobs.handle.backend
    backend.store_result(job, None, "STARTED")  # wrote its result, not yet returned
    backend.set(key, json.dumps(["plan-id", "done"]))
    assert jobs.get_result(key, job) == ["plan-id", "done"]
    if jobs.job_running(job):  # what Dash does next with a job still marked running
        jobs.terminate_job(job)
    assert broadcasts() == []
    assert backend.get(key) is None  # handed over once


def test_a_cancelled_job_ends_in_silence(jobs, broadcasts):
    key, job = _ids()
    jobs.handle.backend.store_result(job, None, "STARTED")
    jobs.terminate_job(job)  # Cancel: the workers are told
    assert len(broadcasts()) >= 1
    jobs.handle.backend.mark_as_revoked(job, reason="terminated")
    assert jobs.get_result(key, job) is jobs.UNDEFINED and not jobs.job_running(job)


def test_a_cancelled_job_still_queued_is_not_waited_for(jobs):
    key, job = _ids()  # PENDING: no worker has it
    assert jobs.job_running(job)
    jobs.terminate_job(job)
    assert jobs.get_result(key, job) is jobs.UNDEFINED and not jobs.job_running(job)


def test_success_without_a_result_is_a_failed_job_not_silence(jobs):
    key, job = _ids()
    jobs.handle.backend.store_result(job, None, "SUCCESS")
    assert _is_error(jobs.get_result(key, job))


@pytest.mark.parametrize("reason, marker", [("no worker took the job", NO_WORKER), ("expired", "REVOKED")])
def test_revoked_by_anything_but_the_page_is_reported(jobs, reason, marker):
    key, job = _ids()
    jobs.handle.backend.mark_as_revoked(job, reason=reason)
    result = jobs.get_result(key, job)
    assert _is_error(result) and marker in result["background_callback_error"]["msg"]


def test_a_job_ending_between_the_reads_of_one_poll_is_handed_over_next(jobs):
    """Dash reads a poll's result, then asks whether the job still runs; a job that wrote its
    result and ended between the two (a loaded machine widens the gap) must not read as
    over-without-result (Dash's 204: the page stops waiting, the result is dropped)."""
    key, job = _ids()
    backend = jobs.handle.backend
    backend.store_result(job, None, "STARTED")
    assert jobs.get_result(key, job) is jobs.UNDEFINED  # still running at the first read
    backend.set(key, json.dumps(["street", "done"]))  # the worker ends now
    backend.store_result(job, None, "SUCCESS")
    assert jobs.job_running(job)  # as the poll saw it: the page polls once more ...
    assert jobs.get_result(key, job) == ["street", "done"]  # ... and gets the result
    assert not jobs.job_running(job)
