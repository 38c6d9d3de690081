"""The planner's workbench API (used by the /plan page and the CLI alike).

Every function that reads or writes a community takes the acting
:class:`~geo.access.roles.Principal` and checks it with
:func:`geo.access.permissions.check` before doing anything; errors are
:class:`~geo.errors.GridAtlasError` subclasses whose ``user_msg`` can be shown as is:
``PermissionDenied``, :class:`~geo.planning.model.PlanRejected` (``rules`` names the broken
rules), :class:`~geo.planning.model.PlanConflict` (someone committed first: nothing was
written), :class:`~geo.errors.CoverageError`, :class:`~geo.planning.data.NotFound`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import data, versions
from geo.planning import plan as plan_mod
from geo.planning.model import CommitResult, PlanConflict, PlanRejected, Proposal
from geo.repository.scope import Scope

log = logging.getLogger(__name__)

MODES = ("fresh", "minimal")


def _in_scope(principal: Principal, action: str, community_code: Any) -> str:
    """Check ``action`` on a community: the code must be a 12-digit community code inside
    the principal's scope (never a pattern); returns the code."""
    permissions.check(principal, action)
    code = Scope.of(principal).require_community(community_code)
    permissions.check(principal, action, code)
    return code


def load_proposal(principal: Principal, proposal_json: str | None) -> Proposal | None:
    """A stored proposal (JSON) the principal may see (``view.plan`` on its community).

    ``None`` for no proposal; :class:`PermissionDenied` for another community's plan.
    """
    if not proposal_json:
        return None
    proposal = Proposal.from_json(proposal_json)
    _in_scope(principal, "view.plan", proposal.community_code)
    return proposal


# ------------------------------------------------------------------------------- propose


def propose(
    principal: Principal,
    community_code: str,
    *,
    target: float | None = None,
    min_hh: float | None = None,
    max_hh: float | None = None,
    mode: str = "fresh",
    seed: int = 0,
    grids: int | None = None,
    locked_codes: tuple[str, ...] | list[str] = (),
    dedicated_codes: tuple[str, ...] | list[str] = (),
    respect_network: str | None = None,
) -> Proposal:
    """Compute a grid plan for one community from its current data (nothing is written).

    Parameters
    ----------
    principal:
        Who asks (action ``plan.run`` on the community).
    community_code:
        12-digit community code.
    target, min_hh, max_hh:
        Household band; ``None`` takes the community's configured values.
    mode:
        ``fresh`` (redraw) or ``minimal`` (repair the current grids moving few households).
    seed:
        Seed of the engine's random choices (same inputs + seed = same plan).
    grids:
        Number of grids to draw (default: from the households and the band).
    locked_codes:
        Current grids kept exactly as they are (buildings and code).
    dedicated_codes:
        Current grids kept as they are and written as ``dedicated`` grids. Grids already of
        kind ``dedicated`` are always kept.
    respect_network:
        A department network whose boundaries the redraw keeps where the band allows
        (fresh mode, grid count per region; :mod:`geo.networks.respect`). The plain plan is
        drawn too: the report's ``respect`` compares both (alignment, grids in band, valid
        grids, deviation), and the plain plan is kept when the wish cannot be met.

    Returns
    -------
    Proposal
        In EPSG:4326, with codes, churn, the validity gate and the JSON report.
    """
    from geo.partition import rebalance
    from geo.planning.codes import ShortCodes

    community_code = _in_scope(principal, "plan.run", community_code)
    if mode not in MODES:
        raise GridAtlasError(f"unknown mode {mode!r}: use 'fresh' or 'minimal'")
    t0 = time.perf_counter()
    with db.transaction(readonly=True) as cur:
        ci = data.load_community(cur, community_code)
    t_load = time.perf_counter() - t0
    current = set(ci.grids["code"])
    unknown = sorted((set(locked_codes) | set(dedicated_codes)) - current)
    if unknown:
        raise GridAtlasError(
            f"grid(s) {', '.join(unknown)} are not current grids of community {ci.code}")
    if respect_network is not None:
        if mode != "fresh":
            raise GridAtlasError("尊重网络边界只能用重新划分模式 / respecting a network redraws "
                                 "fresh: choose fresh mode")
        if grids is not None:
            raise GridAtlasError("尊重网络边界时网格数按区域确定 / the number of grids cannot be "
                                 "fixed while respecting a network (leave it empty)")
    if mode == "minimal" and ci.version_id is None:
        raise GridAtlasError(
            f"community {ci.code} has no grids yet: minimal-change mode needs current grids; "
            "use fresh mode")
    kept = set(locked_codes) | set(dedicated_codes) | {
        c for c, k in ci.kinds.items() if k == "dedicated"}
    dedicated = set(dedicated_codes) | {c for c, k in ci.kinds.items() if k == "dedicated"}
    params = {
        "target": float(target if target is not None else ci.target),
        "min_hh": float(min_hh if min_hh is not None else ci.min_hh),
        "max_hh": float(max_hh if max_hh is not None else ci.max_hh),
        "mode": mode, "seed": int(seed), "grids": None if grids is None else int(grids),
        "locked_codes": sorted(kept), "dedicated_codes": sorted(dedicated),
    }
    if respect_network is not None:
        params["respect_network"] = str(respect_network)
    locked = plan_mod.locked_groups(ci, kept)
    result = rebalance(
        ci.buildings, ci.geom, households="households", compound="compound_code",
        cells=ci.cells, target=params["target"], min_hh=params["min_hh"],
        max_hh=params["max_hh"], grids=params["grids"], locked=locked or None,
        current=ci.current if ci.version_id is not None else None, mode=mode, seed=seed,
        names=ShortCodes(),  # provisional: build_proposal mints the stored codes
    )
    ctx = None
    respected = None
    if respect_network is not None:
        from geo.networks.respect import respecting_plan

        ctx = plan_mod.move_context(ci)
        outcome = respecting_plan(principal, respect_network, ci, ctx, result, params=params,
                                  locked=locked, seed=seed)
        result, respected = outcome.plan, outcome.report
    prop = plan_mod.build_proposal(ci, result, params, kept, dedicated)
    if respected is not None:
        prop.report["respect"] = respected
    prop.report["timings"] = {**prop.report.get("timings", {}), "load_s": round(t_load, 4),
                              "propose_s": round(time.perf_counter() - t0, 4)}
    _cache_put(_cache_key(prop), ci, ctx)
    log.info("plan for %s: %d grids, failed rules %s", ci.code, len(prop.grids),
             prop.failed_rules)
    return prop


# ------------------------------------------------------------------------------- moves

_CACHE: OrderedDict[tuple, tuple[data.CommunityInputs, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def _cache_key(prop: Proposal) -> tuple:
    try:
        where = db.app_url()
    except GridAtlasError:
        where = ""
    return (where, prop.community_code, prop.base_version_id)


def _cache_put(key: tuple, ci: data.CommunityInputs, ctx: Any) -> None:
    with _CACHE_LOCK:
        _CACHE[key] = (ci, ctx)
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def _move_context(prop: Proposal) -> plan_mod.MoveContext:
    """The community's geometry and graph, read once per (database, community, version).

    The cache only saves work: a miss (another worker process, an evicted entry) reads the
    same data again.
    """
    key = _cache_key(prop)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[1] is not None:
        return hit[1]
    ci = hit[0] if hit is not None else None
    if ci is None:
        with db.transaction(readonly=True) as cur:
            ci = data.load_community(cur, prop.community_code)
        if ci.version_id != prop.base_version_id:
            raise PlanConflict(
                f"community {prop.community_code} changed since this plan was computed "
                f"(version {prop.base_version_no} then, {ci.version_no} now); compute the "
                "plan again")
    ctx = plan_mod.move_context(ci)
    _cache_put(key, ci, ctx)
    return ctx


def move_building(principal: Principal, proposal: Proposal, building_id: int,
                  to_grid: str) -> Proposal:
    """Move one building to a neighbouring grid of the plan (a manual adjustment).

    The principal needs ``plan.run`` on the plan's community.

    Refused with :class:`PlanRejected` naming the rule: ``neighbour`` (the grid does not
    touch the building's cell), ``locked`` (a kept grid), ``same_grid``, or a hard rule the
    move would newly break for either grid: ``contiguity``, ``one_piece``,
    ``inside_community``, ``coverage``. A household count leaving the band is allowed and
    reported in ``proposal.warnings`` (and stays in the gate until fixed or accepted at
    commit). A grid that changes gets a new code (a base grid it equals again gets its old
    code back).

    Returns
    -------
    Proposal
        A new proposal (the given one is not changed).
    """
    _in_scope(principal, "plan.run", proposal.community_code)
    if isinstance(building_id, bool) or not isinstance(building_id, int) \
            or not isinstance(to_grid, str):
        raise GridAtlasError("选择的建筑或网格无效 / pick a building and a grid of this plan")
    return plan_mod.apply_move(proposal, _move_context(proposal), building_id, to_grid)


def neighbour_grids(principal: Principal, proposal: Proposal, building_id: int) -> list[str]:
    """Grids of the plan a building may be moved to (those touching its cell), sorted
    (``view.plan`` on the plan's community)."""
    _in_scope(principal, "view.plan", proposal.community_code)
    return plan_mod.neighbour_grids(proposal, _move_context(proposal), building_id)


# ------------------------------------------------------------------------------- commit


def commit(
    principal: Principal,
    proposal: Proposal,
    note: str | None = None,
    *,
    allow_out_of_band: bool = False,
) -> CommitResult:
    """Write the proposal as the community's new current grid version, in one transaction.

    Parameters
    ----------
    principal:
        Who commits (action ``grids.commit`` on the community).
    proposal:
        The plan (possibly adjusted by hand).
    note:
        Recorded on the version and in the audit log.
    allow_out_of_band:
        Accept grids whose households are out of band (recorded in the audit entry); hard
        rules are never accepted.

    The plan's rules are recomputed from its building labels first (a proposal that went
    through the browser is not trusted), then the validity gate applies.

    Raises
    ------
    PlanRejected
        The validity gate refuses the plan (rule names in ``rules``).
    PlanConflict
        The community's current version is no longer the plan's base version.
    """
    _in_scope(principal, "grids.commit", proposal.community_code)
    proposal = plan_mod.revalidate(proposal, _move_context(proposal))
    blocking = proposal.blocking(allow_out_of_band)
    if blocking:
        rules = sorted({g["rule"] for g in blocking})
        where = ", ".join(f"{g['code']} ({g['rule']})" for g in blocking[:8])
        more = f" and {len(blocking) - 8} more" if len(blocking) > 8 else ""
        hint = (" Adjust the plan, or accept out-of-band grids explicitly."
                if rules == ["band"] else " Adjust the plan or compute it again.")
        raise PlanRejected(
            f"plan refused by rule(s) {', '.join(rules)}: {where}{more}.{hint}", rules)
    with db.transaction() as cur:
        result = versions.write_plan(cur, principal, proposal, note=note,
                                     allow_out_of_band=allow_out_of_band)
        versions.before_commit(cur)
    return result


def restore(
    principal: Principal,
    version: int | str,
    note: str | None = None,
    *,
    expected_current_id: int | None = None,
) -> CommitResult:
    """Write a new current version copying an older version's grids (codes and polygons).

    Parameters
    ----------
    principal:
        Who restores (action ``grids.restore`` on the community).
    version:
        Version id, or ``"COMMUNITY@NUMBER"``.
    note:
        Recorded on the version (default ``restore of version N``).
    expected_current_id:
        When given, refuse with :class:`PlanConflict` if another version became current.
    """
    permissions.check(principal, "grids.restore")
    with db.transaction() as cur:
        ver = versions.resolve_version(cur, version)
        _in_scope(principal, "grids.restore", ver["community_code"])
        result = versions.write_restore(cur, principal, ver, note=note,
                                        expected_current_id=expected_current_id)
        versions.before_commit(cur)
    return result


# ------------------------------------------------------------------------------- reading


def list_versions(principal: Principal, community_code: str) -> list[dict]:
    """Versions of one community, newest first.

    Returns
    -------
    list of dict
        ``id``, ``version_no``, ``created_at``, ``created_by``, ``note``, ``source``,
        ``is_current``, ``parent_id``, ``grids``, ``households``, ``in_band`` (grids whose
        households are within the community's band).
    """
    community_code = _in_scope(principal, "view.plan", community_code)
    with db.transaction(readonly=True) as cur:
        com = data.community_row(cur, community_code)
        cur.execute(
            """SELECT v.id, v.version_no, v.created_at, v.created_by, v.note, v.source,
                      v.is_current, v.parent_id,
                      count(g.id)::int AS grids,
                      coalesce(sum(g.households), 0)::int AS households,
                      count(g.id) FILTER (WHERE g.households BETWEEN %(lo)s AND %(hi)s)::int
                          AS in_band
                 FROM grid_versions v LEFT JOIN grids g ON g.version_id = v.id
                WHERE v.community_id = %(c)s
                GROUP BY v.id ORDER BY v.version_no DESC""",
            {"c": com["id"], "lo": com["min_households"], "hi": com["max_households"]},
        )
        return [dict(r) for r in cur.fetchall()]


def version_assignment(principal: Principal, version: int | str) -> dict[str, Any]:
    """A version's community, grids (code -> households, kind, name) and building codes
    (``view.plan`` on the version's community)."""
    permissions.check(principal, "view.plan")
    with db.transaction(readonly=True) as cur:
        ver = versions.resolve_version(cur, version)
        _in_scope(principal, "view.plan", ver["community_code"])
        cur.execute(
            """SELECT code, households, kind, name FROM grids WHERE version_id = %s
                ORDER BY code""", (ver["id"],))
        grids = {r["code"]: dict(r) for r in cur.fetchall()}
        assign = data.version_assignment(cur, int(ver["id"]))
    return {"version": ver, "grids": grids, "labels": assign}


def compare(
    version_a: int | str | Proposal,
    version_b: int | str | Proposal,
    *,
    principal: Principal,
) -> dict[str, Any]:
    """Compare two versions (or a version and a proposal) of the same community.

    Parameters
    ----------
    version_a, version_b:
        A version id, ``"COMMUNITY@NUMBER"``, or a :class:`Proposal` ("before" and "after").
    principal:
        Checked for ``view.plan`` on the community (each version before it is read).

    Returns
    -------
    dict
        ``community``; ``a`` / ``b`` labels; ``grids``: per code ``households_a``,
        ``households_b`` (``None`` where absent) and ``status`` (``kept``, ``added``,
        ``removed``); ``added`` / ``removed`` / ``kept`` codes; ``matches``: each old grid's
        successor (one-to-one by shared households); ``moved``: buildings whose grid is not
        the successor of their old grid (``building_id``, ``households``, ``from``, ``to``);
        ``households_moved``, ``buildings_moved``.
    """
    from geo.planning import codes as codes_mod

    sides = [_side(principal, version_a), _side(principal, version_b)]
    if sides[0]["community"] != sides[1]["community"]:
        raise GridAtlasError("compare two versions of the same community")
    community = sides[0]["community"]
    la, lb = sides[0]["labels"], sides[1]["labels"]
    hh = {**sides[0]["households"], **sides[1]["households"]}
    flow = codes_mod.flows(la, lb, hh)
    matches = codes_mod.match(flow)
    ga, gb = sides[0]["grid_households"], sides[1]["grid_households"]
    rows = []
    for code in sorted(set(ga) | set(gb)):
        status = "kept" if code in ga and code in gb else ("added" if code in gb else "removed")
        rows.append({"code": code, "households_a": ga.get(code), "households_b": gb.get(code),
                     "status": status})
    moved = []
    for bid in sorted(set(la) | set(lb)):
        a, b = la.get(bid), lb.get(bid)
        if a is not None and b is not None and matches.get(a) == b:
            continue
        if a is None and b is None:
            continue
        moved.append({"building_id": bid, "households": int(hh.get(bid, 0)), "from": a,
                      "to": b})
    return {
        "community": community,
        "a": sides[0]["label"],
        "b": sides[1]["label"],
        "grids": rows,
        "added": sorted(set(gb) - set(ga)),
        "removed": sorted(set(ga) - set(gb)),
        "kept": sorted(set(ga) & set(gb)),
        "matches": [{"a": a, "b": b, "households_shared": flow[(a, b)][0]}
                    for a, b in sorted(matches.items())],
        "moved": moved,
        "households_moved": int(sum(m["households"] for m in moved)),
        "buildings_moved": len(moved),
    }


def _side(principal: Principal, x: int | str | Proposal) -> dict[str, Any]:
    if isinstance(x, Proposal):
        _in_scope(principal, "view.plan", x.community_code)
        return {
            "community": x.community_code,
            "label": {"kind": "proposal", "base_version_id": x.base_version_id},
            "labels": dict(x.labels),
            "households": dict(x.households),
            "grid_households": dict(zip(x.grids["code"], map(int, x.grids["households"]),
                                        strict=True)),
        }
    va = version_assignment(principal, x)
    ver = va["version"]
    with db.transaction(readonly=True) as cur:
        cur.execute("SELECT id, households FROM buildings WHERE community_id = %s",
                    (ver["community_id"],))
        hh = {int(r["id"]): int(r["households"]) for r in cur.fetchall()}
    return {
        "community": ver["community_code"],
        "label": {"kind": "version", "id": int(ver["id"]), "version_no": ver["version_no"],
                  "is_current": bool(ver["is_current"])},
        "labels": va["labels"],
        "households": hh,
        "grid_households": {c: int(g["households"]) for c, g in va["grids"].items()},
    }


__all__ = [
    "propose", "move_building", "neighbour_grids", "commit", "restore", "list_versions", "compare",
    "version_assignment", "load_proposal", "PlanRejected", "PlanConflict", "Proposal", "CommitResult",
]
