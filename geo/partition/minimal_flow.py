"""Minimal mode's flow: every grid into band at once along a min-cost flow on the grids'
adjacency (:func:`flow_repair`), one boundary piece at a time, compared with a grid carved
at the border of a grid above the maximum (:func:`_carve`); and :func:`hand_back`, which
returns what the band does not need to the grid it came from.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from geo.partition.config import MinimalConfig
from geo.partition.minimal_grids import (
    DEFAULT,
    Budget,
    _codes_kept,
    _Grids,
    _joined_near,
    _mask_connected,
    _moved,
    _piece,
    _touches,
)
from geo.partition.search import Params, exact_ok

__all__ = ["flow_repair", "hand_back"]


def _grid_adjacency(G: _Grids) -> dict[int, set[int]]:
    """Every grid's adjacent grids (search graph), in one pass over the units' edges."""
    U = G.U
    ea = getattr(U, "ea", None)
    if ea is None or len(ea) == 0:
        return {g: G.nbr_grids(g) for g in range(G.k)}
    eb = U.eb
    both = G.inset[ea] & G.inset[eb]
    la, lb = G.lab[ea[both]], G.lab[eb[both]]
    cut = la != lb
    out: dict[int, set[int]] = {g: set() for g in range(G.k)}
    for x, y in set(zip(la[cut].tolist(), lb[cut].tolist(), strict=True)):
        out[x].add(y)
        out[y].add(x)
    return out


def _grid_flow(G: _Grids, prm: Params, margin: float = 0.0,
               banned: frozenset[tuple[int, int]] = frozenset()) -> dict[tuple[int, int], int] | None:
    """Households to pass between adjacent grids so that every grid ends in band, moving the
    fewest households (a household passed along two borders counts twice): a min-cost flow
    on the grids' adjacency.  A grid ends within ``margin`` of the band's inside edges, or
    where it is now when that is closer (a grid in band is never asked to move), so the
    pieces that carry the flow have room for lumpy households.  No household passes a
    ``banned`` border ``(from, to)``.  ``None`` when no flow fits."""
    from ortools.graph.python import min_cost_flow

    live = sorted({int(G.lab[u]) for u in G.nodes})
    if not live:
        return None
    Z = G.k
    f = min_cost_flow.SimpleMinCostFlow()
    lo_b, hi_b = int(math.ceil(prm.min_hh + margin)), int(math.floor(prm.max_hh - margin))
    if hi_b < lo_b:
        return None
    arcs = []
    total = 0
    nbrs = _grid_adjacency(G)
    for a in live:
        h = int(round(G.h[a]))
        L = min(lo_b, h) if prm.min_hh <= h else lo_b
        H = max(hi_b, h) if h <= prm.max_hh else hi_b
        for b in sorted(nbrs[a]):
            if (a, b) in banned:
                continue
            arcs.append((a, b, f.add_arc_with_capacity_and_unit_cost(a, b, h + 1, 1)))
        f.add_arc_with_capacity_and_unit_cost(a, Z, H - L, 0)
        f.set_node_supply(a, h - L)
        total += L - h
    f.set_node_supply(Z, total)
    if f.solve() != f.OPTIMAL:
        return None
    return {(a, b): int(f.flow(i)) for a, b, i in arcs if f.flow(i) > 0}


def flow_repair(G: _Grids, prm: Params, cfg: MinimalConfig = DEFAULT, budget: Budget | None = None) -> bool:
    """Bring every grid of the region into band at once, along :func:`_grid_flow`'s plans.

    The plans are made one boundary piece at a time (:func:`_flow_steps`), planned again
    from the labels each piece leaves, so a piece that holds more or fewer households than
    planned (whole buildings) is made up for by the next.  Plans keep some room inside the
    band (the size of the unit a household lives in), half of it, or none, and the fit
    moving the fewest households is kept (:func:`_flow_fit`).  Two fits are tried and the
    one moving the fewest households kept: the grids as they are (when their count fits the
    region's households), and one grid more, carved from a grid
    above the maximum along its border with a neighbour (:func:`_carve`; every household of
    a new grid changes grid, so this is tried only when the count needs it or the passes
    alone moved more than the band's minimum).

    Returns
    -------
    bool
        Whether the region is now entirely in band with every grid keeping more than half
        of its starting households (its code); otherwise the labels are as they were.
    """
    if G.excess(prm) <= 0:
        return False
    # the engine runs the repair twice from the same labels (with and without the local
    # model); this step does not depend on which: the second run reuses the first's result
    key = (G.lab.tobytes(), tuple(G.nodes), prm, replace(cfg, local=True))
    last = _FLOW_LAST.get("entry")
    if last is not None and last[0] is G.U and last[1] == key:
        if last[2] is None:
            return False
        G.restore(last[2])
        return True
    done = _flow_repair(G, prm, cfg, budget)
    _FLOW_LAST["entry"] = (G.U, key, G.snapshot() if done else None)
    return done


#: the last :func:`flow_repair` result (units, input, labels reached): one entry, kept with
#: its units object so it cannot be mistaken for another community's
_FLOW_LAST: dict[str, tuple] = {}


def _flow_repair(G: _Grids, prm: Params, cfg: MinimalConfig, budget: Budget | None) -> bool:
    """:func:`flow_repair` itself: the grids as they are, and the same with one grid more carved
    from a grid out of band; the fit moving the fewest households is kept."""
    hh = G.U.hh[G.nodes].astype(float)
    unit = float((hh**2).sum() / hh.sum()) if hh.sum() > 0 else 0.0
    unit = min(unit, (prm.max_hh - prm.min_hh) / 4)
    H = float(hh.sum())
    kmin = math.ceil(H / prm.max_hh) if H > 0 else 1
    kmax = int(H // prm.min_hh)
    start = G.snapshot()
    best: tuple[float, tuple] | None = None
    if kmin <= G.k <= kmax and _flow_fit(G, prm, unit, cfg, budget):
        best = (_moved(G.lab0, G), G.snapshot())
    G.restore(start)
    # one grid more: needed when the count says so; otherwise worth trying only when the
    # passes moved more than a new grid can cost (its households all change grid, at least
    # the band's minimum)
    if G.k + 1 >= kmin and G.k + 1 <= kmax and (best is None or best[0] > prm.min_hh):
        for host, side in _carve_sites(G, prm, cfg):
            if budget is not None and budget.steps <= 0:
                break
            if _carve(G, host, side, prm) and _flow_fit(G, prm, unit, cfg, budget):
                moved = _moved(G.lab0, G)
                if best is None or moved < best[0]:
                    best = (moved, G.snapshot())
                G.restore(start)
                break  # the first place that fits (furthest over, lightest neighbour first)
            G.restore(start)
    if best is None:
        return False
    G.restore(best[1])
    return True


def _flow_fit(G: _Grids, prm: Params, unit: float, cfg: MinimalConfig, budget: Budget | None) -> bool:
    """Every grid into band along :func:`_flow_steps`, planned with some room kept inside the
    band (``unit``, half of it, none: room absorbs whole buildings but asks for more passes);
    the fit moving the fewest households is kept.  ``True`` with every starting grid keeping
    its code, otherwise the labels are as they were."""
    snap = G.snapshot()
    best: tuple[float, tuple] | None = None
    for margin in (unit, unit / 2, 0.0):
        if _flow_steps(G, prm, margin, unit, cfg, budget) and G.excess(prm) <= 0 and _codes_kept(G):
            hand_back(G, prm, cfg.hand_back_passes)  # compared by what each fit really has to move
            moved = _moved(G.lab0, G)
            if best is None or moved < best[0]:
                best = (moved, G.snapshot())
        G.restore(snap)
    if best is None:
        return False
    G.restore(best[1])
    return True


def _flow_steps(G: _Grids, prm: Params, margin: float, unit: float, cfg: MinimalConfig,
                budget: Budget | None) -> bool:
    """Make :func:`_grid_flow`'s plan one boundary piece at a time, planning again from the
    labels reached after every piece.

    A plan counts households as if they were fluid; a piece holds whole units, so it moves
    a little more or less than planned.  Planning again after each piece hands that
    difference on along the grids' adjacency (a grid that took too much passes it on, one
    that gave too little gives the rest elsewhere) instead of asking each later piece for an
    exact amount.  A piece is kept only if some plan still brings every grid into band from
    the labels it leaves (first: up to the giving grid's slack above the minimum; then: no
    more than both grids' slack in the plan); a border whose piece does not fit is set aside,
    and no household passes back across a border it crossed.  At most ``cfg.flow_steps``
    plans.

    Returns
    -------
    bool
        Whether every grid is in band (the labels are left as reached either way).
    """
    # pieces made, each with the labels before it and whether it took more than its plan's
    # slack (a step that can be taken back when the plans run into a dead end)
    made: list[tuple[tuple, tuple[int, int], bool, int]] = []
    failed: list[tuple[int, int]] = []
    tight_only: set[tuple[int, int]] = set()
    for _ in range(cfg.flow_steps):
        if G.excess(prm) <= 0:
            return True
        ban = frozenset(failed) | {(b, a) for _, (a, b), _, _ in made}
        plan = _grid_flow(G, prm, margin, ban)
        if not plan and margin > 0:
            # no room left to keep from the labels reached: go on without it
            margin = 0.0
            plan = _grid_flow(G, prm, margin, ban)
        if not plan:
            # a dead end: take back the last piece that went past its plan's slack (and what
            # followed it), and make that border keep to the slack
            while made and not made[-1][2]:
                made.pop()
            if not made:
                return False
            snap, ab, _, n_failed = made.pop()
            G.restore(snap)
            del failed[n_failed:]
            tight_only.add(ab)
            continue
        net = {g: 0.0 for g in range(G.k)}
        for (a, b), x in plan.items():
            net[a] -= x
            net[b] += x
        # a pass from a grid out of band first, the largest first
        (a, b), x = min(plan.items(), key=lambda kv: (-(G.exc(kv[0][0], prm) + G.exc(kv[0][1], prm)), -kv[1], kv[0]))
        if budget is not None and not budget.take_steps(len(G.members(a))):
            return False
        fin_a, fin_b = G.h[a] + net[a], G.h[b] + net[b]
        # first no more than both grids' slack in the plan; then as much as the giving grid
        # can spare (the next plan passes the rest on)
        tight = x + max(min(fin_a - prm.min_hh, prm.max_hh - fin_b), 0.0)
        loose = x + max(fin_a - prm.min_hh, 0.0)
        done = False
        for hi in ((tight, loose) if loose > tight + 1e-9 and (a, b) not in tight_only else (tight,)):
            p = _piece(G, a, b, x, min(hi, G.h[a] - 1e-9))
            if p is None:
                continue
            snap = G.snapshot()
            for u in p[0]:
                G.move(u, b)
            if _codes_kept(G) and (G.excess(prm) <= 0 or _grid_flow(
                    G, prm, 0.0, ban | {(b, a)}) is not None):
                made.append((snap, (a, b), p[1] > tight + 1e-9, len(failed)))
                done = True
                break
            G.restore(snap)
        if not done:
            failed.append((a, b))
    return G.excess(prm) <= 0


def _carve_sites(G: _Grids, prm: Params, cfg: MinimalConfig) -> list[tuple[int, int]]:
    """Where a new grid may be carved: a grid above the maximum (the furthest first) at its
    border with a neighbour (the one with the most room first), at most ``cfg.carve_sites``."""
    out = []
    for g in sorted((g for g in range(G.k) if G.h[g] > prm.max_hh), key=lambda g: (-G.h[g], g)):
        for n in sorted(G.nbr_grids(g), key=lambda n: (G.h[n], n)):
            out.append((g, n))
    return out[: cfg.carve_sites]


def _carve(G: _Grids, host: int, side: int, prm: Params) -> bool:
    """Cut a new grid out of ``host`` along its border with ``side``: a connected piece of at
    least the band's minimum households (as few as it gets, since every one of them changes
    grid), each grid it is cut from keeping more than half of its starting households (its
    code) and staying connected.  When ``host`` cannot give that much, the new grid takes
    what it can from ``host`` and the rest from ``side`` (a piece of ``side`` touching it).
    ``False`` (labels unchanged) when there is no such piece."""

    def spare(g: int) -> float:
        nodes = np.asarray(G.nodes, dtype=np.int64)
        start = float(G.U.hh[nodes][G.lab0[nodes] == g].sum())
        return G.h[g] - start / 2 - 0.5

    snap = G.snapshot()
    hi = min(prm.max_hh, spare(host))
    p = _piece(G, host, side, min(prm.min_hh, hi), hi, alone=True)
    if p is None:
        return False
    new = G.add_grid()
    for u in p[0]:
        G.move(u, new)
    if p[1] < prm.min_hh:
        hi = min(prm.max_hh - p[1], spare(side))
        q = _piece(G, side, new, prm.min_hh - p[1], hi)
        if q is None or q[1] < prm.min_hh - p[1] or not exact_ok(G.U, G.members(host)):
            G.restore(snap)
            return False
        for u in q[0]:
            G.move(u, new)
    return True


def hand_back(G: _Grids, prm: Params, passes: int = DEFAULT.hand_back_passes) -> float:
    """Return units that changed grid to the grid they started in, where that costs nothing
    the objective cares about: the heaviest first, each one only when it touches its
    starting grid in every rule graph, the grid it leaves stays connected in every rule
    graph, and neither grid moves further from the band.  Repeated until nothing more comes
    back (a piece comes back from its outer edge in), at most ``passes`` times; each return
    lowers the households moved and keeps every grid as valid as it was.

    Pieces of whole buildings carry a little more than a plan asked for, and a later piece
    may make an earlier one needless: this takes back what the band does not need.

    Returns
    -------
    float
        The households returned (the labels are changed in place).
    """
    U = G.U
    back = 0.0
    nodes = G._nodes
    for _ in range(passes):
        moved = nodes[(G.lab0[nodes] != G.lab[nodes]) & (G.lab0[nodes] >= 0) & (G.lab0[nodes] < G.k)
                      & (U.hh[nodes] > 0)]
        done = 0.0
        masks: dict[int, np.ndarray] = {}
        for u in sorted(moved.tolist(), key=lambda u: (-float(U.hh[u]), u)):
            a, b, hu = int(G.lab0[u]), int(G.lab[u]), float(U.hh[u])
            if G.h[a] <= 0 or G.h[b] - hu <= 0:
                continue
            ha, hb = G.h[a] + hu, G.h[b] - hu
            if (max(prm.min_hh - ha, 0.0) + max(ha - prm.max_hh, 0.0) > G.exc(a, prm) + 1e-9
                    or max(prm.min_hh - hb, 0.0) + max(hb - prm.max_hh, 0.0) > G.exc(b, prm) + 1e-9):
                continue
            if not _touches(G, u, a):
                continue
            mk = masks.get(b)
            if mk is None:
                mk = masks[b] = np.zeros(U.n, dtype=bool)
                mk[G.members(b)] = True
            mk[u] = False
            if not (_joined_near(U, mk, u, 64) or _mask_connected(U, mk)):
                mk[u] = True
                continue
            G.move(u, a)
            masks.pop(a, None)
            done += hu
        back += done
        if done <= 0:
            break
    return back
