"""Building cells: a tessellation of a community into one cell per building footprint.

The cells are a Voronoi diagram of points sampled along the footprint boundaries (so a cell
follows its footprint's shape), with the footprints themselves and the community boundary
(and, if given, roads) noded into one planar arrangement.  Every face of that arrangement is
given to one building, so the cells form a valid polygonal coverage of the community by
construction (no gaps, no overlaps, matching vertices on shared edges).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from shapely.geometry.base import BaseGeometry

from geo.partition.config import DEFAULT
from geo.partition.errors import PartitionError

__all__ = ["building_cells", "utm_crs_for", "polygonal_part"]

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"

#: precision grid of the cells (metres): every vertex lies on it (see EngineConfig.grid_m)
GRID_M = DEFAULT.grid_m
#: a Voronoi ridge within this many grid steps of a boundary segment is noded (see _faces;
#: EngineConfig.node_near_steps)
NODE_NEAR = DEFAULT.node_near_steps


def utm_crs_for(geom: BaseGeometry, crs: str = WGS84):
    """Return the local UTM CRS (metres) that geopandas estimates for ``geom``.

    Parameters
    ----------
    geom:
        A geometry in ``crs`` (normally the community polygon in EPSG:4326).
    crs:
        CRS of ``geom``.

    Returns
    -------
    pyproj.CRS
        The UTM zone CRS.
    """
    import pyproj

    if str(crs).upper() != WGS84:
        geom = gpd.GeoSeries([geom], crs=crs).to_crs(WGS84).iloc[0]
    minx, miny, maxx, maxy = geom.bounds
    lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _sample_spacing(perimeter: np.ndarray) -> np.ndarray:
    return np.clip(perimeter / 12.0, 2.0, 15.0)


def _cells_metric(
    fps_m: np.ndarray, community_m: BaseGeometry, roads_m: np.ndarray | None
) -> np.ndarray:
    """Compute the cells (array of shapely geometries) in a metric CRS."""
    n = len(fps_m)
    fps_m = shapely.make_valid(fps_m)
    community_m = polygonal_part(shapely.set_precision(shapely.make_valid(community_m), GRID_M))
    shapely.prepare(community_m)
    clipped = fps_m.copy()
    crossing = ~shapely.contains_properly(community_m, fps_m)
    if crossing.any():
        cut = shapely.intersection(fps_m[crossing], community_m, grid_size=GRID_M)
        # keep only the polygonal part of the clipped footprints
        clipped[crossing] = [
            g if g.geom_type in ("Polygon", "MultiPolygon") else polygonal_part(g) for g in cut
        ]
    empty = shapely.is_empty(clipped) | (shapely.area(clipped) <= 1e-6)

    bnd = shapely.boundary(clipped[~empty]) if (~empty).any() else np.array([], dtype=object)
    spacing = _sample_spacing(shapely.length(bnd))
    dense = shapely.segmentize(bnd, spacing)
    coords, idx = shapely.get_coordinates(dense, return_index=True)
    owner = np.flatnonzero(~empty)[idx] if len(idx) else np.array([], dtype=np.int64)
    if empty.any():
        # footprint (almost) outside the community: anchor on the nearest community point
        extra_xy, extra_owner = [], []
        for i in np.flatnonzero(empty):
            src = fps_m[i] if not shapely.is_empty(fps_m[i]) else None
            if src is None:
                continue
            p = shapely.ops.nearest_points(community_m, src)[0]
            extra_xy.append((p.x, p.y))
            extra_owner.append(i)
        if extra_xy:
            coords = np.vstack([coords, np.asarray(extra_xy)]) if len(coords) else np.asarray(extra_xy)
            owner = np.concatenate([owner, np.asarray(extra_owner, dtype=np.int64)])
    if len(coords) == 0:
        raise PartitionError("No building footprint lies in the community: cannot build cells.")

    # deduplicate sample points (touching footprints share vertices); first owner wins
    key = np.round(coords, 2) + 0.0  # (+ 0.0: no negative zero) one complex key per point, hashed
    first = np.flatnonzero(~pd.Series(key[:, 0] + 1j * key[:, 1]).duplicated().to_numpy())
    coords, owner = coords[first], owner[first]
    owners_present = np.unique(owner)

    minx, miny, maxx, maxy = shapely.bounds(community_m)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    span = max(maxx - minx, maxy - miny, 1.0)
    r = 3.0 * span
    frame = np.array(
        [[cx - r, cy - r], [cx + r, cy - r], [cx + r, cy + r], [cx - r, cy + r],
         [cx, cy - r], [cx, cy + r], [cx - r, cy], [cx + r, cy]]
    )
    seg = np.zeros((0, 2, 2))
    approx = np.zeros(0, dtype=bool)
    nreal = len(coords)
    if len(owners_present) > 1:
        pts = np.vstack([coords, frame])
        seg, approx = _voronoi_ridges(pts - [cx, cy], nreal, owner)
        seg = seg + [cx, cy]
    # the boundaries go to the noder as they are: it nodes them with the ridges in one pass
    lines: list[np.ndarray] = [np.asarray([shapely.boundary(community_m)], dtype=object), np.asarray(bnd, dtype=object)]
    road_lines = None
    if roads_m is not None and len(roads_m):
        road_lines = shapely.intersection(roads_m, community_m)
        road_lines = road_lines[~shapely.is_empty(road_lines)]
        lines.append(np.asarray(road_lines, dtype=object))
    loose = np.zeros(sum(len(x) for x in lines), dtype=bool)
    loose[1 : 1 + len(bnd)] = True  # footprint boundaries
    faces, reps = _faces(seg, approx, np.concatenate(lines), community_m, loose)
    if len(faces) == 0:
        raise PartitionError("The community polygon is empty or degenerate: cannot build cells.")
    # drop zero-area faces
    fa = shapely.area(faces)
    ok = fa > 0
    faces, reps, fa = faces[ok], reps[ok], fa[ok]
    nf = len(faces)

    label = np.full(nf, -1, dtype=np.int64)
    fp_area = shapely.area(clipped)
    in_fp = np.zeros(nf, dtype=bool)
    if (~empty).any():
        tree = shapely.STRtree(clipped)
        pi, gi = tree.query(reps, predicate="within")
        in_fp[pi] = True
        # faces inside several (overlapping) footprints go to the smallest footprint
        order = np.lexsort((gi, fp_area[gi], pi))
        pi, gi = pi[order], gi[order]
        firsts = np.unique(pi, return_index=True)[1]
        label[pi[firsts]] = gi[firsts]
    free = np.flatnonzero(label < 0)
    if len(free):
        from scipy.spatial import cKDTree  # here: rebalance-file loads scipy on another thread

        kd = cKDTree(coords)
        rxy = shapely.get_coordinates(reps[free])
        if road_lines is not None and len(road_lines):
            kk = min(8, len(coords))
            _, cand = kd.query(rxy, k=kk)
            cand = cand.reshape(len(free), kk)
            choice = cand[:, 0].copy()
            rtree = shapely.STRtree(shapely.get_parts(road_lines))
            decided = np.zeros(len(free), dtype=bool)
            for c in range(kk):
                todo = np.flatnonzero(~decided)
                if not len(todo):
                    break
                segs = shapely.linestrings(
                    np.stack([rxy[todo], coords[cand[todo, c]]], axis=1)
                )
                hit = np.zeros(len(todo), dtype=bool)
                qi, _ = rtree.query(segs, predicate="crosses")
                hit[qi] = True
                good = todo[~hit]
                choice[good] = cand[good, c]
                decided[good] = True
            label[free] = owner[choice]
        else:
            _, nn = kd.query(rxy)
            label[free] = owner[nn]

    cells = _dissolve(faces, label, n)
    split = shapely.get_num_geometries(cells) > 1
    if split.any():
        cells = _fix_split(cells, split, faces, fa, label, in_fp)
    return cells


def _fix_split(
    cells: np.ndarray, split: np.ndarray, faces: np.ndarray, fa: np.ndarray, label: np.ndarray, in_fp: np.ndarray
) -> np.ndarray:
    """The cells after :func:`_fix_pieces` on the buildings whose cells are in several
    pieces (``split``) and on every building whose cell's box touches one of those.

    A building's faces in several pieces dissolve to several polygons, so only these
    buildings lose faces, and only to neighbours sharing a boundary with the lost faces:
    the faces of the two groups are all the adjacency that :func:`_fix_pieces` needs, and
    only their cells are dissolved again.  Every other building keeps its faces and cell.
    """
    n = len(cells)
    involved = np.zeros(n, dtype=bool)
    involved[split] = True
    involved[shapely.STRtree(cells).query(cells[split])[1]] = True
    sub = np.flatnonzero(involved[label])
    new = _fix_pieces(faces[sub], fa[sub], label[sub], in_fp[sub])
    out = cells.copy()
    redo = np.flatnonzero(involved)
    out[redo] = _dissolve(faces[sub], new, n)[redo]
    return out


def _faces(
    seg: np.ndarray, approx: np.ndarray, lines: np.ndarray, community_m: BaseGeometry, loose: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Faces inside the community of the planar arrangement of Voronoi ridges ``seg``
    (``(m, 2, 2)`` segments) and other ``lines``, with a representative point of each.

    Voronoi ridges meet only at their shared end points, so only those that come within
    ``NODE_NEAR`` grid steps of a segment of the other lines (footprint, community and road
    boundaries), and those ending at a borrowed circumcentre (``approx``), need noding; the
    rest join the noded lines as they are, merged into chains (:func:`_chains`).  This nodes
    a few percent of the ridges instead of all of them.  A ridge left out of the noder lies
    wholly inside or wholly outside the community; those outside bound no face we keep and
    are dropped.  Likewise a closed line marked ``loose`` (a footprint's boundary) that
    comes near no other line and no ridge is only rounded to the grid, provided it stays
    simple.  As a safety net, if the faces inside the community do not add up to its area,
    everything is noded together.
    """

    def inside(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        faces = np.asarray(faces, dtype=object)
        reps = shapely.point_on_surface(faces)
        keep = shapely.intersects(community_m, reps)
        return faces[keep], reps[keep]

    parts, pidx = shapely.get_parts(lines, return_index=True)
    ridges = shapely.linestrings(seg) if len(seg) else np.zeros(0, dtype=object)
    if len(ridges):
        xy, idx = shapely.get_coordinates(parts, return_index=True)
        same = idx[:-1] == idx[1:]
        segs = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
        seg_part = idx[:-1][same]
        hit = np.asarray(approx, dtype=bool).copy()
        # near, not merely with overlapping boxes (ten times fewer ridges to node): the noder
        # moves a vertex by at most 0.71 grid step and the chains' rounding by as much, so a
        # ridge farther than NODE_NEAR steps from every segment cannot touch one afterwards
        # (boxes widened by that margin find the candidates; the distance decides)
        d = NODE_NEAR * GRID_M
        b = shapely.bounds(segs) + [-d, -d, d, d]
        boxes = shapely.STRtree(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
        ri, si = boxes.query(ridges)
        close = shapely.dwithin(ridges[ri], segs[si], d)
        hit[ri[close]] = True
        # loose closed lines that nothing comes near (no ridge, no other line) skip the noder too
        skip = np.zeros(len(parts), dtype=bool) if loose is None else loose[pidx] & shapely.is_closed(parts)
        skip[seg_part[si[close]]] = False
        si2, sj = boxes.query(segs)
        other = seg_part[sj] != seg_part[si2]
        si2, sj = si2[other], sj[other]
        skip[seg_part[si2[shapely.dwithin(segs[si2], segs[sj], d)]]] = False
        rounded = shapely.set_precision(parts[skip], GRID_M, mode="pointwise")
        simple = shapely.is_simple(rounded) & ~shapely.is_empty(rounded)
        skip[np.flatnonzero(skip)[~simple]] = False
        rounded = rounded[simple]
        noded = shapely.union_all(np.concatenate([ridges[hit], parts[~skip]]), grid_size=GRID_M)
        # a free ridge is wholly on one side of the community's boundary: one end tells
        keep = hit | shapely.contains_xy(community_m, seg[:, 0, 0], seg[:, 0, 1])
        # the noder rounds the noded lines' vertices to the grid; GEOS rounds the chains'
        # the same way, so they meet the noded lines at identical points
        free = _chains(seg[keep], ~hit[keep])
        free = shapely.set_precision(free, GRID_M, mode="pointwise") if len(free) else free
        faces, reps = inside(
            shapely.get_parts(shapely.polygonize(np.concatenate([shapely.get_parts(noded), free, rounded])))
        )
        got = float(shapely.area(faces).sum())
        area = float(shapely.area(community_m))
        if abs(got - area) <= 1e-7 * area + 1e-3:
            return faces, reps
        log.debug("cells: faces do not add up to the community (%.3f of %.3f m2); noding all ridges", got, area)
    noded = shapely.union_all(np.concatenate([ridges, parts]) if len(ridges) else parts, grid_size=GRID_M)
    return inside(shapely.get_parts(shapely.polygonize([noded])))


def _chains(seg: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The ridges ``seg[free]`` as line strings merged through their two-ridge nodes.

    Polygonize builds a graph node at every line end, so 47,000 ridges of one community
    cost it three times what the same ridges merged into chains do. A chain passes through
    a point where exactly two ridges end, both free (a ridge that is noded elsewhere
    keeps its end as a node). Ridges share end points exactly (see
    :func:`_voronoi_ridges`), so the merged lines have the same vertices and the faces are
    the same.

    The chains are ordered without a Python loop over ridges: each free ridge is two
    directed darts, a dart's successor is the other ridge at its head when that is a
    pass-through node, and pointer jumping (list ranking) gives every dart its chain's
    first dart and its rank there in a logarithmic number of array steps. Closed loops of
    pass-through nodes (rare: no chain end to start from) are walked one by one.
    """
    m = len(seg)
    fi = np.flatnonzero(free)
    nf = len(fi)
    if nf == 0:
        return np.zeros(0, dtype=object)
    ends = np.ascontiguousarray(seg.reshape(2 * m, 2))
    node, uniq_c = pd.factorize(ends.view(np.complex128).ravel())
    node = node.reshape(m, 2)
    nn = len(uniq_c)
    deg = np.bincount(node.ravel(), minlength=nn)
    fnode = node[fi]  # (nf, 2): the free ridges' end nodes
    fdeg = np.bincount(fnode.ravel(), minlength=nn)
    through = (deg == 2) & (fdeg == 2)
    # the two free ridges (compact ids) at each pass-through node
    fends = fnode.ravel()
    order = np.argsort(fends, kind="stable")
    sv = fends[order]
    first = np.r_[True, sv[1:] != sv[:-1]]
    inc = np.full((nn, 2), -1, dtype=np.int64)
    ridge_of = order // 2
    inc[sv[first], 0] = ridge_of[first]
    second = ~first & np.r_[False, first[:-1]]
    inc[sv[second], 1] = ridge_of[second]
    # darts: 2j runs fnode[j, 0] -> fnode[j, 1], 2j + 1 the other way
    nd = 2 * nf
    dart = np.arange(nd)
    tail = fnode.ravel()  # tail of dart d is fnode[d // 2, d % 2]
    head = fnode[:, ::-1].ravel()
    j = dart // 2
    other = np.where(inc[head, 0] == j, inc[head, 1], inc[head, 0])
    other_dart = 2 * other + (fnode[np.maximum(other, 0), 0] != head)
    nxt = np.where(through[head], other_dart, -1)
    prv = np.where(nxt[dart ^ 1] >= 0, nxt[dart ^ 1] ^ 1, -1)
    # list ranking: ptr -> the chain's first dart, rank -> distance from it
    ptr = np.where(prv >= 0, prv, dart)
    rank = (prv >= 0).astype(np.int64)
    for _ in range(int(nd).bit_length() + 1):
        rank = rank + rank[ptr]
        ptr = ptr[ptr]
    on_path = prv[ptr] < 0
    # each open chain is found from both ends: keep the direction whose first dart is lower
    term = np.flatnonzero(on_path & (nxt < 0))
    keep_start = np.zeros(nd, dtype=bool)
    keep_start[ptr[term][ptr[term] < (term ^ 1)]] = True
    sel = np.flatnonzero(on_path & keep_start[ptr])
    sel = sel[np.lexsort((rank[sel], ptr[sel]))]
    h = ptr[sel]
    new_chain = np.r_[True, h[1:] != h[:-1]]
    cid = np.cumsum(new_chain) - 1
    nc = int(cid[-1]) + 1 if len(cid) else 0
    verts = np.empty(len(sel) + nc, dtype=np.int64)
    verts[np.arange(len(sel)) + cid] = tail[sel]
    last = np.r_[new_chain[1:], True]
    verts[np.flatnonzero(last) + cid[last] + 1] = head[sel[last]]
    which = np.repeat(np.arange(nc), np.bincount(cid, minlength=nc) + 1)
    # closed loops: walk them
    loops: list[list[int]] = []
    left = np.zeros(nf, dtype=bool)
    left[j[~on_path]] = True
    if left.any():
        used = ~left
        inc_l, fnode_l = inc.ravel().tolist(), fnode.ravel().tolist()
        for e in np.flatnonzero(left).tolist():
            if used[e]:
                continue
            v = fnode_l[2 * e]
            seq = [v]
            while not used[e]:
                used[e] = True
                a = fnode_l[2 * e]
                v = fnode_l[2 * e + 1] if a == v else a
                seq.append(v)
                e1 = inc_l[2 * v]
                e = inc_l[2 * v + 1] if e1 == e else e1
            loops.append(seq)
    if loops:
        verts = np.concatenate([verts, np.fromiter((v for c in loops for v in c), dtype=np.int64)])
        which = np.concatenate([which, nc + np.repeat(np.arange(len(loops)), [len(c) for c in loops])])
    uniq = np.stack([uniq_c.real, uniq_c.imag], axis=1)
    return shapely.linestrings(uniq[verts], indices=which)


def _voronoi_ridges(pts: np.ndarray, nreal: int, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi ridges between points of different owners, as ``(m, 2, 2)`` segments.

    Also returns, per ridge, whether an end point is a borrowed circumcentre (see below);
    such a ridge may cross a neighbouring one and must be noded.

    Derived from the Delaunay triangulation: the ridge dual to an edge joins the circumcentres
    of the two triangles sharing it.  This skips building Voronoi regions and is about twice as
    fast as ``scipy.spatial.Voronoi``.  Points sampled along straight walls are often
    (nearly) cocircular, and a triangulation of such points may hold flat triangles,
    whose circumcentre is meaningless.  A flat triangle takes the circumcentre of the triangle
    across its longest edge (the facet's centre, up to rounding), so its ridges shrink to
    nothing instead of shooting across the map.  Circumcentres are snapped to 10 µm so that
    those of cocircular points coincide and their zero-length ridges are dropped; each is
    computed once, so ridges meet exactly at shared end points.  Only the first ``nreal``
    points are real; the rest are a far frame.
    """
    simp, nb = _delaunay(pts)
    p = pts[simp]  # (t, 3, 2)
    ax, ay = p[:, 0, 0], p[:, 0, 1]
    bx, by = p[:, 1, 0], p[:, 1, 1]
    qx, qy = p[:, 2, 0], p[:, 2, 1]
    d = 2.0 * (ax * (by - qy) + bx * (qy - ay) + qx * (ay - by))
    a2, b2, q2 = ax * ax + ay * ay, bx * bx + by * by, qx * qx + qy * qy
    # edge i is opposite vertex i
    el = np.stack([np.hypot(bx - qx, by - qy), np.hypot(qx - ax, qy - ay), np.hypot(ax - bx, ay - by)], axis=1)
    longest = el.max(axis=1)
    flat = np.abs(d) <= 1e-9 * longest * longest
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (a2 * (by - qy) + b2 * (qy - ay) + q2 * (ay - by)) / d
        uy = (a2 * (qx - bx) + b2 * (ax - qx) + q2 * (bx - ax)) / d
    cc = np.stack([ux, uy], axis=1)
    if flat.any():
        across = nb[np.arange(len(simp)), el.argmax(axis=1)]
        src = np.flatnonzero(flat)
        good = np.zeros(len(simp), dtype=bool)
        good[~flat] = True
        tgt = across[src]
        for _ in range(8):  # chains of flat triangles
            ok = (tgt >= 0) & good[np.maximum(tgt, 0)]
            if ok.all():
                break
            nxt = np.where((tgt >= 0) & ~ok, across[np.maximum(tgt, 0)], tgt)
            tgt = np.where(ok, tgt, nxt)
        ok = (tgt >= 0) & good[np.maximum(tgt, 0)]
        cc[src[ok]] = cc[tgt[ok]]
        cc[src[~ok]] = np.nan  # their ridges are dropped
    cc = np.round(cc, 5)
    moved = flat  # triangles whose circumcentre was borrowed: their ridges get noded
    t = np.repeat(np.arange(len(simp)), 3)
    i = np.tile(np.arange(3), len(simp))
    o = nb[t, i]
    keep = o > t  # each interior edge once (hull edges have o == -1)
    t, i, o = t[keep], i[keep], o[keep]
    e0 = simp[t, (i + 1) % 3]
    e1 = simp[t, (i + 2) % 3]
    keep = (e0 < nreal) & (e1 < nreal)
    t, o, e0, e1 = t[keep], o[keep], e0[keep], e1[keep]
    keep = owner[e0] != owner[e1]
    seg = np.stack([cc[t[keep]], cc[o[keep]]], axis=1)
    approx = moved[t[keep]] | moved[o[keep]]
    ok = np.isfinite(seg).all(axis=(1, 2)) & (seg[:, 0] != seg[:, 1]).any(axis=1)
    return seg[ok], approx[ok]


def _delaunay(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay triangulation of ``pts``: ``(t, 3)`` vertex indices and ``(t, 3)``
    neighbours (``nb[t, i]``: the triangle across the edge opposite vertex ``i``, -1 on
    the hull), as ``scipy.spatial.Delaunay`` gives them.

    GEOS triangulates 58,000 points in 0.2 s against Qhull's 0.5 s; matching its corners
    back to the points and pairing the triangles on shared edges costs less than the
    difference.
    """
    # One line string through the points is built straight from the coordinates (a multipoint
    # makes a point object per point first); GEOS triangulates the distinct vertices of any
    # geometry alike. The triangles' corners are read from the collection at once.
    tri = shapely.delaunay_triangles(shapely.linestrings(pts) if len(pts) >= 2 else shapely.multipoints(pts))
    xy = shapely.get_coordinates(tri).reshape(-1, 4, 2)[:, :3]
    key = pd.Index(pts[:, 0] + 1j * pts[:, 1])
    simp = key.get_indexer((xy[..., 0] + 1j * xy[..., 1]).ravel()).reshape(-1, 3)
    if len(simp) == 0 or (simp < 0).any():  # not expected; Qhull is the safe way back
        from scipy.spatial import Delaunay

        log.debug("cells: GEOS triangulation did not match the points; using Qhull")
        tri = Delaunay(pts)
        return tri.simplices.astype(np.int64), tri.neighbors.astype(np.int64)
    t = len(simp)
    # edge opposite vertex i joins vertices i+1 and i+2; a shared edge pairs two triangles
    a = simp[:, [1, 2, 0]]
    b = simp[:, [2, 0, 1]]
    k = (np.minimum(a, b).astype(np.int64) * len(pts) + np.maximum(a, b)).ravel()
    o = np.argsort(k, kind="stable")
    ks = k[o]
    nb = np.full(3 * t, -1, dtype=np.int64)
    pair = np.flatnonzero(ks[:-1] == ks[1:])
    nb[o[pair]] = o[pair + 1] // 3
    nb[o[pair + 1]] = o[pair] // 3
    return simp.astype(np.int64), nb.reshape(t, 3)


def _dissolve(faces: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    """The union of each building's faces (``label``), an empty polygon for a building
    without any.  Groups of one size are united in one vectorised call."""
    cells = np.empty(n, dtype=object)
    cells[:] = shapely.Polygon()
    order = np.argsort(label, kind="stable")
    lab_sorted = label[order]
    if len(order):
        start = np.flatnonzero(np.r_[True, lab_sorted[1:] != lab_sorted[:-1]])
    else:
        start = np.zeros(0, dtype=np.int64)
    size = np.diff(np.r_[start, len(order)])
    for s in np.unique(size).tolist():
        st = start[size == s]
        idx = order[st[:, None] + np.arange(s)]  # (groups, s) faces, in face order
        b = label[idx[:, 0]]
        if s == 1:
            u = faces[idx[:, 0]]
        elif s == 2:
            u = _fill_holes(faces[idx[:, 0]], faces[idx[:, 1]])
            rest = u == None  # noqa: E711 - elementwise
            u[rest] = shapely.coverage_union_all(faces[idx[rest]], axis=1)
        else:
            u = shapely.coverage_union_all(faces[idx], axis=1)
        single = (shapely.get_type_id(u) == 6) & (shapely.get_num_geometries(u) == 1)
        u[single] = shapely.get_geometry(u[single], 0)
        cells[b] = u
    return cells


def _fill_holes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The union of faces ``a[i]`` and ``b[i]`` where one fills the other's only hole (a
    footprint's face in the face around it: most buildings' two faces), else None.

    The union is then the outer face's shell, with no overlay.  A face fills the hole when
    it lies inside it and has its area: faces of one arrangement do not overlap.
    """
    out = np.full(len(a), None, dtype=object)
    for x, y in ((a, b), (b, a)):
        m = (shapely.get_num_interior_rings(x) == 1) & (shapely.get_num_interior_rings(y) == 0)
        m &= (shapely.get_type_id(x) == 3) & (shapely.get_type_id(y) == 3) & (out == None)  # noqa: E711
        i = np.flatnonzero(m)
        if not len(i):
            continue
        hole = shapely.polygons(shapely.get_interior_ring(x[i], 0))
        ya = shapely.area(y[i])
        ok = np.abs(shapely.area(hole) - ya) <= 1e-9 * ya + 1e-12
        ok &= shapely.contains_properly(hole, shapely.point_on_surface(y[i]))
        out[i[ok]] = shapely.polygons(shapely.get_exterior_ring(x[i[ok]]))
    return out


def polygonal_part(g: BaseGeometry) -> BaseGeometry:
    """The polygonal part of ``g`` (an empty Polygon when it has none)."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _fix_pieces(
    faces: np.ndarray, fa: np.ndarray, label: np.ndarray, in_fp: np.ndarray, outer: float | None = None
) -> np.ndarray:
    """Reassign faces so that every building's cell is one piece where possible.

    For each building the connected group of faces holding most of its footprint (or, without
    footprint, the largest) stays; every other group of its faces goes to the neighbouring
    building sharing the longest boundary with it.  ``in_fp`` marks the faces inside a
    footprint; ``outer`` is the length of the faces' outer boundary (the community's), computed
    when not given.
    """
    nf = len(faces)
    if nf < 2:
        return label
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from geo.partition.graph import shared_edges

    # faces of one planar arrangement share their vertices (shared_edges checks it)
    pairs, shared = shared_edges(faces, outer=outer)
    m = shared > 1e-9
    a, b, shared = pairs[m, 0], pairs[m, 1], shared[m]
    label = label.copy()
    fp_area = np.where(in_fp, fa, 0.0)
    for _round in range(50):
        same = label[a] == label[b]
        g = coo_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(nf, nf))
        ncomp, comp = connected_components(g, directed=False)
        # components per label: a label with several needs fixing
        comp_label = np.empty(ncomp, dtype=np.int64)
        comp_label[comp] = label
        per_label = np.bincount(comp_label - comp_label.min())
        multi = per_label[comp_label - comp_label.min()] > 1
        if not multi.any():
            break
        c_fp = np.bincount(comp, weights=fp_area, minlength=ncomp)
        c_area = np.bincount(comp, weights=fa, minlength=ncomp)
        cand = np.flatnonzero(multi)
        # best component per label: most footprint area, then area, then lowest id
        order = np.lexsort((cand, -c_area[cand], -c_fp[cand], comp_label[cand]))
        cs = cand[order]
        first = np.ones(len(cs), dtype=bool)
        first[1:] = comp_label[cs[1:]] != comp_label[cs[:-1]]
        orphan = np.zeros(ncomp, dtype=bool)
        orphan[cs[~first]] = True
        # each orphan face votes for its neighbours' labels (not orphans) by shared length
        fo = orphan[comp]
        changed = False
        votes: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for x, y, sl in ((a, b, shared), (b, a, shared)):
            mm = fo[x] & ~fo[y] & (label[x] != label[y])
            for cx, ly, s_ in zip(comp[x[mm]].tolist(), label[y[mm]].tolist(), sl[mm].tolist(), strict=False):
                votes[cx][ly] += s_
        for c in np.flatnonzero(orphan).tolist():
            tally = votes.get(c)
            if tally:
                tgt = max(sorted(tally), key=lambda k: tally[k])
                label[comp == c] = tgt
                changed = True
        if not changed:
            log.warning("cells: some building cells stay in several pieces (community in parts?)")
            break
    return label


def building_cells(
    footprints: gpd.GeoSeries,
    community: BaseGeometry,
    roads: gpd.GeoSeries | None = None,
) -> gpd.GeoSeries:
    """Tessellate a community into one cell per building footprint.

    Parameters
    ----------
    footprints:
        Building footprints (Polygon/MultiPolygon) in EPSG:4326 (a GeoSeries without CRS is
        taken to be EPSG:4326).
    community:
        The community polygon in EPSG:4326.
    roads:
        Optional road lines in EPSG:4326; cell boundaries then bend to follow them (a cell
        does not reach across a road to a building when a nearer-than-road sample exists).

    Returns
    -------
    geopandas.GeoSeries
        Polygon cells in EPSG:4326, same index as ``footprints``.  The cells tile the community
        (valid coverage, union equal to the community).  A cell is one polygon containing its
        whole (clipped) footprint except in degenerate cases (a footprint wholly inside another
        gets an empty polygon; a community in several parts may leave multi-part cells), which
        are logged.

    Raises
    ------
    PartitionError
        If the community is empty or no footprint is near it.
    """
    if community is None or shapely.is_empty(community):
        raise PartitionError("The community polygon is empty: cannot build cells.")
    crs = footprints.crs or WGS84
    if len(footprints) == 0:
        return gpd.GeoSeries([], index=footprints.index, crs=crs)
    utm = utm_crs_for(community, WGS84 if footprints.crs is None else crs)
    fps_m = gpd.GeoSeries(footprints.values, crs=crs).to_crs(utm).values
    com_m = gpd.GeoSeries([community], crs=crs).to_crs(utm).iloc[0]
    roads_m = None
    if roads is not None and len(roads):
        roads_m = gpd.GeoSeries(roads.values, crs=roads.crs or WGS84).to_crs(utm).values
        roads_m = np.asarray(roads_m, dtype=object)
    cells_m = _cells_metric(np.asarray(fps_m, dtype=object), com_m, roads_m)
    out = gpd.GeoSeries(cells_m, crs=utm).to_crs(crs)
    out.index = footprints.index
    n_multi = int((out.geom_type == "MultiPolygon").sum())
    n_empty = int(out.is_empty.sum())
    if n_multi or n_empty:
        log.warning("cells: %d multi-part and %d empty cells of %d", n_multi, n_empty, len(out))
    return out
