"""Minimal mode's local model (:func:`local_solve`): a small CP-SAT model over a bad grid
and the grids within a few steps of it picks the boundary moves that bring them into band
moving the fewest households; see :func:`local_solve` for its rules.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from geo.partition.config import MinimalConfig
from geo.partition.minimal_grids import DEFAULT, Budget, _Grids, _pieces, _rule_graphs
from geo.partition.search import Params

__all__ = ["local_solve"]


def _rings(G: _Grids, g: int, cfg: MinimalConfig) -> list[int]:
    """``g`` and the grids within ``cfg.rings`` steps of it, nearest first, at most
    ``cfg.max_grids``; then further rings, up to ``cfg.wide_rings`` steps, each only while the
    grids taken hold at most ``cfg.wide_units`` units."""
    out = [g]
    frontier = [g]
    units = np.bincount(G.lab[G._nodes], minlength=G.k)
    size = int(units[g])
    for ring in range(max(cfg.rings, cfg.wide_rings)):
        if ring >= cfg.rings and size > cfg.wide_units:
            break
        nxt = []
        for a in frontier:
            for b in sorted(G.nbr_grids(a)):
                if b not in out and len(out) < cfg.max_grids:
                    out.append(b)
                    nxt.append(b)
                    size += int(units[b])
        frontier = nxt
    return out


def _steps(adj: list[list[int]], start: list[int], inside: dict[int, int], depth: int) -> dict[int, int]:
    """Steps from ``start`` to each unit of ``inside`` within ``depth`` steps (breadth first)."""
    d = {u: 0 for u in start}
    q = deque(start)
    while q:
        u = q.popleft()
        if d[u] >= depth:
            continue
        for v in adj[u]:
            if v in inside and v not in d:
                d[v] = d[u] + 1
                q.append(v)
    return d


def local_solve(G: _Grids, g: int, prm: Params, cfg: MinimalConfig = DEFAULT, seed: int = 0,
                budget: Budget | None = None) -> bool:
    """Bring grid ``g`` and its neighbourhood into band moving the fewest households.

    The model: each unit of the grids within ``cfg.rings`` steps of ``g`` takes its grid or a
    grid adjacent to it (or, when a grid of the model is above the maximum and holds at
    least twice the minimum, a new grid cut from it); every grid of the model lies in band
    (band excess is allowed at a price far above any move, so the model always has an
    answer); each grid that existed at the start keeps more than half of its starting
    households (its code stays with it); a unit joining a grid touches a unit of that grid
    in every rule graph, and a unit staying touches a unit staying.  The cost is the
    households on units away from their starting grid, then the units moved.  A solution
    with a grid cut in pieces gets a cut (the piece must gain a neighbour of its grid) and
    is solved again, up to ``cfg.max_cuts`` times.  Each solve gets at most
    ``cfg.det_time`` deterministic seconds and no more than what is left of ``budget``,
    and spends it there.

    When that leaves the model out of band and no grid of it holds two grids' worth, the
    model is solved once more (from the labels reached) with one new grid open to the units
    of the grids above the maximum and of their neighbours, if the model holds enough for one
    grid more: households shared by several grids a little above the maximum, none of which
    could give a whole grid.

    Returns
    -------
    bool
        Whether the labels changed (to a solution with less band excess in the model).
    """
    changed = _local_model(G, _rings(G, g, cfg), prm, cfg, seed, budget, shared=False)
    S = _rings(G, g, cfg)  # from the labels reached
    above = [a for a in S if G.h[a] > prm.max_hh]
    if (above and all(G.h[a] < 2 * prm.min_hh for a in above)
            and sum(G.exc(a, prm) for a in S) > 0
            and float(sum(G.h[a] for a in S)) >= (len(S) + 1) * prm.min_hh):
        changed = _local_model(G, S, prm, cfg, seed, budget, shared=True) or changed
    return changed


def _local_model(G: _Grids, S: list[int], prm: Params, cfg: MinimalConfig, seed: int, budget: Budget | None,
                 shared: bool) -> bool:
    """One solve of :func:`local_solve`'s model over the grids ``S`` (``shared``: with one new
    grid open to the units of the grids above the maximum and of their neighbours)."""
    from ortools.sat.python import cp_model

    if budget is not None and not budget.can_solve():
        return False
    U = G.U
    inS = {a: i for i, a in enumerate(S)}
    V = [u for u in G.nodes if int(G.lab[u]) in inS]
    if not V:
        return False
    vpos = {u: i for i, u in enumerate(V)}
    graphs = _rule_graphs(U)
    gadj = {a: G.nbr_grids(a) & set(S) for a in S}
    over = [a for a in S if G.h[a] > prm.max_hh and G.h[a] >= 2 * prm.min_hh]
    new_of = {a: G.k + i for i, a in enumerate(over)}
    labels = list(S) + [new_of[a] for a in over]
    # (local_solve's second solve) one new grid open to the units of the grids above the
    # maximum and of their neighbours, each grid keeping more than half its households still
    open_to: set[int] = set()
    if shared:
        above = [a for a in S if G.h[a] > prm.max_hh]
        open_to = set(above).union(*(gadj[a] for a in above))
        labels.append(G.k)
    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    # steps from each grid of the model, per rule graph, through the model's units: a unit
    # joins a grid only along a path of units that get closer to it (so no island forms)
    dist = {lab: [_steps(adj, [u for u in V if G.lab[u] == lab], vpos, cfg.depth) for adj in graphs]
            for lab in S}
    for u in V:
        a = int(G.lab[u])
        o = int(G.lab0[u])
        opts = [a] + [b for b in sorted(gadj[a] | ({o} if o in inS else set()))
                      if b != a and all(u in d for d in dist[b])]
        if a in new_of:
            opts.append(new_of[a])
        elif a in open_to:
            opts.append(G.k)
        for lab in opts:
            x[u, lab] = m.NewBoolVar("")
        m.AddExactlyOne(x[u, lab] for lab in opts)
    hh = {u: int(U.hh[u]) for u in V}
    members: dict[int, list[int]] = {lab: [u for u in V if (u, lab) in x] for lab in labels}
    scale = int(sum(hh.values())) + 1
    excess = []
    for lab in labels:
        load = sum(hh[u] * x[u, lab] for u in members[lab])
        if lab in S:
            lo = m.NewIntVar(0, int(prm.min_hh), "")
            hi = m.NewIntVar(0, scale, "")
            m.Add(load + lo >= int(math.ceil(prm.min_hh)))
            m.Add(load - hi <= int(prm.max_hh))
            excess += [lo, hi]
        else:
            used = m.NewBoolVar("")
            m.Add(load >= int(math.ceil(prm.min_hh))).OnlyEnforceIf(used)
            m.Add(load <= int(prm.max_hh)).OnlyEnforceIf(used)
            for u in members[lab]:
                m.AddImplication(x[u, lab], used)
            # a new grid grows from one seed unit
            roots = {u: m.NewBoolVar("") for u in members[lab]}
            m.Add(sum(roots.values()) <= 1)
            for u in members[lab]:
                m.AddImplication(roots[u], x[u, lab])
                for adj in graphs:
                    nb = [x[v, lab] for v in adj[u] if v in vpos and (v, lab) in x]
                    m.AddBoolOr([*nb, roots[u]]).OnlyEnforceIf(x[u, lab])
    # the code stays: more than half of each starting grid's households stay with it
    for lab in S:
        if lab >= G.k0:
            continue
        start = [u for u in V if int(G.lab0[u]) == lab]
        tot = sum(hh[u] for u in start) + sum(
            int(U.hh[u]) for u in G.nodes if int(G.lab0[u]) == lab and u not in vpos)
        if tot > 0:
            m.Add(2 * sum(hh[u] * x[u, lab] for u in start if (u, lab) in x) >= tot + 1)
    # local connectivity: a unit joining a grid touches a unit of it one step closer to it
    # (in every rule graph); a unit staying touches a unit staying, unless it was alone
    # a unit staying touches a unit staying one step closer to its grid's anchor (the unit
    # nearest the grid's centre, which stays)
    home = {}
    for lab in S:
        mem = [u for u in V if G.lab[u] == lab]
        c = U.xy[mem].mean(axis=0)
        anchor = min(mem, key=lambda u: (float(((U.xy[u] - c) ** 2).sum()), u))
        m.Add(x[anchor, lab] == 1)
        inside = {u: 0 for u in mem}
        home[lab] = [_steps(adj, [anchor], inside, len(mem)) for adj in graphs]
    for (u, lab), var in x.items():
        if lab >= G.k:
            continue
        for adj, d in zip(graphs, dist[lab], strict=True):
            if lab == int(G.lab[u]):
                hd = home[lab][graphs.index(adj)]
                if u not in hd or hd[u] == 0:
                    continue
                nb = [x[v, lab] for v in adj[u] if v in hd and hd[v] < hd[u]]
                m.AddBoolOr(nb).OnlyEnforceIf(var)
                continue
            nb = [x[v, lab] for v in adj[u] if v in d and d[v] < d[u] and (v, lab) in x]
            if not nb:
                m.Add(var == 0)
            else:
                m.AddBoolOr(nb).OnlyEnforceIf(var)
    moved_hh = []
    moved_n = []
    for u in V:
        o = int(G.lab0[u])
        stay = x.get((u, o))
        if hh[u] > 0:
            moved_hh.append(hh[u] * (1 - stay) if stay is not None else hh[u])
        moved_n.append((1 - stay) if stay is not None else 1)
    n_units = len(V) + 1
    m.Minimize(sum(excess) * scale * n_units + sum(moved_hh) * n_units + sum(moved_n))

    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(cfg.det_time)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed) % (2**31)
    before = sum(G.exc(a, prm) for a in S)
    for _ in range(cfg.max_cuts + 1):
        if budget is not None:
            if not budget.can_solve():
                return False
            solver.parameters.max_deterministic_time = float(min(cfg.det_time, budget.det))
        st = solver.Solve(m)
        if budget is not None:
            budget.spend_det(float(solver.response_proto.deterministic_time))
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return False
        pick = {u: next(lab for lab in labels if (u, lab) in x and solver.Value(x[u, lab])) for u in V}
        groups: dict[int, list[int]] = {}
        for u in V:
            groups.setdefault(pick[u], []).append(u)
        cuts = 0
        for lab, X in groups.items():
            full = X + [u for u in G.nodes if int(G.lab[u]) == lab and u not in vpos]
            for piece, adj in _pieces(U, full):
                P = [u for u in piece if u in vpos]
                inp = set(piece)
                nb = sorted({v for u in piece for v in adj[u] if v in vpos and v not in inp and (v, lab) in x})
                if not P:
                    continue
                # the piece whole in the grid needs a neighbour of it in the grid too
                m.Add(sum(x[u, lab] for u in P) - len(P) + 1 <= sum(x[v, lab] for v in nb))
                cuts += 1
        if cuts:
            continue
        after = 0.0
        h = {lab: float(sum(hh[u] for u in X)) for lab, X in groups.items()}
        for a in S:
            ha = h.get(a, 0.0)
            after += max(prm.min_hh - ha, 0.0) + max(ha - prm.max_hh, 0.0)
        if after >= before - 1e-9 or any(h.get(a, 0.0) <= 0 for a in S if any(G.lab[u] == a for u in V)):
            return False
        changed = False
        for lab in sorted(set(pick.values()) - set(S)):
            while G.k <= lab:
                G.add_grid()
        for u in V:
            if pick[u] != int(G.lab[u]):
                G.move(u, pick[u])
                changed = True
        return changed
    return False
