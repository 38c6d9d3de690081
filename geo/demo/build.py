"""Build the demo district from an OpenStreetMap extract.

The derivation, step by step (every boundary below the district follows real roads):

1. **Households** per building by :data:`HOUSEHOLDS_RULE` (footprint area in UTM metres).
2. **Blocks**: the street network (residential roads and above) is noded and polygonized into
   road-bounded blocks; blocks larger than :data:`BIG_BLOCK_M2` or holding more than
   :data:`BIG_BLOCK_HOUSEHOLDS` households are split again by every minor road (service roads,
   tracks) inside them.  Each building belongs to the block holding its point on surface.
3. **District**: the connected set of road-enclosed blocks holding buildings (plus the blocks
   they enclose), i.e. the built-up area the roads close around.
4. **Communities**: the block adjacency graph (blocks sharing a road edge) is cut into
   connected parts of 3,000-8,000 households by repeated spanning-tree cuts (seeded);
   **streets** are cut the same way from the community adjacency graph.  So every internal
   boundary lies on a road centreline.
5. **Compounds** (小区): the blocks are split by every road (incl. service roads); OSM
   ``landuse=residential`` estates are cut out of those pieces as compounds of their own
   (the pieces of one estate share its name, numbered by zone); every piece holding
   housing is a compound.
6. **Initial grids**: per community, building cells (the same tessellation the loader uses)
   give a building adjacency graph; grids grow over it from the north-west with deliberately
   uneven household targets, as old hand-drawn grids are.  Each grid is connected, so the
   union of its cells is one piece.

:func:`build_demo` runs everything (plus the synthetic layers of :mod:`geo.demo.synthetic`)
and writes the shipped files; it never reads anything but ``source_gpkg``.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geo.demo import build_names as names
from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
DECIMALS = 7

DISTRICT_CODE = "990100"
"""Fictional county code: province prefix 99 is unassigned in GB/T 2260."""
DISTRICT_NAME = ("示范区", "Demo District")

ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"

HOUSEHOLDS_RULE = (
    "Apartment housing (OSM building=apartments or residential; building=yes inside "
    "landuse=residential; building=yes with 5 or more levels anywhere): "
    "round(footprint_m2 * levels * 0.75 / 90), levels = 6 where unknown. "
    "Detached houses (building=house, or building=yes with 1-2 known levels and a 40-400 m2 "
    "footprint outside landuse=residential): 1 household each. Everything else: 0. "
    "Footprint areas are measured in the local UTM zone."
)

STREET_CLASSES = frozenset({
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link", "trunk_link",
    "primary_link", "secondary_link", "tertiary_link", "residential", "unclassified",
    "living_street",
})
"""Roads that bound blocks (and hence communities and streets)."""
MINOR_CLASSES = frozenset({"service", "track", "pedestrian", "road", "construction"})
"""Roads that further split big blocks and residential blocks into compounds."""

BIG_BLOCK_M2 = 1_000_000.0
BIG_BLOCK_HOUSEHOLDS = 2_500
EMPTY_BLOCK_MAX_M2 = 2_000_000.0
"""Blocks without buildings larger than this (steppe, river) are left out of the district."""

COMMUNITY_BAND = (3_000, 8_000)
COMMUNITY_TARGET = 5_500
STREET_COUNT = 6
GRID_BAND = (300, 500)
GRID_TARGET = 400

LAYER_FILE = "demo.gpkg"
ARCHIVE = "demo.gpkg.zip"
META_FILE = "meta.json"


@dataclass
class Source:
    """The OSM layers the build reads, in UTM metres."""

    buildings: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    utm: CRS


# --------------------------------------------------------------------------- reading


_REQUIRED = {
    "buildings": ("osm_id", "building", "levels", "name", "addr_street", "addr_housenumber"),
    "roads": ("osm_id", "highway", "name"),
    "landuse_residential": ("osm_id", "name"),
}


def read_source(path: Path) -> Source:
    """Read and check the OSM layers of ``path`` (a GeoPackage like astana_osm_2017.gpkg).

    Parameters
    ----------
    path:
        The source GeoPackage.

    Returns
    -------
    Source
        Buildings, roads and residential landuse reprojected to the local UTM zone.

    Raises
    ------
    GridAtlasError
        If the file, a layer or a field is missing (naming which).
    """
    path = Path(path)
    if not path.is_file():
        raise GridAtlasError(f"{path}: no such file (the OSM GeoPackage to build the demo from)")
    layers = {row[0] for row in pyogrio.list_layers(path)}
    frames = {}
    for layer, fields in _REQUIRED.items():
        if layer not in layers:
            raise GridAtlasError(f"{path}: layer {layer!r} is missing (has {sorted(layers)})")
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
        missing = [f for f in fields if f not in gdf.columns]
        if missing:
            raise GridAtlasError(f"{path}: layer {layer!r} lacks field(s) {', '.join(missing)}")
        if gdf.crs is None:
            raise GridAtlasError(f"{path}: layer {layer!r} has no CRS (expected EPSG:4326)")
        frames[layer] = gdf.to_crs(WGS84)
    b = frames["buildings"]
    b = b[~b.geometry.is_empty & b.geometry.notna()].copy()
    b["geometry"] = shapely.make_valid(b.geometry.values)
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    # round once, here: every later step sees the shipped coordinates
    b["geometry"] = _as_multi(shapely.set_precision(b.geometry.values, 10**-DECIMALS))
    b = b[~b.geometry.is_empty].reset_index(drop=True)
    utm = b.estimate_utm_crs()
    log.info("read %d buildings, %d roads; UTM %s", len(b), len(frames["roads"]), utm.to_string())
    return Source(
        buildings=b,
        roads=frames["roads"].to_crs(utm),
        landuse=frames["landuse_residential"].to_crs(utm),
        utm=utm,
    )


def _as_multi(geoms: np.ndarray) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        if g.geom_type == "Polygon":
            out[i] = shapely.MultiPolygon([g])
        elif g.geom_type == "MultiPolygon":
            out[i] = g
        else:
            parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
            out[i] = shapely.MultiPolygon(parts)
    return out


# --------------------------------------------------------------------------- households


def estimate_households(b: gpd.GeoDataFrame, area_m2: np.ndarray) -> pd.DataFrame:
    """Households, floors and use per building by :data:`HOUSEHOLDS_RULE`.

    Parameters
    ----------
    b:
        Buildings with ``building``, ``levels`` and ``in_residential_landuse`` (optional).
    area_m2:
        Footprint areas in square metres.

    Returns
    -------
    pandas.DataFrame
        Columns ``households`` (int), ``floors`` (nullable int) and ``use``.
    """
    kind = b["building"].fillna("yes").astype(str)
    levels = pd.to_numeric(b["levels"], errors="coerce")
    in_lu = (
        b["in_residential_landuse"].fillna(0).astype(bool).to_numpy()
        if "in_residential_landuse" in b.columns
        else np.zeros(len(b), bool)
    )
    lv = levels.fillna(6).clip(lower=1).to_numpy()
    yes = (kind == "yes").to_numpy()
    apartments = (
        kind.isin(["apartments", "residential"]).to_numpy()
        | (yes & in_lu)
        | (yes & (levels.fillna(0).to_numpy() >= 5))
    )
    house = (kind == "house").to_numpy() | (
        yes & ~in_lu & levels.between(1, 2).to_numpy() & (area_m2 >= 40) & (area_m2 <= 400)
    )
    hh = np.zeros(len(b), dtype=np.int64)
    hh[apartments] = np.round(area_m2[apartments] * lv[apartments] * 0.75 / 90).astype(np.int64)
    hh[house & ~apartments] = 1
    use = np.where(apartments | house, "residential", kind.to_numpy())
    use = np.where(use == "yes", "unspecified", use)
    floors = levels.round().astype("Int64")
    floors = floors.where(floors > 0)
    return pd.DataFrame({"households": hh, "floors": floors, "use": use}, index=b.index)


# --------------------------------------------------------------------------- blocks


def _lines(roads: gpd.GeoDataFrame, classes: frozenset[str]) -> np.ndarray:
    sel = roads[roads["highway"].isin(classes)]
    return shapely.get_parts(shapely.line_merge(sel.geometry.values))


def polygonize_lines(lines: np.ndarray) -> np.ndarray:
    """Faces enclosed by ``lines`` after noding them (dangling ends are dropped)."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    noded = shapely.union_all(lines)
    return shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))


def road_blocks(roads: gpd.GeoDataFrame, points: np.ndarray, households: np.ndarray) -> np.ndarray:
    """Road-bounded blocks (UTM): street classes first, big or dense blocks split by minor roads.

    Parameters
    ----------
    roads:
        Road lines (UTM) with ``highway``.
    points, households:
        Building points on surface (UTM) and households, to find dense blocks.

    Returns
    -------
    numpy.ndarray of Polygon
    """
    coarse = polygonize_lines(_lines(roads, STREET_CLASSES))
    tree = shapely.STRtree(points)
    minor = _lines(roads, MINOR_CLASSES | STREET_CLASSES)
    minor_tree = shapely.STRtree(minor)
    out = []
    for blk in coarse:
        inside = tree.query(blk, predicate="contains")
        if blk.area > BIG_BLOCK_M2 or households[inside].sum() > BIG_BLOCK_HOUSEHOLDS:
            near = minor[minor_tree.query(blk, predicate="intersects")]
            pieces = polygonize_lines(
                np.concatenate([[blk.exterior], shapely.intersection(near, blk)])
            )
            pieces = [p for p in pieces if blk.contains(p.representative_point())]
            if pieces:
                out.extend(pieces)
                continue
        out.append(blk)
    return np.array(out, dtype=object)


def adjacency(polys: np.ndarray, min_shared_m: float = 1.0) -> nx.Graph:
    """Graph of polygons (metres) sharing at least ``min_shared_m`` of boundary.

    Edge attribute ``shared`` is the shared length in metres.
    """
    g = nx.Graph()
    g.add_nodes_from(range(len(polys)))
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left):
        shared = shapely.length(
            shapely.intersection(shapely.boundary(polys[left]), shapely.boundary(polys[right]))
        )
        for a, b, s in zip(left, right, shared, strict=False):
            if s >= min_shared_m:
                g.add_edge(int(a), int(b), shared=float(s))
    return g


def select_district(blocks: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices of the blocks forming the district.

    The largest connected set of blocks holding buildings (by building count), small empty
    blocks included, plus every block lying in a hole of that set.
    """
    keep = (counts > 0) | (shapely.area(blocks) <= EMPTY_BLOCK_MAX_M2)
    idx = np.flatnonzero(keep)
    g = adjacency(blocks[idx])
    comps = sorted(nx.connected_components(g), key=lambda c: -counts[idx[list(c)]].sum())
    chosen = set(idx[list(comps[0])].tolist())
    # fill holes: blocks enclosed by the chosen ones
    union = shapely.union_all(blocks[sorted(chosen)])
    filled = shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(union)])
    pts = shapely.point_on_surface(blocks)
    inside = np.flatnonzero(shapely.contains(filled, pts))
    chosen.update(inside.tolist())
    return np.array(sorted(chosen))


# --------------------------------------------------------------------------- partition


def tree_partition(
    g: nx.Graph,
    weight: dict[int, float],
    pos: dict[int, tuple[float, float]],
    k: int,
    band: tuple[float, float],
    rng: np.random.Generator,
    attempts: int = 60,
    tolerance: float = 0.2,
    restarts: int = 20,
) -> list[set[int]]:
    """Cut a connected graph into ``k`` connected parts with weights inside ``band``.

    Repeatedly draws a spanning tree (geometric edge lengths with random jitter, so parts are
    compact) and cuts off the most compact subtree whose weight lies in the band while the
    rest can still be split into the remaining parts.

    Parameters
    ----------
    g:
        Connected graph.
    weight:
        Node weight (households).
    pos:
        Node position (metres), for compactness.
    k:
        Number of parts.
    band:
        ``(low, high)`` weight of every part.
    rng:
        Seeded generator.
    attempts:
        Spanning trees tried per cut before starting over.
    tolerance:
        A cut may deviate this share from the current mean part weight (within ``band``).
    restarts:
        Fresh starts before giving up.

    Returns
    -------
    list of set
        The parts.

    Raises
    ------
    GridAtlasError
        If no balanced cut is found.
    """
    for _ in range(restarts):
        parts = _tree_partition_once(g, weight, pos, k, band, rng, attempts, tolerance)
        if parts is not None:
            return parts
    total = sum(weight.values())
    raise GridAtlasError(
        f"could not cut {g.number_of_nodes()} blocks holding {total:.0f} households into "
        f"{k} connected parts of {band[0]}-{band[1]}: try another seed"
    )


def _tree_partition_once(
    g: nx.Graph,
    weight: dict[int, float],
    pos: dict[int, tuple[float, float]],
    k: int,
    band: tuple[float, float],
    rng: np.random.Generator,
    attempts: int,
    tolerance: float,
) -> list[set[int]] | None:
    lo, hi = band
    remaining = set(g.nodes)
    parts: list[set[int]] = []
    while len(parts) < k - 1:
        sub = g.subgraph(remaining)
        total = sum(weight[n] for n in remaining)
        left_after = k - len(parts) - 1
        target = total / (left_after + 1)
        for _ in range(attempts):
            for a, b in sub.edges:
                (xa, ya), (xb, yb) = pos[a], pos[b]
                sub.edges[a, b]["w"] = float(np.hypot(xa - xb, ya - yb)) * rng.uniform(0.5, 1.5)
            tree = nx.minimum_spanning_tree(sub, weight="w")
            root = next(iter(remaining))
            order = list(nx.dfs_preorder_nodes(tree, root))
            parent = {root: None}
            for a, b in nx.dfs_edges(tree, root):
                parent[b] = a
            wsum = {n: weight[n] for n in order}
            for n in reversed(order):
                if parent[n] is not None:
                    wsum[parent[n]] += wsum[n]
            c_lo, c_hi = max(lo, (1 - tolerance) * target), min(hi, (1 + tolerance) * target)
            cands = [
                n for n in order[1:]
                if c_lo <= wsum[n] <= c_hi
                and lo * left_after <= total - wsum[n] <= hi * left_after
            ]
            if not cands:
                continue
            children = defaultdict(list)
            for n, p in parent.items():
                if p is not None:
                    children[p].append(n)
            best, best_score = None, np.inf
            for n in rng.permutation(cands)[:40]:
                nodes = _subtree(children, int(n))
                xy = np.array([pos[m] for m in nodes])
                spread = float(np.sqrt(((xy - xy.mean(axis=0)) ** 2).sum(axis=1).mean()))
                score = spread * (1 + abs(wsum[n] - target) / target)
                if score < best_score:
                    best, best_score = nodes, score
            assert best is not None
            parts.append(set(best))
            remaining -= best
            break
        else:
            log.debug("partition restart: %d parts left", left_after + 1)
            return None
    parts.append(remaining)
    return parts


def _subtree(children: dict[int, list[int]], root: int) -> set[int]:
    out, stack = set(), [root]
    while stack:
        n = stack.pop()
        out.add(n)
        stack.extend(children.get(n, ()))
    return out


def reading_order(xy: np.ndarray, band_m: float) -> np.ndarray:
    """Order of points north to south in bands of ``band_m``, west to east in a band."""
    row = np.floor((xy[:, 1].max() - xy[:, 1]) / max(band_m, 1.0))
    return np.lexsort((xy[:, 0], row))


# --------------------------------------------------------------------------- grids


def grow_grids(
    g: nx.Graph,
    households: np.ndarray,
    xy: np.ndarray,
    compound: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Label buildings with initial grids grown over the adjacency graph ``g``.

    Targets are drawn unevenly (old grids are uneven): a lognormal spread around
    :data:`GRID_TARGET`.  A grid grows from the north-westernmost unassigned building,
    taking neighbours of the same compound first, then the nearest; leftover pockets too
    small to be grids join a neighbouring grid.  Every grid is a connected subgraph.

    Returns
    -------
    numpy.ndarray
        Grid label per node (0..n_grids-1, unordered).
    """
    n = len(households)
    label = np.full(n, -1)
    total = households.sum()
    order = np.lexsort((xy[:, 0], -xy[:, 1]))  # north first, then west
    nxt = 0
    cur = 0
    while True:
        while nxt < n and label[order[nxt]] >= 0:
            nxt += 1
        if nxt >= n:
            break
        seed = int(order[nxt])
        target = float(np.clip(rng.lognormal(np.log(GRID_TARGET), 0.38), 120, 1100))
        if total < 1:
            target = np.inf
        got = 0.0
        heap = [(0.0, seed)]
        seen = {seed}
        members = []
        while heap and got < target:
            _, v = heapq.heappop(heap)
            if label[v] >= 0:
                continue
            label[v] = cur
            members.append(v)
            got += households[v]
            for w in g.neighbors(v):
                if label[w] < 0 and w not in seen:
                    seen.add(w)
                    d = float(np.hypot(*(xy[w] - xy[seed])))
                    if compound[w] != compound[seed] or compound[w] < 0:
                        d += 300.0
                    heapq.heappush(heap, (d, w))
        cur += 1
    # merge grids that are too small (pockets) into their best-connected neighbour
    hh = np.bincount(label, weights=households, minlength=cur)
    for small in np.argsort(hh):
        if hh[small] >= 150 or (label == small).sum() == 0:
            continue
        nodes = np.flatnonzero(label == small)
        nbr = defaultdict(int)
        for v in nodes:
            for w in g.neighbors(int(v)):
                if label[w] != small:
                    nbr[label[w]] += 1
        if not nbr:
            continue
        into = min(nbr, key=lambda lab: (hh[lab], -nbr[lab]))
        label[nodes] = into
        hh[into] += hh[small]
        hh[small] = 0
    _, label = np.unique(label, return_inverse=True)
    return label


# --------------------------------------------------------------------------- build


def _to_wgs(geoms: np.ndarray, utm: CRS) -> np.ndarray:
    s = gpd.GeoSeries(geoms, crs=utm).to_crs(WGS84)
    return shapely.set_precision(s.values, 10**-DECIMALS)


def _multi(geom: shapely.Geometry) -> shapely.MultiPolygon:
    polys = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return shapely.MultiPolygon(polys)


SLIVER_DEG2 = 1e-9
"""Parts and holes smaller than this (about 8 m² here) are rounding slivers."""


def clean_union(geoms: Any) -> shapely.MultiPolygon:
    """Union of polygons in shipped coordinates, without rounding slivers.

    A robust overlay union (the rounded blocks are an almost-exact coverage), snapped back
    to 7 decimals; parts and holes below :data:`SLIVER_DEG2` are dropped, so the result is
    valid and holds no nested slivers.
    """
    u = shapely.set_precision(shapely.union_all(list(geoms)), 10**-DECIMALS)
    polys = []
    for p in shapely.get_parts(u):
        if p.geom_type != "Polygon" or p.area < SLIVER_DEG2:
            continue
        holes = [h for h in p.interiors if shapely.Polygon(h).area >= SLIVER_DEG2]
        polys.append(shapely.Polygon(p.exterior, holes))
    out = shapely.MultiPolygon(polys)
    if not out.is_valid:
        out = _multi(shapely.make_valid(out))
    return out


def derive_places(src: Source, seed: int = 0) -> dict[str, Any]:
    """Derive district, streets, communities, compounds, buildings and initial grids.

    Parameters
    ----------
    src:
        The source layers (:func:`read_source`).
    seed:
        Seed of every random choice.

    Returns
    -------
    dict
        GeoDataFrames/DataFrames keyed by layer name (see :mod:`geo.demo.dataset`), plus
        ``"_blocks"`` (the district's blocks, EPSG:4326) for the synthetic layers.
    """
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    b = src.buildings
    b_utm = b.geometry.to_crs(src.utm).values
    area = shapely.area(b_utm)
    est = estimate_households(b, area)
    hh = est["households"].to_numpy()
    # the point that places a building: point on surface of the shipped (rounded) footprint
    pts_wgs = shapely.point_on_surface(b.geometry.values)
    pts = gpd.GeoSeries(pts_wgs, crs=WGS84).to_crs(src.utm).values

    blocks_utm = road_blocks(src.roads, pts, hh)
    # blocks in shipped coordinates; assignment is done there (as the database will)
    blocks_wgs = np.array([_multi(g) for g in _to_wgs(blocks_utm, src.utm)], dtype=object)
    valid = ~shapely.is_empty(blocks_wgs) & shapely.is_valid(blocks_wgs)
    blocks_wgs, blocks_utm = blocks_wgs[valid], blocks_utm[valid]
    tree = shapely.STRtree(blocks_wgs)
    bi, bj = tree.query(pts_wgs, predicate="within")
    block_of = np.full(len(b), -1)
    block_of[bi] = bj
    counts = np.bincount(bj, minlength=len(blocks_wgs))
    chosen = select_district(blocks_utm, counts)
    log.info("%d blocks (%d in the district) in %.1fs", len(blocks_utm), len(chosen),
             time.perf_counter() - t0)
    remap = np.full(len(blocks_wgs), -1)
    remap[chosen] = np.arange(len(chosen))
    blocks_utm, blocks_wgs = blocks_utm[chosen], blocks_wgs[chosen]
    block_of = np.where(block_of >= 0, remap[np.maximum(block_of, 0)], -1)
    inb = block_of >= 0
    b = b[inb].reset_index(drop=True)
    est = est[inb].reset_index(drop=True)
    hh, pts, pts_wgs, block_of = hh[inb], pts[inb], pts_wgs[inb], block_of[inb]

    # ---- communities and streets
    g = adjacency(blocks_utm)
    if not nx.is_connected(g):
        raise GridAtlasError("the district's blocks are not connected: check the road layer")
    bhh = np.bincount(block_of, weights=hh, minlength=len(blocks_utm))
    cen = shapely.get_coordinates(shapely.centroid(blocks_utm))
    pos = {i: (float(cen[i, 0]), float(cen[i, 1])) for i in range(len(cen))}
    total = float(bhh.sum())
    n_comm = max(16, int(round(total / COMMUNITY_TARGET)))
    comm_parts = tree_partition(g, dict(enumerate(bhh)), pos, n_comm, COMMUNITY_BAND, rng)
    comm_of_block = np.empty(len(blocks_utm), dtype=int)
    for ci, part in enumerate(comm_parts):
        comm_of_block[list(part)] = ci
    comm_utm = np.array(
        [shapely.coverage_union_all(blocks_utm[list(p)]) for p in comm_parts], dtype=object
    )
    cg = nx.quotient_graph(g, comm_parts, relabel=True)
    comm_hh = np.array([bhh[list(p)].sum() for p in comm_parts])
    ccen = shapely.get_coordinates(shapely.centroid(comm_utm))
    cpos = {i: (float(ccen[i, 0]), float(ccen[i, 1])) for i in range(len(ccen))}
    t = comm_hh.sum() / STREET_COUNT
    street_parts = tree_partition(
        cg, dict(enumerate(comm_hh)), cpos, STREET_COUNT, (0.6 * t, 1.4 * t), rng
    )
    street_of_comm = np.empty(len(comm_parts), dtype=int)
    for si, part in enumerate(street_parts):
        street_of_comm[list(part)] = si
    street_utm = np.array(
        [shapely.coverage_union_all(comm_utm[list(p)]) for p in street_parts], dtype=object
    )
    log.info("%d communities, %d streets in %.1fs", len(comm_parts), len(street_parts),
             time.perf_counter() - t0)

    # ---- codes and names (reading order)
    scen = shapely.get_coordinates(shapely.centroid(street_utm))
    s_order = reading_order(scen, 2500.0)
    street_code = np.empty(len(street_parts), dtype=object)
    s_names = names.street_names(len(street_parts), rng)
    for rank, si in enumerate(s_order):
        street_code[si] = f"{DISTRICT_CODE}{rank + 1:03d}"
    comm_code = np.empty(len(comm_parts), dtype=object)
    c_names = names.community_names(len(comm_parts), rng)
    c_name_of = {}
    k = 0
    for si in s_order:
        members = np.flatnonzero(street_of_comm == si)
        order = members[reading_order(ccen[members], 1200.0)]
        for rank, ci in enumerate(order):
            comm_code[ci] = f"{street_code[si]}{rank + 1:03d}"
            c_name_of[ci] = c_names[k]
            k += 1

    comm_wgs = [clean_union(blocks_wgs[list(p)]) for p in comm_parts]
    street_wgs = [clean_union([comm_wgs[c] for c in p]) for p in street_parts]
    district_wgs = clean_union(street_wgs)

    districts = gpd.GeoDataFrame(
        {"code": [DISTRICT_CODE], "name": [DISTRICT_NAME[0]], "name_en": [DISTRICT_NAME[1]]},
        geometry=[district_wgs], crs=WGS84,
    )
    streets = gpd.GeoDataFrame(
        {
            "code": list(street_code),
            "district_code": DISTRICT_CODE,
            "name": [s_names[r][0] for r in np.argsort(s_order)],
            "name_en": [s_names[r][1] for r in np.argsort(s_order)],
        },
        geometry=street_wgs, crs=WGS84,
    ).sort_values("code", ignore_index=True)
    communities = gpd.GeoDataFrame(
        {
            "code": list(comm_code),
            "street_code": [street_code[street_of_comm[c]] for c in range(len(comm_parts))],
            "name": [c_name_of[c][0] for c in range(len(comm_parts))],
            "name_en": [c_name_of[c][1] for c in range(len(comm_parts))],
            "target_households": GRID_TARGET,
            "min_households": GRID_BAND[0],
            "max_households": GRID_BAND[1],
        },
        geometry=comm_wgs, crs=WGS84,
    )

    # ---- compounds: blocks split by every road, pieces holding housing
    building_comm = comm_of_block[block_of]
    compounds, compound_of = _compounds(src, blocks_utm, comm_of_block, comm_code, pts, hh, rng)
    log.info("%d compounds in %.1fs", len(compounds), time.perf_counter() - t0)

    buildings = gpd.GeoDataFrame(
        {
            "code": [f"B{int(o)}" for o in b["osm_id"]],
            "osm_id": b["osm_id"].astype("int64"),
            "name": b["name"].where(b["name"].notna() & (b["name"] != ""), None),
            "address": _addresses(b),
            "households": hh.astype("int64"),
            "floors": est["floors"].astype("Int64"),
            "use": est["use"],
            "community_code": [comm_code[c] for c in building_comm],
            "compound_code": [compounds["code"].iat[c] if c >= 0 else None for c in compound_of],
        },
        geometry=b.geometry.values, crs=WGS84,
    )
    if buildings["code"].duplicated().any():
        buildings["code"] = buildings["code"] + np.where(
            buildings["code"].duplicated(keep=False),
            "-" + buildings.groupby("code").cumcount().astype(str), "",
        )

    # ---- initial grids
    grid_code, grids = _initial_grids(buildings, communities, compound_of, pts, rng)
    buildings["grid_code"] = grid_code
    log.info("%d grids in %.1fs", len(grids), time.perf_counter() - t0)

    communities = communities.sort_values("code", ignore_index=True)
    return {
        "districts": districts,
        "streets": streets,
        "communities": communities,
        "compounds": compounds,
        "buildings": buildings,
        "grids": grids,
        "_blocks": gpd.GeoDataFrame(
            {"community_code": [comm_code[c] for c in comm_of_block]},
            geometry=blocks_wgs, crs=WGS84,
        ),
    }


def _addresses(b: gpd.GeoDataFrame) -> list[str | None]:
    out = []
    for street, num in zip(b["addr_street"], b["addr_housenumber"], strict=False):
        s = street if isinstance(street, str) and street else None
        n = num if isinstance(num, str) and num else None
        out.append(" ".join(x for x in (s, n) if x) or None)
    return out


def _compounds(
    src: Source,
    blocks_utm: np.ndarray,
    comm_of_block: np.ndarray,
    comm_code: np.ndarray,
    pts: np.ndarray,
    hh: np.ndarray,
    rng: np.random.Generator,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Compounds: blocks split by every road; pieces with housing (>= 1 household)."""
    lines = _lines(src.roads, MINOR_CLASSES | STREET_CLASSES)
    ltree = shapely.STRtree(lines)
    ptree = shapely.STRtree(pts)
    lu = src.landuse.geometry.values
    lu_tree = shapely.STRtree(lu)
    pieces, piece_comm = [], []
    piece_estate: list[int] = []
    for bi, blk in enumerate(blocks_utm):
        inside = ptree.query(blk, predicate="contains")
        if hh[inside].sum() <= 0:
            continue
        near = lines[ltree.query(blk, predicate="intersects")]
        parts = polygonize_lines(np.concatenate([[blk.exterior], shapely.intersection(near, blk)]))
        parts = [p for p in parts if blk.contains(p.representative_point())] or [blk]
        for p in parts:
            # a residential estate (landuse) inside the piece becomes its own compound
            rest = p
            for k in lu_tree.query(p, predicate="intersects"):
                part = shapely.intersection(p, lu[k])
                if shapely.area(part) < 0.2 * p.area and shapely.area(part) < 20_000:
                    continue
                for q in shapely.get_parts(part):
                    if q.geom_type == "Polygon" and q.area > 500:
                        pieces.append(q)
                        piece_comm.append(comm_of_block[bi])
                        piece_estate.append(int(k))
                rest = shapely.difference(rest, lu[k])
            for q in shapely.get_parts(rest):
                if q.geom_type == "Polygon" and q.area > 1:
                    pieces.append(q)
                    piece_comm.append(comm_of_block[bi])
                    piece_estate.append(-1)
    pieces_arr = np.array(pieces, dtype=object)
    tree = shapely.STRtree(pieces_arr)
    pi, pj = tree.query(pts, predicate="within")
    piece_of = np.full(len(pts), -1)
    piece_of[pi] = pj
    piece_hh = np.bincount(pj, weights=hh[pi], minlength=len(pieces_arr))
    keep = np.flatnonzero(piece_hh > 0)
    # apartment estate or cottage area (for names)
    apartments = np.zeros(len(pieces_arr), bool)
    big = hh >= 5
    np.logical_or.at(apartments, pj[big[pi]], True)
    cen = shapely.get_coordinates(shapely.centroid(pieces_arr[keep]))
    order = keep[reading_order(cen, 400.0)]
    nm = names.compound_names(len(order), [not apartments[i] for i in order], rng)
    # the pieces of one estate share its name, numbered 一区, 二区 ... (Zone 1, 2 ...)
    estate = np.array(piece_estate)
    first: dict[int, tuple[str, str]] = {}
    seen: dict[int, int] = defaultdict(int)
    multi = {int(e) for e in estate[order] if e >= 0 and (estate[order] == e).sum() > 1}
    for r, i in enumerate(order):
        e = int(estate[i])
        if e < 0:
            continue
        first.setdefault(e, nm[r])
        if e in multi:
            seen[e] += 1
            zh, en = first[e]
            nm[r] = (f"{zh}{names.ordinal_zh(seen[e])}区", f"{en} Zone {seen[e]}")
        else:
            nm[r] = first[e]
    new_index = np.full(len(pieces_arr), -1)
    new_index[order] = np.arange(len(order))
    geoms = _to_wgs(pieces_arr[order], src.utm)
    counters: dict[int, int] = defaultdict(int)
    codes = []
    for i in order:
        c = piece_comm[i]
        counters[c] += 1
        codes.append(f"{comm_code[c]}X{counters[c]:04d}")
    compounds = gpd.GeoDataFrame(
        {
            "code": codes,
            "community_code": [comm_code[piece_comm[i]] for i in order],
            "name": [n[0] for n in nm],
            "name_en": [n[1] for n in nm],
        },
        geometry=[_multi(g) for g in geoms], crs=WGS84,
    )
    compound_of = np.where(piece_of >= 0, new_index[np.maximum(piece_of, 0)], -1)
    return compounds, compound_of


def _initial_grids(
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    compound_of: np.ndarray,
    pts: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Grow the initial grids per community over the building-cell adjacency."""
    from geo.demo.build_cells import cell_adjacency

    grid_code = np.empty(len(buildings), dtype=object)
    rows = []
    xy_all = shapely.get_coordinates(pts)
    for comm in communities.itertuples():
        idx = np.flatnonzero(buildings["community_code"].to_numpy() == comm.code)
        if len(idx) == 0:
            continue
        g = cell_adjacency(buildings.geometry.values[idx], comm.geometry)
        xy = xy_all[idx]
        label = grow_grids(g, buildings["households"].to_numpy()[idx], xy,
                           compound_of[idx], rng)
        n = label.max() + 1
        gxy = np.array([xy[label == k].mean(axis=0) for k in range(n)])
        span = np.sqrt(max(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1]), 1.0) / n)
        order = reading_order(gxy, span)
        seq_of = np.empty(n, dtype=int)
        seq_of[order] = np.arange(1, n + 1)
        for k in range(n):
            code = f"{comm.code}{seq_of[k]:03d}"
            members = idx[label == k]
            grid_code[members] = code
            rows.append({
                "code": code,
                "community_code": comm.code,
                "seq": int(seq_of[k]),
                "kind": "basic",
                "name": f"{comm.name}第{seq_of[k]}网格",
            })
    grids = pd.DataFrame(rows).sort_values("code", ignore_index=True)
    return grid_code, grids


def roads_layer(src: Source, district_utm: shapely.Geometry) -> gpd.GeoDataFrame:
    """The OSM roads within 200 m of the district, as LineStrings in EPSG:4326."""
    r = src.roads[src.roads.intersects(shapely.buffer(district_utm, 200.0))]
    r = r[["osm_id", "highway", "name", "geometry"]].explode(index_parts=False)
    r = r[r.geometry.geom_type == "LineString"].to_crs(WGS84)
    r["geometry"] = shapely.set_precision(r.geometry.values, 10**-DECIMALS)
    r = r[~r.geometry.is_empty & (r.geometry.geom_type == "LineString")]
    r["osm_id"] = r["osm_id"].astype("int64")
    return r.reset_index(drop=True)


def write_dataset(layers: dict[str, pd.DataFrame], meta: dict[str, Any], out_dir: Path) -> Path:
    """Write the layers into one zipped GeoPackage plus ``meta.json`` under ``out_dir``.

    Returns
    -------
    pathlib.Path
        The archive written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / LAYER_FILE
    if tmp.exists():
        tmp.unlink()
    for name, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                    layer_options={"SPATIAL_INDEX": "NO"})
        else:
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    archive = out_dir / ARCHIVE
    part = out_dir / (ARCHIVE + ".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo(LAYER_FILE, date_time=(2017, 12, 3, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(tmp, "rb") as fh:
            z.writestr(info, fh.read())
    part.replace(archive)
    tmp.unlink()
    (out_dir / META_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return archive


def build_demo(
    source_gpkg: Path,
    out_dir: Path,
    seed: int = 0,
    reference_time: datetime | None = None,
) -> dict[str, Any]:
    """Build the demo district from ``source_gpkg`` and write it to ``out_dir``.

    Parameters
    ----------
    source_gpkg:
        The OSM GeoPackage (layers buildings, roads, landuse_residential).
    out_dir:
        Where to write ``demo.gpkg.zip`` and ``meta.json`` (normally ``data/demo``).
    seed:
        Seed of every random choice: the same seed and source give the same district.
    reference_time:
        The moment synthetic times are generated relative to (UTC; default: now, to the
        minute).  The loader shifts synthetic times by ``now - reference_time``.

    Returns
    -------
    dict
        Summary figures (counts, household ranges, timings).
    """
    from geo.demo import dataset, synthetic

    t0 = time.perf_counter()
    if reference_time is None:
        reference_time = datetime.now(UTC).replace(second=0, microsecond=0)
    src = read_source(Path(source_gpkg))
    layers = derive_places(src, seed=seed)
    blocks = layers.pop("_blocks")
    district_utm = gpd.GeoSeries([layers["districts"].geometry.iat[0]], crs=WGS84).to_crs(
        src.utm).iat[0]
    layers["roads"] = roads_layer(src, district_utm)
    layers.update(
        synthetic.make_layers(layers, blocks, src.utm, reference_time, seed=seed)
    )
    meta = {
        "reference_time": reference_time.isoformat().replace("+00:00", "Z"),
        "attribution": ATTRIBUTION,
        "households_rule": HOUSEHOLDS_RULE,
        "district_code": DISTRICT_CODE,
        "district_code_note": "fictional: province prefix 99 is unassigned in GB/T 2260",
        "seed": seed,
        "source": "OpenStreetMap (QA tiles, Astana, latest edit 2017-12-03)",
        "boundaries": "demo boundaries derived from OSM road-bounded blocks, not real ones",
        "synthetic_layers": list(synthetic.SYNTHETIC_LAYERS),
    }
    ordered = {}
    for name in dataset.LAYERS:
        frame = layers[name]
        cols = list(dataset.COLUMNS[name])
        ordered[name] = (
            gpd.GeoDataFrame(frame[cols], geometry=frame.geometry.values, crs=WGS84)
            if name in dataset.GEOMETRY_LAYERS else pd.DataFrame(frame[cols])
        )
    archive = write_dataset(ordered, meta, Path(out_dir))
    summary = summarize(layers)
    summary.update(synthetic.summary(layers["incidents"], reference_time))
    summary["archive_bytes"] = archive.stat().st_size
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    log.info("demo built in %.1fs: %s", summary["seconds"], summary)
    return summary


def summarize(layers: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Headline figures of a built demo (counts, household ranges)."""
    b = layers["buildings"]
    comm_hh = b.groupby("community_code")["households"].sum()
    grid_hh = b.groupby("grid_code")["households"].sum()
    comp_hh = b.dropna(subset=["compound_code"]).groupby("compound_code")["households"].sum()
    out: dict[str, Any] = {name: int(len(frame)) for name, frame in layers.items()}
    out.update(
        households=int(b["households"].sum()),
        community_households=[int(comm_hh.min()), int(comm_hh.max())],
        grids_out_of_band=round(float(((grid_hh < GRID_BAND[0]) | (grid_hh > GRID_BAND[1]))
                                      .mean()), 3),
        compounds_le_500=round(float((comp_hh <= 500).mean()), 3),
    )
    if "incidents" in layers:
        inc = layers["incidents"]
        out["incidents_open"] = int(inc["closed_at"].isna().sum())
    return out
