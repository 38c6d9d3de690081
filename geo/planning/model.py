"""What the planner's workbench passes around: proposals, commit results, JSON round trips.

A :class:`Proposal` is plain data (no connection, no engine objects) so the page can keep it
in a ``dcc.Store`` or a disk cache: :meth:`Proposal.to_json` / :meth:`Proposal.from_json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import GridAtlasError

#: Rules that always block a commit (engine rule names, see ``geo.partition.metrics``).
HARD_RULES: tuple[str, ...] = (
    "inside_community", "whole_buildings", "contiguity", "one_piece", "coverage",
)
#: The household band: blocks a commit unless the planner accepts out-of-band grids.
BAND_RULE = "band"

GRID_COLUMNS: tuple[str, ...] = (
    "code", "seq", "kind", "name", "status", "locked", "predecessor", "households",
    "deviation", "pp", "n_buildings", "valid", "failed_rules", "flags", "households_moved",
)

JSON_FORMAT = "gridatlas.proposal/1"


class PlanRejected(GridAtlasError):
    """A plan (or a manual move) breaks named rules; ``rules`` lists their names."""

    def __init__(self, user_msg: str, rules: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(user_msg)
        self.rules = list(rules)


class PlanConflict(GridAtlasError):
    """The community changed since the plan was computed: nothing was written."""


@dataclass
class Proposal:
    """A computed (and possibly hand-adjusted) grid plan of one community, not yet committed.

    Attributes
    ----------
    community_code, community_id, community_name, district_code:
        The community.
    base_version_id, base_version_no:
        The grid version the plan was computed from (``None``: the community had none).
    params:
        ``target``, ``min_hh``, ``max_hh``, ``mode``, ``seed``, ``grids``, ``locked_codes``,
        ``dedicated_codes``.
    labels:
        Building id -> proposed grid code (15 digits).
    base_labels:
        Building id -> grid code in the base version (``None`` where unassigned).
    households:
        Building id -> households (as read when the plan was computed).
    grids:
        One row per proposed grid, EPSG:4326: see :data:`GRID_COLUMNS` and ``geometry``.
        ``status`` is ``kept`` (a base grid unchanged, code kept) or ``new`` (new code);
        ``households_moved`` is the grid's churn (households not from its predecessor).
    totals:
        Engine totals (share valid, deviation, compactness, ...).
    churn:
        ``households_moved``, ``buildings_moved``, ``grids_before``, ``grids_after``,
        ``grids_kept``, ``codes_added``, ``codes_removed``.
    report:
        The JSON report (as printed by ``python -m geo rebalance``).
    used_seqs:
        Sequence numbers used in the community (base history plus this plan's codes).
    moves:
        Manual adjustments applied: ``{"building_id", "from", "to", "warnings"}``.
    warnings:
        Messages about the last manual move (band violations, a grid removed).
    """

    community_code: str
    community_id: int
    community_name: str
    district_code: str
    base_version_id: int | None
    base_version_no: int | None
    params: dict[str, Any]
    labels: dict[int, str]
    base_labels: dict[int, str | None]
    households: dict[int, int]
    grids: gpd.GeoDataFrame
    totals: dict[str, Any] = field(default_factory=dict)
    churn: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    used_seqs: list[int] = field(default_factory=list)
    moves: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ validity gate
    @property
    def gate(self) -> list[dict]:
        """Every failed rule: ``{"code", "rule", "severity"}``.

        ``severity`` is ``error`` (a hard rule: blocks the commit), ``band`` (households out
        of band: blocks unless the planner accepts it) or ``exempt`` (a locked grid kept as
        it is, or a single building above the band, which no plan can fix).
        """
        out = []
        for code, rules, flags, locked in zip(
            self.grids["code"], self.grids["failed_rules"], self.grids["flags"],
            self.grids["locked"], strict=True,
        ):
            for rule in rules:
                if locked or (rule == BAND_RULE and "oversized_building" in flags):
                    severity = "exempt"
                elif rule == BAND_RULE:
                    severity = "band"
                else:
                    severity = "error"
                out.append({"code": code, "rule": rule, "severity": severity})
        return out

    @property
    def failed_rules(self) -> list[str]:
        """Names of the rules blocking a commit (``band`` included), sorted."""
        return sorted({g["rule"] for g in self.gate if g["severity"] != "exempt"})

    @property
    def is_valid(self) -> bool:
        """True when nothing blocks a commit, not even the band."""
        return not self.failed_rules

    def blocking(self, allow_out_of_band: bool = False) -> list[dict]:
        """Gate entries that refuse a commit (band ones only if not accepted)."""
        keep = {"error"} if allow_out_of_band else {"error", "band"}
        return [g for g in self.gate if g["severity"] in keep]

    # ------------------------------------------------------------------ views
    def grid_codes(self) -> list[str]:
        """Proposed grid codes in code order."""
        return sorted(self.grids["code"].tolist())

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (for logs and the audit log)."""
        return {
            "community": self.community_code,
            "base_version_id": self.base_version_id,
            "params": self.params,
            "grids": int(len(self.grids)),
            "failed_rules": self.failed_rules,
            "churn": self.churn,
            "moves": len(self.moves),
        }

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        """Serialise to a JSON string (geometry as GeoJSON, EPSG:4326)."""
        grids = self.grids.copy()
        for col in ("failed_rules", "flags"):
            grids[col] = grids[col].map(list)
        data = {
            "format": JSON_FORMAT,
            "community_code": self.community_code,
            "community_id": self.community_id,
            "community_name": self.community_name,
            "district_code": self.district_code,
            "base_version_id": self.base_version_id,
            "base_version_no": self.base_version_no,
            "params": self.params,
            "labels": {str(k): v for k, v in self.labels.items()},
            "base_labels": {str(k): v for k, v in self.base_labels.items()},
            "households": {str(k): int(v) for k, v in self.households.items()},
            "grids": json.loads(grids.to_crs(4326).to_json(drop_id=True)),
            "totals": self.totals,
            "churn": self.churn,
            "report": self.report,
            "used_seqs": sorted(int(s) for s in self.used_seqs),
            "moves": self.moves,
            "warnings": self.warnings,
        }
        return json.dumps(data, ensure_ascii=False, default=json_default)

    @classmethod
    def from_json(cls, text: str | bytes | dict) -> Proposal:
        """Rebuild a proposal from :meth:`to_json` output (a string or the parsed dict)."""
        try:
            data = json.loads(text) if isinstance(text, (str, bytes)) else text
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise GridAtlasError("not a saved grid plan (unknown format); compute it again")
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GridAtlasError(f"a saved grid plan is damaged ({exc}); compute it again") \
                from exc

    @classmethod
    def _from_dict(cls, data: dict) -> Proposal:
        feats = data["grids"]["features"]
        grids = gpd.GeoDataFrame.from_features(feats, crs=4326) if feats else \
            gpd.GeoDataFrame(columns=[*GRID_COLUMNS, "geometry"], geometry="geometry", crs=4326)
        grids = grids[[*GRID_COLUMNS, "geometry"]].copy()
        for col in ("failed_rules", "flags"):
            grids[col] = grids[col].map(lambda v: list(v or []))
        grids["locked"] = grids["locked"].astype(bool)
        grids["valid"] = grids["valid"].astype(bool)
        grids["predecessor"] = grids["predecessor"].map(lambda v: None if _isnull(v) else v)
        return cls(
            community_code=data["community_code"],
            community_id=int(data["community_id"]),
            community_name=data["community_name"],
            district_code=data["district_code"],
            base_version_id=data["base_version_id"],
            base_version_no=data["base_version_no"],
            params=data["params"],
            labels={int(k): v for k, v in data["labels"].items()},
            base_labels={int(k): v for k, v in data["base_labels"].items()},
            households={int(k): int(v) for k, v in data["households"].items()},
            grids=grids.sort_values("code").reset_index(drop=True),
            totals=data.get("totals") or {},
            churn=data.get("churn") or {},
            report=data.get("report") or {},
            used_seqs=[int(s) for s in data.get("used_seqs", [])],
            moves=list(data.get("moves", [])),
            warnings=list(data.get("warnings", [])),
        )


@dataclass
class CommitResult:
    """What a commit or a restore wrote.

    Attributes
    ----------
    version_id, version_no:
        The new current version.
    community_code:
        The community.
    parent_version_id:
        The version that was current before.
    codes:
        Grid codes of the new version.
    kept_codes, new_codes, removed_codes:
        Codes kept from the previous version, minted (or brought back by a restore), and
        no longer present.
    lineage:
        ``{"old", "new", "households_moved"}`` rows (households passing from old to new).
    workers:
        ``{"worker", "from", "to"}``: where each grid worker of the previous version went
        (``to`` is ``None``: the worker was left without a grid).
    vacant_grids:
        New grids without any grid worker.
    relocated:
        Counts of cameras and open incidents whose grid changed.
    audit_id:
        The audit log entry.
    seconds:
        Time spent in the transaction.
    accounts:
        ``{"username", "role", "from", "to"}``: accounts scoped to a grid that left the
        version, moved to its successor (the grid holding most of its households); each has
        its own ``users.scope_follow`` audit entry.
    """

    version_id: int
    version_no: int
    community_code: str
    parent_version_id: int | None
    codes: list[str]
    kept_codes: list[str]
    new_codes: list[str]
    removed_codes: list[str]
    lineage: list[dict]
    workers: list[dict]
    vacant_grids: list[str]
    relocated: dict[str, int]
    audit_id: int
    seconds: float = 0.0
    accounts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback for numpy and pandas scalars."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if math.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    return str(o)


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
