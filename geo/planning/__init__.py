"""The planner's workbench core: propose, adjust, commit, restore, compare and export grids.

Pure of Dash; the /plan page and ``python -m geo rebalance`` / ``grids`` call the same
functions. Heavy modules load lazily so ``import geo.planning`` (from the CLI) stays cheap.

Public API (see :mod:`geo.planning.api`)
----------------------------------------
- ``propose(principal, community_code, *, target, min_hh, max_hh, mode, seed, grids,
  locked_codes, dedicated_codes) -> Proposal``
- ``move_building(proposal, building_id, to_grid) -> Proposal``
- ``neighbour_grids(proposal, building_id) -> list[str]`` (the grids a building may move to)
- ``commit(principal, proposal, note=None, *, allow_out_of_band=False) -> CommitResult``
- ``restore(principal, version, note=None, *, expected_current_id=None) -> CommitResult``
- ``list_versions(principal, community_code) -> list[dict]``
- ``compare(version_a, version_b, *, principal=None) -> dict``
- ``export(proposal_or_version, fmt, path, crs="EPSG:4326", *, principal=None) -> Path``
- ``Proposal.to_json()`` / ``Proposal.from_json(text)``

Modules: :mod:`~geo.planning.data` (reads), :mod:`~geo.planning.codes` (codes, matching,
churn; pure), :mod:`~geo.planning.plan` (engine result to proposal, manual moves; pure),
:mod:`~geo.planning.versions` (the commit and restore transactions),
:mod:`~geo.planning.export`, :mod:`~geo.planning.cli`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "propose", "move_building", "neighbour_grids", "commit", "restore", "list_versions",
    "compare", "export", "Proposal", "CommitResult", "PlanRejected", "PlanConflict", "NotFound",
]

_FROM = {
    "propose": "api", "move_building": "api", "neighbour_grids": "api", "commit": "api",
    "restore": "api",
    "list_versions": "api", "compare": "api", "export": "export",
    "Proposal": "model", "CommitResult": "model", "PlanRejected": "model",
    "PlanConflict": "model", "NotFound": "data",
}


def __getattr__(name: str) -> Any:  # lazy re-exports (PEP 562)
    if name in _FROM:
        import importlib

        return getattr(importlib.import_module(f"geo.planning.{_FROM[name]}"), name)
    raise AttributeError(name)
