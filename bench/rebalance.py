"""Benchmark of the rebalancing engine against baseline partitioners, on the same data.

Default data: the demo district (``geo.demo.dataset``).  Any GeoPackage can be given with
``--gpkg PATH --layer L --households-field F --community-field F`` (``--community-layer`` for
polygons, else a 30 m buffered hull per community; ``--cut N`` first cuts the file into N
communities by recursive coordinate bisection of households, for data without communities).

Every method gets the same buildings, cells (computed once, timed apart), footprint graph,
grid count k = round(H/target) clamped to the feasible range and the same set-aside of
buildings above the maximum (each its own flagged grid).  Each method runs in a forked child
with a per-community time limit (a timeout is a failure); its peak RSS is read from wait4().
Every output is scored by the same evaluator (``geo.partition.engine.evaluate``).

Prints a table, ratios against METIS measured in the same run, the load average at start,
then one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import select
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.partition.cells import WGS84, building_cells, utm_crs_for  # noqa: E402
from geo.partition.engine import choose_k, evaluate, rebalance  # noqa: E402
from geo.partition.graph import build_graph, join_components  # noqa: E402
from geo.partition.search import Params, make_units, contract, zero_clusters  # noqa: E402

log = logging.getLogger("bench.rebalance")
METHODS = ["ours", "rcb", "metis", "kahip", "maxp", "skater", "recom", "cpsat"]


# ----------------------------------------------------------------------------- data
def load_data(args) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings (households, community, compound) and community polygons, EPSG:4326."""
    if args.gpkg is None:
        from geo.demo.dataset import read_layer

        b = read_layer("buildings")
        c = read_layer("communities")
        b = b.rename(columns={"community_code": "community", "compound_code": "compound"})
        b = b[["households", "community", "compound", "geometry"]]
        c = c.rename(columns={"code": "community"})
        return b, c
    b = gpd.read_file(args.gpkg, layer=args.layer)
    b = b.set_crs(WGS84) if b.crs is None else b.to_crs(WGS84)
    b["households"] = pd.to_numeric(b[args.households_field], errors="coerce").fillna(0)
    b["compound"] = b[args.compound_field] if args.compound_field else None
    if args.cut:
        b, c = cut_communities(b, args.cut)
        return b, c
    b["community"] = b[args.community_field].astype(str) if args.community_field else "ALL"
    if args.community_layer:
        c = gpd.read_file(args.gpkg, layer=args.community_layer).to_crs(WGS84)
        key = args.community_field if args.community_field in c.columns else "code"
        c = c.rename(columns={key: "community"})[["community", "geometry"]]
        c["community"] = c["community"].astype(str)
    else:
        rows = []
        for code, sub in b.groupby("community"):
            utm = sub.estimate_utm_crs()
            poly = gpd.GeoSeries([sub.to_crs(utm).union_all().convex_hull.buffer(30)], crs=utm).to_crs(WGS84).iloc[0]
            rows.append({"community": code, "geometry": poly})
        c = gpd.GeoDataFrame(rows, crs=WGS84)
    return b[["households", "community", "compound", "geometry"]], c


def cut_communities(b: gpd.GeoDataFrame, k: int):
    """Recursive coordinate bisection of households into k boxes (demo-style communities)."""
    utm = b.estimate_utm_crs()
    bm = b.to_crs(utm)
    rp = bm.representative_point()
    x, y, w = rp.x.to_numpy(), rp.y.to_numpy(), b["households"].to_numpy(float)

    def rcb(idx, box, k):
        if k == 1:
            return [(idx, box)]
        k1 = k // 2
        minx, miny, maxx, maxy = box
        ax = 0 if (maxx - minx) >= (maxy - miny) else 1
        c = (x if ax == 0 else y)[idx]
        o = np.argsort(c, kind="stable")
        cw = np.cumsum(w[idx][o])
        j = min(int(np.searchsorted(cw, cw[-1] * k1 / k)), len(o) - 2)
        cut = (c[o][j] + c[o][j + 1]) / 2
        L, R = idx[c <= cut], idx[c > cut]
        bl, br = ((minx, miny, cut, maxy), (cut, miny, maxx, maxy)) if ax == 0 else ((minx, miny, maxx, cut), (minx, cut, maxx, maxy))
        return rcb(L, bl, k1) + rcb(R, br, k - k1)

    res = np.flatnonzero(w > 0)
    parts = rcb(res, (x.min() - 1, y.min() - 1, x.max() + 1, y.max() + 1), k)
    rows = []
    for i, (idx, box) in enumerate(parts):
        hull = shapely.convex_hull(shapely.union_all(bm.geometry.values[idx])).buffer(50)
        rows.append({"community": f"C{i:02d}", "geometry": shapely.box(*box).intersection(hull)})
    com = gpd.GeoDataFrame(rows, crs=utm)
    tree = shapely.STRtree(com.geometry.values)
    pi, ci = tree.query(rp.values, predicate="within")
    code = np.full(len(b), "", dtype=object)
    code[pi] = com["community"].to_numpy()[ci]
    b = b.assign(community=code)
    b = b[b["community"] != ""]
    return b[["households", "community", "compound", "geometry"]], com.to_crs(WGS84)


# ----------------------------------------------------------------------------- context
class Ctx:
    """One community, prepared once for every method."""

    def __init__(self, code, b, poly, cells, prm, seed):
        self.code, self.b, self.poly, self.cells, self.prm, self.seed = code, b, poly, cells, prm, seed
        utm = utm_crs_for(poly)
        fps = np.asarray(b.geometry.to_crs(utm).values, dtype=object)
        cm = np.asarray(cells.to_crs(utm).values, dtype=object)
        self.G = build_graph(fps, cm)
        self.hh = b["households"].round().astype(np.int64).to_numpy()
        self.n = len(b)
        self.over = np.flatnonzero(self.hh > prm.max_hh)
        free = np.setdiff1d(np.arange(self.n), self.over)
        self.free = free
        H = int(self.hh[free].sum())
        self.k, self.feasible = choose_k(H, prm.target, prm.min_hh, prm.max_hh)
        self.k = min(self.k, max(len(free), 1))
        # footprint graph on free buildings, joined where removing oversized ones cut it
        pos = -np.ones(self.n, dtype=np.int64)
        pos[free] = np.arange(len(free))
        p = self.G.fp_pairs
        m = (pos[p[:, 0]] >= 0) & (pos[p[:, 1]] >= 0)
        fp = np.stack([pos[p[m, 0]], pos[p[m, 1]]], axis=1) if m.any() else np.zeros((0, 2), np.int64)
        xy = self.G.xy[free]
        extra = join_components(fp, len(free), [], xy) if len(free) else np.zeros((0, 2), np.int64)
        self.edges = np.vstack([fp, extra]) if len(extra) else fp
        self.xy = xy

    def labels_from_free(self, part) -> pd.Series:
        lab = np.empty(self.n, dtype=object)
        lab[self.free] = [f"g{int(v)}" for v in part]
        for i, j in enumerate(self.over):
            lab[j] = f"X{i}"
        return pd.Series(lab, index=self.b.index)

    def csr(self):
        nf = len(self.free)
        nb = [[] for _ in range(nf)]
        for a, b in self.edges.tolist():
            nb[a].append(b)
            nb[b].append(a)
        xadj, adjncy = [0], []
        for lst in nb:
            adjncy.extend(sorted(set(lst)))
            xadj.append(len(adjncy))
        return xadj, adjncy, nb


# ----------------------------------------------------------------------------- methods
def m_ours(ctx: Ctx, limit: float) -> pd.Series:
    plan = rebalance(ctx.b, ctx.poly, cells=ctx.cells, compound="compound", target=ctx.prm.target,
                     min_hh=ctx.prm.min_hh, max_hh=ctx.prm.max_hh, seed=ctx.seed)
    return plan.labels


def m_rcb(ctx: Ctx, limit: float) -> pd.Series:
    hh = ctx.hh[ctx.free].astype(float)
    out = np.zeros(len(ctx.free), dtype=np.int64)

    def rec(idx, k, base):
        if k == 1 or len(idx) <= 1:
            out[idx] = base
            return
        k1 = k // 2
        pts = ctx.xy[idx]
        ax = int(np.ptp(pts[:, 0]) < np.ptp(pts[:, 1]))
        o = idx[np.argsort(pts[:, ax], kind="stable")]
        cw = np.cumsum(hh[o])
        j = int(np.searchsorted(cw, cw[-1] * k1 / k)) + 1
        j = min(max(j, 1), len(o) - 1)
        rec(o[:j], k1, base)
        rec(o[j:], k - k1, base + k1)

    rec(np.arange(len(ctx.free)), ctx.k, 0)
    return ctx.labels_from_free(out)


def m_metis(ctx: Ctx, limit: float) -> pd.Series:
    import pymetis

    xadj, adjncy, _ = ctx.csr()
    if ctx.k <= 1:
        return ctx.labels_from_free(np.zeros(len(ctx.free), dtype=int))
    vw = [int(max(h, 0)) for h in ctx.hh[ctx.free]]
    opts = pymetis.Options(seed=ctx.seed, contig=1)
    _, parts = pymetis.part_graph(ctx.k, xadj=xadj, adjncy=adjncy, vweights=vw, options=opts)
    return ctx.labels_from_free(np.asarray(parts))


def m_kahip(ctx: Ctx, limit: float) -> pd.Series:
    import kahip

    xadj, adjncy, _ = ctx.csr()
    if ctx.k <= 1:
        return ctx.labels_from_free(np.zeros(len(ctx.free), dtype=int))
    vw = [int(max(h, 0)) + 0 for h in ctx.hh[ctx.free]]
    ew = [1] * len(adjncy)
    _, blocks = kahip.kaffpa(vw, xadj, ew, adjncy, ctx.k, 0.05, True, ctx.seed, 2)  # mode 2 = STRONG
    return ctx.labels_from_free(np.asarray(blocks))


def _w(ctx):
    from libpysal.weights import W

    _, _, nb = ctx.csr()
    return W({i: sorted(set(v)) for i, v in enumerate(nb)}, silence_warnings=True)


def _gdf(ctx):
    return gpd.GeoDataFrame({"x": ctx.xy[:, 0], "y": ctx.xy[:, 1], "hh": ctx.hh[ctx.free].astype(float)},
                            geometry=gpd.points_from_xy(ctx.xy[:, 0], ctx.xy[:, 1]))


def m_maxp(ctx: Ctx, limit: float) -> pd.Series:
    from spopt.region import MaxPHeuristic

    np.random.seed(ctx.seed)  # spopt uses the global numpy state (baseline only)
    model = MaxPHeuristic(_gdf(ctx), _w(ctx), ["x", "y"], "hh", 300, top_n=2, max_iterations_construction=20, max_iterations_sa=5)
    model.solve()
    return ctx.labels_from_free(np.asarray(model.labels_))


def m_skater(ctx: Ctx, limit: float) -> pd.Series:
    from spopt.region import Skater

    np.random.seed(ctx.seed)
    model = Skater(_gdf(ctx), _w(ctx), ["x", "y"], n_clusters=ctx.k, floor=1, trace=False, islands="ignore")
    model.solve()
    return ctx.labels_from_free(np.asarray(model.labels_))


def _pp_fast(ctx, lab_free):
    """Mean Polsby-Popper of grids from cell areas/perimeters (exact for edge-sharing cells)."""
    G = ctx.G
    lab = np.full(ctx.n, -1, dtype=np.int64)
    lab[ctx.free] = lab_free
    k = lab_free.max() + 1
    a = np.bincount(lab[ctx.free], weights=G.area[ctx.free], minlength=k)
    p = np.bincount(lab[ctx.free], weights=G.perim[ctx.free], minlength=k)
    la, lb = lab[G.cell_pairs[:, 0]], lab[G.cell_pairs[:, 1]]
    m = (la == lb) & (la >= 0)
    p -= 2 * np.bincount(la[m], weights=G.cell_len[m], minlength=k)
    return float(np.mean(4 * np.pi * a / np.maximum(p, 1e-9) ** 2))


def m_recom(ctx: Ctx, limit: float) -> pd.Series:
    import networkx as nx
    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.proposals import recom
    from gerrychain.tree import recursive_tree_part
    from gerrychain.updaters import Tally

    t0 = time.perf_counter()
    nf = len(ctx.free)
    if ctx.k <= 1:
        return ctx.labels_from_free(np.zeros(nf, dtype=int))
    g = nx.Graph()
    for i in range(nf):
        g.add_node(i, hh=int(ctx.hh[ctx.free][i]))
    g.add_edges_from(ctx.edges.tolist())
    graph = Graph.from_networkx(g)
    H = float(ctx.hh[ctx.free].sum())
    ideal = H / ctx.k
    eps = max(0.02, min((ideal - ctx.prm.min_hh) / ideal, (ctx.prm.max_hh - ideal) / ideal))
    import random

    rnd = random.Random(ctx.seed)
    assign = recursive_tree_part(graph, range(ctx.k), ideal, "hh", eps, node_repeats=2, rng=rnd)
    init = Partition(graph, assign, updaters={"population": Tally("hh", alias="population")})
    chain = MarkovChain(
        proposal=lambda p: recom(p, "hh", ideal, eps, node_repeats=2, rng=rnd),
        constraints=[within_percent_of_ideal_population(init, eps)],
        accept=always_accept, initial_state=init, total_steps=10_000, rng=rnd,
    ) if False else None
    chain = MarkovChain(
        proposal_fn=lambda p: recom(p, "hh", ideal, eps, node_repeats=2, rng=rnd),
        constraints=[within_percent_of_ideal_population(init, eps)],
        acceptance_fn=always_accept, initial_partition=init, total_steps=10_000, rng=rnd,
    )
    best, best_key = None, None
    lo, hi = ctx.prm.min_hh, ctx.prm.max_hh
    for step, part in enumerate(chain):
        lab = np.array([part.assignment[i] for i in range(nf)], dtype=np.int64)
        _, lab = np.unique(lab, return_inverse=True)
        pops = np.bincount(lab, weights=ctx.hh[ctx.free])
        key = (-int(((pops >= lo) & (pops <= hi)).sum()), -_pp_fast(ctx, lab))
        if best_key is None or key < best_key:
            best, best_key = lab, key
        if time.perf_counter() - t0 > 0.5 * limit or step >= 300:
            break
    return ctx.labels_from_free(best)


def m_cpsat(ctx: Ctx, limit: float) -> pd.Series:
    """p-median with hard band and shortest-path contiguity (CP-SAT), on the reduced graph."""
    from ortools.sat.python import cp_model
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    nf = len(ctx.free)
    if ctx.k <= 1:
        return ctx.labels_from_free(np.zeros(nf, dtype=int))
    # reduced graph: household-less buildings grouped with their nearest building with households
    sub = ctx.G
    group = np.arange(ctx.n)
    U = make_units(sub, ctx.hh.astype(float), np.full(ctx.n, -1), group)
    nodes = ctx.free.tolist()
    Z, _ = contract(U, nodes, zero_clusters(U, nodes))
    m = Z.n
    ea, eb = [], []
    for a in range(m):
        for b in Z.adj[a]:
            if a < b:
                ea.append(a)
                eb.append(b)
    ea, eb = np.array(ea, dtype=np.int64), np.array(eb, dtype=np.int64)
    w = np.hypot(*(Z.xy[ea] - Z.xy[eb]).T) + 1.0
    mat = coo_matrix((np.r_[w, w], (np.r_[ea, eb], np.r_[eb, ea])), shape=(m, m)).tocsr()
    centers = [c for c in range(m) if Z.hh[c] > 0] or list(range(m))
    D = dijkstra(mat, indices=centers)  # (len(centers), m)
    L = min(len(centers), 25)
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i in range(m):
        near = np.argsort(D[:, i], kind="stable")[:L]
        for ci in near.tolist():
            if np.isfinite(D[ci, i]):
                x[i, ci] = model.NewBoolVar("")
    y = [model.NewBoolVar("") for _ in centers]
    model.Add(sum(y) == ctx.k)
    by_c: dict[int, list[int]] = {}
    for (i, ci), v in x.items():
        by_c.setdefault(ci, []).append(i)
        model.AddImplication(v, y[ci])
    for i in range(m):
        model.AddExactlyOne([x[i, ci] for ci in range(len(centers)) if (i, ci) in x])
    for ci, c in enumerate(centers):
        if (c, ci) in x:
            model.Add(x[c, ci] == y[ci])
        else:
            model.Add(y[ci] == 0)
        mem = by_c.get(ci, [])
        hsum = sum(int(Z.hh[i]) * x[i, ci] for i in mem)
        model.Add(hsum >= int(ctx.prm.min_hh) * y[ci])
        model.Add(hsum <= int(ctx.prm.max_hh) * y[ci])
        for i in mem:
            if i == c:
                continue
            closer = [x[j, ci] for j in Z.adj[i] if (j, ci) in x and D[ci, j] < D[ci, i]]
            if closer:
                model.AddBoolOr(closer).OnlyEnforceIf(x[i, ci])
            else:
                model.Add(x[i, ci] == 0)
    model.Minimize(sum(int(round(D[ci, i] * max(Z.area[i], 1.0) / 100.0)) * v for (i, ci), v in x.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(1.0, limit - 2.0)
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = ctx.seed
    st = solver.Solve(model)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"cp-sat: {solver.StatusName(st)}")
    zl = np.zeros(m, dtype=np.int64)
    for (i, ci), v in x.items():
        if solver.Value(v):
            zl[i] = ci
    lab = np.zeros(nf, dtype=np.int64)
    pos = {u: i for i, u in enumerate(nodes)}
    for z in range(m):
        for u in Z.members[z]:
            for bidx in U.members[u]:
                lab[np.searchsorted(ctx.free, bidx)] = zl[z]
    return ctx.labels_from_free(lab)


FUNCS = {"ours": m_ours, "rcb": m_rcb, "metis": m_metis, "kahip": m_kahip, "maxp": m_maxp,
         "skater": m_skater, "recom": m_recom, "cpsat": m_cpsat}


# ----------------------------------------------------------------------------- runner
def run_forked(fn, ctx, limit):
    """Run ``fn(ctx, limit)`` in a forked child; return (labels|None, seconds, peak_rss_mb, err)."""
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            t = time.perf_counter()
            lab = fn(ctx, limit)
            payload = pickle.dumps(("ok", lab.tolist(), time.perf_counter() - t))
        except BaseException as exc:  # noqa: BLE001
            payload = pickle.dumps(("err", f"{type(exc).__name__}: {exc}", 0.0))
        with os.fdopen(w, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(w)
    chunks, deadline = [], t0 + limit
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            ready, _, _ = select.select([f], [], [], left)
            if not ready:
                break
            data = os.read(f.fileno(), 1 << 20)
            if not data:
                break
            chunks.append(data)
    timed_out = time.perf_counter() >= deadline and not chunks
    if timed_out:
        os.kill(pid, 9)
    _, status, ru = os.wait4(pid, 0)
    rss = ru.ru_maxrss / 1024.0
    if timed_out or not chunks:
        return None, limit, rss, "timeout"
    kind, val, secs = pickle.loads(b"".join(chunks))
    if kind != "ok":
        return None, time.perf_counter() - t0, rss, val
    return pd.Series(val, index=ctx.b.index), secs, rss, None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpkg")
    ap.add_argument("--layer", default="buildings")
    ap.add_argument("--households-field", default="households")
    ap.add_argument("--community-field")
    ap.add_argument("--community-layer")
    ap.add_argument("--compound-field")
    ap.add_argument("--cut", type=int, default=0, help="cut the file into N communities (RCB by households)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per community and method")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats for ours/rcb/metis/kahip (median)")
    ap.add_argument("--communities", type=int, default=0, help="only the first N communities")
    ap.add_argument("--target", type=float, default=400)
    ap.add_argument("--min", dest="min_hh", type=float, default=300)
    ap.add_argument("--max", dest="max_hh", type=float, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    load = os.getloadavg()
    t_start = time.perf_counter()
    b, c = load_data(args)
    prm = Params(args.target, args.min_hh, args.max_hh)
    methods = [m for m in args.methods.split(",") if m]
    codes = sorted(set(b["community"]) & set(c["community"]))
    if args.communities:
        codes = codes[: args.communities]
    polys = dict(zip(c["community"], c.geometry))
    t = time.perf_counter()
    ctxs = []
    for code in codes:
        sub = b[b["community"] == code]
        poly = polys[code]
        if poly.geom_type == "MultiPolygon" and len(poly.geoms) == 1:
            poly = poly.geoms[0]
        cells = building_cells(sub.geometry, poly)
        ctxs.append((sub, poly, cells))
    t_cells = time.perf_counter() - t
    ctxs = [Ctx(code, sub, poly, cells, prm, args.seed) for code, (sub, poly, cells) in zip(codes, ctxs)]
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (cores: {os.cpu_count()})")
    print(f"communities: {len(ctxs)}, buildings: {sum(x.n for x in ctxs)}, households: {int(sum(x.hh.sum() for x in ctxs))}, "
          f"tessellation of all communities: {t_cells:.1f} s")
    res: dict[str, dict] = {}
    for meth in methods:
        fn = FUNCS[meth]
        rows, times, rss, fails = [], [], [], []
        comp_tot = comp_whole = 0
        for ctx in ctxs:
            reps = args.repeats if meth in ("ours", "rcb", "metis", "kahip") else 1
            secs_l = []
            lab = None
            for _ in range(reps):
                lab_i, secs, mem, err = run_forked(fn, ctx, args.time_limit)
                secs_l.append(secs)
                rss.append(mem)
                if err:
                    fails.append(f"{ctx.code}: {err}")
                    break
                lab = lab_i
            times.append(float(np.median(secs_l)))
            if lab is None:
                # a failure or timeout: every grid the method owed counts as failed
                rows.extend({"households": 0, "deviation": 1.0, "pp": 0.0, "valid": False,
                             "failed_rules": ["timeout_or_error"], "flags": []} for _ in range(ctx.k + len(ctx.over)))
                continue
            ev = evaluate(ctx.b, ctx.poly, lab, ctx.cells, compound="compound", target=prm.target,
                          min_hh=prm.min_hh, max_hh=prm.max_hh, graph=ctx.G)
            rows.extend(ev["grids"])
            comp_tot += ev["totals"]["compounds"]
            comp_whole += ev["totals"]["compounds_whole"]
        feas = [r for r in rows if "oversized_building" not in r.get("flags", [])]
        fr = [set(r["failed_rules"]) for r in feas]
        res[meth] = {
            "grids": len(feas), "oversized_grids": len(rows) - len(feas),
            "in_band": float(np.mean(["band" not in f and "timeout_or_error" not in f for f in fr])) if fr else 0,
            "contiguous": float(np.mean(["contiguity" not in f and "timeout_or_error" not in f for f in fr])) if fr else 0,
            "one_piece": float(np.mean(["one_piece" not in f and "timeout_or_error" not in f for f in fr])) if fr else 0,
            "valid": float(np.mean([not f for f in fr])) if fr else 0,
            "max_dev": float(max(r["deviation"] for r in feas)) if feas else 0,
            "mean_dev": float(np.mean([r["deviation"] for r in feas])) if feas else 0,
            "mean_pp": float(np.mean([r["pp"] for r in feas])) if feas else 0,
            "min_pp": float(min(r["pp"] for r in feas)) if feas else 0,
            "compounds_whole": (comp_whole / comp_tot) if comp_tot else 1.0,
            "time_max_s": float(max(times)), "time_total_s": float(sum(times)),
            "peak_rss_mb": float(max(rss)) if rss else 0.0, "failures": fails,
        }
        r = res[meth]
        print(f"  done {meth:7s} valid={r['valid']:.3f} pp={r['mean_pp']:.3f} total={r['time_total_s']:.1f}s fails={len(fails)}", flush=True)
    hdr = f"{'method':8s} {'grids':>5s} {'inband':>6s} {'contig':>6s} {'1piece':>6s} {'valid':>6s} {'maxdev':>6s} {'meandev':>7s} {'meanPP':>6s} {'minPP':>6s} {'cmpd':>5s} {'tmax_s':>7s} {'ttot_s':>7s} {'rssMB':>6s} fails"
    print("\nGrids made of one building above the maximum are set aside (same for all methods) and excluded from the shares.")
    print(hdr)
    for meth, r in res.items():
        print(f"{meth:8s} {r['grids']:5d} {r['in_band']:6.3f} {r['contiguous']:6.3f} {r['one_piece']:6.3f} {r['valid']:6.3f} "
              f"{r['max_dev']:6.3f} {r['mean_dev']:7.3f} {r['mean_pp']:6.3f} {r['min_pp']:6.3f} {r['compounds_whole']:5.2f} "
              f"{r['time_max_s']:7.2f} {r['time_total_s']:7.2f} {r['peak_rss_mb']:6.0f} {len(r['failures'])}")
    if "ours" in res and "metis" in res:
        o, m = res["ours"], res["metis"]
        print(f"\nratios ours/metis (same run): time_total {o['time_total_s'] / max(m['time_total_s'], 1e-9):.2f}x, "
              f"mean_pp {o['mean_pp'] / max(m['mean_pp'], 1e-9):.2f}x, valid {o['valid'] / max(m['valid'], 1e-9):.2f}x")
    wall = time.perf_counter() - t_start
    print(f"bench wall time: {wall:.1f} s")
    print(json.dumps({"load_avg_start": load, "communities": len(ctxs), "tessellation_s": round(t_cells, 2),
                      "time_limit_s": args.time_limit, "seed": args.seed, "wall_s": round(wall, 1), "methods": res}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
