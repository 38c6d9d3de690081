"""Input checks and small reads shared by the /plan page's callbacks (no Dash components).

Every value from the browser is checked here before it reaches ``geo.planning``; a bad
value is a :class:`~geo.errors.GridAtlasError` whose message the page shows.
"""

from __future__ import annotations

import logging

from geo.access.permissions import allowed
from geo.errors import GridAtlasError
from geo.planning import api as planning
from geo.planning.band import Band
from layouts import plan_store
from layouts.auth import current_principal

log = logging.getLogger(__name__)


def may_change(principal) -> bool:
    return principal is not None and allowed(principal.role, "grids.commit")


def accepts(accept) -> bool:
    return isinstance(accept, list) and "yes" in accept


def int_or(value, default):
    """A number field's value as an int (``default`` when empty); GridAtlasError else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GridAtlasError(f"数值无效 / not a number: {str(value)[:20]!r}")
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise GridAtlasError(f"数值无效 / not a number: {str(value)[:20]!r}") from None
    if not 0 <= number <= 1_000_000:
        raise GridAtlasError(f"数值超出范围 / out of range: {number}")
    return number


def codes(values) -> tuple[str, ...]:
    """Grid codes picked in a multi-select (strings only)."""
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise GridAtlasError("网格选择无效 / the grid choices must be grid codes")
    return tuple(values)


def version_id(value) -> int:
    """A version id from the page (a positive integer); GridAtlasError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise GridAtlasError(f"版本无效 / not a version: {str(value)[:20]!r}")
    return value


def network_names(values) -> list[str]:
    """Network names ticked on the page (at most four strings)."""
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in values):
        raise GridAtlasError("网络选择无效 / the network choices must be network names")
    return values[:4]


def load(plan_id):
    """The stored proposal, only when the signed-in user may see its community."""
    return planning.load_proposal(current_principal(), plan_store.get(plan_id))


def load_or_none(plan_id):
    try:
        return load(plan_id)
    except GridAtlasError as exc:
        log.info("plan %s refused: %s", str(plan_id)[:40], exc.user_msg)
        return None


def band_of(proposal) -> Band:
    """The household band a proposal was computed with."""
    p = proposal.params
    return Band(target=p["target"], min=p["min_hh"], max=p["max_hh"])
