"""Turning an engine run into a :class:`~geo.planning.model.Proposal`, and manual moves.

Pure given its inputs (a :class:`~geo.planning.data.CommunityInputs` and the engine's
:class:`~geo.partition.engine.Plan`): no database access here. Rule checks reuse the
engine's own predicates (``geo.partition.engine.evaluate``), so a manual move is judged by
exactly the rules the engine optimises.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import GridAtlasError
from geo.planning import codes as codes_mod
from geo.planning.data import CommunityInputs
from geo.planning.model import BAND_RULE, GRID_COLUMNS, HARD_RULES, PlanRejected, Proposal

log = logging.getLogger(__name__)


def grid_name(community_name: str, seq: int) -> str:
    """Display name of a grid, in the demo's style: ``东湖社区第12网格``."""
    return f"{community_name}第{seq}网格"


def locked_groups(ci: CommunityInputs, codes: set[str]) -> dict[str, list[int]]:
    """``{grid code: [building ids]}`` of current grids kept as they are."""
    cur = ci.current
    return {c: [int(b) for b in cur.index[cur == c]] for c in sorted(codes)
            if (cur == c).any()}


def _metric(geoms: gpd.GeoSeries, community: BaseGeometry):
    from geo.partition.cells import utm_crs_for

    return geoms.to_crs(utm_crs_for(community, "EPSG:4326"))


def build_proposal(
    ci: CommunityInputs,
    plan: Any,
    params: dict[str, Any],
    locked_codes: set[str],
    dedicated_codes: set[str],
) -> Proposal:
    """Code the engine's grids and package everything the page and the commit need.

    Parameters
    ----------
    ci:
        The community's inputs (the base version's assignment included).
    plan:
        The engine's result (``labels``, ``grids``, ``report``).
    params:
        Parameters recorded on the proposal.
    locked_codes, dedicated_codes:
        Current grids kept as they are (dedicated ones are written with kind ``dedicated``).
    """
    eng_labels: pd.Series = plan.labels
    groups = {lab: frozenset(int(b) for b in eng_labels.index[eng_labels == lab])
              for lab in pd.unique(eng_labels)}
    base_groups = _groups(ci.current)
    eg = plan.grids.set_index("code")
    metric = _metric(gpd.GeoSeries(eg.geometry.values, index=eg.index, crs=eg.crs or 4326),
                     ci.geom)
    pts = metric.representative_point()
    # a grid whose polygon came out empty (its buildings have no cell, e.g. footprints that
    # coincide) is placed for coding at its buildings' centre; the rules flag the grid itself
    fps = _metric(ci.buildings.geometry, ci.geom).centroid
    xy = {}
    for lab in groups:
        p = pts[lab]
        if p is None or p.is_empty:
            c = fps.loc[sorted(groups[lab])].union_all().centroid
            p = c if not c.is_empty else metric.union_all().representative_point()
        xy[lab] = (float(p.x), float(p.y))
    row_h = 0.5 * codes_mod.typical_size(metric.area.to_numpy())
    households = {int(b): int(h) for b, h in ci.buildings["households"].items()}
    coded = codes_mod.assign_codes(
        groups, base_groups, community_code=ci.code, used_seqs=ci.used_seqs, xy=xy,
        row_height=row_h, households=households,
    )
    labels = {int(b): coded[lab].code for b, lab in eng_labels.items()}
    base_labels = {int(b): (None if c is None else str(c)) for b, c in ci.current.items()}
    kinds = ci.kinds
    names = dict(zip(ci.grids["code"], ci.grids["name"], strict=True))
    keep = set(locked_codes) | set(dedicated_codes)
    rows = []
    for lab, cg in coded.items():
        r = eg.loc[lab]
        kept = cg.status == "kept"
        kind = "dedicated" if cg.code in dedicated_codes else (kinds.get(cg.code, "basic")
                                                              if kept else "basic")
        flags = list(r["flags"])
        locked = kept and cg.code in keep and groups[lab] == base_groups.get(cg.code)
        if locked and "locked" not in flags:
            flags.append("locked")
        rows.append({
            "code": cg.code, "seq": cg.seq, "kind": kind,
            "name": names.get(cg.code) if kept and names.get(cg.code) else
            grid_name(ci.name, cg.seq),
            "status": cg.status, "locked": locked, "predecessor": None,
            "households": int(r["households"]), "deviation": float(r["deviation"]),
            "pp": float(r["pp"]), "n_buildings": int(r["n_buildings"]),
            "valid": bool(r["valid"]), "failed_rules": list(r["failed_rules"]),
            "flags": flags, "households_moved": 0, "geometry": r.geometry,
        })
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=eg.crs or 4326).to_crs(4326)
    grids = grids.sort_values("code").reset_index(drop=True)
    rep = dict(plan.report)
    prop = Proposal(
        community_code=ci.code, community_id=ci.id, community_name=ci.name,
        district_code=ci.district_code, base_version_id=ci.version_id,
        base_version_no=ci.version_no, params=params, labels=labels,
        base_labels=base_labels, households=households, grids=grids,
        totals=dict(rep.get("totals") or {}), report={},
        used_seqs=sorted(set(ci.used_seqs) | {cg.seq for cg in coded.values()}),
    )
    _set_flags(prop, {})
    _refresh_churn(prop)
    prop.report = _report(prop, rep)
    return prop


def _groups(assign: pd.Series | dict) -> dict[str, frozenset]:
    items = assign.items() if hasattr(assign, "items") else assign
    out: dict[str, set] = {}
    for b, c in items:
        if c is None or (isinstance(c, float) and np.isnan(c)):
            continue
        out.setdefault(str(c), set()).add(int(b))
    return {c: frozenset(m) for c, m in out.items()}


def _refresh_churn(prop: Proposal) -> None:
    per, totals = codes_mod.churn(prop.base_labels, prop.labels, prop.households)
    prop.churn = totals
    prop.grids["predecessor"] = pd.Series(
        [per.get(c, {}).get("predecessor") for c in prop.grids["code"]],
        index=prop.grids.index, dtype=object)
    prop.grids["households_moved"] = [int(per.get(c, {}).get("households_moved", 0))
                                      for c in prop.grids["code"]]


def _report(prop: Proposal, engine_report: dict) -> dict:
    """The JSON report of ``python -m geo rebalance`` for one community."""
    target = float(prop.params.get("target") or 0)
    rows = []
    for r in prop.grids.itertuples(index=False):
        rows.append({
            "code": r.code, "households": int(r.households), "deviation": float(r.deviation),
            # signed (346 of 400: -0.135); ``deviation`` stays absolute for the benchmarks
            "deviation_signed": round((int(r.households) - target) / target, 6) if target
            else 0.0,
            "pp": float(r.pp), "n_buildings": int(r.n_buildings), "valid": bool(r.valid),
            "failed_rules": list(r.failed_rules), "flags": list(r.flags),
            "status": r.status,
            "predecessor": r.predecessor if isinstance(r.predecessor, str) else None,
            "households_moved": int(r.households_moved),
        })
    out = {
        "community": prop.community_code,
        "base_version_id": prop.base_version_id,
        "base_version_no": prop.base_version_no,
        "mode": prop.params.get("mode"),
        "seed": prop.params.get("seed"),
        "target": prop.params.get("target"),
        "min": prop.params.get("min_hh"),
        "max": prop.params.get("max_hh"),
        "band": {"target": prop.params.get("target"), "min": prop.params.get("min_hh"),
                 "max": prop.params.get("max_hh")},
        "households": int(sum(prop.households.values())),
        "n_buildings": len(prop.labels),
        "grids": rows,
        "totals": prop.totals,
        "churn": prop.churn,
        "gate": prop.gate,
        "failed_rules": prop.failed_rules,
        "timings": dict(engine_report.get("timings") or {}),
    }
    if engine_report.get("minimal") is not None:
        # minimal mode: regions, grids out of band, the fresh comparison and the work spent
        out["minimal"] = engine_report["minimal"]
    return out


# ------------------------------------------------------------------------- manual moves


@dataclass
class MoveContext:
    """What a manual move needs beyond the proposal: geometry and the engine's graph."""

    inputs: CommunityInputs
    graph: Any
    pos: dict[int, int]  # building id -> position in ``inputs.buildings``
    cell_nb: list[set[int]]  # per position: positions of edge-sharing (or footprint) neighbours


def move_context(ci: CommunityInputs) -> MoveContext:
    """Build the engine's building graph once for a community (metric CRS)."""
    from geo.partition.cells import utm_crs_for
    from geo.partition.graph import build_graph

    utm = utm_crs_for(ci.geom, "EPSG:4326")
    fps_m = np.asarray(ci.buildings.geometry.to_crs(utm).values, dtype=object)
    cells_m = np.asarray(ci.cells.to_crs(utm).values, dtype=object)
    graph = build_graph(fps_m, cells_m)
    n = len(ci.buildings)
    nb: list[set[int]] = [set() for _ in range(n)]
    for a, b in np.asarray(graph.cell_pairs).reshape(-1, 2).tolist():
        nb[a].add(b)
        nb[b].add(a)
    empty = shapely.is_empty(cells_m)
    for a, b in np.asarray(graph.fp_pairs).reshape(-1, 2).tolist():
        if empty[a] or empty[b]:
            nb[a].add(b)
            nb[b].add(a)
    pos = {int(b): i for i, b in enumerate(ci.buildings.index)}
    return MoveContext(ci, graph, pos, nb)


def revalidate(prop: Proposal, ctx: MoveContext) -> Proposal:
    """Recompute every grid's households, measures and rules from the plan's labels.

    A proposal travels through the browser (a ``dcc.Store``), so nothing in it is trusted
    at commit time: rules come from the engine's predicates again, a grid counts as ``kept``
    (and a ``locked`` grid as exempt from the rules) only when its buildings are exactly
    those of the base grid with that code.

    Raises
    ------
    GridAtlasError
        When the plan is inconsistent (codes of another community, grids and labels that
        disagree, buildings that are not the community's).
    """
    from geo.partition.engine import evaluate

    ci = ctx.inputs
    if set(prop.labels) != set(ctx.pos):
        raise GridAtlasError(
            f"the buildings of community {prop.community_code} changed since this plan was "
            "computed; compute the plan again")
    codes = set(prop.labels.values())
    if codes != set(prop.grids["code"]):
        raise GridAtlasError("this plan is inconsistent (its grids and its buildings disagree); "
                             "compute it again")
    bad = sorted(c for c in codes if not (isinstance(c, str) and len(c) == 15 and c.isdigit()
                                         and c.startswith(prop.community_code)))
    if bad:
        raise GridAtlasError(f"grid code(s) {', '.join(bad[:5])} are not codes of community "
                             f"{prop.community_code}")
    p = prop.params
    idx = ci.buildings.index
    ev = evaluate(
        ci.buildings, ci.geom, pd.Series([prop.labels[int(x)] for x in idx], index=idx,
                                         dtype=object),
        ci.cells, households="households", compound="compound_code", target=p["target"],
        min_hh=p["min_hh"], max_hh=p["max_hh"], graph=ctx.graph,
    )
    after = {r["code"]: r for r in ev["grids"]}
    base = _groups(ci.current)
    groups = _groups(prop.labels)
    households = {int(b): int(h) for b, h in ci.buildings["households"].items()}
    succ = codes_mod.successors(
        {int(b): (None if c is None else str(c)) for b, c in ci.current.items()}, prop.labels,
        households)
    out = Proposal.from_json(prop.to_json())
    g = out.grids
    for i, code in zip(g.index, g["code"], strict=True):
        row = after[code]
        kept = succ.get(code) == code
        for col in ("households", "deviation", "pp", "n_buildings", "valid"):
            g.at[i, col] = row[col]
        g.at[i, "failed_rules"] = list(row["failed_rules"])
        g.at[i, "status"] = "kept" if kept else "new"
        g.at[i, "locked"] = bool(g.at[i, "locked"]) and base.get(code) == groups[code]
    out.households = {int(b): int(h) for b, h in ci.buildings["households"].items()}
    out.base_labels = {int(b): (None if c is None else str(c)) for b, c in ci.current.items()}
    _set_flags(out, after)
    _refresh_churn(out)
    return out


def _set_flags(prop: Proposal, evaluated: dict[str, dict]) -> None:
    """Recompute the flags the gate relies on: ``locked`` (from the column) and
    ``oversized_building`` (the grid holds a building above the band's maximum, so no plan
    can put it in band); other flags (e.g. the engine's ``infeasible_region``) are kept."""
    big = {prop.labels[b] for b, h in prop.households.items()
           if h > prop.params["max_hh"] and b in prop.labels}
    g = prop.grids
    for i, code in zip(g.index, g["code"], strict=True):
        keep = [f for f in g.at[i, "flags"] if f not in ("locked", "oversized_building")]
        extra = [f for f in evaluated.get(code, {}).get("flags", []) if f not in keep
                 and f not in ("locked", "oversized_building")]
        flags = (["locked"] if g.at[i, "locked"] else []) + keep + extra
        if code in big:
            flags.append("oversized_building")
        g.at[i, "flags"] = flags


def neighbour_grids(prop: Proposal, ctx: MoveContext, building_id: int) -> list[str]:
    """Grids other than its own whose cells touch the building's cell (move targets)."""
    b = int(building_id)
    if b not in ctx.pos or b not in prop.labels:
        raise GridAtlasError(f"building {building_id} is not in community {prop.community_code}")
    idx = ctx.inputs.buildings.index
    return sorted({prop.labels[int(idx[j])] for j in ctx.cell_nb[ctx.pos[b]]}
                  - {prop.labels[b]})


def apply_move(prop: Proposal, ctx: MoveContext, building_id: int, to_grid: str) -> Proposal:
    """Move one building to a neighbouring grid, or refuse naming the rule it would break.

    Refusals (:class:`PlanRejected`, ``rules`` set): ``locked`` (the building's grid or the
    target is kept as it is), ``neighbour`` (the target grid does not touch the building's
    cell), and the engine's hard rules ``contiguity``, ``one_piece``, ``inside_community``,
    ``coverage`` when the move would newly break them for either grid. Households out of
    band are *not* refused (a hand adjustment often passes through such states): they are
    returned as ``warnings`` and stay in the validity gate until fixed or accepted at commit.

    Returns
    -------
    Proposal
        A new proposal; the input is not modified.
    """
    from geo.partition.engine import evaluate

    t0 = time.perf_counter()
    ci = ctx.inputs
    b = int(building_id)
    if b not in prop.labels:
        raise GridAtlasError(f"building {building_id} is not in community {prop.community_code}")
    codes = set(prop.grids["code"])
    if to_grid not in codes:
        raise GridAtlasError(f"grid {to_grid} is not in this plan")
    src = prop.labels[b]
    bcode = ci.buildings.at[b, "code"] if b in ci.buildings.index else str(b)
    if src == to_grid:
        raise PlanRejected(f"building {bcode} is already in grid {to_grid}", ["same_grid"])
    locked = dict(zip(prop.grids["code"], prop.grids["locked"], strict=True))
    for c in (src, to_grid):
        if locked[c]:
            raise PlanRejected(
                f"move refused (rule locked): grid {c} is kept as it is in this plan", ["locked"])
    if set(prop.labels) != set(ctx.pos):
        raise GridAtlasError(
            f"the buildings of community {prop.community_code} changed since this plan was "
            "computed; compute the plan again")
    i = ctx.pos[b]
    idx = ci.buildings.index
    nb_codes = {prop.labels[int(idx[j])] for j in ctx.cell_nb[i]}
    if to_grid not in nb_codes:
        raise PlanRejected(
            f"move refused (rule neighbour): grid {to_grid} does not touch building {bcode}; "
            f"its neighbouring grids are {', '.join(sorted(nb_codes - {src})) or 'none'}",
            ["neighbour"])
    new_labels = dict(prop.labels)
    new_labels[b] = to_grid
    params = prop.params
    series = pd.Series([new_labels[int(x)] for x in idx], index=idx, dtype=object)
    ev = evaluate(
        ci.buildings, ci.geom, series, ci.cells, households="households",
        compound="compound_code", target=params["target"], min_hh=params["min_hh"],
        max_hh=params["max_hh"], graph=ctx.graph,
    )
    after = {r["code"]: r for r in ev["grids"]}
    before = {c: set(r) for c, r in zip(prop.grids["code"], prop.grids["failed_rules"],
                                         strict=True)}
    broken = []
    for c in (src, to_grid):
        if c not in after:
            continue
        for rule in after[c]["failed_rules"]:
            if rule in HARD_RULES and rule not in before.get(c, set()):
                broken.append((c, rule))
    if broken:
        rules = sorted({r for _, r in broken})
        detail = "; ".join(f"grid {c} would break {r}" for c, r in broken)
        raise PlanRejected(
            f"move refused (rule {', '.join(rules)}): building {bcode} from {src} to "
            f"{to_grid}: {detail}", rules)
    out = Proposal.from_json(prop.to_json())  # a deep copy that never shares state
    out.labels = new_labels
    # rows keyed by the codes before recoding: measures and rules from evaluate
    g = out.grids.set_index("code")
    g = g[g.index.isin(list(after))]  # a grid left without buildings disappears
    for code, row in after.items():
        for col in ("households", "deviation", "pp", "n_buildings", "valid"):
            g.at[code, col] = row[col]
        g.at[code, "failed_rules"] = list(row["failed_rules"])
    grouped = _groups(new_labels)
    for code in (src, to_grid):
        if code in after:
            g.at[code, "geometry"] = _union(ci.cells, sorted(grouped[code]))
    out.grids = gpd.GeoDataFrame(g.reset_index()[[*GRID_COLUMNS, "geometry"]],
                                 geometry="geometry", crs=4326)
    _set_flags(out, after)
    renamed = _recode(out, ci, [c for c in (src, to_grid) if c in after])
    warnings = []
    if src not in after:
        warnings.append(f"grid {src} has no building left and is removed")
    for code in (src, to_grid):
        if code not in after:
            continue
        hh = int(after[code]["households"])
        if not params["min_hh"] <= hh <= params["max_hh"] and \
                not any(new_labels[x] == code and h > params["max_hh"]
                        for x, h in prop.households.items()):
            warnings.append(
                f"grid {renamed.get(code, code)}: {hh} households, out of band "
                f"{params['min_hh']}-{params['max_hh']} (rule {BAND_RULE})")
    status = dict(zip(out.grids["code"], out.grids["status"], strict=True))
    for old, new in renamed.items():
        if status.get(new) == "kept":
            warnings.append(f"grid {old} equals current grid {new} again and takes its code back")
        else:
            warnings.append(f"grid {old} changed: new code {new}")
    out.grids = out.grids.sort_values("code").reset_index(drop=True)
    out.totals = {**prop.totals, **ev["totals"]}
    _refresh_churn(out)
    out.warnings = warnings
    out.moves = [*prop.moves, {"building_id": b, "building": bcode, "from": src,
                               "to": out.labels[b], "warnings": warnings}]
    out.report = _report(out, {"timings": {"move_s": round(time.perf_counter() - t0, 4)}})
    return out


def _union(cells: gpd.GeoSeries, members: list[int]) -> BaseGeometry:
    geoms = np.asarray(cells.loc[members].values, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)]
    union = shapely.coverage_union_all(geoms) if len(geoms) > 1 else geoms[0]
    if union.geom_type == "MultiPolygon" and len(union.geoms) == 1:
        union = union.geoms[0]
    return union


def _recode(prop: Proposal, ci: CommunityInputs, affected: list[str]) -> dict[str, str]:
    """After a move: codes follow :func:`geo.planning.codes.successors` again. A grid that
    now succeeds a base grid takes (or keeps) its code; a grid holding a base code it no
    longer succeeds gets a fresh sequence number; other new grids keep their number.
    ``affected`` is kept for the callers; every grid is checked, since a move can hand a
    base grid's majority from one grid to another."""
    del affected
    succ = codes_mod.successors(prop.base_labels, prop.labels, prop.households)
    want = {grid: base for base, grid in succ.items()}  # current label -> base code it keeps
    base_codes = {c for c in prop.base_labels.values() if c is not None}
    kinds = ci.kinds
    names = dict(zip(ci.grids["code"], ci.grids["name"], strict=True))
    used = set(prop.used_seqs)
    mapping: dict[str, tuple[str, str]] = {}
    for code in sorted(set(prop.labels.values())):
        if code in want:
            if want[code] != code:
                mapping[code] = (want[code], "kept")
        elif code in base_codes:
            seq = max(used | {0}) + 1
            used.add(seq)
            mapping[code] = (codes_mod.make_code(prop.community_code, seq), "new")
    if not mapping:
        return {}
    prop.used_seqs = sorted(used)
    prop.labels = {b: mapping.get(c, (c, None))[0] for b, c in prop.labels.items()}
    g = prop.grids
    rows = {old: g.index[g["code"] == old][0] for old in mapping}
    for old, (new, st) in mapping.items():
        i = rows[old]
        seq = int(new[-3:])
        g.at[i, "code"] = new
        g.at[i, "seq"] = seq
        g.at[i, "status"] = st
        g.at[i, "kind"] = kinds.get(new, "basic") if st == "kept" else "basic"
        g.at[i, "name"] = (names.get(new) if st == "kept" and names.get(new)
                           else grid_name(prop.community_name, seq))
    return {old: new for old, (new, _) in mapping.items()}
