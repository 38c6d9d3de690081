"""Steps of the cells: the GEOS triangulation and the chains of free Voronoi ridges."""

from __future__ import annotations

import numpy as np
import shapely

from geo.partition.cells import _chains, _voronoi_ridges


def _segments(lines) -> list[tuple]:
    """Every segment of ``lines`` as a sorted pair of end points."""
    out = []
    for line in lines:
        xy = shapely.get_coordinates(line)
        out.extend(tuple(sorted((tuple(p), tuple(q)))) for p, q in zip(xy[:-1], xy[1:], strict=False))
    return sorted(out)


def test_hand_case_breaks_at_branches_and_noded_ends_and_keeps_loops():
    A, B, C, D, E, F = (0, 0), (1, 0), (2, 0), (3, 0), (2, 1), (4, 0)
    P, Q, R = (10, 10), (11, 10), (10, 11)
    seg = np.array([[A, B], [B, C], [C, D], [C, E], [D, F], [P, Q], [Q, R], [R, P]], dtype=float)
    free = np.array([True, True, True, True, False, True, True, True])
    lines = _chains(seg, free)
    got = sorted(tuple(map(tuple, shapely.get_coordinates(g))) for g in lines)
    # A-B-C is one chain; C branches (three ridges) and D ends a noded ridge (D-F)
    assert ((0, 0), (1, 0), (2, 0)) in got or ((2, 0), (1, 0), (0, 0)) in got
    assert len(got) == 4
    loop = [c for c in got if (10.0, 10.0) in c][0]
    assert len(loop) == 4 and loop[0] == loop[-1]  # the triangle P-Q-R, closed
    assert _segments(lines) == _segments(shapely.linestrings(seg[free]))


def test_random_voronoi_ridges_give_the_same_segments_and_faces():
    rng = np.random.default_rng(7)
    pts = rng.uniform(0, 100, (400, 2))
    frame = np.array([[-500, -500], [600, -500], [600, 600], [-500, 600]], dtype=float)
    owner = rng.integers(0, 40, 400)
    seg, _ = _voronoi_ridges(np.vstack([pts, frame]), 400, owner)
    free = rng.random(len(seg)) < 0.8
    merged = _chains(seg, free)
    assert len(merged) < free.sum()  # something was merged
    assert _segments(merged) == _segments(shapely.linestrings(seg[free]))
    box = shapely.box(0, 0, 100, 100).boundary
    rest = shapely.get_parts(shapely.union_all(np.r_[shapely.linestrings(seg[~free]), box]))
    plain = shapely.get_parts(shapely.polygonize(np.r_[rest, shapely.linestrings(seg[free])]))
    chained = shapely.get_parts(shapely.polygonize(np.r_[rest, merged]))
    assert len(plain) == len(chained)
    a = sorted(np.round(shapely.area(plain), 9))
    b = sorted(np.round(shapely.area(chained), 9))
    assert a == b


def test_delaunay_matches_scipy():
    """The GEOS triangulation gives the triangles and neighbour table scipy's Qhull does."""
    from scipy.spatial import Delaunay

    from geo.partition.cells import _delaunay

    pts = np.random.default_rng(3).uniform(0, 100, (300, 2))
    simp, nb = _delaunay(pts)
    ref = Delaunay(pts)
    assert sorted(map(tuple, np.sort(simp, axis=1))) == sorted(map(tuple, np.sort(ref.simplices, axis=1)))
    for t in range(len(simp)):
        for i in range(3):
            o = nb[t, i]
            edge = set(simp[t]) - {simp[t, i]}
            if o < 0:  # a hull edge: no other triangle holds it
                assert sum(edge <= set(s) for s in simp) == 1
            else:
                assert edge <= set(simp[o]) and o != t


def test_delaunay_falls_back_to_qhull_when_corners_do_not_match(monkeypatch):
    """Should GEOS ever return a corner that is not one of the points, Qhull triangulates."""
    from scipy.spatial import Delaunay

    import geo.partition.cells as cells

    pts = np.random.default_rng(4).uniform(0, 100, (50, 2))
    real = shapely.delaunay_triangles
    monkeypatch.setattr(cells.shapely, "delaunay_triangles",
                        lambda g: shapely.affinity.translate(real(g), 1e-3, 0))
    simp, nb = cells._delaunay(pts)
    ref = Delaunay(pts)
    assert (simp == ref.simplices).all() and (nb == ref.neighbors).all()


def test_long_chains_and_several_loops_keep_every_segment_once():
    """Chains of hundreds of ridges (many pointer-jumping rounds) and separate closed loops."""
    path = [((float(i), 0.0), (float(i + 1), 0.0)) for i in range(700)]
    square = [((0, 10), (1, 10)), ((1, 10), (1, 11)), ((1, 11), (0, 11)), ((0, 11), (0, 10))]
    tri = [((5, 10), (6, 10)), ((6, 10), (5, 11)), ((5, 11), (5, 10))]
    seg = np.array(path + square + tri, dtype=float)
    lines = _chains(seg, np.ones(len(seg), dtype=bool))
    assert len(lines) == 3
    lengths = sorted(len(shapely.get_coordinates(g)) for g in lines)
    assert lengths == [4, 5, 701]  # loops are closed: first point repeated
    assert all(shapely.is_closed(g) for g in lines if len(shapely.get_coordinates(g)) < 10)
    assert _segments(lines) == _segments(shapely.linestrings(seg))


def test_fill_holes_takes_the_shell_only_where_one_face_fills_the_other_hole():
    from geo.partition.cells import _fill_holes

    ring = shapely.box(0, 0, 10, 10).difference(shapely.box(3, 3, 6, 6))
    inner = shapely.box(3, 3, 6, 6)
    small = shapely.box(3, 3, 4, 4)  # inside the hole, but does not fill it
    beside = shapely.box(10, 0, 13, 3)  # the hole's area, outside it
    a = np.array([ring, inner, ring, ring], dtype=object)
    b = np.array([inner, ring, small, beside], dtype=object)
    got = _fill_holes(a, b)
    assert got[0].equals(shapely.box(0, 0, 10, 10)) and got[1].equals(shapely.box(0, 0, 10, 10))
    assert got[2] is None and got[3] is None


def test_fix_split_matches_the_fix_over_every_face():
    """Fixing the split buildings and their neighbours gives the cells that fixing every face
    of the community gives."""
    from geo.partition.cells import _dissolve, _fix_pieces, _fix_split

    # 6 x 6 unit faces; building b owns column-pairs, building 0 also owns a stray face
    faces = np.array([shapely.box(x, y, x + 1, y + 1) for y in range(6) for x in range(6)], dtype=object)
    label = np.array([(f % 6) // 2 + 3 * ((f // 6) // 3) for f in range(36)], dtype=np.int64)
    label[6 * 4 + 5] = 0  # a face of building 0 far from its other faces
    fa = shapely.area(faces)
    in_fp = np.zeros(36, dtype=bool)
    n = 7  # building 6 has no face
    cells = _dissolve(faces, label, n)
    split = shapely.get_num_geometries(cells) > 1
    assert split.tolist() == [True] + [False] * 6
    got = _fix_split(cells, split, faces, fa, label, in_fp)
    want = _dissolve(faces, _fix_pieces(faces, fa, label, in_fp), n)
    assert all(g.equals(w) for g, w in zip(got, want, strict=True))
    assert (shapely.get_num_geometries(got) <= 1).all()


def test_loose_footprints_skip_the_noder_with_the_same_faces(monkeypatch):
    """Footprint rings that nothing comes near are only rounded: the faces equal those of
    noding every line."""
    import geo.partition.cells as cells
    from geo.partition.cells import _faces, _voronoi_ridges

    noded: list[int] = []
    real_union = shapely.union_all

    def union_all(geoms, **kw):
        noded.append(len(geoms))
        return real_union(geoms, **kw)

    monkeypatch.setattr(cells.shapely, "union_all", union_all)

    rng = np.random.default_rng(11)
    com = shapely.box(0, 0, 200, 200)
    fps = [shapely.box(x, y, x + rng.uniform(5, 12), y + rng.uniform(5, 12))
           for x in range(10, 190, 30) for y in range(10, 190, 30)]
    fps += [shapely.box(40, 10, 45, 15)]  # touches a neighbour: must be noded
    fps = np.array(fps, dtype=object)
    bnd = shapely.boundary(fps)
    dense = shapely.segmentize(bnd, 2.0)
    xy, owner = shapely.get_coordinates(dense, return_index=True)
    _, keep = np.unique(xy, axis=0, return_index=True)  # rings repeat their first point
    keep.sort()
    xy, owner = xy[keep], owner[keep]
    frame = np.array([[-600, -600], [800, -600], [800, 800], [-600, 800]], dtype=float)
    seg, approx = _voronoi_ridges(np.vstack([xy, frame]), len(xy), owner)
    lines = np.concatenate([[shapely.boundary(com)], bnd])
    loose = np.r_[False, np.ones(len(bnd), dtype=bool)]
    f1, _ = _faces(seg, approx, lines, com, loose)
    f0, _ = _faces(seg, approx, lines, com, None)
    assert noded[0] < noded[1]  # some footprints skipped the noder
    assert noded[1] - noded[0] < len(fps) - 1  # not the two that touch
    assert len(f1) == len(f0)
    key = lambda fs: sorted(np.round(shapely.area(fs), 6).tolist())  # noqa: E731
    assert key(f1) == key(f0)
    assert abs(float(shapely.area(f1).sum()) - com.area) < 1e-6
