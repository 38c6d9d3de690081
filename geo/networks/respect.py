"""Respecting a department network when a community is redrawn (尊重既有网格边界).

The wish: keep a network's old boundaries (e.g. the police grids, 公安) as boundaries of the
unified grids wherever the household band allows, so that each old grid falls within one
unified grid (the alignment measure of :func:`geo.networks.crosswalk.alignment`). The engine
(:func:`geo.partition.rebalance`) is used as it is, through its public API; the wish is met
by what it is given:

1. every building belongs to at most one old grid (``network_grid_buildings``, the rule in
   :mod:`geo.networks`); the community's buildings are cut into *pieces*: buildings of the
   same old grid joined by the engine's footprint or cell adjacency (:func:`pieces`);
2. pieces below the band's minimum join neighbours while the union stays within the
   maximum, pieces of the same old grid first (:func:`candidate_groups`): a group in band is
   a *candidate*, a unified grid that would hold whole old grids;
3. candidates are judged with the engine's own rules over the whole community
   (``geo.partition.engine.evaluate``: contiguity in the community's footprint graph, one
   piece, inside the community); those that pass are handed to the engine as locked grids,
   and the engine draws the rest of the community around them;
4. while the drawing has more grids breaking a hard rule, or more grids out of band, than
   the plain plan, the candidates touching a failing grid are released and the engine runs
   again (:data:`RETRIES` rounds); if the respecting plan
   still breaks more rules, leaves more grids out of band or aligns no better than the plain
   one (or no old grid could be kept whole), the plain plan is kept (``used = "plain"``, with
   the reasons: ``hard_rules``, ``band``, ``alignment``, ``none_kept``).

Why locks and not one engine run per piece: the engine builds its footprint graph (with the
joins that keep it connected) from the buildings it is given, so a piece drawn alone gets
joins that the whole community's graph lacks, and its grids fail the contiguity rule when
the community is judged as a whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.networks.assign import DEG_PER_M
from geo.networks.store import network_id

log = logging.getLogger(__name__)

#: Rounds of releasing the candidates next to a failing grid and drawing again.
RETRIES = 3

#: Rules whose failure no plan may add (the band is judged separately, grid by grid).
HARD_RULES = ("contiguity", "one_piece", "inside_community", "coverage")

_OLD_GRIDS = """
WITH sel AS MATERIALIZED (
    SELECT a.network_grid_id, a.building_ids, ng.code
      FROM network_grid_buildings a
      JOIN network_grids ng ON ng.id = a.network_grid_id
      JOIN communities c ON c.id = %(cid)s
     WHERE a.network_id = %(net)s AND ng.geom && ST_Expand(c.geom, %(near_deg)s))
SELECT u.building_id, sel.code
  FROM sel CROSS JOIN LATERAL unnest(sel.building_ids) AS u(building_id)
  JOIN buildings b ON b.id = u.building_id
 WHERE b.community_id = %(cid)s"""


def old_grids_of(principal: Principal, network: str, community_code: str) -> dict[int, str]:
    """Each building of a community -> the code of its old grid in ``network``.

    Buildings in no old grid of the network are left out. Action ``networks.view`` on the
    community.
    """
    permissions.check(principal, "networks.view", community_code)
    with db.transaction(readonly=True) as cur:
        net = network_id(cur, network)
        cur.execute("SELECT id FROM communities WHERE code = %s", (str(community_code),))
        row = cur.fetchone()
        if row is None:
            raise GridAtlasError(f"没有社区 {community_code} / no community {community_code}")
        cur.execute(_OLD_GRIDS, {"cid": int(row["id"]), "net": net,
                                 "near_deg": 1000.0 * DEG_PER_M})
        return {int(r["building_id"]): str(r["code"]) for r in cur.fetchall()}


# ----------------------------------------------------------------------------- pure parts


def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def pieces(old: list, pairs: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Piece id per building: buildings of the same old grid joined by ``pairs``.

    Parameters
    ----------
    old:
        Old grid code per building position (``None``: in no old grid; such buildings form
        pieces of their own kind, joined the same way).
    pairs:
        ``(m, 2)`` building positions adjacent in the contiguity graph.
    skip:
        Positions set aside (locked grids): piece ``-1``.

    Returns
    -------
    numpy.ndarray
        ``0..p-1`` per position, numbered in order of first position; ``-1`` where skipped.
    """
    n = len(old)
    skip = np.zeros(n, dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    parent = np.arange(n)
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        if skip[a] or skip[b] or old[a] != old[b]:
            continue
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    out = np.full(n, -1, dtype=np.int64)
    ids: dict[int, int] = {}
    for i in range(n):
        if not skip[i]:
            out[i] = ids.setdefault(_find(parent, i), len(ids))
    return out


def candidate_groups(piece: np.ndarray, old: list, hh: np.ndarray, pairs: np.ndarray,
                     min_hh: float, max_hh: float) -> np.ndarray:
    """Join pieces below the band's minimum with neighbours while the union stays within the
    maximum; the groups in band are the candidates (whole old grids in one unified grid).

    The smallest group below the minimum (by households, then id) joins the neighbour it
    fits with, a neighbour sharing one of its old grids first, then the smallest, then the
    lowest id; a group that fits with no neighbour stays as it is.

    Parameters
    ----------
    piece:
        Piece id per position (:func:`pieces`; ``-1`` set aside).
    old:
        Old grid code per position (``None``: in no old grid).
    hh:
        Households per position.
    pairs:
        ``(m, 2)`` adjacent positions.
    min_hh, max_hh:
        The band.

    Returns
    -------
    numpy.ndarray
        Group id per position (the lowest piece id of the group); ``-1`` where the piece is.
    """
    piece = np.asarray(piece, dtype=np.int64)
    hh = np.asarray(hh, dtype=float)
    p = int(piece.max()) + 1 if len(piece) and piece.max() >= 0 else 0
    on = piece >= 0
    H = dict(enumerate(np.bincount(piece[on], weights=hh[on], minlength=p).tolist()))
    olds: dict[int, set] = {g: set() for g in range(p)}
    for i in np.flatnonzero(on).tolist():
        if old[i] is not None:
            olds[int(piece[i])].add(old[i])
    adj: dict[int, set[int]] = {g: set() for g in range(p)}
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        ga, gb = int(piece[a]), int(piece[b])
        if ga >= 0 and gb >= 0 and ga != gb:
            adj[ga].add(gb)
            adj[gb].add(ga)
    owner = np.arange(p + 1)
    stuck: set[int] = set()
    while True:
        small = [g for g in adj if H[g] < min_hh and g not in stuck]
        if not small:
            break
        g = min(small, key=lambda x: (H[x], x))
        fits = [x for x in adj[g] if H[g] + H[x] <= max_hh]
        if not fits:
            stuck.add(g)
            continue
        n = min(fits, key=lambda x: (not (olds[g] & olds[x]), H[x], x))
        keep, gone = min(g, n), max(g, n)
        H[keep] += H.pop(gone)
        olds[keep] |= olds.pop(gone)
        for x in adj.pop(gone):
            adj[x].discard(gone)
            if x != keep:
                adj[x].add(keep)
                adj[keep].add(x)
        adj[keep].discard(keep)
        owner[owner == gone] = keep
        stuck.discard(keep)
        stuck -= adj[keep]  # a neighbour that grew may fit now
    owner[p] = -1
    return np.where(piece >= 0, owner[np.where(piece >= 0, piece, p)], -1)


# ----------------------------------------------------------------------------- figures


def figures(rows: list[dict], min_hh: float, max_hh: float, aligned: Any = None) -> dict:
    """The comparison figures of one plan from its grid rows (engine report rows).

    ``grids``, ``in_band`` (households within the band; a grid of one oversized building
    is counted apart as ``oversized``), ``valid``, ``failed_hard`` (grids breaking a rule
    other than the band), ``mean_deviation`` and ``max_deviation`` (absolute, from the
    target), and the alignment when given (:class:`~geo.networks.crosswalk.Alignment`).
    """
    over = [r for r in rows if "oversized_building" in (r.get("flags") or [])]
    rest = [r for r in rows if r not in over]
    devs = [float(r["deviation"]) for r in rest]
    out = {
        "grids": len(rows),
        "in_band": sum(1 for r in rest if min_hh <= int(r["households"]) <= max_hh),
        "oversized": len(over),
        "valid": sum(1 for r in rows if r["valid"]),
        "failed_hard": sum(1 for r in rows if set(r["failed_rules"]) & set(HARD_RULES)),
        "mean_deviation": round(float(np.mean(devs)), 4) if devs else 0.0,
        "max_deviation": round(float(np.max(devs)), 4) if devs else 0.0,
    }
    if aligned is not None:
        t = aligned.total
        out.update({"share_aligned": t.get("share_aligned"),
                    "aligned_households": t.get("aligned_households"),
                    "network_households": t.get("households"),
                    "old_grids": t.get("old_grids"), "split_old_grids": t.get("split_old_grids")})
    return out


def _out_of_band(fig: dict) -> int:
    return fig["grids"] - fig["in_band"] - fig["oversized"]


@dataclass
class RespectOutcome:
    """The plan to show (``plan``, an engine :class:`~geo.partition.engine.Plan`) and the
    comparison (``report``: ``network``, ``used`` (``respecting`` / ``plain``), ``reason``,
    ``pieces``, ``candidates``, ``kept_whole``, ``retries``, and the ``current`` / ``plain``
    / ``respecting`` figures)."""

    plan: Any
    report: dict = field(default_factory=dict)


def _engine(ci, params: dict, locked: dict[str, list[int]], seed: int):
    from geo.partition import rebalance
    from geo.planning.codes import ShortCodes

    return rebalance(
        ci.buildings, ci.geom, households="households", compound="compound_code",
        cells=ci.cells, target=params["target"], min_hh=params["min_hh"],
        max_hh=params["max_hh"], locked=locked or None, mode="fresh", seed=seed,
        names=ShortCodes())


def _passing(ci, ctx, group: np.ndarray, params: dict) -> set[int]:
    """Groups whose buildings would make a grid passing every rule of the engine (judged
    over the whole community: each group one grid, the rest one filler grid per group)."""
    from geo.partition.engine import evaluate

    index = ci.buildings.index
    labels = pd.Series([f"g{g}" if g >= 0 else "rest" for g in group.tolist()], index=index,
                       dtype=object)
    ev = evaluate(ci.buildings, ci.geom, labels, ci.cells, households="households",
                  compound="compound_code", target=params["target"], min_hh=params["min_hh"],
                  max_hh=params["max_hh"], graph=ctx.graph)
    return {int(r["code"][1:]) for r in ev["grids"] if r["code"] != "rest" and r["valid"]}


def _failing(rows: list[dict]) -> set[str]:
    """Grids breaking a rule (kept grids and grids of one oversized building aside)."""
    return {r["code"] for r in rows
            if "oversized_building" not in (r.get("flags") or [])
            and "locked" not in (r.get("flags") or []) and r["failed_rules"]}


def _worse(fig: dict, plain: dict | None) -> list[str]:
    """Where a plan's figures are worse than the plain plan's (no plain plan: nowhere)."""
    if plain is None:
        return []
    out = []
    if fig["failed_hard"] > plain["failed_hard"]:
        out.append("hard_rules")
    if _out_of_band(fig) > _out_of_band(plain):
        out.append("band")
    return out


def draw_respecting(ci, ctx, old_of: dict[int, str], *, params: dict,
                    locked: dict[str, list[int]] | None, seed: int,
                    plain: dict | None = None) -> tuple[Any, list[dict], dict]:
    """Draw a community keeping whole old grids where the band allows (no database access).

    Parameters
    ----------
    ci, ctx:
        The community's inputs and move context (the engine's graph of the community).
    old_of:
        Building id -> old grid code (buildings in no old grid left out).
    params:
        ``target``, ``min_hh``, ``max_hh``.
    locked:
        ``{grid code: [building ids]}`` the planner keeps as they are.
    seed:
        The engine's seed.
    plain:
        The plain plan's :func:`figures`: while the drawing has more grids breaking a hard
        rule or out of band, the candidates touching a failing grid are released and the
        engine runs again (at most :data:`RETRIES` times).

    Returns
    -------
    (plan, rows, info)
        The engine's :class:`Plan` (the candidates' grids carry the ``network`` flag), its
        grid rows, and ``pieces``, ``candidates``, ``kept_whole``, ``retries``.
    """
    index = ci.buildings.index
    pos = {int(b): i for i, b in enumerate(index)}
    n = len(index)
    old = [old_of.get(int(b)) for b in index]
    lo, hi = float(params["min_hh"]), float(params["max_hh"])
    hh = ci.buildings["households"].fillna(0).astype(float).to_numpy()
    skip = np.zeros(n, dtype=bool)
    for members in (locked or {}).values():
        skip[[pos[int(b)] for b in members if int(b) in pos]] = True
    fp = np.asarray(ctx.graph.fp_pairs, dtype=np.int64).reshape(-1, 2)
    cellp = np.asarray(ctx.graph.cell_pairs, dtype=np.int64).reshape(-1, 2)
    # an old grid is one polygon: its buildings hang together by their cells or footprints
    adj_pairs = np.vstack([fp, cellp])
    piece = pieces(old, adj_pairs, skip=skip)
    group = candidate_groups(piece, old, hh, adj_pairs, lo, hi)
    sums = pd.Series(hh).groupby(group).sum()
    in_band = {int(g) for g, h in sums.items() if g >= 0 and lo <= h <= hi}
    # a candidate worth keeping holds some households of an old grid (not only buildings
    # outside the network)
    with_old = {int(group[i]) for i in range(n) if old[i] is not None and group[i] >= 0}
    chosen = _passing(ci, ctx, group, params) & in_band & with_old
    retries = 0
    while True:
        net_locks = {f"NET{g}": [int(index[i]) for i in np.flatnonzero(group == g)]
                     for g in sorted(chosen)}
        plan = _engine(ci, params, {**(locked or {}), **net_locks}, seed)
        rows = list(plan.report.get("grids") or [])
        bad = _failing(rows)
        if not bad or not chosen or retries >= RETRIES or not _worse(figures(rows, lo, hi), plain):
            break
        # release the candidates touching a failing grid, and draw again
        lab = plan.labels.reindex(index).astype(str).to_numpy()
        bad_at = np.isin(lab, list(bad))
        near = set()
        for a, b in adj_pairs.tolist():
            if bad_at[a] and group[b] in chosen:
                near.add(int(group[b]))
            if bad_at[b] and group[a] in chosen:
                near.add(int(group[a]))
        if not near:
            break
        chosen -= near
        retries += 1
    # the candidates' grids are ordinary grids of the plan (the planner may move their
    # buildings): their engine label is renamed and they are marked ``network``
    rename = {f"NET{g}": f"N{i + 1:02d}" for i, g in enumerate(sorted(chosen))}
    plan.labels = plan.labels.map(lambda c: rename.get(str(c), c))
    plan.grids["code"] = [rename.get(str(c), c) for c in plan.grids["code"]]
    plan.grids["flags"] = [[f for f in fl if f != "locked"] + ["network"] if c in rename.values()
                           else list(fl) for c, fl in zip(plan.grids["code"], plan.grids["flags"],
                                                          strict=True)]
    for r in rows:
        if r["code"] in rename:
            r["code"] = rename[r["code"]]
            r["flags"] = [f for f in r["flags"] if f != "locked"] + ["network"]
    plan.report["grids"] = rows
    info = {"pieces": int(piece.max()) + 1 if n and piece.max() >= 0 else 0,
            "candidates": len(in_band & with_old), "kept_whole": len(chosen), "retries": retries}
    return plan, rows, info


def respecting_plan(principal: Principal, network: str, ci, ctx, plain, *, params: dict,
                    locked: dict[str, list[int]], seed: int) -> RespectOutcome:
    """Redraw a community keeping a network's boundaries where the band allows.

    Parameters
    ----------
    principal:
        Who asks (``networks.view`` on the community; the caller checked ``plan.run``).
    network:
        The network's name.
    ci, ctx:
        The community's inputs (:class:`geo.planning.data.CommunityInputs`) and its move
        context (:func:`geo.planning.plan.move_context`: the engine's graph of it).
    plain:
        The plain plan (the engine's :class:`Plan` for the same inputs), compared with and
        kept when the wish cannot be met.
    params:
        ``target``, ``min_hh``, ``max_hh`` (the band).
    locked:
        ``{grid code: [building ids]}`` kept as they are.
    seed:
        The engine's seed.

    Returns
    -------
    RespectOutcome
    """
    from geo.networks.crosswalk import alignment

    t0 = time.perf_counter()
    code = ci.code
    permissions.check(principal, "networks.view", code)
    old_of = old_grids_of(principal, network, code)
    lo, hi = float(params["min_hh"]), float(params["max_hh"])
    plain_rows = list(plain.report.get("grids") or [])
    combined, rows, info = draw_respecting(ci, ctx, old_of, params=params, locked=locked,
                                           seed=seed, plain=figures(plain_rows, lo, hi))

    def _aligned(lab: pd.Series | None):
        assignment = None if lab is None else {int(b): str(c) for b, c in lab.items()}
        return alignment(principal, network, community_code=code, assignment=assignment,
                         worst=0)

    current = None
    if ci.version_id is not None:  # the current grids' own band figures are on the page
        cur = figures([], lo, hi, _aligned(None))
        current = {k: cur[k] for k in ("share_aligned", "aligned_households",
                                       "network_households", "old_grids", "split_old_grids")}
    plain_fig = figures(plain_rows, lo, hi, _aligned(plain.labels))
    resp_fig = figures(rows, lo, hi, _aligned(combined.labels))
    worse = _worse(resp_fig, plain_fig)
    if info["kept_whole"] and (resp_fig.get("share_aligned") or 0.0) \
            <= (plain_fig.get("share_aligned") or 0.0):
        worse.append("alignment")  # nothing gained for the grids it changes
    if not info["kept_whole"]:  # no old grid could be kept whole: the same plan as the plain one
        worse.append("none_kept")
    used = "plain" if worse else "respecting"
    report = {"network": network, "used": used, "reason": worse, **info, "current": current,
              "plain": plain_fig, "respecting": resp_fig}
    report["seconds"] = round(time.perf_counter() - t0, 3)
    log.info("respect %s in %s: %s (%d of %d candidates kept whole, %d retries, aligned %s -> "
             "%s)", network, code, used, info["kept_whole"], info["candidates"], info["retries"],
             report["plain"].get("share_aligned"),
             report["respecting"].get("share_aligned"))
    return RespectOutcome(plan=combined if used == "respecting" else plain, report=report)
