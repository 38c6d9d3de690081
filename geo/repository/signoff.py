"""The redraw sign-off sheet of the leaders' review: two grid versions of one community side
by side (their grids' polygons, households, signed deviation from the community's target,
compactness, churn) and the grid workload under each (the last months' incidents located in
each grid; the same incidents replayed onto the other version's grids).

The comparison and the replay are the planner's own (:func:`geo.planning.api.compare`,
:func:`geo.planning.workload.replay`); this module adds the polygons and the per-grid figures
a leader signs off on. Every read checks ``view.plan`` on the community first.
"""

from __future__ import annotations

import json
import math
from typing import Any

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import api as planning
from geo.planning import workload
from geo.repository.scope import Scope


class SignoffError(GridAtlasError):
    """A sign-off request that cannot be answered (the message says why)."""


def communities(principal: Principal) -> list[dict]:
    """Communities the principal may plan in (``code``, ``name``, ``name_en``), by code."""
    permissions.check(principal, "view.plan")
    base = Scope.of(principal).base
    return db.fetch_all(
        """SELECT code, name, name_en FROM communities
            WHERE %(b)s::text IS NULL OR left(code, length(%(b)s)) = %(b)s
               OR left(%(b)s, 12) = code
            ORDER BY code""", {"b": base})


def versions(principal: Principal, community: Any) -> list[dict]:
    """The community's versions, newest first (:func:`geo.planning.api.list_versions`)."""
    return planning.list_versions(principal, community)


def _version_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise SignoffError(f"请选择两个版本 / choose two versions (got {str(value)[:20]!r})")
    return int(value)


def _grids(version_id: int) -> tuple[dict[str, dict], dict]:
    rows = db.fetch_all(
        """SELECT code, households, ST_AsGeoJSON(geom, 6) AS gj,
                  ST_Area(geom::geography) AS area, ST_Perimeter(geom::geography) AS perim
             FROM grids WHERE version_id = %s ORDER BY code""", (version_id,))
    grids, feats = {}, []
    for r in rows:
        pp = 4 * math.pi * r["area"] / r["perim"] ** 2 if r["perim"] else 0.0
        grids[r["code"]] = {"code": r["code"], "households": int(r["households"] or 0),
                            "compactness": round(float(pp), 3)}
        feats.append({"type": "Feature", "geometry": json.loads(r["gj"]),
                      "properties": {"code": r["code"], "households": int(r["households"] or 0)}})
    return grids, {"type": "FeatureCollection", "features": feats}


def sheet(principal: Principal, community: Any, version_a: Any, version_b: Any, *,
          months: int = 12, until=None) -> dict[str, Any]:
    """The sign-off sheet of two versions of ``community``.

    Returns
    -------
    dict
        ``community`` (code, name, target, band), ``bounds`` ``[[s, w], [n, e]]``,
        ``households_moved``, ``buildings_moved``, ``added``, ``removed``, ``months``, and
        ``a`` / ``b``: ``version_no``, ``is_current``, ``geojson``, ``grids`` (per grid
        ``code``, ``households``, ``deviation`` (signed: below the target is negative),
        ``compactness`` (Polsby-Popper on the spheroid), ``churn`` (households that leave a
        grid of ``a`` / arrive in a grid of ``b``), ``incidents``, ``open_incidents``) and
        the workload summary (``incidents``, ``max_incidents``, ``min_incidents``,
        ``outside``).
    """
    if not (isinstance(community, str) and community.isdigit() and len(community) == 12):
        raise SignoffError("请选择一个社区 / choose a community")
    permissions.check(principal, "view.plan", community)
    va, vb = _version_id(version_a), _version_id(version_b)
    if va == vb:
        raise SignoffError("请选择两个不同的版本 / choose two different versions")
    diff = planning.compare(va, vb, principal=principal)
    if diff["community"] != community:
        raise SignoffError(f"版本不属于社区 {community} / the versions are not of community {community}")
    com = db.fetch_one(
        """SELECT code, name, name_en, target_households, min_households, max_households,
                  ST_XMin(geom) AS w, ST_YMin(geom) AS s, ST_XMax(geom) AS e, ST_YMax(geom) AS n
             FROM communities WHERE code = %s""", (community,))
    target = int(com["target_households"])
    out_a: dict[str, int] = {}
    in_b: dict[str, int] = {}
    for m in diff["moved"]:
        if m["from"] is not None:
            out_a[m["from"]] = out_a.get(m["from"], 0) + m["households"]
        if m["to"] is not None:
            in_b[m["to"]] = in_b.get(m["to"], 0) + m["households"]
    result: dict[str, Any] = {
        "community": {"code": com["code"], "name": com["name"], "name_en": com["name_en"],
                      "target": target, "min": int(com["min_households"]),
                      "max": int(com["max_households"])},
        "bounds": [[com["s"], com["w"]], [com["n"], com["e"]]],
        "households_moved": diff["households_moved"], "buildings_moved": diff["buildings_moved"],
        "added": diff["added"], "removed": diff["removed"], "months": months,
    }
    for key, vid, label, churn in (("a", va, diff["a"], out_a), ("b", vb, diff["b"], in_b)):
        grids, gj = _grids(vid)
        work = workload.replay(principal, community, version=vid, months=months, until=until)["other"]
        by_code = {w["code"]: w for w in work["grids"]}
        rows = []
        for code, g in grids.items():
            w = by_code.get(code, {})
            rows.append({**g, "deviation": round((g["households"] - target) / target, 4) if target else None,
                         "churn": churn.get(code, 0), "incidents": w.get("incidents", 0),
                         "open_incidents": w.get("open_incidents", 0)})
        result[key] = {"version_no": label.get("version_no"), "is_current": label.get("is_current"),
                       "geojson": gj, "grids": rows,
                       **{k: work[k] for k in ("incidents", "max_incidents", "min_incidents", "outside")}}
    return result
