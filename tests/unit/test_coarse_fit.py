"""Coarse copies fitted per community (geo.coarse): a community's grids, simplified on their
own, tile its simplified outline exactly, and the outlines of neighbours share their edges;
no database."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon, box

from geo import coarse


def _jagged_split(x0: float, x1: float, y0: float, y1: float, xm: float, teeth: int = 40) -> tuple:
    """The box cut in two by a zigzag line near ``x = xm`` (a Voronoi-like edge)."""
    ys = np.linspace(y0, y1, teeth + 1)
    zig = [(xm + (1.5 if i % 2 else -1.5), y) for i, y in enumerate(ys)]
    left = Polygon([(x0, y0), *zig, (x0, y1)])
    right = Polygon([(x1, y0), (x1, y1), *zig[::-1]])
    return left, right


def test_grids_tile_an_outline_that_bulges_out_and_cuts_in():
    left, right = _jagged_split(0, 400, 0, 300, 200)
    # the simplified outline: one corner pushed out 6 m, the opposite cut in by 5 m, a
    # vertex added on the bottom edge out of line
    outline = Polygon([(-6, -6), (200, -3), (400, 0), (400, 295), (395, 300), (0, 300)])
    cleaned = shapely.coverage_clean(np.array([left, right], dtype=object), snapping_distance=coarse.SNAP_M)
    fitted, ok = coarse.fit_grids(cleaned, outline, 8.0)
    assert ok and len(fitted) == 2
    assert all(g.is_valid and not g.is_empty for g in fitted)
    assert abs(sum(g.area for g in fitted) - outline.area) < 1e-6 * outline.area
    assert shapely.symmetric_difference(shapely.union_all(fitted), outline).area < 1e-6 * outline.area
    # the strip beyond the bottom-left corner goes to the left grid, the cut corner leaves the right
    assert fitted[0].contains(shapely.Point(-3, -2)) and not fitted[1].contains(shapely.Point(398, 299))
    # the shared edge is simplified: the zigzag's 41 vertices are gone
    edge = shapely.intersection(fitted[0].boundary, fitted[1].boundary)
    assert shapely.get_num_coordinates(edge) < 10


def test_neighbouring_communities_grids_meet_without_gaps_or_overlaps():
    # two communities side by side, each cut in two grids by a zigzag; their shared edge is
    # itself jagged, so the outlines' simplification moves it
    a_l, a_r = _jagged_split(0, 300, 0, 300, 150)
    b_l, b_r = _jagged_split(300, 600, 0, 300, 450)
    ys = np.linspace(0, 300, 31)
    seam = [(300 + (2.0 if i % 2 else -2.0), y) for i, y in enumerate(ys)]
    com_a = Polygon([(0, 0), *seam, (0, 300)])
    com_b = Polygon([(600, 0), (600, 300), *seam[::-1]])
    grids = [g.intersection(com_a) for g in (a_l, a_r)] + [g.intersection(com_b) for g in (b_l, b_r)]
    grids[1] = shapely.union_all([grids[1], com_a.difference(box(0, 0, 298, 300))]).intersection(com_a)
    grids[2] = shapely.union_all([grids[2], com_b.difference(box(302, 0, 600, 300))]).intersection(com_b)
    crs = "EPSG:32643"
    coms = gpd.GeoDataFrame({"code": ["990100001001", "990100001002"]}, geometry=[com_a, com_b], crs=crs)
    codes = ["990100001001001", "990100001001002", "990100001002001", "990100001002002"]
    frame = gpd.GeoDataFrame({"code": codes}, geometry=grids, crs=crs)
    copies = coarse.coarse_copies(coms.to_crs(4326), frame.to_crs(4326))
    for tol, out in copies.items():
        m = out.to_crs(crs)
        g = m[m.level == "grid"].geometry.to_numpy()
        district = m[m.level == "district"].geometry.iloc[0]
        assert len(g) == 4 and all(x.is_valid and not x.is_empty for x in g), tol
        # together the four grids are the district: no gap, no overlap (to a millionth: the
        # copies went to EPSG:4326 and back, a tenth of a millimetre along each edge)
        eps = 1e-6 * district.area
        assert abs(sum(x.area for x in g) - district.area) < eps, tol
        assert shapely.symmetric_difference(shapely.union_all(g), district).area < eps, tol
        # and each community's grids are its outline
        for code in coms["code"]:
            com = m[(m.level == "community") & (m.code == code)].geometry.iloc[0]
            mine = m[(m.level == "grid") & m.code.str.startswith(code)].geometry
            assert shapely.symmetric_difference(shapely.union_all(mine.to_numpy()), com).area < eps, (tol, code)


def test_the_copies_of_one_community_are_those_of_the_whole_district():
    a_l, a_r = _jagged_split(0, 300, 0, 300, 150)
    b_l, b_r = _jagged_split(300, 600, 0, 300, 450)
    crs = "EPSG:32643"
    coms = gpd.GeoDataFrame({"code": ["990100001001", "990100001002"]},
                            geometry=[box(0, 0, 300, 300), box(300, 0, 600, 300)], crs=crs).to_crs(4326)
    codes = ["990100001001001", "990100001001002", "990100001002001", "990100001002002"]
    frame = gpd.GeoDataFrame({"code": codes}, geometry=[a_l, a_r, b_l, b_r], crs=crs).to_crs(4326)
    whole = coarse.coarse_copies(coms, frame)
    one = coarse.coarse_copies(coms, frame[frame.code.str.startswith("990100001002")], ["990100001002"])
    for tol in coarse.TOLERANCES_M:
        w = whole[tol].set_index(["level", "code"]).geometry
        o = one[tol].set_index(["level", "code"]).geometry
        assert set(o.index) == set(w.index) - {("grid", codes[0]), ("grid", codes[1])}
        for key in o.index:
            assert shapely.to_wkb(o[key]) == shapely.to_wkb(w[key]), key
