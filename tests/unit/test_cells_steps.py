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
