"""Password hashes on threads of their own, at a lower CPU priority.

A password hash is slow on purpose: werkzeug's scrypt (N=32768, r=8) costs about 130 ms of
CPU, the costliest single thing a request does. It releases the GIL, so in a web worker it
takes a core of its own for that time; beside a hundred wall screens on a two-core server,
one planner's sign-in showed as a spike in the walls' refresh times, and a burst of sign-ins
(a shift starting, or someone guessing) would slow them all.

Here every hash runs on a small pool of threads whose niceness is raised to
:data:`HASH_NICE` once, when each thread starts (Linux keeps a niceness per thread, and
raising it needs no privilege). The hash itself, its strength and its result are unchanged;
under load a sign-in waits a little longer and the walls do not. The pool is made per
process (a forked web worker or job worker gets its own) and holds :data:`THREADS` threads,
so a flood of sign-ins queues here instead of taking every core.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from werkzeug.security import check_password_hash, generate_password_hash

__all__ = ["HASH_NICE", "THREADS", "check", "generate", "run"]

HASH_NICE = 10  # the hashing threads' niceness (the web tier runs at 0, job workers at WORKER_NICE)
THREADS = 2  # hashes at once per process

T = TypeVar("T")
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None


def _forget() -> None:
    """In a forked child: a fresh lock (another thread may have held it at the fork), no pool."""
    global _lock, _pool, _pool_pid
    _lock, _pool, _pool_pid = threading.Lock(), None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


def _lower_priority() -> None:
    """This thread's niceness raised to HASH_NICE (never lowered: a niced process stays so)."""
    try:
        now = os.getpriority(os.PRIO_PROCESS, 0)  # on Linux: this thread's
        if now < HASH_NICE:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)
    except (OSError, AttributeError):  # elsewhere than Linux, or refused: the hash runs as it is
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is None or _pool_pid != pid:  # a forked child never uses its parent's threads
        with _lock:
            if _pool is None or _pool_pid != pid:
                _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="pwhash",
                                           initializer=_lower_priority)
                _pool_pid = pid
    return _pool


def run(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` on a hashing thread; its result, or its exception raised here."""
    return _executor().submit(fn, *args).result()


def check(pwhash: str, password: str) -> bool:
    """werkzeug's ``check_password_hash`` on a hashing thread."""
    return run(check_password_hash, pwhash, password)


def generate(password: str) -> str:
    """werkzeug's ``generate_password_hash`` (its default method) on a hashing thread."""
    return run(generate_password_hash, password)
