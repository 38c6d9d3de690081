"""What the /plan page draws and tabulates of a department network for one community.

* :func:`network_outlines`: the network's polygons touching the community, as GeoJSON;
* :func:`community_crosswalk`: the crosswalk rows of the old grids holding the
  community's buildings, against its current grids or a proposal's (building id -> code).

Both take the principal first and check ``networks.view`` on the community.
"""

from __future__ import annotations

import json
from typing import Any

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.networks.crosswalk import household_pairs
from geo.networks.store import network_id
from geo.repository.scope import Scope


def network_outlines(principal: Principal, network: str, community_code: Any) -> dict:
    """The polygons of ``network`` that intersect the community (GeoJSON, EPSG:4326).

    Properties: ``code``, ``name``. Action ``networks.view`` on a community inside the
    principal's scope.
    """
    code = Scope.of(principal).require_community(community_code)
    permissions.check(principal, "networks.view", code)
    with db.transaction(readonly=True) as cur:
        net = network_id(cur, network)
        cur.execute(
            """SELECT ng.code, ng.name, ST_AsGeoJSON(ng.geom, 6) AS gj
                 FROM network_grids ng JOIN communities c ON c.code = %s
                WHERE ng.network_id = %s AND ST_Intersects(ng.geom, c.geom)
                ORDER BY ng.code""",
            (code, net),
        )
        rows = cur.fetchall()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r["gj"]),
         "properties": {"code": r["code"], "name": r["name"]}} for r in rows]}


def community_crosswalk(principal: Principal, network: str, community_code: Any, *,
                        assignment: dict | None = None) -> list[dict]:
    """Crosswalk rows of the old grids holding the community's buildings.

    Parameters
    ----------
    assignment:
        building id -> grid code for the community's buildings (a proposal's labels);
        ``None`` for its current grids.

    Returns
    -------
    list of dict
        ``network_code``, ``network_name``, ``grid_code``, ``households``, ``buildings``,
        ``share_of_network_households`` (of the old grid's households, every community
        counted, so one old grid's shares sum to 1), by network code then grid code; only
        unified grids of this community are listed.
    """
    code = Scope.of(principal).require_community(community_code)
    pairs = household_pairs(principal, network, community_code=code, assignment=assignment)
    if pairs.empty:
        return []
    touching = set(pairs.loc[pairs.community_code == code, "network_code"])
    pairs = pairs[pairs.network_code.isin(touching)]
    by = pairs.groupby(["network_code", "network_name", pairs.grid_code.fillna("")],
                       sort=True)[["households", "buildings"]].sum().reset_index()
    tot = by.groupby("network_code")[["households", "buildings"]].transform("sum")
    share = (by.households / tot.households).where(tot.households > 0,
                                                   by.buildings / tot.buildings)
    rows = []
    for r, s in zip(by.itertuples(index=False), share, strict=True):
        if not r.grid_code.startswith(code):
            continue
        rows.append({"network_code": r.network_code, "network_name": r.network_name,
                     "grid_code": r.grid_code, "households": int(r.households),
                     "buildings": int(r.buildings), "share_of_network_households": float(s)})
    return rows
