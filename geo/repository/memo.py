"""A short-lived memo of read results shared by identical requests in one process.

A hundred wall screens of one command centre ask for the same figures of the same scope
every refresh. :class:`Memo` keeps each result for a few seconds and computes it once for
everyone who asks meanwhile (one computation per key at a time: the others wait for it
instead of repeating it, which is what a burst of walls after a restart needs).

Once a value is older than ``ttl`` but younger than twice that, it is still answered at
once while one background thread reads it again (stale while revalidating), so no wall waits
for a read in the steady state: figures are at most ``2 * ttl`` plus one read old. Older than
that, the caller reads it itself (waiting with the others for one read).

The key is the caller's to build, and must carry everything the result depends on: the
reader's scope (its base and place), the filter, the level or box. A result is never
shared between different keys, so never between scopes. Errors are not kept: the next
request tries again (a failed background read is logged and leaves the old value to age
out). Each process (gunicorn worker) keeps its own memo; nothing is shared between
processes or machines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Memo:
    """Results kept ``ttl`` seconds (0: nothing kept), at most ``maxsize`` keys."""

    def __init__(self, ttl: float, maxsize: int = 512) -> None:
        self.ttl = float(ttl)
        self.maxsize = int(maxsize)
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._busy: dict[Hashable, threading.Lock] = {}
        self._renewing: set[Hashable] = set()
        self.computed = 0  # how many times a value was computed (for tests and benches)

    def _fresh(self, key: Hashable) -> tuple[bool, object]:
        hit = self._values.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept for ``key``, or ``compute()`` (once for all who ask meanwhile)."""
        if self.ttl <= 0:
            self.computed += 1
            return compute()
        with self._lock:
            ok, value = self._fresh(key)
            if ok:
                return value  # type: ignore[return-value]
            hit = self._values.get(key)
            if hit is not None and hit[0] + self.ttl > time.monotonic():  # stale but usable
                if key not in self._renewing:
                    self._renewing.add(key)
                    threading.Thread(target=self._renew, args=(key, compute), daemon=True,
                                     name="memo-renew").start()
                return hit[1]  # type: ignore[return-value]
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # one computation per key; the others wait here, then find it kept
            with self._lock:
                ok, value = self._fresh(key)
                if ok:
                    return value  # type: ignore[return-value]
            try:
                value = compute()
            finally:
                with self._lock:
                    self._busy.pop(key, None)
            self._keep(key, value)
            return value

    def _keep(self, key: Hashable, value: object) -> None:
        with self._lock:
            self.computed += 1
            self._values[key] = (time.monotonic() + self.ttl, value)
            self._values.move_to_end(key)
            while len(self._values) > self.maxsize:
                self._values.popitem(last=False)

    def _renew(self, key: Hashable, compute: Callable[[], object]) -> None:
        try:
            self._keep(key, compute())
        except Exception as exc:  # noqa: BLE001 - a failed renewal leaves the old value to age out
            log.warning("memo: reading %r again failed: %s", key[:1] if isinstance(key, tuple) else "", exc)
        finally:
            with self._lock:
                self._renewing.discard(key)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
