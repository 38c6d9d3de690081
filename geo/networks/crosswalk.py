"""Crosswalk and alignment between a department network and the unified grids.

Both read the stored building -> old grid assignment (``network_grid_buildings``; the rule is in
:mod:`geo.networks`: point on surface in polygon, lowest code in overlaps, nearest polygon
within the network's gap tolerance for points in gaps), and each building's unified grid
of a version. The crosswalk is one SQL statement; the alignment reads the
(old grid, community, unified grid) household pairs and summarises them in Python
(:func:`alignment_from_pairs`, pure).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from psycopg2 import sql

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.networks.assign import DEG_PER_M
from geo.networks.store import network_id

log = logging.getLogger(__name__)

#: Columns of the crosswalk, in order (the CSV's header).
CROSSWALK_COLUMNS = ("network_code", "grid_code", "households", "buildings",
                     "share_of_network_households")


# The unified side: building -> grid code of the version (NULL: in no grid of it).
_CURRENT = """
ug AS (
    SELECT b.id AS building_id, b.community_id, b.households, g.code AS grid_code
      FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id
     WHERE {bfilter})"""
_VERSION = """
ug AS (
    SELECT b.id AS building_id, b.community_id, b.households, g.code AS grid_code
      FROM buildings b
      LEFT JOIN building_grid bg ON bg.building_id = b.id AND bg.version_id = %(ver)s
      LEFT JOIN grids g ON g.id = bg.grid_id
     WHERE {bfilter})"""
_OVERRIDE = """
ug AS (
    SELECT b.id AS building_id, b.community_id, b.households,
           CASE WHEN b.community_id = %(cid)s THEN o.grid_code ELSE g.code END AS grid_code
      FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id
      LEFT JOIN unnest(%(ob)s::int[], %(oc)s::text[]) AS o(building_id, grid_code)
             ON o.building_id = b.id
     WHERE {bfilter})"""

# Each building's old grid: the stored assignment (``network_grid_buildings``, written in
# bulk by the import, :func:`geo.networks.assign.assign_buildings`, and kept by a trigger).
# ``{arrays}`` is the network's rows, or only those holding a building of the community.
_ASSIGN = """
nb AS (
    SELECT ug.building_id, ug.community_id, ug.households, ug.grid_code,
           a.network_grid_id AS ng_id
      FROM {arrays} a
      CROSS JOIN LATERAL unnest(a.building_ids) AS u(building_id)
      JOIN ug ON ug.building_id = u.building_id)"""
_ALL_ARRAYS = "(SELECT * FROM network_grid_buildings WHERE network_id = %(net)s)"

# One community: the old grids holding any of its buildings (materialised first, so the
# work is that of a few dozen old grids, not of the whole district). Such an old grid lies
# within its gap tolerance of the community, so a 1 km box around the community finds every
# candidate; membership is then checked on the ids (array overlap would compare every pair).
_COMMUNITY_CTES = """
sel AS MATERIALIZED (
    SELECT a.network_grid_id, a.building_ids
      FROM network_grid_buildings a
      JOIN network_grids ng ON ng.id = a.network_grid_id
      JOIN communities c ON c.id = %(cid)s
     WHERE a.network_id = %(net)s AND ng.geom && ST_Expand(c.geom, %(near_deg)s)
       AND EXISTS (SELECT 1 FROM unnest(a.building_ids) AS u(id)
                     JOIN buildings b ON b.id = u.id WHERE b.community_id = %(cid)s)),"""

# Buildings of one community and every building sharing an old grid with one of them.
_NEAR_COMMUNITY = """(b.community_id = %(cid)s
                   OR b.id IN (SELECT unnest(building_ids) FROM sel))"""


# The whole district's current grids (the city-scale case): a million (old grid, building)
# pairs are summed on integer keys (old grid id, grid id) in one hash aggregate, and only
# the few thousand sums meet the codes and names; joining the codes first made the planner
# sort the million rows by text (on disk) before grouping them.
_CITY_CURRENT = """
SELECT x.network_code, x.network_name, x.grid_code, x.households, x.buildings,
       x.share AS share_of_network_households
  FROM (SELECT ng.code AS network_code, ng.name AS network_name, g.code AS grid_code,
               a.households, a.buildings,
               CASE WHEN sum(a.households) OVER w > 0
                    THEN a.households::float8 / sum(a.households) OVER w
                    ELSE a.buildings::float8 / sum(a.buildings) OVER w END AS share
          FROM (SELECT n.network_grid_id AS ng_id, b.grid_id,
                       coalesce(sum(b.households), 0)::bigint AS households,
                       count(*)::bigint AS buildings
                  FROM network_grid_buildings n
                  CROSS JOIN LATERAL unnest(n.building_ids) AS u(building_id)
                  JOIN buildings b ON b.id = u.building_id
                 WHERE n.network_id = %(net)s
                 GROUP BY 1, 2) a
          JOIN network_grids ng ON ng.id = a.ng_id
          LEFT JOIN grids g ON g.id = a.grid_id
        WINDOW w AS (PARTITION BY a.ng_id)) x
 WHERE (%(scope)s::text IS NULL OR x.grid_code LIKE %(scope)s::text || '%%')
 ORDER BY x.network_code, x.grid_code NULLS LAST"""

# the unnested arrays are estimated at 10 ids each (they hold hundreds): without these the
# planner looks a million buildings up one by one, or sorts them to group them
_CITY_SETTINGS = ("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; "
                  "SET LOCAL enable_nestloop = off; SET LOCAL enable_sort = off")


@dataclass(frozen=True)
class _Scope:
    params: dict
    unified: str
    bfilter: str


def _resolve(cur, net: int, version: str | int, community_code: str | None,
             override: dict | None) -> _Scope:
    params: dict = {"net": net}
    cid = None
    if community_code is not None:
        cur.execute("SELECT id FROM communities WHERE code = %s", (str(community_code),))
        row = cur.fetchone()
        if row is None:
            raise GridAtlasError(f"没有社区 {community_code} / no community {community_code}")
        cid = int(row["id"])
        params["cid"] = cid
    params["near_deg"] = 1000.0 * DEG_PER_M
    if override is not None:
        if cid is None:
            raise GridAtlasError("an assignment to evaluate needs its community")
        params["ob"] = [int(k) for k in override]
        params["oc"] = [None if v is None else str(v) for v in override.values()]
        unified = _OVERRIDE
    elif str(version) == "current":
        unified = _CURRENT
    else:
        from geo.planning.versions import resolve_version

        ver = resolve_version(cur, version if "@" in str(version) else str(version))
        params["ver"] = int(ver["id"])
        vcid = int(ver["community_id"])
        if cid is not None and cid != vcid:
            raise GridAtlasError(
                f"version {version} belongs to community {ver['community_code']}, not "
                f"{community_code}")
        cid = vcid
        params["cid"] = cid
        unified = _VERSION
    if cid is None:
        bfilter = "TRUE"
    elif override is not None or community_code is not None:
        bfilter = _NEAR_COMMUNITY
    else:  # one version of one community: its buildings
        bfilter = "b.community_id = %(cid)s"
    return _Scope(params, unified, bfilter)


def _with(scope: _Scope) -> str:
    """The CTEs ``ug`` (unified side) and ``nb`` (with old grids): fixed SQL text only,
    values travel in ``scope.params``."""
    one = "cid" in scope.params
    # Over the whole district the planner takes each unnested array for 10 ids (it holds
    # hundreds) and would look a million buildings up one by one instead of hashing them.
    settings = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; " \
        + ("" if one else "SET LOCAL enable_nestloop = off; ")
    return settings + "\nWITH " + (_COMMUNITY_CTES if one else "") \
        + scope.unified.format(bfilter=scope.bfilter).strip() + "," \
        + _ASSIGN.format(arrays="sel" if one else _ALL_ARRAYS)


def crosswalk_rows(
    principal: Principal,
    network: str,
    *,
    version: str | int = "current",
    community_code: str | None = None,
) -> list[dict]:
    """How each old grid's households and buildings are shared among the unified grids.

    Parameters
    ----------
    principal:
        Who reads (action ``networks.view``); rows are limited to unified grids inside the
        principal's scope (shares stay those of the whole old grid).
    network:
        The network's name.
    version:
        ``current`` (every community's current grids), or one community's version (its id
        or ``COMMUNITY@NUMBER``): then only that community's buildings count.
    community_code:
        With ``current``: only the old grids holding buildings of this community (all their
        buildings still count, so their shares still sum to 1).

    Returns
    -------
    list of dict
        ``network_code``, ``network_name``, ``grid_code`` (``None`` for buildings in no
        unified grid), ``households``, ``buildings``, ``share_of_network_households``
        (households / the old grid's households; buildings / its buildings when it has no
        household), ordered by network code then grid code. Shares of one old grid sum to 1.
    """
    permissions.check(principal, "networks.view")
    with db.transaction(readonly=True) as cur:
        net = network_id(cur, network)
        if community_code is None and str(version) == "current":
            cur.execute(_CITY_SETTINGS)
            cur.execute(_CITY_CURRENT, {"net": net, "scope": principal.scope_code})
            return _typed([dict(r) for r in cur.fetchall()])
        scope = _resolve(cur, net, version, community_code, None)
        keep = "TRUE"
        if community_code is not None:
            keep = "x.ng_id IN (SELECT nb.ng_id FROM nb WHERE nb.community_id = %(cid)s)"
        query = _with(scope) + f"""
SELECT x.network_code, x.network_name, x.grid_code, x.households, x.buildings,
       x.share AS share_of_network_households
  FROM (SELECT ng.id AS ng_id, ng.code AS network_code, ng.name AS network_name,
               nb.grid_code, sum(nb.households)::bigint AS households,
               count(*)::bigint AS buildings,
               CASE WHEN sum(sum(nb.households)) OVER w > 0
                    THEN sum(nb.households)::float8 / sum(sum(nb.households)) OVER w
                    ELSE count(*)::float8 / sum(count(*)) OVER w END AS share
          FROM nb JOIN network_grids ng ON ng.id = nb.ng_id
         GROUP BY ng.id, ng.code, ng.name, nb.grid_code
        WINDOW w AS (PARTITION BY ng.id)) x
 WHERE {keep}
   AND (%(scope)s::text IS NULL OR x.grid_code LIKE %(scope)s::text || '%%')
 ORDER BY x.network_code, x.grid_code NULLS LAST"""
        params = {**scope.params, "scope": principal.scope_code}
        cur.execute(sql.SQL(query), params)
        rows = [dict(r) for r in cur.fetchall()]
    return _typed(rows)


def _typed(rows: list[dict]) -> list[dict]:
    for r in rows:
        r["households"] = int(r["households"])
        r["buildings"] = int(r["buildings"])
        r["share_of_network_households"] = float(r["share_of_network_households"])
    return rows


def write_crosswalk_csv(rows: list[dict], path: str | Path) -> int:
    """Write crosswalk rows as UTF-8 CSV with a BOM (Excel opens it as UTF-8).

    Shares are written with 6 decimals; a building outside every unified grid has an empty
    ``grid_code``. Returns the number of rows written.
    """
    out = Path(path)
    try:
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(CROSSWALK_COLUMNS)
            for r in rows:
                w.writerow([r["network_code"], r["grid_code"] or "", r["households"],
                            r["buildings"], f"{r['share_of_network_households']:.6f}"])
    except OSError as exc:
        raise GridAtlasError(f"cannot write {out.name}: {exc.strerror or exc}") from exc
    return len(rows)


# ----------------------------------------------------------------------------- alignment


@dataclass
class Alignment:
    """How well a network's old grids sit inside the unified grids.

    Attributes
    ----------
    network:
        The network's name.
    communities:
        Per community: ``community_code``, ``households`` (in buildings with an old grid),
        ``aligned_households`` (those whose old grid lies within one unified grid),
        ``share_aligned``, ``old_grids``, ``split_old_grids``.
    total:
        The same figures over every community reported.
    worst:
        The old grids cutting across unified grids most: ``network_code``,
        ``network_name``, ``unified_grids`` (how many they spread over), ``households``,
        ``households_cut`` (outside their largest unified part), ``grid_codes``;
        by households cut, then unified grids, then code.
    """

    network: str
    communities: list[dict] = field(default_factory=list)
    total: dict = field(default_factory=dict)
    worst: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"network": self.network, "communities": self.communities,
                "total": self.total, "worst": self.worst}


def alignment_from_pairs(pairs: pd.DataFrame, *, community_code: str | None = None,
                         worst: int = 10) -> tuple[list[dict], dict, list[dict]]:
    """Alignment figures from household pairs (pure).

    Parameters
    ----------
    pairs:
        One row per (old grid, community, unified grid): ``network_code``, ``network_name``,
        ``community_code``, ``grid_code`` (``None``: no unified grid), ``households``,
        ``buildings``.
    community_code:
        Report only this community (and the old grids holding its buildings).
    worst:
        How many cutting old grids to list.

    Returns
    -------
    (communities, total, worst)
        See :class:`Alignment`. An old grid lies within one unified grid when all its
        buildings are in the same one.
    """
    if pairs.empty:
        return [], {"households": 0, "aligned_households": 0, "share_aligned": None,
                    "old_grids": 0, "split_old_grids": 0}, []
    per_old = pairs.groupby("network_code").agg(
        households=("households", "sum"),
        unified_grids=("grid_code", lambda s: s.nunique(dropna=False)),
        has_none=("grid_code", lambda s: s.isna().any()),
        network_name=("network_name", "first"),
    )
    per_old["aligned"] = (per_old.unified_grids == 1) & ~per_old.has_none
    by_unified = (pairs.groupby(["network_code", pairs.grid_code.fillna("")], sort=True)
                  [["households", "buildings"]].sum().reset_index())
    by_unified = by_unified.sort_values(["network_code", "households", "buildings"],
                                        ascending=[True, False, False])
    largest = by_unified.groupby("network_code").households.first()
    per_old["households_cut"] = per_old.households - largest
    codes = by_unified.groupby("network_code").grid_code.agg(
        lambda s: sorted(c for c in s if c))
    per_old["grid_codes"] = codes
    sel = pairs
    if community_code is not None:
        touching = set(pairs.loc[pairs.community_code == community_code, "network_code"])
        sel = pairs[pairs.community_code == community_code]
        per_old = per_old[per_old.index.isin(touching)]
    sel = sel.join(per_old.aligned, on="network_code")
    communities = []
    for code, g in sel.groupby("community_code", sort=True):
        hh = int(g.households.sum())
        ok = int(g.loc[g.aligned, "households"].sum())
        olds = g.network_code.unique()
        communities.append({
            "community_code": code, "households": hh, "aligned_households": ok,
            "share_aligned": (ok / hh) if hh else None, "old_grids": len(olds),
            "split_old_grids": int((~per_old.loc[olds, "aligned"]).sum()),
        })
    hh = int(sel.households.sum())
    ok = int(sel.loc[sel.aligned, "households"].sum())
    total = {"households": hh, "aligned_households": ok,
             "share_aligned": (ok / hh) if hh else None, "old_grids": len(per_old),
             "split_old_grids": int((~per_old.aligned).sum())}
    cut = per_old[~per_old.aligned].reset_index().sort_values(
        ["households_cut", "unified_grids", "network_code"], ascending=[False, False, True])
    worst_rows = [{"network_code": r.network_code, "network_name": r.network_name,
                   "unified_grids": int(r.unified_grids), "households": int(r.households),
                   "households_cut": int(r.households_cut), "grid_codes": list(r.grid_codes)}
                  for r in cut.head(worst).itertuples(index=False)]
    return communities, total, worst_rows


def household_pairs(
    principal: Principal,
    network: str,
    *,
    version: str | int = "current",
    community_code: str | None = None,
    assignment: dict | None = None,
) -> pd.DataFrame:
    """(old grid, community, unified grid) pairs with households and buildings.

    ``assignment`` (building id -> grid code of one community, e.g. a proposal's labels)
    replaces the current grids of ``community_code``'s buildings. Action ``networks.view``
    on the community when one is given.
    """
    permissions.check(principal, "networks.view", community_code)
    with db.transaction(readonly=True) as cur:
        net = network_id(cur, network)
        scope = _resolve(cur, net, version, community_code, assignment)
        query = _with(scope) + """
SELECT ng.code AS network_code, ng.name AS network_name, c.code AS community_code,
       nb.grid_code, sum(nb.households)::bigint AS households, count(*)::bigint AS buildings
  FROM nb JOIN network_grids ng ON ng.id = nb.ng_id
  JOIN communities c ON c.id = nb.community_id
 GROUP BY 1, 2, 3, 4
 ORDER BY 1, 3, 4"""
        cur.execute(sql.SQL(query), scope.params)
        rows = [dict(r) for r in cur.fetchall()]
    cols = ["network_code", "network_name", "community_code", "grid_code", "households",
            "buildings"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["households"] = frame.households.astype("int64")
    frame["buildings"] = frame.buildings.astype("int64")
    return frame


def alignment(
    principal: Principal,
    network: str,
    *,
    community_code: str | None = None,
    version: str | int = "current",
    assignment: dict | None = None,
    worst: int = 10,
) -> Alignment:
    """Per community, the share of households whose old grid lies within one unified grid,
    and the old boundaries cutting across unified grids most.

    Parameters
    ----------
    principal:
        Who reads (action ``networks.view``, on the community when one is given; without
        one, communities outside the principal's scope are left out).
    network:
        The network's name.
    community_code:
        One community (before a redraw: its current grids; after: pass ``assignment``).
    version:
        ``current`` or one community's version (id or ``COMMUNITY@NUMBER``).
    assignment:
        A redraw to evaluate before it is committed: building id -> new grid code, for the
        buildings of ``community_code`` (e.g. ``Proposal.labels``).
    worst:
        How many cutting old grids to list.
    """
    pairs = household_pairs(principal, network, version=version,
                            community_code=community_code, assignment=assignment)
    if principal.scope_code is not None and community_code is None:
        pairs = pairs[pairs.community_code.str.startswith(principal.scope_code)]
    communities, total, worst_rows = alignment_from_pairs(
        pairs, community_code=community_code, worst=worst)
    return Alignment(network=network, communities=communities, total=total, worst=worst_rows)
