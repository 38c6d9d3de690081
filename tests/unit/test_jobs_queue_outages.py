"""The Celery job manager when Redis or the workers are missing (a real redis-server of
its own, stopped by the test; a real Celery worker where one is needed): never an
exception (a 500), always a failed job whose message the page shows."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from geo.jobs import make_celery
from geo.serve import RedisProcess
from layouts.jobs import NO_WORKER, REDIS_DOWN, UNSUBMITTED, CeleryJobs, report_failure


def _jobs(url: str, pending_timeout_s: int = 60):
    app = make_celery(url, name="outages")
    ran = threading.Event()

    @app.task(name=f"outages.job.{uuid.uuid4().hex}")  # Celery registers task names process-wide
    def job(result_key, progress_key, args, context=None):
        ran.set()
        app.backend.set(result_key, json.dumps(["done"]))

    return CeleryJobs(app, pending_timeout_s=pending_timeout_s), job, ran


def _msg(result) -> str:
    assert isinstance(result, dict) and "background_callback_error" in result, result
    return result["background_callback_error"]["msg"]


@pytest.fixture()
def own_redis(tmp_path):
    server = RedisProcess(tmp_path / "redis")
    yield server
    server.stop()


def test_no_worker_the_job_is_reported_and_never_runs_late(own_redis):
    jobs, job, ran = _jobs(own_redis.url, pending_timeout_s=1)
    key = "k-no-worker"
    job_id = jobs.call_job_fn(key, job, [], {})
    # the message itself expires: a worker that reads it later discards it
    queued = json.loads(redis.Redis.from_url(own_redis.url).lindex("celery", 0))
    assert queued["headers"]["id"] == job_id and queued["headers"]["expires"]
    assert jobs.get_result(key, job_id) is jobs.UNDEFINED and jobs.job_running(job_id)
    deadline = time.monotonic() + 30
    while (result := jobs.get_result(key, job_id)) is jobs.UNDEFINED:
        assert time.monotonic() < deadline, "the PENDING job was never reported"
        time.sleep(0.2)
    assert NO_WORKER in _msg(result)
    assert jobs.get_task(job_id).state == "REVOKED" and not jobs.job_running(job_id)
    # a worker started now takes the message and does not run it
    with start_worker(jobs.handle, perform_ping_check=False, shutdown_timeout=20):
        deadline = time.monotonic() + 20
        while redis.Redis.from_url(own_redis.url).llen("celery") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # what the worker does with it, it has done by now
    assert redis.Redis.from_url(own_redis.url).llen("celery") == 0
    assert not ran.is_set()
    assert jobs.get_task(job_id).state == "REVOKED"


def test_a_job_taken_in_time_runs(own_redis):
    jobs, job, ran = _jobs(own_redis.url, pending_timeout_s=30)
    with start_worker(jobs.handle, perform_ping_check=False, shutdown_timeout=20):
        job_id = jobs.call_job_fn("k-ok", job, [], {})
        deadline = time.monotonic() + 30
        while (result := jobs.get_result("k-ok", job_id)) is jobs.UNDEFINED:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert result == ["done"] and ran.is_set()


def test_redis_down_poll_and_submission_are_messages(own_redis):
    jobs, job, _ran = _jobs(own_redis.url, pending_timeout_s=60)
    job_id = jobs.call_job_fn("k-down", job, [], {})
    own_redis.stop()
    t0 = time.monotonic()
    assert REDIS_DOWN in _msg(jobs.get_result("k-down", job_id))
    assert jobs.job_running(job_id) is False
    assert jobs.get_progress("k-down") is None and jobs.get_updated_props("k-down") == {}
    jobs.terminate_job(job_id)  # Cancel while Redis is down: no exception
    # a job submitted now is not submitted, and its first poll says why
    new = jobs.call_job_fn("k-down2", job, [], {})
    assert new.startswith(UNSUBMITTED)
    assert REDIS_DOWN in _msg(jobs.get_result("k-down2", new)) and not jobs.job_running(new)
    assert time.monotonic() - t0 < 30  # answered, not retried for minutes


@pytest.mark.parametrize("marker, words", [
    (REDIS_DOWN, "任务队列（Redis）暂不可用"), (NO_WORKER, "没有后台处理进程"), ("worker lost", "后台计算未完成"),
])
def test_the_page_says_which(marker, words):
    out = report_failure(2, 1)(RuntimeError(f"An error occurred inside a background callback: {marker}"))
    assert words in out[1].children and out[0] is not None


def test_the_messages_exist_in_english():
    from layouts.i18n import t

    assert "job queue (Redis) is unavailable" in t("jobs.unavailable", "en")
    assert "No worker has taken the job (none within 60 s)" in t("jobs.no_worker", "en").format(s=60)
    assert "后台" not in t("jobs.no_worker", "en") + t("jobs.unavailable", "en")
