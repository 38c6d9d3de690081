"""REDIS_URL and WORKER_CONCURRENCY are validated once, fail fast with a message, and never
show the password; the Celery application accepts JSON only and fails a lost job."""

from __future__ import annotations

import pytest

from geo.errors import ConfigError
from geo.jobs.queue import load_job_settings, make_celery


def test_no_redis_url_keeps_the_single_machine_manager():
    s = load_job_settings({})
    assert s.redis_url is None and s.redis_safe is None and s.concurrency >= 1


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "redis://:pw@10.0.0.5:6380/3", "rediss://redis.example:6380",
    "unix:///run/redis/redis.sock",
])
def test_accepted_urls(url):
    assert load_job_settings({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:6379/0", "must start with redis://"),
    ("127.0.0.1:6379", "must start with redis://"),
    ("redis://", "names no host"),
    ("redis://127.0.0.1:port/0", "not a valid URL"),
    ("redis://127.0.0.1:6379/zero", "database number"),
])
def test_bad_urls_fail_fast_with_a_message(url, words):
    with pytest.raises(ConfigError, match=words):
        load_job_settings({"REDIS_URL": url})


def test_the_password_never_shows():
    s = load_job_settings({"REDIS_URL": "redis://:s3cret-pw@127.0.0.1:6379/2"})
    assert s.redis_safe == "redis://127.0.0.1:6379/2"
    assert "s3cret" not in repr(s) and "s3cret" not in s.redis_safe


@pytest.mark.parametrize("raw", ["0", "65", "two", "-1", "1.5"])
def test_bad_concurrency(raw):
    with pytest.raises(ConfigError, match="WORKER_CONCURRENCY"):
        load_job_settings({"WORKER_CONCURRENCY": raw})


@pytest.mark.parametrize("raw", ["0", "3601", "soon", "-5", "1.5"])
def test_bad_pending_timeout(raw):
    with pytest.raises(ConfigError, match="JOB_PENDING_TIMEOUT_S"):
        load_job_settings({"JOB_PENDING_TIMEOUT_S": raw})


def test_pending_timeout():
    assert load_job_settings({}).pending_timeout_s == 60
    assert load_job_settings({"JOB_PENDING_TIMEOUT_S": "5"}).pending_timeout_s == 5


def test_concurrency():
    assert load_job_settings({"WORKER_CONCURRENCY": "3"}).concurrency == 3


def test_celery_app_json_only_and_a_lost_job_fails():
    """Connects to nothing; a pickled message is never accepted; a job is acknowledged when
    taken, so a worker lost mid-job fails it instead of running it again."""
    app = make_celery("redis://127.0.0.1:1/0")
    assert app.conf.accept_content == ["json"] and app.conf.task_serializer == "json"
    assert app.conf.result_accept_content == ["json"]
    assert app.conf.task_acks_late is False and app.conf.task_track_started is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_worker_without_redis_url_is_a_clear_error(monkeypatch, capsys):
    from geo import cli
    from geo.jobs import queue

    monkeypatch.delenv("REDIS_URL", raising=False)
    queue.job_settings.cache_clear()
    try:
        assert cli.main(["worker"]) == 2
    finally:
        queue.job_settings.cache_clear()
    assert "REDIS_URL is not set" in capsys.readouterr().err


def test_worker_nice_defaults_to_10_and_is_checked():
    assert load_job_settings({}).nice == 10
    assert load_job_settings({"WORKER_NICE": "0"}).nice == 0
    assert load_job_settings({"WORKER_NICE": "19"}).nice == 19
    for bad in ("20", "-1", "ten", "5.5"):
        with pytest.raises(ConfigError, match="WORKER_NICE"):
            load_job_settings({"WORKER_NICE": bad})
