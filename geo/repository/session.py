"""Transaction scope for a page's reads, so that pages need not import :mod:`geo.db`.

``read_session()`` makes every read of this thread inside the block share one read-only
transaction (one consistent snapshot per wall tick). Page reads are allowed to be a few
seconds old, so with ``DATABASE_READ_URL`` set the block runs on the read replica (a replica
further behind than ``REPLICA_MAX_LAG_SECONDS``, or down, raises a
:class:`~geo.errors.DatabaseUnavailable`: the wall shows its stale banner);
``read_session(replica=False)`` reads from the primary. Writes always go to the primary.
``after_fork()`` is for a background job's worker process, which must never use the web
process's connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from geo import db
from geo.db import ReplicaBehind, after_fork, ping

__all__ = ["read_session", "replica_session", "primary_session", "after_fork", "ping",
           "ReplicaBehind"]


@contextmanager
def read_session(replica: bool = True) -> Iterator[object]:
    """One read-only snapshot for the block: the replica's when configured and ``replica``."""
    with db.read_session(replica=replica) as cur:
        yield cur


def replica_session():
    """The wall's and the review's reads: the replica when ``DATABASE_READ_URL`` is set."""
    return read_session(replica=True)


def primary_session():
    """Reads that must see this request's own writes: always the primary."""
    return read_session(replica=False)
