"""A niced process's backends on the embedded cluster run at its niceness (geo.dbnice);
an un-niced process's, and anything that is not surely this cluster's backend, are left."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2

from geo import dbnice, localdb

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os, sys
from geo import db
os.nice(int(sys.argv[1]))
out = {}
with db.transaction() as cur:  # pooled
    cur.execute("SELECT pg_backend_pid() AS pid")
    pid = cur.fetchone()["pid"]
    out["pooled"] = os.getpriority(os.PRIO_PROCESS, pid)
conn = db.connect()  # a plain connection
with conn.cursor() as cur:
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
out["plain"] = os.getpriority(os.PRIO_PROCESS, pid)
conn.close()
print(json.dumps(out))
"""


def _probe(url: str, nice: int) -> dict:
    import json

    env = dict(os.environ, DATABASE_URL=url)
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(nice)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_niced_process_backends_run_niced(empty_db):
    assert _probe(empty_db.url, 9) == {"pooled": 9, "plain": 9}


def test_an_unniced_process_changes_nothing(empty_db):
    assert _probe(empty_db.url, 0) == {"pooled": 0, "plain": 0}


def test_only_this_connections_backend_of_this_cluster(empty_db):
    base = localdb.layout().base.resolve()
    conn = psycopg2.connect(empty_db.url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        port = dbnice._client_port(conn)
        assert port is not None  # the test databases are reached over TCP
        assert dbnice.embedded_backend(pid, port, base)
        # another connection's port: not this connection's backend
        assert not dbnice.embedded_backend(pid, port + 1 if port < 65535 else port - 1, base)
        # a cluster kept in another folder
        with tempfile.TemporaryDirectory() as other:
            assert not dbnice.embedded_backend(pid, port, Path(other).resolve())
        # a process that is not a backend (this test's own), and one that does not exist
        assert not dbnice.embedded_backend(os.getpid(), None, base)
        assert not dbnice.embedded_backend(2**22 + 7, None, base)
    finally:
        conn.close()
