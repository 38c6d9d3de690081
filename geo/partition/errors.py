"""Errors raised by the rebalancing engine."""

from __future__ import annotations

from geo.errors import GridAtlasError


class PartitionError(GridAtlasError):
    """A domain error of the partition engine; ``user_msg`` is safe to show.

    Parameters
    ----------
    user_msg:
        What went wrong and, where possible, how to fix it.
    """
