"""Password hashes run on threads of their own at a lower CPU priority (geo.access.pwhash),
so a sign-in never takes a core from the wall screens at the normal priority; the hash and
its result are werkzeug's, unchanged."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.security import check_password_hash

from geo.access import pwhash


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)  # Linux: the calling thread's


def test_the_hash_runs_niced_and_the_caller_is_untouched():
    before = _niceness()
    assert pwhash.run(_niceness) >= pwhash.HASH_NICE
    assert pwhash.run(threading.current_thread).name.startswith("pwhash")
    assert _niceness() == before  # the request's own thread keeps its priority


def test_generate_and_check_are_werkzeugs():
    """(tests/db/test_pwhash_users.py: the accounts' hashes go through the pool.)"""
    h = pwhash.generate("Grid-atlas-2026")
    assert check_password_hash(h, "Grid-atlas-2026")  # werkzeug's own format and check
    assert pwhash.check(h, "Grid-atlas-2026") and not pwhash.check(h, "wrong-Password-1")


def test_an_error_in_the_hash_reaches_the_caller():
    with pytest.raises(ValueError):
        pwhash.check("not-a-method$salt$hash", "x")


def test_a_forked_child_makes_its_own_pool():
    pwhash.run(_niceness)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's pool threads do not exist here
        try:
            ok = pwhash.run(_niceness) >= pwhash.HASH_NICE and pwhash._pool_pid == os.getpid()
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1" and status == 0

