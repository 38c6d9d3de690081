"""The connection pool under overload and outages, on the real PostGIS.

A checkout waits up to DB_POOL_TIMEOUT for a free connection, then raises DatabaseBusy
(never psycopg2's PoolError); a dead server gives DatabaseUnavailable whose message names
no host, port, user or database.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg2
import pytest

from geo import db
from geo.errors import DatabaseBusy, DatabaseUnavailable
from geo.settings import get_settings


@pytest.fixture()
def small_pool(empty_db, monkeypatch):
    """This process's pool: 2 connections, 0.3 s wait."""
    monkeypatch.setenv("DB_POOL_MAX", "2")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "0.3")
    get_settings.cache_clear()
    db.reset_pool()
    yield empty_db
    db.reset_pool()
    monkeypatch.undo()
    get_settings.cache_clear()


def _hold(n: int, release: threading.Event, held: threading.Barrier) -> list[threading.Thread]:
    def work():
        with db.transaction(readonly=True) as cur:
            cur.execute("SELECT 1")
            held.wait()
            release.wait(10)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for th in threads:
        th.start()
    return threads


def test_an_exhausted_pool_waits_then_says_busy(small_pool):
    release = threading.Event()
    held = threading.Barrier(3)
    threads = _hold(2, release, held)
    held.wait(10)  # both connections are out
    try:
        t0 = time.monotonic()
        with pytest.raises(DatabaseBusy) as info:
            db.fetch_one("SELECT 1 AS one")
        waited = time.monotonic() - t0
    finally:
        release.set()
        for th in threads:
            th.join(10)
    assert 0.25 <= waited < 2.0, waited
    assert isinstance(info.value, DatabaseUnavailable)  # callers catching that see it too
    assert "繁忙" in info.value.user_msg and "busy" in info.value.user_msg
    # the slots came back: the pool serves again, and more than once
    for _ in range(5):
        assert db.fetch_one("SELECT 1 AS one") == {"one": 1}


def test_a_waiting_request_gets_the_connection_freed_within_the_timeout(small_pool, monkeypatch):
    monkeypatch.setenv("DB_POOL_TIMEOUT", "3")
    get_settings.cache_clear()
    release = threading.Event()
    held = threading.Barrier(3)
    threads = _hold(2, release, held)
    held.wait(10)
    threading.Timer(0.2, release.set).start()  # freed well inside the 3 s wait
    try:
        t0 = time.monotonic()
        assert db.fetch_one("SELECT 2 AS two") == {"two": 2}
        assert time.monotonic() - t0 >= 0.15  # it did wait (psycopg2 alone raises at once)
    finally:
        release.set()
        for th in threads:
            th.join(10)


def test_many_threads_on_a_small_pool_never_raise_pool_error(small_pool, monkeypatch):
    monkeypatch.setenv("DB_POOL_TIMEOUT", "10")
    get_settings.cache_clear()
    outcomes: list[str] = []
    lock = threading.Lock()

    def work():
        try:
            with db.read_session():
                db.fetch_one("SELECT pg_sleep(0.02)")
                db.fetch_all("SELECT 1")
            result = "ok"
        except Exception as exc:  # noqa: BLE001 - the test records whatever escapes
            result = type(exc).__name__
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=work) for _ in range(30)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert outcomes == ["ok"] * 30


def test_dead_connections_are_replaced_by_the_pre_ping(small_pool):
    pids = {db.fetch_one("SELECT pg_backend_pid() AS pid")["pid"]}
    admin = psycopg2.connect(small_pool.admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(p) FROM unnest(%s) AS p", (list(pids),))
    admin.close()
    time.sleep(0.1)
    assert db.fetch_one("SELECT pg_backend_pid() AS pid")["pid"] not in pids


def test_an_unreachable_server_names_nothing_of_it(monkeypatch, caplog):
    url = "postgresql://secret_user:hunter2@127.0.0.1:1/secret_db"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    db.reset_pool()
    try:
        with caplog.at_level(logging.WARNING, logger="geo.db"), \
                pytest.raises(DatabaseUnavailable) as info:
            db.fetch_one("SELECT 1")
        with pytest.raises(DatabaseUnavailable) as direct:
            db.connect()
    finally:
        db.reset_pool()
        get_settings.cache_clear()
    for exc in (info.value, direct.value):
        msg = exc.user_msg
        assert "数据库暂不可用" in msg
        for secret in ("127.0.0.1", "port", ":1", "secret_user", "secret_db", "hunter2",
                       "socket", "/"):
            assert secret not in msg.replace(" / ", " "), (secret, msg)
        assert "127.0.0.1" in exc.detail  # ... the detail is kept for the log
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # logged server-side
    assert "hunter2" not in caplog.text


def test_ping_answers_on_a_live_pool_and_says_busy_on_a_full_one(small_pool):
    db.ping(timeout=1)
    release = threading.Event()
    held = threading.Barrier(3)
    threads = _hold(2, release, held)
    held.wait(10)
    try:
        with pytest.raises(DatabaseBusy):
            db.ping(timeout=0.05)
    finally:
        release.set()
        for th in threads:
            th.join(10)
