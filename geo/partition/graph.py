"""Adjacency graphs between buildings, in metres.

- *footprint graph* (rule 2, contiguity): footprints at most ``max_gap`` metres apart; where it
  is disconnected its components are joined by a minimum spanning tree of closest footprint
  pairs.
- *cell graph* (rule 2, one-piece polygons): cells sharing an edge of positive length, with the
  shared length (used to compute grid perimeters without geometry operations).
- *search graph*: the intersection of both (a grid connected in it is connected in both), with
  its own components joined the same way so the search can always reach every building.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)


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


def _pairs_key(p: np.ndarray, n: int) -> np.ndarray:
    return p[:, 0].astype(np.int64) * (n + 1) + p[:, 1]


def _canon(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1).astype(np.int64)
    p = p[p[:, 0] != p[:, 1]]
    if len(p) == 0:
        return p.reshape(0, 2)
    return np.unique(p, axis=0)


def _components(pairs: np.ndarray, n: int) -> np.ndarray:
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
        comp = _components(cur, n)
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
        lut = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(np.minimum(ca, cb)[sel], np.maximum(ca, cb)[sel]))}
        pick = sorted(lut[(min(int(a), int(b)), max(int(a), int(b)))] for a, b in zip(t.row, t.col))
        new = c2[sel[pick]]
        added.append(new)
        cur = np.vstack([cur, new])
    comp = _components(cur, n)
    while n and comp.max() > 0:
        # last resort: nearest points between component 0 and the rest
        in0 = np.flatnonzero(comp == 0)
        rest = np.flatnonzero(comp != 0)
        d, j = cKDTree(xy[rest]).query(xy[in0])
        i = int(np.argmin(d))
        e = np.array([[min(in0[i], rest[j[i]]), max(in0[i], rest[j[i]])]])
        added.append(e)
        cur = np.vstack([cur, e])
        comp = _components(cur, n)
    if not added:
        return np.zeros((0, 2), dtype=np.int64)
    return _canon(np.vstack(added)[:, 0], np.vstack(added)[:, 1])


def build_graph(fps_m: np.ndarray, cells_m: np.ndarray, max_gap: float = 30.0) -> BuildingGraph:
    """Build the footprint, cell and search graphs of one community.

    Parameters
    ----------
    fps_m:
        Footprints in a metric CRS (array of shapely geometries).
    cells_m:
        Cells in the same CRS (one per footprint; may be empty polygons).
    max_gap:
        Footprints at most this many metres apart are adjacent.

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
    tf = shapely.STRtree(fps_m)
    a, b = tf.query(fps_m, predicate="dwithin", distance=max_gap)
    near = _canon(a, b)
    tc = shapely.STRtree(cells_m)
    a, b = tc.query(cells_m, predicate="intersects")
    cp = _canon(a, b)
    if len(cp):
        ln = shapely.length(shapely.intersection(cells_m[cp[:, 0]], cells_m[cp[:, 1]]))
        keep = ln > 1e-6
        cp, ln = cp[keep], ln[keep]
    else:
        ln = np.zeros(0)
    kk = min(9, n)
    _, nn = cKDTree(xy).query(xy, k=kk)
    knn = _canon(np.repeat(np.arange(n), kk), nn.reshape(-1))
    cand = _canon(np.concatenate([cp[:, 0], knn[:, 0]]), np.concatenate([cp[:, 1], knn[:, 1]]))
    cand_d = shapely.distance(fps_m[cand[:, 0]], fps_m[cand[:, 1]])
    mst = join_components(near, n, [(cand, cand_d)], xy)
    fp = _canon(np.concatenate([near[:, 0], mst[:, 0]]), np.concatenate([near[:, 1], mst[:, 1]]))
    fk = set(_pairs_key(fp, n).tolist())
    in_fp = np.array([k in fk for k in _pairs_key(cp, n).tolist()], dtype=bool) if len(cp) else np.zeros(0, bool)
    h = cp[in_fp]
    cp_d = shapely.distance(fps_m[cp[:, 0]], fps_m[cp[:, 1]]) if len(cp) else np.zeros(0)
    fp_d = shapely.distance(fps_m[fp[:, 0]], fps_m[fp[:, 1]]) if len(fp) else np.zeros(0)
    extra = join_components(h, n, [(cp, cp_d), (fp, fp_d), (cand, cand_d)], xy)
    if len(extra):
        log.debug("search graph: %d joining edges", len(extra))
    h = _canon(np.concatenate([h[:, 0], extra[:, 0]]), np.concatenate([h[:, 1], extra[:, 1]]))
    return BuildingGraph(n, area, perim, xy, cp, ln, fp, mst, h)


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
    return int(_components(np.stack([a, b], axis=1) if len(a) else np.zeros((0, 2), np.int64), len(members)).max()) == 0
