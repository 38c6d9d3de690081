"""Writing checked features of each KIND inside the caller's transaction.

Each ``write_*`` function takes the cursor, the :class:`~geo.importers.validate.Checked`
features and an :class:`ImportContext`, finds parents (by a mapped code field, else by
point-on-surface containment), refuses codes already in the database, inserts through
:mod:`geo.repository.writers`, and returns counts for the audit row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import psycopg2.extensions
import shapely
from psycopg2 import sql

from geo import coarse
from geo.errors import GridAtlasError
from geo.importers.gridfit import GRID_SNAP_M, SLIVER_M2, SLIVER_WIDTH_M, fit_grids
from geo.importers.validate import Checked, check_in_district, feature_name
from geo.planning.band import DEFAULT as BAND_DEFAULT
from geo.repository import lookup
from geo.repository.cells import CellsError, store_cells
from geo.repository.writers import (
    GridSpec,
    check_coverage_now,
    insert_rows,
    refresh_grid_households,
    to_hex_wkb,
    write_grid_version,
)

log = logging.getLogger(__name__)

Cursor = psycopg2.extensions.cursor


@dataclass
class ImportContext:
    """What a writer needs besides the features."""

    label: str
    actor: str
    source: str = "imported"
    notes: list[str] = field(default_factory=list)


def _codes(checked: Checked) -> list:
    return checked.values.get("code", [None] * len(checked))


def _refuse_existing(cur: Cursor, table: str, checked: Checked, ctx: ImportContext) -> None:
    codes = [c for c in _codes(checked) if c is not None]
    if not codes:
        return
    existing = lookup.ids_by_code(cur, table, codes)
    if existing:
        pos = next(i for i, c in enumerate(_codes(checked)) if c in existing)
        raise GridAtlasError(
            f"{ctx.label}: {feature_name(pos, _codes(checked)[pos])}, field 'code': duplicate "
            f"code, already in the database ({len(existing)} such code(s) in this file)"
        )


def _pos_points(checked: Checked) -> np.ndarray:
    return shapely.point_on_surface(checked.geometry)


def _parent_ids(
    cur: Cursor,
    checked: Checked,
    ctx: ImportContext,
    *,
    level: str,
    table: str,
    code_field: str,
    required: bool = True,
) -> tuple[list[int | None], gpd.GeoDataFrame]:
    """Parent id of each feature: from ``code_field`` when given, else by containment."""
    parents = lookup.boundaries(cur, level)
    given = checked.values.get(code_field, [None] * len(checked))
    known = lookup.ids_by_code(cur, table, [c for c in given if c is not None])
    by_pos = (
        lookup.locate(_pos_points(checked), parents)
        if checked.geometry is not None else np.full(len(checked), -1)
    )
    out: list[int | None] = []
    codes = _codes(checked)
    for pos, code in enumerate(given):
        if code is not None:
            if code not in known:
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos, codes[pos])}, field {code_field!r}: "
                    f"no {level} with code {code} in the database"
                )
            out.append(known[code])
        elif by_pos[pos] >= 0:
            out.append(int(parents.id.iloc[by_pos[pos]]))
        elif required:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, codes[pos])}, field 'geometry': its point "
                f"lies in no {level} in the database; import the {level} first or map "
                f"--field {code_field}=COLUMN"
            )
        else:
            out.append(None)
    return out, parents


def _district_of(cur: Cursor, checked: Checked, ctx: ImportContext) -> list[int]:
    districts = lookup.boundaries(cur, "district")
    where = check_in_district(checked.geometry, districts, ctx.label, _codes(checked))
    return [int(districts.id.iloc[i]) for i in where]


def _check_prefix(
    cur: Cursor, checked: Checked, ctx: ImportContext, table: str, parent_ids: list
) -> None:
    """Codes follow the hierarchy: a child's code starts with its parent's code."""
    cur.execute(
        sql.SQL("SELECT id, code FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table)),
        ([int(i) for i in parent_ids if i is not None],),
    )
    code_of = {int(r["id"]): r["code"] for r in cur.fetchall()}
    for pos, (code, pid) in enumerate(zip(_codes(checked), parent_ids, strict=False)):
        if code is None or pid is None:
            continue
        if not str(code).startswith(code_of[pid]):
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, code)}, field 'code': does not start with "
                f"its parent's code {code_of[pid]}"
            )


def _v(checked: Checked, name: str, default: object = None) -> list:
    return checked.values.get(name, [default] * len(checked))


def _or(values: list, default: object) -> list:
    return [default if v is None else v for v in values]


# --------------------------------------------------------------------------- kinds


def write_districts(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "districts", checked, ctx)
    hexes = to_hex_wkb(checked.geometry)
    ids = insert_rows(
        cur, "districts", ["code", "name", "name_en", "geom", "source"],
        zip(_codes(checked), _v(checked, "name"), _v(checked, "name_en"), hexes,
            [ctx.source] * len(checked), strict=False),
        geom={"geom": "multi"}, returning=("id",),
    )
    return {"districts": len(ids)}


def write_streets(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "streets", checked, ctx)
    by_pos = _district_of(cur, checked, ctx)
    district_ids, _ = _parent_ids(
        cur, checked, ctx, level="district", table="districts", code_field="district_code"
    )
    district_ids = [d if d is not None else p for d, p in zip(district_ids, by_pos, strict=False)]
    _check_prefix(cur, checked, ctx, "districts", district_ids)
    ids = insert_rows(
        cur, "streets", ["district_id", "code", "name", "name_en", "geom", "source"],
        zip(district_ids, _codes(checked), _v(checked, "name"), _v(checked, "name_en"),
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "multi"}, returning=("id",),
    )
    return {"streets": len(ids)}


def write_communities(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "communities", checked, ctx)
    _district_of(cur, checked, ctx)
    street_ids, _ = _parent_ids(
        cur, checked, ctx, level="street", table="streets", code_field="street_code"
    )
    _check_prefix(cur, checked, ctx, "streets", street_ids)
    cur.execute("SELECT id, district_id FROM streets WHERE id = ANY(%s)", (street_ids,))
    district_of = {int(r["id"]): int(r["district_id"]) for r in cur.fetchall()}
    target = _or(_v(checked, "target_households"), BAND_DEFAULT.target)
    low = _or(_v(checked, "min_households"), BAND_DEFAULT.min)
    high = _or(_v(checked, "max_households"), BAND_DEFAULT.max)
    for pos, (t, lo, hi) in enumerate(zip(target, low, high, strict=False)):
        if not lo <= t <= hi:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, _codes(checked)[pos])}, field "
                f"'target_households': needs min <= target <= max, got {lo} <= {t} <= {hi}"
            )
    ids = insert_rows(
        cur, "communities",
        ["street_id", "district_id", "code", "name", "name_en", "target_households",
         "min_households", "max_households", "geom", "source"],
        zip(street_ids, [district_of[s] for s in street_ids], _codes(checked),
            _v(checked, "name"), _v(checked, "name_en"), target, low, high,
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "multi"}, returning=("id",),
    )
    return {"communities": len(ids)}


def write_compounds(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "compounds", checked, ctx)
    _district_of(cur, checked, ctx)
    comm_ids, _ = _parent_ids(
        cur, checked, ctx, level="community", table="communities", code_field="community_code"
    )
    ids = insert_rows(
        cur, "compounds", ["community_id", "code", "name", "name_en", "geom", "source"],
        zip(comm_ids, _codes(checked), _v(checked, "name"), _v(checked, "name_en"),
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "multi"}, returning=("id",),
    )
    return {"compounds": len(ids)}


def write_buildings(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "buildings", checked, ctx)
    _district_of(cur, checked, ctx)
    comm_ids, _ = _parent_ids(
        cur, checked, ctx, level="community", table="communities", code_field="community_code"
    )
    comp_ids, _ = _parent_ids(
        cur, checked, ctx, level="compound", table="compounds", code_field="compound_code",
        required=False,
    )
    codes = list(_codes(checked))
    if any(c is None for c in codes):
        codes = _mint_building_codes(cur, codes, comm_ids)
    ids = insert_rows(
        cur, "buildings",
        ["code", "osm_id", "name", "address", "households", "floors", "use", "community_id",
         "compound_id", "geom", "pt", "source"],
        [
            (c, o, nm, a, hh, fl, u, cm, cp, h, h, ctx.source)
            for c, o, nm, a, hh, fl, u, cm, cp, h in zip(
                codes, _v(checked, "osm_id"), _v(checked, "name"), _v(checked, "address"),
                _v(checked, "households"), _v(checked, "floors"), _v(checked, "use"),
                comm_ids, comp_ids, to_hex_wkb(checked.geometry), strict=False,
            )
        ],
        geom={"geom": "multi", "pt": "pos"}, returning=("id",),
    )
    new_ids = [int(r["id"]) for r in ids]
    # place the new buildings in the current grid of their community
    cur.execute(
        """WITH m AS (
               SELECT DISTINCT ON (b.id) b.id AS building_id, g.id AS grid_id, g.version_id
                 FROM buildings b
                 JOIN grid_versions v ON v.community_id = b.community_id AND v.is_current
                 JOIN grids g ON g.version_id = v.id AND ST_Intersects(g.geom, b.pt)
                WHERE b.id = ANY(%(ids)s::int[])
                ORDER BY b.id, g.code),
           ins AS (INSERT INTO building_grid (version_id, building_id, grid_id)
                   SELECT version_id, building_id, grid_id FROM m)
           UPDATE buildings b SET grid_id = m.grid_id FROM m WHERE b.id = m.building_id""",
        {"ids": new_ids},
    )
    placed = cur.rowcount
    refresh_grid_households(cur, building_ids=new_ids)
    cells = _store_cells(cur, sorted(set(comm_ids)), ctx)
    return {"buildings": len(new_ids), "placed_in_grids": placed,
            "households": int(sum(_v(checked, "households"))), "cells": cells}


def _store_cells(cur: Cursor, community_ids: list[int], ctx: ImportContext) -> int:
    """Recompute the building cells of every community that received buildings.

    A new footprint changes its neighbours' cells too, so each community's cells are
    recomputed as a whole, in the import's transaction. A community whose cells cannot be
    computed refuses the whole import. Returns the number of cells stored.
    """
    try:
        done = store_cells(cur, community_ids)
    except CellsError as exc:
        raise GridAtlasError(f"{ctx.label}: the buildings are refused: {exc.user_msg}") \
            from exc
    total = sum(c.cells for c in done.values())
    empty = sum(c.empty for c in done.values())
    seconds = sum(c.seconds for c in done.values())
    ctx.notes.append(f"building cells recomputed for {len(done)} community(ies): {total} "
                     f"cell(s) in {seconds:.1f} s")
    if empty:
        ctx.notes.append(f"{empty} building(s) lie inside another footprint and get no cell")
    repaired = sum(c.repaired for c in done.values())
    if repaired:
        ctx.notes.append(f"{repaired} building cell(s) repaired after reprojection")
    return total


def _mint_building_codes(cur: Cursor, codes: list, comm_ids: list) -> list:
    cur.execute("SELECT id, code FROM communities WHERE id = ANY(%s)", (list(set(comm_ids)),))
    comm_code = {int(r["id"]): r["code"] for r in cur.fetchall()}
    cur.execute(
        "SELECT community_id, count(*) AS n FROM buildings WHERE community_id = ANY(%s)"
        " GROUP BY community_id", (list(set(comm_ids)),),
    )
    counter = defaultdict(int, {int(r["community_id"]): int(r["n"]) for r in cur.fetchall()})
    taken = set(c for c in codes if c is not None)
    out = []
    for code, cid in zip(codes, comm_ids, strict=False):
        while code is None:
            counter[cid] += 1
            cand = f"{comm_code[cid]}B{counter[cid]:05d}"
            if cand in taken:
                continue
            cur.execute("SELECT 1 FROM buildings WHERE code = %s", (cand,))
            if cur.fetchone():
                continue
            code = cand
        taken.add(code)
        out.append(code)
    return out


def write_grids(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _district_of(cur, checked, ctx)
    comm_ids, _ = _parent_ids(
        cur, checked, ctx, level="community", table="communities", code_field="community_code"
    )
    cur.execute("SELECT id, code FROM communities WHERE id = ANY(%s)", (list(set(comm_ids)),))
    comm_code = {int(r["id"]): r["code"] for r in cur.fetchall()}
    codes = _codes(checked)
    seqs = _v(checked, "seq")
    kinds = _or(_v(checked, "kind"), "basic")
    names = _v(checked, "name")
    groups: dict[int, list[int]] = defaultdict(list)
    for pos, cid in enumerate(comm_ids):
        groups[cid].append(pos)
    communities = lookup.boundaries(cur, "community").set_index("id")
    geoms = list(checked.geometry)
    trimmed = filled = 0
    for cid, members in groups.items():
        fit = fit_grids(
            [geoms[p] for p in members], communities.geometry.loc[cid], label=ctx.label,
            names=[feature_name(p, codes[p]) for p in members], community_code=comm_code[cid],
        )
        for p, g in zip(members, fit.geoms, strict=False):
            geoms[p] = g
        trimmed += fit.trimmed
        filled += fit.filled
    if trimmed:
        ctx.notes.append(f"{trimmed} grid(s) trimmed to their community (edges within "
                         f"{GRID_SNAP_M:g} m of its boundary)")
    if filled:
        ctx.notes.append(f"{filled} sliver gap(s) (under {SLIVER_M2:g} m² or "
                         f"{SLIVER_WIDTH_M * 100:g} cm wide) merged into neighbouring grids")
    versions = {}
    for cid, members in sorted(groups.items()):
        cc = comm_code[cid]
        minted = _reading_order([geoms[p] for p in members])
        specs = []
        for rank, pos in zip(minted, members, strict=False):
            code, seq = codes[pos], seqs[pos]
            if code is None:
                seq = seq or rank
                code = f"{cc}{seq:03d}"
            if not code.startswith(cc):
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos, code)}, field 'code': does not start "
                    f"with its community's code {cc}"
                )
            seq = seq or int(code[-3:])
            if not 1 <= seq <= 999:
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos, code)}, field 'seq': {seq} is not in "
                    "1..999"
                )
            specs.append(GridSpec(code=code, seq=seq, kind=kinds[pos], name=names[pos],
                                  geometry=geoms[pos]))
        res = write_grid_version(
            cur, cid, specs, source=ctx.source, created_by=ctx.actor,
            note=f"imported from {ctx.label}",
        )
        check_coverage_now(
            cur, f"{ctx.label}: the grids of community {cc} are refused: "
        )
        versions[cc] = res.version_no
    # the map's coarse boundary copies follow every new grid version
    cur.execute("SELECT DISTINCT d.code FROM communities c JOIN districts d"
                " ON d.id = c.district_id WHERE c.id = ANY(%s)", (list(groups),))
    for row in cur.fetchall():
        coarse.refresh(row["code"], cur)
    return {"grids": len(checked), "versions": versions}


def _reading_order(geoms: list) -> list[int]:
    """Sequence numbers 1..n, rows north to south, west to east within a row."""
    if not geoms:
        return []
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    xy = shapely.get_coordinates(pts)
    heights = [g.bounds[3] - g.bounds[1] for g in geoms]
    band = max(float(np.median(heights)), 1e-9)
    top = xy[:, 1].max()
    rows = np.floor((top - xy[:, 1]) / band).astype(int)
    order = np.lexsort((xy[:, 0], rows))
    seq = np.empty(len(geoms), dtype=int)
    seq[order] = np.arange(1, len(geoms) + 1)
    return seq.tolist()


def write_cameras(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "cameras", checked, ctx)
    district_ids = _district_of(cur, checked, ctx)
    grids = lookup.boundaries(cur, "grid")
    where = lookup.locate(checked.geometry, grids)
    grid_ids = [int(grids.id.iloc[w]) if w >= 0 else None for w in where]
    insert_rows(
        cur, "cameras",
        ["code", "name", "type", "status", "owner", "last_heartbeat", "stream_url",
         "district_id", "grid_id", "geom", "source"],
        zip(_codes(checked), _v(checked, "name"), _or(_v(checked, "type"), "fixed"),
            _or(_v(checked, "status"), "online"), _v(checked, "owner"),
            _v(checked, "last_heartbeat"), _v(checked, "stream_url"), district_ids, grid_ids,
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "point"},
    )
    return {"cameras": len(checked), "in_grids": sum(g is not None for g in grid_ids)}


def write_police_rooms(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "police_rooms", checked, ctx)
    _district_of(cur, checked, ctx)
    comm_ids, _ = _parent_ids(
        cur, checked, ctx, level="community", table="communities",
        code_field="community_code", required=False,
    )
    insert_rows(
        cur, "police_rooms",
        ["code", "name", "name_en", "address", "phone", "community_id", "geom", "source"],
        zip(_codes(checked), _v(checked, "name"), _v(checked, "name_en"),
            _v(checked, "address"), _v(checked, "phone"), comm_ids,
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "point"},
    )
    return {"police_rooms": len(checked)}


def write_departments(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "departments", checked, ctx)
    insert_rows(
        cur, "departments", ["code", "name", "name_en", "phone", "source"],
        zip(_codes(checked), _v(checked, "name"), _v(checked, "name_en"),
            _v(checked, "phone"), [ctx.source] * len(checked), strict=False),
    )
    return {"departments": len(checked)}


def write_incidents(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    _refuse_existing(cur, "incidents", checked, ctx)
    codes = _codes(checked)
    for pos in range(len(checked)):
        if _v(checked, "closed_at")[pos] is not None and _v(checked, "closed_level")[pos] is None:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, codes[pos])}, field 'closed_level': "
                "required when closed_at is given"
            )
        if _v(checked, "due_at")[pos] is not None and _v(checked, "dispatched_at")[pos] is None:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, codes[pos])}, field 'dispatched_at': "
                "required when due_at is given"
            )
    cats = checked.values["category"]
    cur.execute("SELECT id, code, name FROM incident_categories WHERE code = ANY(%s)",
                (list(set(cats)),))
    cat = {r["code"]: (int(r["id"]), r["name"]) for r in cur.fetchall()}
    deps = _v(checked, "department_code")
    dep = lookup.ids_by_code(cur, "departments", [d for d in deps if d is not None])
    for pos, (c, d) in enumerate(zip(cats, deps, strict=False)):
        if c not in cat:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, codes[pos])}, field 'category': no incident"
                f" category with code {c} in the database"
            )
        if d is not None and d not in dep:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos, codes[pos])}, field 'department_code': no "
                f"department with code {d} in the database"
            )
    district_ids = _district_of(cur, checked, ctx)
    located = {}
    for level in ("street", "community", "grid"):
        b = lookup.boundaries(cur, level)
        w = lookup.locate(checked.geometry, b)
        located[level] = [int(b.id.iloc[i]) if i >= 0 else None for i in w]
    titles = [t if t is not None else cat[c][1] for t, c in zip(_v(checked, "title"), cats, strict=False)]
    insert_rows(
        cur, "incidents",
        ["code", "category_id", "title", "description", "severity", "state", "level",
         "reported_at", "dispatched_at", "due_at", "handled_at", "closed_at", "closed_level",
         "department_id", "district_id", "street_id", "community_id", "grid_id",
         "reporter_name", "reporter_phone", "geom", "source"],
        zip(codes, [cat[c][0] for c in cats], titles, _v(checked, "description"),
            checked.values["severity"], checked.values["state"],
            _or(_v(checked, "level"), "grid"), checked.values["reported_at"],
            _v(checked, "dispatched_at"), _v(checked, "due_at"), _v(checked, "handled_at"),
            _v(checked, "closed_at"), _v(checked, "closed_level"),
            [dep.get(d) if d is not None else None for d in deps], district_ids,
            located["street"], located["community"], located["grid"],
            _v(checked, "reporter_name"), _v(checked, "reporter_phone"),
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "point"},
    )
    return {"incidents": len(checked)}


def write_households(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    hh = checked.values["households"]
    keys_code = _v(checked, "building_code")
    keys_addr = _v(checked, "address")
    ids: list[int] = []
    by_code = lookup.ids_by_code(cur, "buildings", [c for c in keys_code if c is not None])
    addrs = [a for a, c in zip(keys_addr, keys_code, strict=False) if c is None and a is not None]
    by_addr: dict[str, list[int]] = defaultdict(list)
    if addrs:
        cur.execute("SELECT id, address FROM buildings WHERE address = ANY(%s) ORDER BY id",
                    (addrs,))
        for r in cur.fetchall():
            by_addr[r["address"]].append(int(r["id"]))
    for pos, (c, a) in enumerate(zip(keys_code, keys_addr, strict=False)):
        if c is not None:
            if c not in by_code:
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos)}, field 'building_code': no building "
                    f"with code {c} in the database"
                )
            ids.append(by_code[c])
        elif a is not None:
            found = by_addr.get(a, [])
            if len(found) != 1:
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos)}, field 'address': "
                    + ("no building has" if not found else f"{len(found)} buildings share")
                    + f" the address {a!r}; key this row by building code"
                )
            ids.append(found[0])
        else:
            raise GridAtlasError(
                f"{ctx.label}: {feature_name(pos)}, field 'building_code': no building code "
                "or address to find the building by"
            )
    if len(set(ids)) != len(ids):
        seen: dict[int, int] = {}
        for pos, i in enumerate(ids):
            if i in seen:
                raise GridAtlasError(
                    f"{ctx.label}: {feature_name(pos)}, field 'building_code': the same "
                    f"building as {feature_name(seen[i])} (duplicate)"
                )
            seen[i] = pos
    cur.execute(
        """UPDATE buildings b SET households = u.hh
             FROM unnest(%s::int[], %s::int[]) AS u(id, hh)
            WHERE b.id = u.id AND b.households IS DISTINCT FROM u.hh""",
        (ids, hh),
    )
    changed = cur.rowcount
    refresh_grid_households(cur, building_ids=ids)
    return {"rows": len(ids), "buildings_changed": changed, "households": int(sum(hh))}


#: How far (metres) a road may lie from every district in the database before the import
#: stops: the basemap may reach a little beyond the districts, not into another city.
ROAD_REACH_M = 1000.0


def write_roads(cur: Cursor, checked: Checked, ctx: ImportContext) -> dict:
    """Roads for the basemap: class normalized (lower case, Chinese classes mapped), every
    line within :data:`ROAD_REACH_M` of a district. Added to the roads already there."""
    from geo.repository.roads import normalize_class

    classes = []
    for pos, value in enumerate(checked.values["class"]):
        try:
            classes.append(normalize_class(value))
        except ValueError as exc:
            raise GridAtlasError(f"{ctx.label}: {feature_name(pos)}, field 'class': {exc}") \
                from None
    districts = lookup.boundaries(cur, "district")
    if len(districts) == 0:
        raise GridAtlasError(
            f"{ctx.label}: there is no district in the database yet; import districts first "
            "(python -m geo import districts FILE)"
        )
    utm = districts.estimate_utm_crs()
    zone = shapely.union_all(districts.to_crs(utm).geometry.to_numpy())
    lines_m = gpd.GeoSeries(checked.geometry, crs="EPSG:4326").to_crs(utm).to_numpy()
    shapely.prepare(zone)
    far = np.flatnonzero(~shapely.dwithin(zone, lines_m, ROAD_REACH_M))
    if len(far):
        pos = int(far[0])
        raise GridAtlasError(
            f"{ctx.label}: {feature_name(pos)}, field 'geometry': lies "
            f"{zone.distance(lines_m[pos]):.0f} m from the nearest district (at most "
            f"{ROAD_REACH_M:.0f} m allowed)"
            + (f"; {len(far) - 1} more feature(s) too" if len(far) > 1 else "")
        )
    insert_rows(
        cur, "roads", ["osm_id", "name", "name_en", "class", "geom", "source"],
        zip(_v(checked, "osm_id"), _v(checked, "name"), _v(checked, "name_en"), classes,
            to_hex_wkb(checked.geometry), [ctx.source] * len(checked), strict=False),
        geom={"geom": "multi"},
    )
    by_class: dict[str, int] = defaultdict(int)
    for c in classes:
        by_class[c] += 1
    return {"roads": len(classes), "named": sum(n is not None for n in _v(checked, "name")),
            "classes": dict(sorted(by_class.items()))}


WRITERS: dict[str, Callable[[Cursor, Checked, ImportContext], dict]] = {
    "districts": write_districts,
    "streets": write_streets,
    "communities": write_communities,
    "grids": write_grids,
    "compounds": write_compounds,
    "buildings": write_buildings,
    "cameras": write_cameras,
    "police-rooms": write_police_rooms,
    "departments": write_departments,
    "incidents": write_incidents,
    "households": write_households,
    "roads": write_roads,
}
