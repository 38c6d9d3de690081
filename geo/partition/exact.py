"""Exact partition of a small region into grids in band, connected in the rule graphs.

Used where the search misses the band on a small region: the CP-SAT model either finds a
partition with every grid in band or proves that none exists (for the grid counts asked).
Connectivity is encoded exactly with one single-commodity flow per grid and rule graph (a
grid's root sends one unit of flow to each of its other members along edges inside the grid).

``ortools`` is optional: without it :func:`solve_region` answers ``"UNAVAILABLE"``.  The solver
runs on one worker with a *deterministic* time limit, so its answer does not depend on the
machine load (the engine stays reproducible).
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)


def solve_region(
    hh: np.ndarray,
    k: int,
    min_hh: float,
    max_hh: float,
    graphs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    det_time: float = 2.0,
    seed: int = 0,
    workers: int = 1,
    time_limit: float | None = None,
) -> tuple[str, np.ndarray | None]:
    """Partition ``n`` nodes into ``k`` grids in ``[min_hh, max_hh]``, connected in every graph.

    Parameters
    ----------
    hh:
        Households per node (length ``n``).
    k:
        Number of grids.
    min_hh, max_hh:
        The band.
    graphs:
        Edge lists ``(a, b)`` on ``0..n-1``; every grid must be connected in each of them.
    det_time:
        CP-SAT deterministic time limit (reproducible across machines and load).
    seed:
        Solver seed.
    workers:
        Solver workers (1 keeps the answer deterministic).
    time_limit:
        Optional wall-clock limit in seconds as well (the bench uses it).

    Returns
    -------
    (str, numpy.ndarray or None)
        ``"FEASIBLE"`` with a grid label ``0..k-1`` per node, ``"INFEASIBLE"`` (proved),
        ``"UNKNOWN"`` (limit reached) or ``"UNAVAILABLE"`` (no ortools).
    """
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - optional dependency
        return "UNAVAILABLE", None
    n = len(hh)
    hh = np.asarray(hh, dtype=np.int64)
    lo, hi = int(math.ceil(min_hh)), int(math.floor(max_hh))
    H = int(hh.sum())
    if k < 1 or n < k or H < k * lo or H > k * hi:
        return "INFEASIBLE", None
    m = cp_model.CpModel()
    a = [[m.NewBoolVar(f"a{i}_{j}") for j in range(k)] for i in range(n)]
    r = [[m.NewBoolVar(f"r{i}_{j}") for j in range(k)] for i in range(n)]
    for i in range(n):
        m.AddExactlyOne(a[i])
        for j in range(k):
            m.AddImplication(r[i][j], a[i][j])
    for j in range(k):
        m.AddExactlyOne([r[i][j] for i in range(n)])
        s = sum(int(hh[i]) * a[i][j] for i in range(n))
        m.Add(s >= lo)
        m.Add(s <= hi)
    # symmetry breaking: the roots are in increasing node order over the grids
    ridx = [sum(i * r[i][j] for i in range(n)) for j in range(k)]
    for j in range(k - 1):
        m.Add(ridx[j] < ridx[j + 1])
    # node 0 is in grid 0 (its root has the smallest index, and no earlier node exists)
    m.Add(a[0][0] == 1)
    for ga, gb in graphs:
        arcs = [(int(x), int(y)) for x, y in zip(ga, gb) if x != y]
        arcs += [(y, x) for x, y in arcs]
        for j in range(k):
            inn: list[list] = [[] for _ in range(n)]
            out: list[list] = [[] for _ in range(n)]
            for x, y in arcs:
                v = m.NewIntVar(0, n - 1, "")
                m.Add(v == 0).OnlyEnforceIf(a[x][j].Not())
                m.Add(v == 0).OnlyEnforceIf(a[y][j].Not())
                out[x].append(v)
                inn[y].append(v)
            for i in range(n):
                # every member but the root receives one unit more than it sends on
                m.Add(sum(inn[i]) - sum(out[i]) >= 1).OnlyEnforceIf([a[i][j], r[i][j].Not()])
                m.Add(sum(inn[i]) == 0).OnlyEnforceIf(r[i][j])
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(det_time)
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    st = solver.Solve(m)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        lab = np.array([[solver.Value(a[i][j]) for j in range(k)] for i in range(n)]).argmax(axis=1)
        return "FEASIBLE", lab
    if st == cp_model.INFEASIBLE:
        return "INFEASIBLE", None
    return "UNKNOWN", None


def region_graphs(nodes: Sequence[int], adjs: Sequence[list[list[int]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Edge lists of ``adjs`` induced on ``nodes``, renumbered ``0..len(nodes)-1``.

    Parameters
    ----------
    nodes:
        Unit indices (sorted).
    adjs:
        Adjacency lists over all units (e.g. footprint and cell graphs).

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
    """
    pos = {u: i for i, u in enumerate(nodes)}
    out = []
    for adj in adjs:
        ea, eb = [], []
        for u in nodes:
            for v in adj[u]:
                if v in pos and u < v:
                    ea.append(pos[u])
                    eb.append(pos[v])
        out.append((np.asarray(ea, dtype=np.int64), np.asarray(eb, dtype=np.int64)))
    return out
