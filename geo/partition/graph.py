"""Adjacency graphs between buildings, in metres.

- *footprint graph* (rule 2, contiguity): footprints at most ``max_gap`` metres apart; where it
  is disconnected its components are joined by a minimum spanning tree of closest footprint
  pairs, taken among buildings whose cells touch wherever one exists (a stranded cluster joins
  the neighbour it touches on the map, so the join is legal in both rule graphs); pieces of a
  community whose cells touch nothing else are joined by the closest footprints alone.
- *cell graph* (rule 2, one-piece polygons): cells sharing an edge of positive length, with the
  shared length (used to compute grid perimeters without geometry operations).
- *search graph*: the intersection of both (a grid connected in it is connected in both), with
  its own components joined the same way so the search can always reach every building.  A
  joining edge may be missing from one rule graph, so the search checks grids that could rely
  on one against both rule graphs (:func:`geo.partition.search.exact_ok`) and the report
  evaluates contiguity on the footprint graph only, exactly as the rule says.  A cluster that
  reaches the rest only through such edges is tied to a chain legal in both graphs
  (:func:`bridge_ties`), since no legal grid can hold it otherwise.

Shared cell boundaries are found by matching identical boundary segments (cells are a valid
coverage), with the pairwise intersection as a fallback (:func:`shared_edges`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from geo.partition.config import DEFAULT

__all__ = [
    "BuildingGraph",
    "canon_pairs",
    "components",
    "join_components",
    "shared_edges",
    "build_graph",
    "is_connected",
    "uf_find",
    "bridge_ties",
]

log = logging.getLogger(__name__)

GRID_M = DEFAULT.grid_m


@dataclass
class BuildingGraph:
    """Graphs and per-building measures of one community (metric CRS).

    Attributes
    ----------
    n:
        Number of buildings.
    area, perim:
        Cell area (m²) and perimeter (m) per building.
    xy:
        Representative point of each footprint (m).
    cell_pairs, cell_len:
        Edge-sharing cell pairs ``(i < j)`` and the shared boundary length (m).
    fp_pairs:
        Footprint-graph pairs ``(i < j)``: within ``max_gap`` plus MST joins (``mst_pairs``).
    search_pairs:
        Pairs of the search graph (connected whenever the community has >= 1 building).
    matched:
        Whether the cells' boundaries matched vertex for vertex (the fast path of
        :func:`shared_edges`): their union can then drop shared edges exactly.
    """

    n: int
    area: np.ndarray
    perim: np.ndarray
    xy: np.ndarray
    cell_pairs: np.ndarray
    cell_len: np.ndarray
    fp_pairs: np.ndarray
    mst_pairs: np.ndarray
    search_pairs: np.ndarray
    matched: bool = True


def _pairs_key(p: np.ndarray, n: int) -> np.ndarray:
    return p[:, 0].astype(np.int64) * (n + 1) + p[:, 1]


def canon_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct pairs ``(min, max)`` of ``a``, ``b`` without loops, sorted."""
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    keep = lo != hi
    if not keep.any():
        return np.zeros((0, 2), dtype=np.int64)
    lo, hi = lo[keep], hi[keep]
    base = int(hi.max()) + 1
    key = np.unique(lo * base + hi)  # one integer per pair: several times faster than rows
    return np.stack([key // base, key % base], axis=1)


def components(pairs, n: int) -> np.ndarray:
    """Component label of each of ``n`` nodes joined by ``pairs`` (an ``(m, 2)`` array or a
    list of pairs; none: every node alone)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    m = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(m, directed=False)[1]


def join_components(
    pairs: np.ndarray, n: int, candidates: list[tuple[np.ndarray, np.ndarray]], xy: np.ndarray
) -> np.ndarray:
    """Join the components of ``pairs`` by a minimum spanning tree over candidate edges.

    Parameters
    ----------
    pairs:
        Existing edges ``(i < j)``.
    n:
        Number of vertices.
    candidates:
        Lists of ``(pairs, distance)`` tried in order; the last resort joins components by
        their nearest representative points.
    xy:
        Vertex coordinates (for the last resort).

    Returns
    -------
    numpy.ndarray
        The added edges ``(i < j)`` (deterministic: ties broken by vertex index).
    """
    added: list[np.ndarray] = []
    cur = pairs
    for cand, dist in candidates:
        comp = components(cur, n)
        ncomp = comp.max() + 1 if n else 0
        if ncomp <= 1:
            break
        if len(cand) == 0:
            continue
        ca, cb = comp[cand[:, 0]], comp[cand[:, 1]]
        m = ca != cb
        if not m.any():
            continue
        c2, d2, ca, cb = cand[m], dist[m], ca[m], cb[m]
        # cheapest candidate per component pair (deterministic order)
        order = np.lexsort((c2[:, 1], c2[:, 0], d2))
        lo, hi = np.minimum(ca, cb)[order], np.maximum(ca, cb)[order]
        key = lo * ncomp + hi
        _, first = np.unique(key, return_index=True)
        sel = order[first]
        w = d2[sel] + 1e-6 + np.arange(len(sel)) * 1e-12
        g = coo_matrix((w, (np.minimum(ca, cb)[sel], np.maximum(ca, cb)[sel])), shape=(ncomp, ncomp))
        t = minimum_spanning_tree(g).tocoo()
        sel_lo, sel_hi = np.minimum(ca, cb)[sel], np.maximum(ca, cb)[sel]
        lut = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(sel_lo, sel_hi, strict=False))}
        pick = sorted(lut[(min(int(a), int(b)), max(int(a), int(b)))] for a, b in zip(t.row, t.col, strict=False))
        new = c2[sel[pick]]
        added.append(new)
        cur = np.vstack([cur, new])
    comp = components(cur, n)
    while n and comp.max() > 0:
        # last resort: nearest points between component 0 and the rest
        in0 = np.flatnonzero(comp == 0)
        rest = np.flatnonzero(comp != 0)
        d, j = cKDTree(xy[rest]).query(xy[in0])
        i = int(np.argmin(d))
        e = np.array([[min(in0[i], rest[j[i]]), max(in0[i], rest[j[i]])]])
        added.append(e)
        cur = np.vstack([cur, e])
        comp = components(cur, n)
    if not added:
        return np.zeros((0, 2), dtype=np.int64)
    return canon_pairs(np.vstack(added)[:, 0], np.vstack(added)[:, 1])


def _shared_by_segments(cells_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Shared boundary lengths of a valid coverage by matching identical segments.

    Returns the pairs ``(i < j)``, their shared lengths and the length of segments that
    matched no other cell (the outer boundary, if the coverage is valid).
    """
    n = len(cells_m)
    ne = np.flatnonzero(~shapely.is_empty(cells_m))
    if len(ne) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), 0.0
    parts, pidx = shapely.get_parts(shapely.boundary(cells_m[ne]), return_index=True)
    rings, ridx = shapely.get_parts(parts, return_index=True)  # MultiLineString -> lines
    owner_part = ne[pidx][ridx]
    xy, cidx = shapely.get_coordinates(rings, return_index=True)
    same = cidx[:-1] == cidx[1:]
    p0, p1 = xy[:-1][same], xy[1:][same]
    own = owner_part[cidx[:-1][same]]
    seg_len = np.hypot(*(p1 - p0).T)
    # vertices are keyed on the cells' precision grid: a vertex read back from EPSG:4326
    # storage is within 1e-9 m of it, and a segment shorter than a millimetre (which a
    # coarser key would collapse to a point) still matches its twin.  Grid steps are whole
    # numbers below 2**53 (10^13 for 10^7 m), exact in a double: a vertex is one complex key.
    q = np.round(xy / GRID_M)
    vid = pd.factorize(q[:, 0] + 1j * q[:, 1])[0]
    v0, v1 = vid[:-1][same], vid[1:][same]
    nv = int(vid.max()) + 1
    # a segment is one integer whatever its direction; identical segments share it
    skey = np.minimum(v0, v1).astype(np.int64) * nv + np.maximum(v0, v1)
    gid, _ = pd.factorize(skey)
    cnt = np.bincount(gid)
    # keys seen exactly twice with two different owners are shared edges: the group's
    # first and last segment are its two
    idx = np.arange(len(gid))
    first = np.empty(len(cnt), dtype=np.int64)
    first[gid[::-1]] = idx[::-1]
    last = np.empty(len(cnt), dtype=np.int64)
    last[gid] = idx
    two = np.flatnonzero(cnt == 2)
    a, b = own[first[two]], own[last[two]]
    ok = a != b
    a, b, l2 = a[ok], b[ok], seg_len[first[two]][ok]
    unmatched = float(seg_len.sum() - 2.0 * l2.sum())
    if len(a) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), unmatched
    pa, pb = np.minimum(a, b), np.maximum(a, b)
    k = pa * (n + 1) + pb
    uk, inv2 = np.unique(k, return_inverse=True)
    tot = np.bincount(inv2.ravel(), weights=l2)
    pairs = np.stack([uk // (n + 1), uk % (n + 1)], axis=1).astype(np.int64)
    keep = tot > 1e-6
    return pairs[keep], tot[keep], unmatched


def shared_edges(cells_m: np.ndarray, outer: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of cells sharing a boundary of positive length, and that length (metres);
    see :func:`_shared_edges`."""
    pairs, lens, _ = _shared_edges(cells_m, outer)
    return pairs, lens


def _shared_edges(cells_m: np.ndarray, outer: float | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Pairs of cells sharing a boundary of positive length, and that length (metres).

    Fast path: matching identical boundary segments (cells stored as a valid coverage share
    their vertices).  If the unmatched length exceeds the outer boundary of the cells (the
    coverage does not match vertex for vertex), the pairwise intersection is used instead.

    Parameters
    ----------
    cells_m:
        Cells in a metric CRS.
    outer:
        Length of the outer boundary of the cells' union when known (e.g. the community's
        perimeter); computed otherwise.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, bool)
        Pairs ``(i < j)``, shared lengths, and whether the boundaries matched.
    """
    cells_m = np.asarray(cells_m, dtype=object)
    if len(cells_m) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), True
    pairs, lens, unmatched = _shared_by_segments(cells_m)
    if outer is None:
        outer = float(shapely.length(shapely.coverage_union_all(cells_m[~shapely.is_empty(cells_m)])))
    if unmatched <= 1.001 * outer + 1.0:
        return pairs, lens, True
    log.debug("cells: boundaries do not match vertex for vertex; intersecting cell pairs")
    tc = shapely.STRtree(cells_m)
    a, b = tc.query(cells_m, predicate="intersects")
    cp = canon_pairs(a, b)
    if not len(cp):
        return cp, np.zeros(0), False
    ln = shapely.length(shapely.intersection(cells_m[cp[:, 0]], cells_m[cp[:, 1]]))
    keep = ln > 1e-6
    return cp[keep], ln[keep], False


def build_graph(
    fps_m: np.ndarray, cells_m: np.ndarray, max_gap: float = 30.0, outer: float | None = None
) -> BuildingGraph:
    """Build the footprint, cell and search graphs of one community.

    Parameters
    ----------
    fps_m:
        Footprints in a metric CRS (array of shapely geometries).
    cells_m:
        Cells in the same CRS (one per footprint; may be empty polygons).
    max_gap:
        Footprints at most this many metres apart are adjacent.
    outer:
        Perimeter of the cells' union when known (the community's), see :func:`shared_edges`.

    Returns
    -------
    BuildingGraph
    """
    fps_m = np.asarray(fps_m, dtype=object)
    cells_m = np.asarray(cells_m, dtype=object)
    n = len(fps_m)
    xy = shapely.get_coordinates(shapely.point_on_surface(fps_m)) if n else np.zeros((0, 2))
    area = shapely.area(cells_m) if n else np.zeros(0)
    perim = shapely.length(cells_m) if n else np.zeros(0)
    empty2 = np.zeros((0, 2), dtype=np.int64)
    if n < 2:
        return BuildingGraph(n, area, perim, xy, empty2, np.zeros(0), empty2, empty2, empty2)
    # boxes widened by max_gap find the candidates, the distance decides (three times faster
    # than the tree's own dwithin query, which also returns every pair twice)
    bb = shapely.bounds(fps_m) + [-max_gap, -max_gap, max_gap, max_gap]
    a, b = shapely.STRtree(fps_m).query(shapely.box(bb[:, 0], bb[:, 1], bb[:, 2], bb[:, 3]))
    m = a < b
    a, b = a[m], b[m]
    m = shapely.dwithin(fps_m[a], fps_m[b], max_gap)
    near = canon_pairs(a[m], b[m])
    cp, ln, matched = _shared_edges(cells_m, outer=outer)
    kk = min(9, n)
    _, nn = cKDTree(xy).query(xy, k=kk)
    knn = canon_pairs(np.repeat(np.arange(n), kk), nn.reshape(-1))
    cand = canon_pairs(np.concatenate([cp[:, 0], knn[:, 0]]), np.concatenate([cp[:, 1], knn[:, 1]]))
    cand_d = shapely.distance(fps_m[cand[:, 0]], fps_m[cand[:, 1]])
    # a footprint cluster farther than max_gap from every other is joined to a building whose
    # cell its cells touch (the closest such footprint), so the join holds in both rule
    # graphs; only pieces whose cells touch no other (a community in several pieces) are
    # joined by the closest footprints alone.  A join to a footprint whose cell lies
    # elsewhere left clusters that no grid legal in both graphs could hold.
    ckey0 = _pairs_key(cand, n)
    cp_d0 = cand_d[np.searchsorted(ckey0, _pairs_key(cp, n))] if len(cp) else np.zeros(0)
    mst = join_components(near, n, [(cp, cp_d0), (cand, cand_d)], xy)
    fp = canon_pairs(np.concatenate([near[:, 0], mst[:, 0]]), np.concatenate([near[:, 1], mst[:, 1]]))
    fk = set(_pairs_key(fp, n).tolist())
    in_fp = np.array([k in fk for k in _pairs_key(cp, n).tolist()], dtype=bool) if len(cp) else np.zeros(0, bool)
    h = cp[in_fp]
    # distances of pairs already measured (cp and mst are candidates) are looked up
    ckey = _pairs_key(cand, n)
    cp_d = cand_d[np.searchsorted(ckey, _pairs_key(cp, n))] if len(cp) else np.zeros(0)
    fp_d = np.zeros(len(fp))
    if len(fp):
        fkey = _pairs_key(fp, n)
        pos = np.minimum(np.searchsorted(ckey, fkey), max(len(ckey) - 1, 0))
        known = (ckey[pos] == fkey) if len(ckey) else np.zeros(len(fp), dtype=bool)
        fp_d[known] = cand_d[pos[known]]
        new = ~known
        fp_d[new] = shapely.distance(fps_m[fp[new, 0]], fps_m[fp[new, 1]])
    extra = join_components(h, n, [(cp, cp_d), (fp, fp_d), (cand, cand_d)], xy)
    if len(extra):
        log.debug("search graph: %d joining edges", len(extra))
    h = canon_pairs(np.concatenate([h[:, 0], extra[:, 0]]), np.concatenate([h[:, 1], extra[:, 1]]))
    return BuildingGraph(n, area, perim, xy, cp, ln, fp, mst, h, matched)


def is_connected(members: np.ndarray, pairs: np.ndarray) -> bool:
    """Whether the vertices ``members`` induce a connected subgraph of ``pairs``.

    Parameters
    ----------
    members:
        Vertex indices.
    pairs:
        Edges ``(i, j)`` of the whole graph.

    Returns
    -------
    bool
    """
    members = np.unique(np.asarray(members, dtype=np.int64))
    if len(members) <= 1:
        return True
    pos = {int(v): i for i, v in enumerate(members)}
    m = np.isin(pairs[:, 0], members) & np.isin(pairs[:, 1], members)
    sub = pairs[m]
    a = np.array([pos[int(v)] for v in sub[:, 0]], dtype=np.int64)
    b = np.array([pos[int(v)] for v in sub[:, 1]], dtype=np.int64)
    return int(components(np.stack([a, b], axis=1) if len(a) else np.zeros((0, 2), np.int64), len(members)).max()) == 0


def uf_find(parent: np.ndarray, x: int) -> int:
    """Root of ``x`` in the union-find forest ``parent`` (path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = int(parent[x])
    return x


def bridge_ties(
    g: BuildingGraph, hh: np.ndarray, max_hh: float, fixed: np.ndarray | None = None, max_rounds: int = 6
) -> list[tuple[int, int]]:
    """Ties that keep a stranded cluster together with a legal way into the rest.

    *Legal groups* are the components of the pairs in both rule graphs together with the ties
    made so far (a tied unit is connected in both graphs).  A legal group ``Q`` other than the
    largest reaches the others only through pairs missing from one rule graph: its footprint
    neighbours are not its cell neighbours.  Any grid holding ``Q`` legally must also hold a
    footprint neighbour ``f`` and a chain of cells to it.  The cheapest chain (fewest
    households, then fewest buildings) from a cell neighbour ``c`` of ``Q`` to a footprint
    neighbour, through units (buildings or tied units, taken whole) joined by a footprint pair
    and by a cell pair, is connected in both rule graphs, and so is ``Q`` with it (``Q``-``f`` is a
    footprint pair, ``Q``-``c`` a cell pair).  Tying ``Q`` to that chain turns the joining edge into a legal unit, which
    the search can then place freely.  Rounds repeat while ties are added, since a cluster may
    become reachable only through another tied one.  A cluster is tied only when the tied
    group holds at most half of ``max_hh`` households and no ``fixed`` building.

    Parameters
    ----------
    g:
        Building graph.
    hh:
        Households per building.
    max_hh:
        Band maximum.
    fixed:
        Buildings that must not be tied (e.g. in locked grids); boolean per building.
    max_rounds:
        Most rounds of tying.

    Returns
    -------
    list of (int, int)
        Pairs of buildings to tie (same unit).
    """
    import heapq

    n = g.n
    if n < 2 or not len(g.cell_pairs):
        return []
    fk = set(_pairs_key(g.fp_pairs, n).tolist())
    both = np.array([k in fk for k in _pairs_key(g.cell_pairs, n).tolist()], dtype=bool)
    inter = g.cell_pairs[both]
    hh = np.asarray(hh, dtype=float)
    fixed = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)

    def _adj(pairs: np.ndarray) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(n)]
        for a, b in pairs.tolist():
            out[a].append(b)
            out[b].append(a)
        return out

    fadj: list[list[int]] = []
    cadj: list[list[int]] = []
    parent = np.arange(n)

    def find(x: int) -> int:
        return uf_find(parent, x)

    ties: list[tuple[int, int]] = []
    for _round in range(max_rounds):
        tie_pairs = np.array([(i, find(i)) for i in range(n) if find(i) != i], dtype=np.int64).reshape(-1, 2)
        legal = components(np.concatenate([inter, tie_pairs]), n)
        ng = int(legal.max()) + 1
        if ng <= 1:
            break
        if not fadj:  # built once, only when some cluster needs a chain (most communities: none)
            fadj[:], cadj[:] = _adj(g.fp_pairs), _adj(g.cell_pairs)
        main = int(np.argmax(np.bincount(legal)))
        # tied units (taken whole by a chain): households and members per root
        root = np.array([find(i) for i in range(n)])
        unit_hh = np.bincount(root, weights=hh, minlength=n)
        unit_fixed = np.bincount(root, weights=fixed.astype(float), minlength=n) > 0
        unit_members: dict[int, list[int]] = defaultdict(list)
        for i, r in enumerate(root.tolist()):
            unit_members[r].append(i)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, c in enumerate(legal.tolist()):
            groups[c].append(i)
        touched: set[int] = set()
        added = 0
        nb_cache: dict[int, set[int]] = {}

        # bind this round's root, members and cache (the helper is called only within the round)
        def _both(
            x: int,
            nb_cache: dict[int, set[int]] = nb_cache,
            unit_members: dict[int, list[int]] = unit_members,
            root: np.ndarray = root,
        ) -> set[int]:
            # units joined to unit x in both rule graphs (each unit is connected in both, so
            # any footprint pair and any cell pair between two units make their union so)
            if x not in nb_cache:
                mem = unit_members[x]
                f = {int(root[v]) for m in mem for v in fadj[m]}
                c = {int(root[v]) for m in mem for v in cadj[m]}
                nb_cache[x] = (f & c) - {x}
            return nb_cache[x]

        for q in sorted(groups, key=lambda c: (len(groups[c]), c)):
            Q = groups[q]
            if q == main or any(find(x) in touched for x in Q):
                continue
            qroots = {int(root[x]) for x in Q}
            if any(unit_fixed[r] for r in qroots):
                continue
            qs = set(Q)
            targets = {int(root[v]) for u in Q for v in fadj[u] if v not in qs}
            starts = sorted({int(root[v]) for u in Q for v in cadj[u] if v not in qs})
            if not targets or not starts:
                continue
            # cheapest chain of units (households, then buildings) joined in both graphs
            limit = max_hh / 2 - float(hh[Q].sum())
            dist = {
                s: (unit_hh[s], len(unit_members[s])) for s in starts if not unit_fixed[s] and find(s) not in touched
            }
            prev: dict[int, int] = {s: -1 for s in dist}
            heap = [(d[0], d[1], s) for s, d in dist.items()]
            heapq.heapify(heap)
            hit = None
            while heap:
                dh, dn, x = heapq.heappop(heap)
                if (dh, dn) != dist.get(x) or dh > limit:
                    continue
                if x in targets:
                    hit = x
                    break
                for ry in _both(x):
                    if ry in qroots or unit_fixed[ry] or find(ry) in touched:
                        continue
                    nd = (dh + unit_hh[ry], dn + len(unit_members[ry]))
                    if ry not in dist or nd < dist[ry]:
                        dist[ry] = nd
                        prev[ry] = x
                        heapq.heappush(heap, (nd[0], nd[1], ry))
            if hit is None:
                continue
            chain = []
            x = hit
            while x != -1:
                chain.append(x)
                x = prev[x]
            anchor = Q[0]
            for r in sorted(qroots | set(chain)):
                for v in unit_members[r]:
                    if find(v) != find(anchor):
                        ties.append((anchor, v))
                        parent[find(v)] = find(anchor)
            touched.add(find(anchor))
            added += 1
        if not added:
            break
    return ties
