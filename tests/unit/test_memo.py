"""geo.repository.memo.Memo: kept for its time, computed once for all who ask meanwhile,
errors not kept, keys never mixed."""

from __future__ import annotations

import threading
import time

import pytest

from geo.repository.memo import Memo


def test_a_value_is_kept_for_its_time_then_renewed_behind_the_scenes_then_read_again():
    memo, calls = Memo(0.3), []
    def compute():
        calls.append(1)
        return len(calls)
    assert memo.get("k", compute) == 1
    assert memo.get("k", compute) == 1 and len(calls) == 1
    time.sleep(0.35)  # older than ttl, younger than 2 ttl: answered at once, read again behind
    assert memo.get("k", compute) == 1
    deadline = time.monotonic() + 5
    while memo.computed < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert memo.get("k", compute) == 2
    time.sleep(0.7)  # older than 2 ttl: the caller reads it again itself
    assert memo.get("k", compute) == 3 and memo.computed == 3


def test_a_failed_renewal_keeps_the_old_value_until_it_ages_out():
    memo, state = Memo(0.3), {"fail": False}
    def compute():
        if state["fail"]:
            raise RuntimeError("database down")
        return "figures"
    assert memo.get("k", compute) == "figures"
    state["fail"] = True
    time.sleep(0.35)
    assert memo.get("k", compute) == "figures"  # stale, renewal fails behind the scenes
    time.sleep(0.4)
    with pytest.raises(RuntimeError):
        memo.get("k", compute)


def test_keys_are_never_mixed():
    memo = Memo(10)
    assert memo.get(("tick", "990100001", None), lambda: "A") == "A"
    assert memo.get(("tick", "990100002", None), lambda: "B") == "B"
    assert memo.get(("tick", "990100001", None), lambda: "x") == "A"


def test_a_burst_computes_once_and_everyone_gets_it():
    memo, calls, out = Memo(10), [], []
    start = threading.Barrier(20)
    def compute():
        calls.append(1)
        time.sleep(0.3)  # a slow read: the others arrive meanwhile
        return "figures"
    def ask():
        start.wait()
        out.append(memo.get("k", compute))
    threads = [threading.Thread(target=ask) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert out == ["figures"] * 20 and len(calls) == 1


def test_an_error_is_not_kept():
    memo = Memo(10)
    def fail():
        raise RuntimeError("database down")
    with pytest.raises(RuntimeError):
        memo.get("k", fail)
    assert memo.get("k", lambda: "back") == "back"


def test_zero_keeps_nothing():
    memo, calls = Memo(0), []
    for _ in range(3):
        memo.get("k", lambda: calls.append(1))
    assert len(calls) == 3


def test_at_most_maxsize_keys():
    memo = Memo(10, maxsize=3)
    for i in range(5):
        memo.get(i, lambda i=i: i)
    assert memo.get(0, lambda: "again") == "again" and memo.get(4, lambda: "x") == 4
