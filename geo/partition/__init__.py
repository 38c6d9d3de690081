"""Household-balanced, contiguous, compact grid partitioning (网格划分).

Pure and seeded: no Dash, no database driver.  Heavy modules are imported lazily so that
``import geo.partition`` (e.g. from the command line) stays cheap.

The pipeline: geography to graph once (:mod:`~geo.partition.cells`: building cells;
:mod:`~geo.partition.graph`: the two rule graphs, with the stated rule for communities in
several pieces and enclaves), then the solver's named strategies (search, pockets,
recount, exact, mend: :mod:`~geo.partition.search`, :mod:`~geo.partition.exact`,
:mod:`~geo.partition.lift`, :mod:`~geo.partition.mend`, :mod:`~geo.partition.minimal`),
then the report (:mod:`~geo.partition.metrics`) and the independent check of every
infeasibility claim (:mod:`~geo.partition.proofs`).  Every knob is in the frozen
:class:`~geo.partition.config.EngineConfig`.  The engine parses no arguments and makes no
grid code: new grids are named by the caller's scheme (:mod:`~geo.partition.naming`; the
planner's codes are minted in :mod:`geo.planning.codes`, the command line is
:mod:`geo.planning.file_cli`).

Public API
----------
- :func:`geo.partition.cells.building_cells`
- :func:`geo.partition.engine.rebalance` and :class:`geo.partition.engine.Plan`
- :class:`geo.partition.naming.GridNames` (how a caller names new grids) and
  :class:`geo.partition.naming.Labels` (the neutral default)
- :class:`geo.partition.errors.PartitionError`
"""

from __future__ import annotations

from typing import Any

from geo.partition.errors import PartitionError
from geo.partition.naming import GridNames, Labels

__all__ = ["PartitionError", "GridNames", "Labels", "building_cells", "rebalance", "Plan"]


def __getattr__(name: str) -> Any:  # lazy re-exports (PEP 562)
    if name == "building_cells":
        from geo.partition.cells import building_cells

        return building_cells
    if name in ("rebalance", "Plan"):
        from geo.partition import engine as _r

        return getattr(_r, name)
    raise AttributeError(name)
