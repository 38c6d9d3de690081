"""Committing a whole street's proposals at once: every community whose proposal passes the
validity gate becomes a new grid version, all of them in ONE transaction.

The proposals are those a street job computed (one per community, kept in the plan store
and shown to the planner before anything is written). The same checks as a single
community's commit (:func:`geo.planning.api.commit`) apply to each: the principal needs
``grids.commit`` on the street and on every community; the rules are recomputed from each
proposal's building labels (nothing that came back through the browser is trusted); the
gate decides. A community is *left as it is* and listed, with the reason, when

- ``gate``: its proposal breaks a rule (``rules`` names them; out-of-band grids only with
  ``allow_out_of_band``);
- ``conflict``: its current version is no longer the proposal's base (someone committed it
  meanwhile, e.g. through the community's own review), found before or under the lock;
- ``missing``: the street job made no proposal for it.

Inside the transaction each community is written under a savepoint by
:func:`geo.planning.versions.write_plan` (locks in community-code order, so two street
commits cannot deadlock; lineage, relocation, grid workers and grid-scoped accounts follow
their grids, one audit entry per community as for a single commit). A conflict found under
the lock rolls back that community only; any other error (coverage, database) rolls back
the whole street: nothing is half-written. The district's coarse map copies are refreshed
once at the end instead of once per community.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import data, versions
from geo.planning import plan as plan_mod
from geo.planning.model import CommitResult, PlanConflict, Proposal
from geo.repository.scope import Scope

log = logging.getLogger(__name__)

#: Why a community of the street was left as it is.
REASONS = ("gate", "conflict", "missing")


@dataclass
class Refused:
    """A community of the street that was not written.

    Attributes
    ----------
    community:
        Its 12-digit code.
    reason:
        One of :data:`REASONS`.
    rules:
        The gate's broken rule names (``reason == "gate"``), sorted.
    message:
        The underlying message (English/Chinese as raised), for logs and the CLI.
    """

    community: str
    reason: str
    rules: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"community": self.community, "reason": self.reason, "rules": self.rules,
                "message": self.message}


@dataclass
class StreetCommitResult:
    """What a street commit wrote (``committed``, code order) and left (``refused``)."""

    street: str
    committed: list[CommitResult]
    refused: list[Refused]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"street": self.street, "seconds": self.seconds,
                "committed": [{k: v for k, v in c.to_dict().items() if k != "lineage"}
                              for c in self.committed],
                "refused": [r.to_dict() for r in self.refused]}


def _street_of(principal: Principal, street: Any) -> str:
    """``street`` as a 9-digit street code inside the principal's scope, for a commit."""
    permissions.check(principal, "grids.commit")
    if not (isinstance(street, str) and len(street) == 9 and street.isdigit()):
        raise GridAtlasError("街道代码无效（应为 9 位数字）/ not a street code (9 digits)")
    street = Scope.of(principal).require(street, what="street")
    permissions.check(principal, "grids.commit", street)
    return street


def commit_street(
    principal: Principal,
    street: str,
    proposals: list[Proposal],
    note: str | None = None,
    *,
    allow_out_of_band: bool = False,
) -> StreetCommitResult:
    """Commit every proposal of ``street`` that passes the gate, in one transaction.

    Parameters
    ----------
    principal:
        Who commits: ``grids.commit`` on the street (a scope covering it) and on each
        community.
    street:
        9-digit street code.
    proposals:
        At most one proposal per community of the street (as the street job made them).
    note:
        Recorded on every new version and in each community's audit entry.
    allow_out_of_band:
        Accept grids whose households are out of band (hard rules never).

    Returns
    -------
    StreetCommitResult
        The versions written and the communities left as they are (with the reason).

    Raises
    ------
    PermissionDenied
        The street or one of the proposals' communities lies outside the principal's scope.
    GridAtlasError
        A proposal of another street, two proposals for one community, no proposal at all;
        or a failure while writing (nothing was written then).
    """
    t0 = time.perf_counter()
    street = _street_of(principal, street)
    if not proposals:
        raise GridAtlasError("没有可提交的方案 / no proposal to commit: run the street first")
    with db.transaction(readonly=True) as cur:
        codes = data.street_communities(cur, street)
    by_code: dict[str, Proposal] = {}
    for prop in proposals:
        code = prop.community_code
        if code not in codes:
            raise GridAtlasError(f"社区 {code} 不属于街道 {street} / community {code} is not "
                                 f"a community of street {street}")
        if code in by_code:
            raise GridAtlasError(f"社区 {code} 有两个方案 / two proposals for community {code}")
        code = Scope.of(principal).require_community(code)
        permissions.check(principal, "grids.commit", code)
        by_code[code] = prop
    refused = [Refused(c, "missing") for c in codes if c not in by_code]
    ready: list[Proposal] = []
    from geo.planning import api  # the community commit's cached geometry and graph

    for code in sorted(by_code):
        try:
            prop = plan_mod.revalidate(by_code[code], api._move_context(by_code[code]))
        except PlanConflict as exc:
            refused.append(Refused(code, "conflict", message=exc.user_msg))
            continue
        blocking = prop.blocking(allow_out_of_band)
        if blocking:
            refused.append(Refused(code, "gate", sorted({g["rule"] for g in blocking}),
                                   message=", ".join(f"{g['code']} ({g['rule']})" for g in blocking[:8])))
            continue
        ready.append(prop)
    committed: list[CommitResult] = []
    if ready:
        with db.transaction() as cur:
            for prop in ready:  # code order: every street commit locks in the same order
                cur.execute("SAVEPOINT street_community")
                try:
                    res = versions.write_plan(cur, principal, prop, note=note,
                                              allow_out_of_band=allow_out_of_band,
                                              refresh_coarse=False)
                except PlanConflict as exc:  # committed meanwhile: this one is left as it is
                    cur.execute("ROLLBACK TO SAVEPOINT street_community")
                    refused.append(Refused(prop.community_code, "conflict", message=exc.user_msg))
                    continue
                cur.execute("RELEASE SAVEPOINT street_community")
                committed.append(res)
            if committed:
                from geo import coarse

                coarse.refresh(street[:6], cur, [r.community_code for r in committed])
            versions.before_commit(cur)
    refused.sort(key=lambda r: r.community)
    result = StreetCommitResult(street, committed, refused, round(time.perf_counter() - t0, 3))
    log.info("street %s committed by %s: %d version(s), %d left (%s) in %.1f s", street,
             principal.username, len(committed), len(refused),
             ", ".join(f"{r.community}:{r.reason}" for r in refused) or "none", result.seconds)
    return result
