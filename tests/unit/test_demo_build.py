"""The demo builder's pieces on tiny geometry, and the shipped demo dataset against its promises."""

from __future__ import annotations

from datetime import datetime, timedelta

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.demo import build, dataset
from geo.demo.build_names import community_names, pinyin, street_names
from geo.incidents import states as sm

# ----------------------------------------------------------------------------- builder pieces


def test_polygonize_lines_makes_road_blocks() -> None:
    # a "#" of four roads crossing, with dangling ends: one closed block in the middle
    lines = np.array([
        shapely.LineString([(0, 10), (30, 10)]), shapely.LineString([(0, 20), (30, 20)]),
        shapely.LineString([(10, 0), (10, 30)]), shapely.LineString([(20, 0), (20, 30)]),
    ])
    blocks = build.polygonize_lines(lines)
    assert len(blocks) == 1
    assert blocks[0].area == pytest.approx(100.0)


def test_adjacency_needs_a_shared_edge() -> None:
    a, b, c = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 1, 3, 2)
    g = build.adjacency(np.array([a, b, c]), min_shared_m=0.5)
    assert set(g.edges) == {(0, 1)}  # b and c touch at a corner only
    assert g.edges[0, 1]["shared"] == pytest.approx(1.0)


def test_tree_partition_three_by_three() -> None:
    g = nx.grid_2d_graph(3, 3)
    g = nx.convert_node_labels_to_integers(g, label_attribute="xy")
    pos = {n: g.nodes[n]["xy"] for n in g.nodes}
    weight = {n: 100.0 for n in g.nodes}
    parts = build.tree_partition(g, weight, pos, 3, (300, 300), np.random.default_rng(1))
    assert sorted(len(p) for p in parts) == [3, 3, 3]
    assert set().union(*parts) == set(g.nodes)
    for p in parts:
        assert nx.is_connected(g.subgraph(p))


def test_tree_partition_is_seeded() -> None:
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(6, 6), label_attribute="xy")
    pos = {n: g.nodes[n]["xy"] for n in g.nodes}
    weight = {n: 10.0 for n in g.nodes}
    runs = [
        build.tree_partition(g, weight, pos, 4, (70, 110), np.random.default_rng(5))
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_grow_grids_connected_and_complete() -> None:
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(10, 10), label_attribute="xy")
    xy = np.array([g.nodes[n]["xy"] for n in g.nodes], dtype=float)
    hh = np.full(100, 40)
    label = build.grow_grids(g, hh, xy, np.full(100, -1), np.random.default_rng(3))
    assert (label >= 0).all()
    for k in np.unique(label):
        assert nx.is_connected(g.subgraph(np.flatnonzero(label == k).tolist()))


def test_households_rule() -> None:
    b = pd.DataFrame({
        "building": ["apartments", "house", "yes", "yes", "yes", "industrial", "yes"],
        "levels": [9, None, 1, 12, None, 3, None],
        "in_residential_landuse": [0, 0, 0, 0, 1, 0, 0],
    })
    area = np.array([1000.0, 120.0, 150.0, 600.0, 400.0, 5000.0, 150.0])
    est = build.estimate_households(b, area)
    assert est["households"].tolist() == [75, 1, 1, 60, 20, 0, 0]
    assert est["use"].tolist()[:2] == ["residential", "residential"]
    assert est["use"].iat[5] == "industrial"
    assert est["floors"].isna().tolist() == [False, True, False, False, True, False, True]


def test_reading_order_north_to_south_west_to_east() -> None:
    xy = np.array([[10, 0], [0, 0], [10, 100], [0, 100]], dtype=float)
    assert build.reading_order(xy, 50).tolist() == [3, 2, 1, 0]


def test_names() -> None:
    rng = np.random.default_rng(0)
    s = street_names(4, rng)
    assert all(n.endswith("街道") and e.endswith(" Street") for n, e in s)
    c = community_names(20, rng)
    assert len({n for n, _ in c}) == 20
    assert pinyin("和平") == "Heping" and pinyin("朝阳") == "Chaoyang"


# ----------------------------------------------------------------------------- shipped dataset


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return dataset.read_all()


@pytest.fixture(scope="module")
def meta() -> dict:
    return dataset.read_meta()


@pytest.fixture(scope="module")
def utm(demo):
    return demo["districts"].estimate_utm_crs()


def test_meta(meta) -> None:
    assert "OpenStreetMap" in meta["attribution"] and "ODbL" in meta["attribution"]
    assert datetime.fromisoformat(meta["reference_time"].replace("Z", "+00:00")).tzinfo
    assert "households" in meta["households_rule"].lower() or "footprint" in meta[
        "households_rule"]


def test_small_enough_to_ship() -> None:
    data = dataset.DEMO_DIR.parent
    total = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024
    assert (data / "LICENSE-ODbL").is_file() and (data / "README.md").is_file()


def test_layers_and_columns(demo) -> None:
    assert tuple(demo) == dataset.LAYERS
    for name, frame in demo.items():
        assert list(frame.columns[: len(dataset.COLUMNS[name])]) == list(dataset.COLUMNS[name])
        if name in dataset.GEOMETRY_LAYERS:
            assert frame.crs.to_epsg() == 4326
            assert shapely.is_valid(frame.geometry.values).all(), name
        if "code" in frame.columns:
            assert frame["code"].is_unique, name


def test_coordinates_rounded(demo) -> None:
    xy = shapely.get_coordinates(demo["buildings"].geometry.values[:2000])
    assert np.allclose(xy, np.round(xy, 7), atol=1e-12)


def test_hierarchy_codes(demo) -> None:
    d = demo["districts"]
    assert len(d) == 1 and d["code"].iat[0] == build.DISTRICT_CODE
    assert (d["name"].iat[0], d["name_en"].iat[0]) == ("示范区", "Demo District")
    s, c, g = demo["streets"], demo["communities"], demo["grids"]
    assert len(s) >= 4
    assert s["code"].str.fullmatch(r"990100\d{3}").all()
    assert len(c) >= 16
    assert c["code"].str.fullmatch(r"\d{12}").all()
    assert (c["code"].str[:9] == c["street_code"]).all()
    assert c["street_code"].isin(s["code"]).all()
    assert g["code"].str.fullmatch(r"\d{15}").all()
    assert (g["code"].str[:12] == g["community_code"]).all()
    assert (g["code"].str[12:].astype(int) == g["seq"]).all()
    assert s["name"].str.endswith("街道").all() and c["name"].str.endswith("社区").all()
    assert s["name_en"].notna().all() and c["name_en"].notna().all()


def test_buildings_and_households(demo) -> None:
    b = demo["buildings"]
    assert len(b) >= 25_000
    assert (b["households"] >= 0).all()
    hh = b.groupby("community_code")["households"].sum()
    assert set(hh.index) == set(demo["communities"]["code"])
    assert hh.between(3_000, 8_000).all(), hh[~hh.between(3_000, 8_000)]


def test_every_building_in_its_community(demo) -> None:
    b, c = demo["buildings"], demo["communities"]
    pts = shapely.point_on_surface(b.geometry.values)
    tree = shapely.STRtree(c.geometry.values)
    i, j = tree.query(pts, predicate="within")
    assert len(np.unique(i)) == len(b)
    assert (c["code"].to_numpy()[j] == b["community_code"].to_numpy()[i]).all()


def test_compounds(demo) -> None:
    comp, b = demo["compounds"], demo["buildings"]
    assert len(comp) >= 150
    assert comp["community_code"].isin(demo["communities"]["code"]).all()
    hh = b.dropna(subset=["compound_code"]).groupby("compound_code")["households"].sum()
    assert set(hh.index) <= set(comp["code"])
    assert (hh <= 500).mean() > 0.5
    by_code = b.dropna(subset=["compound_code"]).merge(
        comp[["code", "community_code"]], left_on="compound_code", right_on="code",
        suffixes=("", "_compound"))
    assert (by_code["community_code"] == by_code["community_code_compound"]).all()


def test_initial_grids(demo) -> None:
    g, b = demo["grids"], demo["buildings"]
    assert len(g) >= 150
    assert b["grid_code"].isin(g["code"]).all()
    assert (b["grid_code"].str[:12] == b["community_code"]).all()
    hh = b.groupby("grid_code")["households"].sum().reindex(g["code"], fill_value=0)
    out_of_band = ~hh.between(300, 500)
    assert out_of_band.mean() >= 0.30
    assert set(g["kind"]) <= {"basic", "dedicated"}


def _shared_edges(polys: np.ndarray) -> list[shapely.Geometry]:
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    out = []
    for i, j in zip(a, b, strict=False):
        if i < j:
            edge = shapely.intersection(shapely.boundary(polys[i]), shapely.boundary(polys[j]))
            if shapely.length(edge) > 1.0:
                out.append(edge)
    return out


@pytest.mark.parametrize("layer", ["communities", "streets"])
def test_internal_boundaries_follow_roads(demo, utm, layer) -> None:
    polys = demo[layer].to_crs(utm).geometry.values
    roads = demo["roads"].to_crs(utm).geometry.values
    road_tree = shapely.STRtree(roads)
    edges = _shared_edges(polys)
    assert edges
    worst = 1.0
    for edge in edges:
        # 5 m pieces; a piece counts if its midpoint is within 15 m of a road
        pieces = shapely.get_parts(shapely.segmentize(shapely.line_merge(edge), 5.0))
        segs = []
        for line in pieces:
            xy = shapely.get_coordinates(line)
            segs.extend(shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1)))
        segs = np.array(segs, dtype=object)
        lengths = shapely.length(segs)
        near = np.zeros(len(segs), bool)
        idx, _ = road_tree.query(shapely.line_interpolate_point(segs, 0.5, normalized=True),
                                 predicate="dwithin", distance=15.0)
        near[idx] = True
        worst = min(worst, lengths[near].sum() / lengths.sum())
    assert worst >= 0.80


def test_roads_layer(demo) -> None:
    r = demo["roads"]
    assert len(r) > 1000
    assert set(r.geometry.geom_type) == {"LineString"}


def test_cameras(demo) -> None:
    cam = demo["cameras"]
    assert len(cam) >= 500
    assert 0.85 <= (cam["status"] == "online").mean() <= 0.95
    assert set(cam["status"]) == {"online", "offline", "fault"}
    assert set(cam["type"]) <= {"bullet", "dome", "face"}
    assert cam["stream_url"].str.contains(".invalid/").all()
    district = demo["districts"].geometry.iat[0].buffer(1e-4)
    assert shapely.contains(district, cam.geometry.values).all()


def test_police_rooms_and_workers(demo) -> None:
    pr = demo["police_rooms"]
    assert len(pr) >= 15
    assert pr["community_code"].isin(demo["communities"]["code"]).all()
    w, g = demo["grid_workers"], demo["grids"]
    assert sorted(w["grid_code"]) == sorted(g["code"])
    assert w["phone"].str.fullmatch(r"1\d{2}\*{4}\d{4}").all()


def test_departments_and_categories(demo) -> None:
    dep, cat = demo["departments"], demo["incident_categories"]
    assert len(dep) >= 8
    top = cat[cat["parent_code"].isna()]
    assert set(top["class"]) == {"event", "component"}
    sub = cat[cat["parent_code"].notna()]
    assert sub["parent_code"].isin(top["code"]).all()
    assert sub["department_code"].isin(dep["code"]).all()
    assert cat["name_en"].notna().all()


def _ts(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


def test_incidents_window_and_open(demo, meta) -> None:
    inc = demo["incidents"]
    ref = pd.Timestamp(meta["reference_time"])
    assert len(inc) >= 2_000
    rep = _ts(inc["reported_at"])
    assert (rep <= ref).all() and (rep >= ref - timedelta(days=90)).all()
    open_ = inc["closed_at"].isna()
    assert 100 <= open_.sum() <= 200
    assert (~open_ == inc["state"].isin(sorted(sm.CLOSED_STATES))).all()
    due = _ts(inc["due_at"])
    overdue = open_ & due.notna() & (due < ref) & inc["handled_at"].isna()
    assert overdue.sum() > 0
    assert inc["category_code"].isin(demo["incident_categories"]["code"]).all()
    assert shapely.contains(demo["districts"].geometry.iat[0], inc.geometry.values).all()


def test_incident_histories_replay(demo) -> None:
    inc = demo["incidents"].set_index("code")
    ev = demo["incident_events"]
    assert set(ev["incident_code"]) == set(inc.index)
    ev = ev.assign(at=_ts(ev["at"]))
    for code, rows in ev.groupby("incident_code", sort=False):
        end = sm.replay(rows.to_dict("records"))
        row = inc.loc[code]
        assert (end.state, end.level) == (row["state"], row["level"]), code
        assert end.closed_level == row["closed_level"], code
        if row["dispatched_at"] is not None:
            assert _ts(pd.Series([row["due_at"]]))[0] == sm.due_at(
                _ts(pd.Series([row["dispatched_at"]]))[0], row["severity"])


@pytest.mark.parametrize("layer", ["incidents", "cameras", "police_rooms"])
def test_points_lie_inside_one_community(demo, layer) -> None:
    # community boundaries run along road centrelines: a point exactly on one has no grid
    pts = demo[layer].geometry.values
    tree = shapely.STRtree(demo["communities"].geometry.values)
    i, _ = tree.query(pts, predicate="within")
    assert np.bincount(i, minlength=len(pts)).tolist() == [1] * len(pts)
