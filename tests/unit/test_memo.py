"""geo.repository.memo.Memo: kept for its time, computed once for all who ask meanwhile,
errors not kept, keys never mixed."""

from __future__ import annotations

import threading
import time

import pytest

from geo.repository.memo import Memo


def test_a_value_is_kept_for_its_time_then_read_again():
    memo, calls = Memo(0.2), []
    def compute():
        calls.append(1)
        return len(calls)
    assert memo.get("k", compute) == 1
    assert memo.get("k", compute) == 1
    time.sleep(0.25)
    assert memo.get("k", compute) == 2 and memo.computed == 2


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
