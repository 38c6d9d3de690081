"""Building adjacency for growing initial grids: buildings whose cells share an edge.

The cells come from :func:`geo.partition.cells.building_cells`, the tessellation the loader
builds grid polygons from, so a grid that is connected in this graph has a one-piece union
of cells.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

WGS84 = "EPSG:4326"


def cell_adjacency(footprints: np.ndarray, community: shapely.Geometry) -> nx.Graph:
    """Graph over ``range(len(footprints))``: an edge where two building cells share an edge.

    Parameters
    ----------
    footprints:
        Building footprints (EPSG:4326) of one community.
    community:
        The community polygon (EPSG:4326).

    Returns
    -------
    networkx.Graph
        Connected if the community is one piece (isolated parts are linked to their nearest
        building so grid growth still reaches them).
    """
    from geo.partition.cells import building_cells

    fps = gpd.GeoSeries(footprints, crs=WGS84)
    cells = building_cells(fps, community)
    utm = fps.estimate_utm_crs()
    c = cells.to_crs(utm).values
    g = nx.Graph()
    g.add_nodes_from(range(len(c)))
    ok = ~shapely.is_empty(c)
    tree = shapely.STRtree(c)
    a, b = tree.query(c, predicate="intersects")
    keep = (a < b) & ok[a] & ok[b]
    a, b = a[keep], b[keep]
    if len(a):
        shared = shapely.length(
            shapely.intersection(shapely.boundary(c[a]), shapely.boundary(c[b]))
        )
        for i, j, s in zip(a, b, shared, strict=False):
            if s > 0.05:
                g.add_edge(int(i), int(j))
    _link_components(g, shapely.get_coordinates(
        shapely.point_on_surface(gpd.GeoSeries(footprints, crs=WGS84).to_crs(utm).values)))
    return g


def _link_components(g: nx.Graph, xy: np.ndarray) -> None:
    comps = sorted(nx.connected_components(g), key=len, reverse=True)
    if len(comps) <= 1:
        return
    main = np.array(sorted(comps[0]))
    for comp in comps[1:]:
        nodes = np.array(sorted(comp))
        d = np.hypot(xy[nodes, None, 0] - xy[None, main, 0], xy[nodes, None, 1] - xy[None, main, 1])
        i, j = np.unravel_index(np.argmin(d), d.shape)
        g.add_edge(int(nodes[i]), int(main[j]))
        main = np.concatenate([main, nodes])
