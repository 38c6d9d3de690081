"""The sign-in throttle: unknown and real names answered alike (status, message, timing),
locks per name and client address, a throttle per address, and the proxy header honoured
only when ``TRUSTED_PROXY_HEADER`` names it. The real app over HTTP on the empty database.
"""

from __future__ import annotations

import statistics
import time

import pytest

from geo.access import audit, users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer
from tests.db.web import message, sign_in

PW = "Lockout-pass-1"
XFF = "X-Forwarded-For"


@pytest.fixture(scope="module")
def servers(empty_db):
    for name in ("l_real", "l_admin", "l_timing", "l_spray", "l_plain"):
        users.add_user(SYSTEM, name, "admin", PW)
    common = {"LOGIN_MAX_FAILURES": "5", "LOGIN_MAX_FAILURES_PER_ADDRESS": "12"}
    proxied = AppServer(empty_db.url, dict(common, TRUSTED_PROXY_HEADER=XFF))
    plain = AppServer(empty_db.url, common)
    yield proxied, plain
    proxied.stop()
    plain.stop()


def _try(server, name, password, addr=None):
    return sign_in(server.url, name, password, {XFF: addr} if addr else None)[1]


def test_unknown_and_real_names_get_the_same_answers(servers):
    proxied, _ = servers
    answers = {}
    for name in ("l_real", "l_nobody"):
        seen = []
        for _ in range(6):
            resp = _try(proxied, name, "Wrong-pass-9", "10.1.0.1")
            seen.append((resp.status_code, message(resp)))
        answers[name] = seen
    assert answers["l_real"] == answers["l_nobody"]
    statuses = [s for s, _ in answers["l_real"]]
    assert statuses == [401, 401, 401, 401, 429, 429], statuses
    assert "wrong user name or password" in answers["l_real"][0][1]
    assert "locked" in answers["l_real"][4][1]
    # the real account is locked for that address only, and the lock is audited
    assert _try(proxied, "l_real", PW, "10.1.0.1").status_code == 429
    assert _try(proxied, "l_real", PW, "10.1.0.2").status_code == 302
    assert any(r["action"] == "user.locked" and r["target"] == "l_real"
               and r["detail"]["client_addr"] == "10.1.0.1" for r in audit.browse(SYSTEM))


def test_the_answer_takes_as_long_for_unknown_and_real_names(servers):
    proxied, _ = servers
    times: dict[str, list[float]] = {"l_timing": [], "l_ghost": []}
    for i in range(8):
        for name in times:  # interleaved, each from its own address: nothing locks
            start = time.perf_counter()
            resp = _try(proxied, name, "Wrong-pass-9", f"10.2.{i}.{len(name)}")
            times[name].append(time.perf_counter() - start)
            assert resp.status_code == 401
    real, ghost = (statistics.median(v) for v in times.values())
    # a password hash is checked either way (scrypt, tens of milliseconds)
    assert abs(real - ghost) < 0.25 * max(real, ghost) + 0.01, (real, ghost)


def test_an_attacker_cannot_lock_admin_out_for_another_address(servers):
    proxied, _ = servers
    for _ in range(10):
        _try(proxied, "l_admin", "Guess-pass-1", "203.0.113.66")
    assert _try(proxied, "l_admin", PW, "203.0.113.66").status_code == 429
    assert _try(proxied, "l_admin", PW, "10.3.0.1").status_code == 302


def test_one_address_is_throttled_across_names(servers):
    proxied, _ = servers
    for i in range(12):  # two tries each for six names: no name reaches its own lock
        resp = _try(proxied, f"l_sprayed{i // 2}", "Spray-pass-1", "198.51.100.7")
        assert resp.status_code == 401, i
    blocked = _try(proxied, "l_spray", PW, "198.51.100.7")
    assert blocked.status_code == 429 and "too many" in message(blocked)
    assert _try(proxied, "l_spray", PW, "198.51.100.8").status_code == 302


def test_the_proxy_header_counts_only_when_trusted(servers):
    proxied, plain = servers
    # not trusted: a forged header changes nothing, every try comes from 127.0.0.1
    for i in range(5):
        _try(plain, "l_plain", "Wrong-pass-9", f"10.4.0.{i}")
    assert _try(plain, "l_plain", PW, "10.4.0.99").status_code == 429
    # trusted: the last address the proxy wrote is the client's
    for _ in range(5):
        _try(proxied, "l_proxied", "Wrong-pass-9", "10.9.9.9, 10.5.0.1")
    assert _try(proxied, "l_proxied", "Wrong-pass-9", "10.5.0.1").status_code == 429
    assert _try(proxied, "l_proxied", "Wrong-pass-9", "10.5.0.2").status_code == 401
