"""`python -m geo db backup FILE` / `db restore FILE`: an online pg_dump of the primary,
restored whole into a fresh database, and never over data without --force."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.conftest import _TAG, run_cli


def _stats(url: str) -> dict:
    proc = run_cli("stats", "--json", url=url)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def dump(demo_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("backup") / "city.dump"
    proc = run_cli("db", "backup", str(path), url=demo_db.admin_url)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture()
def fresh(pg_server):
    tdb = pg_server.create(f"gat{_TAG}_restore")
    yield tdb
    pg_server.drop(tdb.name)


def test_backup_is_private_and_restores_into_a_fresh_database(demo_db, dump, fresh):
    st = os.stat(dump)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert not [p for p in dump.parent.iterdir() if p.name.endswith(".tmp")]

    proc = run_cli("db", "restore", str(dump), url=fresh.admin_url)
    assert proc.returncode == 0, proc.stderr
    before = _stats(demo_db.url)
    assert before["buildings"] > 0 and before["incidents"] > 0
    # the app role reads the restored copy (grants come from the migrations) and counts agree
    assert _stats(fresh.url) == before
    # sequences came along: a new row does not collide with a restored one
    assert fresh.scalar("SELECT last_value FROM incidents_id_seq") == demo_db.scalar(
        "SELECT last_value FROM incidents_id_seq")


def test_restore_refuses_a_database_with_data_unless_forced(demo_db, dump, fresh):
    run_cli("db", "restore", str(dump), url=fresh.admin_url)
    conn = fresh.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE districts SET name = 'marker'")
    conn.close()
    marked = "SELECT count(*) FROM districts WHERE name = 'marker'"

    proc = run_cli("db", "restore", str(dump), url=fresh.admin_url)
    assert proc.returncode == 2
    assert "not empty" in proc.stderr and "--force" in proc.stderr
    assert fresh.scalar(marked) > 0  # nothing changed

    proc = run_cli("db", "restore", str(dump), "--force", url=fresh.admin_url)
    assert proc.returncode == 0, proc.stderr
    assert fresh.scalar(marked) == 0
    assert _stats(fresh.url) == _stats(demo_db.url)


def test_a_bad_file_changes_nothing(dump, fresh, tmp_path):
    bad = tmp_path / "not-a-dump"
    bad.write_bytes(b"hello")
    proc = run_cli("db", "restore", str(bad), url=fresh.admin_url)
    assert proc.returncode == 2 and "not a backup" in proc.stderr

    # a truncated dump fails inside the one transaction: the database stays empty
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    proc = run_cli("db", "restore", str(cut), url=fresh.admin_url)
    assert proc.returncode == 2 and "nothing was changed" in proc.stderr
    assert fresh.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0

    # a backup into a missing folder leaves nothing behind either
    proc = run_cli("db", "backup", str(tmp_path / "nope" / "x.dump"), url=fresh.admin_url)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
