"""Department networks on a map: which networks a reader may draw, and a network's outlines
in a map view (for the command-centre wall's per-network overlay).

Reads take the principal first (action ``networks.view``). A scoped reader sees the
polygons that meet their place's box only (like :func:`geo.repository.roads.roads_in_view`).
Outlines are simplified to about half a screen pixel at the zoom asked and written with 5
decimals below zoom 15; label points (``ST_PointOnSurface``) travel only from
:data:`LABEL_MIN_ZOOM`.
"""

from __future__ import annotations

from typing import Any

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.repository.roads import _check_view, _scope_box
from geo.repository.scope import Scope

#: Colours of the networks on the dark wall, by position in the (name-sorted) list.
PALETTE = ("#f472b6", "#facc15", "#38bdf8", "#a3e635", "#fb923c", "#c084fc", "#f87171",
           "#2dd4bf")
LABEL_MIN_ZOOM = 14
MAX_POLYGONS = 3000


def network_layers(principal: Principal | None) -> list[dict]:
    """The networks the principal may draw: ``id``, ``name``, ``color``, ``count``; by name.

    Readers without ``networks.view`` get an empty list (the wall then offers no entry).
    """
    if principal is None or not permissions.allowed(principal.role, "networks.view") \
            or principal.anonymous_wall:
        return []
    permissions.check(principal, "networks.view")
    rows = db.fetch_all(
        """SELECT n.id, n.name, count(g.id)::int AS count
             FROM networks n LEFT JOIN network_grids g ON g.network_id = n.id
            GROUP BY n.id ORDER BY n.name""")
    return [{"id": r["id"], "name": r["name"], "count": r["count"],
             "color": PALETTE[i % len(PALETTE)]} for i, r in enumerate(rows)]


def network_in_view(principal: Principal | None, network_id: Any, bbox: Any, zoom: Any) -> dict:
    """One network's polygons meeting ``bbox`` as GeoJSON, outlines simplified for ``zoom``.

    Parameters
    ----------
    principal:
        The reader (``networks.view``); a scoped reader gets polygons near their place only.
    network_id:
        The network's id (from :func:`network_layers`).
    bbox, zoom:
        ``[west, south, east, north]`` in degrees and the map's zoom.

    Returns
    -------
    dict
        A FeatureCollection: polygons with ``code`` and ``name``, and from zoom
        :data:`LABEL_MIN_ZOOM` a label point per polygon (``label: true``).
    """
    permissions.check(principal, "networks.view")
    if isinstance(network_id, bool) or not isinstance(network_id, int) or not 0 < network_id < 2**31:
        from geo.repository.wall import BadRequest

        raise BadRequest("网络编号无效 / malformed network id")
    box, z = _check_view(bbox, zoom)
    scope = Scope.of(principal)
    deg_per_px = 360.0 / (256.0 * 2.0 ** z)
    digits = 5 if z < 15 else 6
    rows = db.fetch_all(
        f"""
        WITH r AS (
          SELECT r.code, r.name, r.geom FROM network_grids r
           WHERE r.network_id = %(net)s
             AND r.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
             AND {_scope_box(scope)}
           ORDER BY r.code LIMIT %(limit)s)
        SELECT json_build_object('type', 'Feature',
                 'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(r.geom, %(tol)s),
                                          %(digits)s)::json,
                 'properties', json_build_object('code', r.code, 'name', r.name)) AS f
          FROM r
        UNION ALL
        SELECT json_build_object('type', 'Feature',
                 'geometry', ST_AsGeoJSON(ST_PointOnSurface(r.geom), %(digits)s)::json,
                 'properties', json_build_object('code', r.code, 'name', r.name, 'label', true))
          FROM r WHERE %(labels)s""",
        {**scope.params(), "net": network_id, "w": box[0], "s": box[1], "e": box[2],
         "n": box[3], "tol": deg_per_px / 2, "digits": digits, "limit": MAX_POLYGONS,
         "labels": z >= LABEL_MIN_ZOOM})
    return {"type": "FeatureCollection", "features": [r["f"] for r in rows]}
