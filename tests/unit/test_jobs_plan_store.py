"""Proposals kept in Redis when ``REDIS_URL`` is set (a real redis-server,
``tests/celery_fixtures.py``): a proposal put by another process (a worker, which may be on
another machine) is read here; JSON values under ``gridatlas:plans:`` with the proposals'
lifetime; undo and redo work the same; without ``REDIS_URL`` the disk cache stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import diskcache
import pytest
import redis

from geo.jobs import QueueUnavailable, job_settings
from geo.serve import free_port
from geo.settings import PROJECT_ROOT
from layouts import plan_store
from tests.celery_fixtures import redis_url  # noqa: F401  (the session's Redis)


@pytest.fixture()
def use_redis(redis_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REDIS_URL", redis_url)
    job_settings.cache_clear()
    plan_store._cache.cache_clear()
    yield redis_url
    monkeypatch.delenv("REDIS_URL")
    job_settings.cache_clear()
    plan_store._cache.cache_clear()


def _put_elsewhere(redis_url: str, text: str) -> str:  # noqa: F811
    """A proposal kept by another process (as a Celery worker does); its id."""
    code = "import sys; from layouts import plan_store; print(plan_store.put(sys.stdin.read()))"
    out = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True,
                         cwd=PROJECT_ROOT, env=dict(os.environ, REDIS_URL=redis_url), timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_proposal_put_by_a_worker_is_read_from_redis(use_redis):
    proposal = json.dumps({"community_code": "990100001001", "grids": ["网格一"]}, ensure_ascii=False)
    key = _put_elsewhere(use_redis, proposal)
    assert plan_store.valid_id(key)
    assert plan_store.get(key) == proposal
    raw = redis.Redis.from_url(use_redis).get(f"gridatlas:plans:{key}")
    assert json.loads(raw) == proposal  # a JSON value, never a pickle
    assert 0 < redis.Redis.from_url(use_redis).ttl(f"gridatlas:plans:{key}") <= 24 * 3600
    # not on this machine's disk
    assert diskcache.Cache(str(PROJECT_ROOT / ".cache" / "plans")).get(key) is None


def test_undo_and_redo_over_redis(use_redis):
    key = plan_store.put("v1")
    plan_store.record(key, "v2")
    plan_store.record(key, "v3")
    assert plan_store.depth(key) == (2, 0)
    assert plan_store.step(key, "undo") and plan_store.get(key) == "v2"
    assert plan_store.depth(key) == (1, 1)
    assert plan_store.step(key, "redo") and plan_store.get(key) == "v3"
    undo = redis.Redis.from_url(use_redis).get(f"gridatlas:plans:{key}:undo")
    assert json.loads(undo) == ["v1", "v2"]


def test_without_redis_url_the_disk_cache_stays(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    job_settings.cache_clear()
    plan_store._cache.cache_clear()
    try:
        assert isinstance(plan_store._cache(), diskcache.Cache)
    finally:
        plan_store._cache.cache_clear()
        job_settings.cache_clear()


def test_redis_down_is_a_message_not_a_crash():
    store = plan_store.RedisPlans(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(QueueUnavailable) as err:
        store.get("0" * 32)
    assert "Redis" in err.value.user_msg and "127.0.0.1" not in err.value.user_msg
    with pytest.raises(QueueUnavailable):
        store.set("0" * 32, "x", expire=10)
