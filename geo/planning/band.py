"""The household band of a community's grids: one :class:`Band`, read from the community.

Every place that needs the band takes it from here: the engine's parameters
(:func:`geo.planning.api.propose` when no option overrides it), ``geo rebalance`` without
band options (each community its own band), the /plan page's inputs and both maps'
colours (:func:`community_band`, :meth:`Band.state`), and the importer's defaults for a
community file without band columns (:data:`DEFAULT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo.errors import GridAtlasError


class BandError(GridAtlasError):
    """A household band that is not ``0 < min <= target <= max``."""


@dataclass(frozen=True)
class Band:
    """Households per grid: the ``target`` and the band ``min``..``max`` (inclusive).

    Validated on construction: ``0 < min <= target <= max``.
    """

    target: float = 400
    min: float = 300
    max: float = 500

    def __post_init__(self) -> None:
        for name in ("target", "min", "max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise BandError(f"户数标准 {name} 必须是数字 (household band {name} must be a "
                                f"number), got {v!r}")
        if not 0 < self.min <= self.target <= self.max:
            raise BandError(
                f"户数标准须满足 0 < 下限 <= 目标 <= 上限，当前为 {self.min:g} / {self.target:g} / "
                f"{self.max:g} (household band needs 0 < min <= target <= max, got "
                f"min {self.min:g}, target {self.target:g}, max {self.max:g})")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Band:
        """The band of a ``communities`` row (``target_households``, ``min_households``,
        ``max_households``); a row holding an invalid band is refused naming the community."""
        try:
            return cls(target=row["target_households"], min=row["min_households"],
                       max=row["max_households"])
        except BandError as exc:
            where = row.get("code", "?")
            raise BandError(f"community {where}: {exc.user_msg}; correct the community's "
                            "target_households/min_households/max_households") from None

    def override(self, target: float | None = None, min_hh: float | None = None,
                 max_hh: float | None = None) -> Band:
        """This band with the given values replaced (``None`` keeps the band's), validated."""
        return Band(target=self.target if target is None else target,
                    min=self.min if min_hh is None else min_hh,
                    max=self.max if max_hh is None else max_hh)

    # ------------------------------------------------------------------ measures
    def contains(self, households: float) -> bool:
        """Whether a grid of ``households`` is in band."""
        return self.min <= households <= self.max

    def deviation_signed(self, households: float) -> float:
        """``(households - target) / target``: negative below the target (346 of 400: -0.135)."""
        return (households - self.target) / self.target

    def deviation(self, households: float) -> float:
        """Absolute relative deviation from the target (what the benchmarks read)."""
        return abs(self.deviation_signed(households))

    def state(self, households: float) -> str:
        """``under``, ``ok`` or ``over``: the class a map colours a grid by."""
        if households < self.min:
            return "under"
        if households > self.max:
            return "over"
        return "ok"

    def as_params(self) -> dict[str, float]:
        """``target``, ``min_hh``, ``max_hh`` as the engine and proposals name them."""
        return {"target": float(self.target), "min_hh": float(self.min), "max_hh": float(self.max)}

    def to_dict(self) -> dict[str, float]:
        """``{"target", "min", "max"}`` (JSON-able, e.g. for a map's ``hideout``)."""
        return {"target": self.target, "min": self.min, "max": self.max}


#: The band a community gets when its file names none (400 / 300 / 500).
DEFAULT = Band()


def read_band(cur, community_code: str) -> Band:
    """The community's band, read inside the caller's transaction."""
    from geo.planning import data

    return Band.from_row(data.community_row(cur, community_code))


def community_band(principal, community_code: str) -> Band:
    """The band of a community the principal may see plans of (the /plan page's inputs and
    its map colours call this).

    Raises
    ------
    geo.access.permissions.PermissionDenied
        Without ``view.plan`` on the community.
    geo.planning.data.NotFound
        When the community does not exist.
    """
    from geo import db
    from geo.access import permissions

    permissions.check(principal, "view.plan", community_code)
    with db.transaction(readonly=True) as cur:
        return read_band(cur, community_code)
