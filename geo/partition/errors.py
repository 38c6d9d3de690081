"""Errors raised by the rebalancing engine."""

from __future__ import annotations

from geo.errors import GridAtlasError

__all__ = ["PartitionError", "check_band"]


class PartitionError(GridAtlasError):
    """A domain error of the partition engine; ``user_msg`` is safe to show.

    Parameters
    ----------
    user_msg:
        What went wrong and, where possible, how to fix it.
    """


def check_band(min_hh: float, target: float, max_hh: float) -> None:
    """Raise :class:`PartitionError` unless ``0 < min_hh <= target <= max_hh``."""
    if not (0 < min_hh <= target <= max_hh):
        raise PartitionError(f"Band must satisfy 0 < min <= target <= max (got {min_hh}, {target}, {max_hh}).")
