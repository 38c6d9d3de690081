"""Transaction scope for a page's reads, so that pages need not import :mod:`geo.db`.

``read_session()`` makes every read of this thread inside the block share one read-only
transaction (one consistent snapshot per wall tick); ``after_fork()`` is for a background
job's worker process, which must never use the web process's connections.
"""

from __future__ import annotations

from geo.db import after_fork, ping, read_session

__all__ = ["read_session", "after_fork", "ping"]
