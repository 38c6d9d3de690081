"""A commit is one transaction: killed mid-way (kill -9) or beaten by a concurrent commit,
the previous version stays current and nothing is half written."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from geo.access.roles import Principal
from geo.planning import api, versions
from geo.planning.model import PlanConflict
from tests.conftest import ROOT

COMM = "990100004001"  # 桃园社区 (156 buildings)
ADMIN = Principal("test:admin", "admin", None)

# Runs one commit and stops right before COMMIT, after every write of the transaction.
CRASHING_COMMIT = textwrap.dedent("""
    import sys, time
    from geo.access.roles import Principal
    from geo.planning import api, versions

    def pause(cur):
        print("READY", flush=True)
        time.sleep(300)

    versions.before_commit = pause
    who = Principal("test:crash", "admin", None)
    plan = api.propose(who, sys.argv[1], mode="fresh", seed=1)
    api.commit(who, plan, note="never committed", allow_out_of_band=True)
    print("COMMITTED", flush=True)
""")


def state(tdb) -> dict:
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT v.id, v.version_no FROM grid_versions v
                             JOIN communities c ON c.id = v.community_id
                            WHERE c.code = %s AND v.is_current""", (COMM,))
            vid, vno = cur.fetchone()
            out = {"vid": vid, "vno": vno}
            for table in ("grid_versions", "grids", "grid_lineage", "building_grid",
                          "audit_log", "incident_grid_history", "grid_coarse"):
                cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                out[table] = cur.fetchone()[0]
            cur.execute("""SELECT md5(string_agg(b.id || ':' || coalesce(b.grid_id, 0), ','
                                               ORDER BY b.id))
                             FROM buildings b JOIN communities c ON c.id = b.community_id
                            WHERE c.code = %s""", (COMM,))
            out["buildings"] = cur.fetchone()[0]
            cur.execute("SELECT md5(string_agg(id || ':' || coalesce(grid_id, 0), ',' "
                        "ORDER BY id)) FROM grid_workers")
            out["workers"] = cur.fetchone()[0]
            cur.execute("SELECT md5(string_agg(id || ':' || coalesce(grid_id, 0), ',' "
                        "ORDER BY id)) FROM incidents")
            out["incidents"] = cur.fetchone()[0]
        return out
    finally:
        conn.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def test_kill_9_during_commit_leaves_the_previous_version(demo_db):
    before = state(demo_db)
    env = dict(os.environ, DATABASE_URL=demo_db.url)
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_COMMIT, COMM], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, 90)
        assert line == "READY", proc.stderr.read() if proc.poll() is not None else line
        # every write is done but uncommitted: invisible from outside, transaction open
        assert state(demo_db) == before
        conn = demo_db.connect()
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database()
                              AND state = 'idle in transaction'""")
            assert cur.fetchone()[0] >= 1
        conn.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert state(demo_db) == before
    # the server noticed the dead client: the community's locks are free again
    deadline = time.monotonic() + 20
    while True:
        try:
            res = api.commit(ADMIN, api.propose(ADMIN, COMM, mode="minimal"),
                             allow_out_of_band=True)
            break
        except Exception:  # noqa: BLE001 - retry until the backend is gone
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert res.version_no == before["vno"] + 1


def test_concurrent_commit_waits_for_the_lock_then_gets_a_conflict(demo_db, monkeypatch):
    base = state(demo_db)
    first = api.propose(ADMIN, COMM, mode="fresh", seed=2)
    second = api.propose(ADMIN, COMM, mode="fresh", seed=3)
    inside, release = threading.Event(), threading.Event()
    calls = []

    def hold(cur):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            inside.set()
            assert release.wait(60)

    monkeypatch.setattr(versions, "before_commit", hold)
    results: dict[str, object] = {}

    def run(name, plan):
        try:
            results[name] = api.commit(ADMIN, plan, allow_out_of_band=True)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[name] = exc

    t1 = threading.Thread(target=run, args=("first", first), name="first")
    t1.start()
    assert inside.wait(60)
    t2 = threading.Thread(target=run, args=("second", second), name="second")
    t2.start()
    time.sleep(1.0)
    assert "second" not in results  # blocked on the community's lock
    release.set()
    t1.join(60)
    t2.join(60)
    assert not isinstance(results["first"], Exception), results["first"]
    assert isinstance(results["second"], PlanConflict), results["second"]
    after = state(demo_db)
    assert after["vid"] == results["first"].version_id
    assert after["grid_versions"] == base["grid_versions"] + 1
    assert after["audit_log"] == base["audit_log"] + 1


@pytest.fixture(autouse=True)
def _fresh_pool():
    """Threads and subprocesses above share the pool: start each test with a clean one."""
    from geo import db

    db.reset_pool()
    yield
    db.reset_pool()
