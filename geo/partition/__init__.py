"""Household-balanced, contiguous, compact grid partitioning (网格划分).

Pure and seeded: no Dash, no database driver.  Heavy modules are imported lazily so that
``import geo.partition`` (e.g. from the CLI) stays cheap.

Public API
----------
- :func:`geo.partition.cells.building_cells`
- :func:`geo.partition.engine.rebalance` and :class:`geo.partition.engine.Plan`
- :class:`geo.partition.errors.PartitionError`
"""

from __future__ import annotations

from typing import Any

from geo.partition.errors import PartitionError

__all__ = ["PartitionError", "building_cells", "rebalance", "Plan"]


def __getattr__(name: str) -> Any:  # lazy re-exports (PEP 562)
    if name == "building_cells":
        from geo.partition.cells import building_cells

        return building_cells
    if name in ("rebalance", "Plan"):
        from geo.partition import engine as _r

        return getattr(_r, name)
    raise AttributeError(name)
