"""`python -m geo db replica up|down|status`: a real streaming replica of the embedded
cluster, and DATABASE_READ_URL routing the wall's and review's read sessions to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg2
import pytest

from geo import db, localdb
from geo.errors import DatabaseUnavailable
from geo.repository import session
from geo.settings import get_settings
from tests.browser.conftest import _free_port
from tests.conftest import ROOT, _with_dbname

NAME = f"t{os.getpid()}"


def _hba_lines() -> list[list[str]]:
    text = (localdb.layout().data / "pg_hba.conf").read_text()
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.fixture(scope="module")
def replica(pg_server, empty_db):
    if pg_server.external:
        pytest.fail("the replica is one of the embedded cluster: run without DATABASE_URL")
    port = _free_port()
    assert _cli("status").returncode == 3
    try:
        proc = _cli("up", "--port", str(port))
        assert proc.returncode == 0, proc.stderr
        rlay = localdb.replica_layout(localdb.layout(), NAME)
        yield rlay, _with_dbname(rlay.app_url, empty_db.name)
    finally:
        _cli("down", "--purge")
    assert not localdb.status(rlay) and not rlay.base.exists()


def _cli(verb: str, *args: str) -> subprocess.CompletedProcess:
    """``db replica VERB --name NAME`` of the embedded cluster (the module's DATABASE_URL
    names a test database in it)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "geo", "db", "replica", verb, "--name", NAME, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _wait(cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture()
def routed(replica, monkeypatch):
    _, url = replica
    monkeypatch.setenv("DATABASE_READ_URL", url)
    # generous: other test runs on this machine clone whole databases, which the replica
    # replays at a few MB/s; the lag test below lowers it
    monkeypatch.setenv("REPLICA_MAX_LAG_SECONDS", "3600")
    get_settings.cache_clear()
    db.reset_pool()
    yield url
    db.reset_pool()
    monkeypatch.undo()
    get_settings.cache_clear()


def test_replica_streams_is_read_only_and_replication_is_allowed_only_while_up(replica, empty_db):
    rlay, url = replica
    assert _cli("status").returncode == 0
    # the primary admits the replication role from 127.0.0.1 only, by password
    assert ["host", "replication", "gridatlas_replica", "127.0.0.1/32", "scram-sha-256"] in _hba_lines()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        assert cur.fetchone()[0] is True
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("INSERT INTO audit_log (actor, action) VALUES ('x', 'x')")
    # a write on the primary shows up on the replica
    marker = f"replica-{time.time_ns()}"
    with db.transaction() as cur:
        cur.execute("INSERT INTO audit_log (actor, action, detail) VALUES ('test', 'test.replica', "
                    "jsonb_build_object('m', %s::text))", (marker,))

    def seen():
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM audit_log WHERE detail->>'m' = %s", (marker,))
            return cur.fetchone()[0] == 1
    _wait(seen)
    conn.close()


def test_read_sessions_go_to_the_replica_and_writes_to_the_primary(routed):
    with session.read_session():  # what the wall uses
        assert db.fetch_one("SELECT pg_is_in_recovery() AS r")["r"] is True
        with db.transaction() as cur:  # a write inside goes to the primary
            cur.execute("SELECT pg_is_in_recovery() AS r")
            assert cur.fetchone()["r"] is False
    with session.primary_session():
        assert db.fetch_one("SELECT pg_is_in_recovery() AS r")["r"] is False
    with db.read_session():  # the default of geo.db stays the primary
        assert db.fetch_one("SELECT pg_is_in_recovery() AS r")["r"] is False
    assert db.fetch_one("SELECT pg_is_in_recovery() AS r")["r"] is False


def _limit(monkeypatch, seconds: str) -> None:
    monkeypatch.setenv("REPLICA_MAX_LAG_SECONDS", seconds)
    get_settings.cache_clear()


def test_a_lagging_or_stopped_replica_is_reported_not_read(replica, routed, monkeypatch):
    rlay, _ = replica
    admin = psycopg2.connect(rlay.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()")
    try:
        with db.transaction() as cur:
            cur.execute("INSERT INTO audit_log (actor, action) VALUES ('test', 'test.lag')")
        time.sleep(1.5)
        _limit(monkeypatch, "1")
        with pytest.raises(db.ReplicaBehind) as info:
            with session.read_session():
                pytest.fail("read on a lagging replica")
        assert isinstance(info.value, DatabaseUnavailable)
        assert "副本" in info.value.user_msg
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_wal_replay_resume()")
        admin.close()
        _limit(monkeypatch, "3600")
    assert _reads_ok()

    # a replica that is down: the same error family (the wall's stale banner), no host named
    assert _cli("down").returncode == 0
    try:
        assert _cli("status").returncode == 3
        assert ["host", "replication", "gridatlas_replica", "127.0.0.1/32",
                "scram-sha-256"] not in _hba_lines()
        db.reset_pool()
        with pytest.raises(DatabaseUnavailable) as info:
            with session.read_session():
                pass
        assert "127.0.0.1" not in info.value.user_msg and str(rlay.port) not in info.value.user_msg
    finally:
        proc = _cli("up")
        assert proc.returncode == 0, proc.stderr


def test_the_replica_is_read_without_waiting_on_a_stopped_primary(replica, routed, monkeypatch):
    """A wall reading the replica does not ask the primary while the replica's last replayed
    transaction is younger than the limit; past it, a primary that cannot be asked leaves the
    replica's own bound: behind (the wall's stale banner), at once, not after a wait."""
    rlay, url = replica
    marker = f"fresh-{time.time_ns()}"
    with db.transaction() as cur:
        cur.execute("INSERT INTO audit_log (actor, action, detail) VALUES ('test', 'test.fresh', "
                    "jsonb_build_object('m', %s::text))", (marker,))
    conn = psycopg2.connect(url)
    conn.autocommit = True

    def seen():
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM audit_log WHERE detail->>'m' = %s", (marker,))
            return cur.fetchone()[0] == 1
    _wait(seen)
    conn.close()
    # the primary is gone: nothing listens where DATABASE_URL points
    monkeypatch.setenv("DATABASE_URL", f"postgresql://gridatlas@127.0.0.1:{_free_port()}/gone")
    get_settings.cache_clear()
    db.reset_pool()
    with pytest.raises(DatabaseUnavailable):
        with db.transaction() as cur:
            pass
    t0 = time.monotonic()
    with session.read_session():
        assert db.fetch_one("SELECT pg_is_in_recovery() AS r")["r"] is True
        assert db.fetch_one("SELECT count(*) AS n FROM audit_log WHERE detail->>'m' = %s",
                            (marker,))["n"] == 1
    assert time.monotonic() - t0 < 2.0
    # other databases of the cluster commit all the time: pause the replay to age it
    admin = psycopg2.connect(rlay.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()")
    try:
        time.sleep(0.5)
        _limit(monkeypatch, "0.1")
        t0 = time.monotonic()
        with pytest.raises(db.ReplicaBehind):
            with session.read_session():
                pytest.fail("read past the limit with nothing to compare against")
        assert time.monotonic() - t0 < 5.0
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_wal_replay_resume()")
        admin.close()


def _reads_ok() -> bool:
    try:
        with session.read_session():
            return True
    except db.ReplicaBehind:
        return False


def test_an_interrupted_copy_is_made_again_not_started_half_made(pg_server):
    """A replica whose pg_basebackup was killed half-way (its folder has PG_VERSION and some
    files, no pg_control, no mark of a finished copy) is copied again and starts."""
    if pg_server.external:
        pytest.fail("the replica is one of the embedded cluster: run without DATABASE_URL")
    lay = localdb.layout()
    name = NAME + "cut"
    rlay = localdb.replica_layout(lay, name, _free_port())
    try:
        localdb._prepare(rlay)
        (rlay.data / "PG_VERSION").write_text("16\n")
        (rlay.data / "backup_label").write_text("START WAL LOCATION: 0/0\n")
        (rlay.data / "base").mkdir()
        assert not (rlay.data / "global" / "pg_control").exists()
        up = localdb.replica_up(lay, name)
        assert localdb.status(up) and (up.data / "global" / "pg_control").exists()
        conn = psycopg2.connect(up.app_url, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                assert cur.fetchone()[0] is True
        finally:
            conn.close()
    finally:
        localdb.replica_down(lay, name, purge=True)
    assert not rlay.base.exists()


def test_a_replica_down_for_a_while_keeps_its_wal_and_one_whose_slot_is_lost_is_copied_again(pg_server):
    """Stopped, the replica's slot holds the WAL it needs on the primary (so it catches up
    however long it was down); when that slot is gone (lost beyond max_slot_wal_keep_size,
    or dropped), `up` copies the primary again instead of starting a replica that can never
    catch up; `down --purge` drops the slot."""
    if pg_server.external:
        pytest.fail("the replica is one of the embedded cluster: run without DATABASE_URL")
    lay = localdb.layout()
    name = NAME + "slot"
    slot = localdb._slot_name(name)

    def slot_row():
        return localdb._slot_query(lay, "SELECT active, restart_lsn IS NOT NULL FROM pg_replication_slots"
                                        " WHERE slot_name = %s", slot)

    try:
        rlay = localdb.replica_up(lay, name, _free_port())
        _wait(lambda: slot_row() == (True, True), 30)
        localdb.replica_down(lay, name)
        assert slot_row() == (False, True)  # kept while the replica is down
        marker = rlay.base / "basebackup_done"
        first_copy = marker.stat().st_mtime_ns
        localdb.replica_up(lay, name)  # the slot is there: the same copy streams again
        assert marker.stat().st_mtime_ns == first_copy
        _wait(lambda: slot_row() == (True, True), 30)
        localdb.replica_down(lay, name)
        localdb._drop_slot(lay, slot)  # as when the primary gave the slot up
        up = localdb.replica_up(lay, name)
        assert marker.stat().st_mtime_ns != first_copy  # copied again
        _wait(lambda: slot_row() == (True, True), 30)
        conn = psycopg2.connect(up.app_url, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                assert cur.fetchone()[0] is True
        finally:
            conn.close()
    finally:
        localdb.replica_down(lay, name, purge=True)
    assert slot_row() is None
