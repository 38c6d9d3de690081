"""Loading the shipped demo district into the database, in one transaction.

The loader reads every layer through :mod:`geo.demo.dataset` (the contract shared with the
builder) and writes through the same :mod:`geo.repository` helpers as the importer:
places, buildings (``pt`` = ``ST_PointOnSurface``), building cells
(:func:`geo.partition.cells.building_cells` per community, method ``voronoi``), the initial
grid version of every community (grid polygon = union of its buildings' cells), then the
synthetic layers with their times shifted by ``now - reference_time`` so open cases stay
current.

Loading is idempotent: the dataset's checksum is recorded in the ``audit_log`` row of the
load (action ``demo_load``); the same demo already present returns at once, a demo
district from different data is refused with a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg2

from geo.errors import GridAtlasError

log = logging.getLogger(__name__)

_LOAD_LOCK = 727_101  # advisory lock key: one demo load at a time per database
ACTION = "demo_load"


@dataclass
class LoadReport:
    """What :func:`load_demo` did.

    Attributes
    ----------
    district_code:
        Code of the demo district.
    checksum:
        sha256 over the shipped dataset files.
    already_loaded:
        True when the same demo was found and nothing was written.
    counts:
        Rows written per table.
    seconds:
        Wall time, and per step in ``steps``.
    repaired:
        Invalid geometries of the dataset repaired on the way, per layer.
    """

    district_code: str
    checksum: str
    already_loaded: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    repaired: dict[str, list[str]] = field(default_factory=dict)


def dataset_checksum(dataset: ModuleType) -> str:
    """sha256 over the dataset's shipped files (names and bytes), cheap to compute.

    Uses ``dataset.checksum()`` when the dataset module offers one; else hashes the files
    of ``dataset.DEMO_DIR`` (or ``data/demo`` under the project root).
    """
    if hasattr(dataset, "checksum"):
        return str(dataset.checksum())
    folder = getattr(dataset, "DEMO_DIR", None) or getattr(dataset, "DATA_DIR", None)
    if folder is None:
        from geo.settings import PROJECT_ROOT

        folder = PROJECT_ROOT / "data" / "demo"
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GridAtlasError(
            f"the demo dataset is missing ({folder.name}/ holds no file); build it with "
            "`python -m geo demo build --from FILE`"
        )
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def _dataset() -> ModuleType:
    from geo.demo import dataset

    return dataset


def load_demo(
    *,
    actor: str = "demo",
    now: dt.datetime | None = None,
    dataset: ModuleType | None = None,
    cells_fn: Callable | None = None,
) -> LoadReport:
    """Load the demo district (idempotent).

    Parameters
    ----------
    actor:
        Recorded in the audit log.
    now:
        The clock (UTC) synthetic times are shifted to; default the current time.
    dataset:
        A module with ``read_layer(name)`` and ``read_meta()`` (default
        :mod:`geo.demo.dataset`); tests pass a small stand-in.
    cells_fn:
        ``(footprints, community) -> GeoSeries`` of building cells (default
        :func:`geo.partition.cells.building_cells`).

    Returns
    -------
    LoadReport

    Raises
    ------
    GridAtlasError
        When another version of the demo district is already in the database, or the data
        breaks a database rule (the message says which).
    """
    from geo import db

    t0 = time.perf_counter()
    ds = dataset or _dataset()
    checksum = dataset_checksum(ds)
    meta = ds.read_meta()
    code = str(meta.get("district_code") or "")
    if not code:
        code = str(ds.read_layer("districts")["code"].iloc[0])
    report = LoadReport(district_code=code, checksum=checksum)
    try:
        with db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK,))
            cur.execute("SELECT id FROM districts WHERE code = %s", (code,))
            if cur.fetchone():
                cur.execute(
                    """SELECT detail->>'checksum' AS checksum FROM audit_log
                        WHERE action = %s AND target = %s ORDER BY id DESC LIMIT 1""",
                    (ACTION, code),
                )
                row = cur.fetchone()
                if row and row["checksum"] == checksum:
                    report.already_loaded = True
                    # a demo loaded before the roads table existed gains its roads once
                    added = _write_roads(cur, ds, report)
                    if added:
                        log.info("demo district %s: %d roads added", code, added)
                    report.seconds = round(time.perf_counter() - t0, 2)
                    log.info("demo district %s already loaded (same data)", code)
                    return report
                raise GridAtlasError(
                    f"the database already holds a demo district {code} loaded from "
                    + (f"other data (checksum {str(row['checksum'])[:12]}, the shipped demo "
                       f"is {checksum[:12]})" if row
                       else "somewhere else (no demo_load record in the audit log)")
                    + "; load the demo into an empty database instead"
                )
            _write_all(cur, ds, meta, report, actor=actor, now=now, cells_fn=cells_fn)
            report.steps["write"] = round(time.perf_counter() - t0, 2)
            t1 = time.perf_counter()
        report.steps["commit (coverage checks)"] = round(time.perf_counter() - t1, 2)
    except psycopg2.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        raise GridAtlasError(f"the demo load was refused by the database: {primary.strip()}") \
            from exc
    report.seconds = round(time.perf_counter() - t0, 2)
    log.info("demo district %s loaded in %.1fs: %s", code, report.seconds, report.counts)
    return report


def _geo(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame.geometry.values, dtype=object)


def _int_or_none(v: object) -> int | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return int(v)


def _str_or_none(v: object) -> str | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _col(frame: pd.DataFrame, name: str) -> list:
    if name not in frame.columns:
        return [None] * len(frame)
    return [_str_or_none(v) if not isinstance(v, (int, np.integer)) else int(v)
            for v in frame[name].tolist()]


def _shift(values: pd.Series | list, delta: dt.timedelta) -> list[dt.datetime | None]:
    ts = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="raise", format="ISO8601")
    return [None if pd.isna(t) else (t + delta).to_pydatetime() for t in ts]


def _write_all(
    cur,
    ds: ModuleType,
    meta: dict,
    report: LoadReport,
    *,
    actor: str,
    now: dt.datetime | None,
    cells_fn: Callable | None,
) -> None:
    from geo.repository.writers import GridSpec, audit, insert_rows, to_hex_wkb, write_grid_version

    steps = report.steps
    counts = report.counts
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        steps[name] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()

    layers = {name: ds.read_layer(name) for name in (
        "districts", "streets", "communities", "compounds", "buildings", "grids",
        "grid_workers", "cameras", "police_rooms", "departments", "incident_categories",
        "incidents", "incident_events",
    )}
    for name, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame) and len(frame):
            fixed = _repair(frame, name)
            if fixed:
                report.repaired[name] = fixed
    lap("read")

    def ids(rows: list[dict]) -> dict[str, int]:
        return {r["code"]: int(r["id"]) for r in rows}

    d = layers["districts"]
    district_ids = ids(insert_rows(
        cur, "districts", ["code", "name", "name_en", "geom", "source"],
        zip(_col(d, "code"), _col(d, "name"), _col(d, "name_en"), to_hex_wkb(_geo(d)),
            ["derived"] * len(d), strict=False),
        geom={"geom": "multi"}, returning=("id", "code"),
    ))
    district_id = district_ids[report.district_code]
    s = layers["streets"]
    street_ids = ids(insert_rows(
        cur, "streets", ["district_id", "code", "name", "name_en", "geom", "source"],
        zip([district_ids[c] for c in _col(s, "district_code")], _col(s, "code"),
            _col(s, "name"), _col(s, "name_en"), to_hex_wkb(_geo(s)), ["derived"] * len(s), strict=False),
        geom={"geom": "multi"}, returning=("id", "code"),
    ))
    c = layers["communities"]
    street_district = dict(zip(_col(s, "code"), _col(s, "district_code"), strict=False))
    comm_ids = ids(insert_rows(
        cur, "communities",
        ["street_id", "district_id", "code", "name", "name_en", "target_households",
         "min_households", "max_households", "geom", "source"],
        zip([street_ids[x] for x in _col(c, "street_code")],
            [district_ids[street_district[x]] for x in _col(c, "street_code")],
            _col(c, "code"), _col(c, "name"), _col(c, "name_en"),
            [_int_or_none(v) or 400 for v in _col(c, "target_households")],
            [_int_or_none(v) if _int_or_none(v) is not None else 300
             for v in _col(c, "min_households")],
            [_int_or_none(v) or 500 for v in _col(c, "max_households")],
            to_hex_wkb(_geo(c)), ["derived"] * len(c), strict=False),
        geom={"geom": "multi"}, returning=("id", "code"),
    ))
    k = layers["compounds"]
    comp_ids = ids(insert_rows(
        cur, "compounds", ["community_id", "code", "name", "name_en", "geom", "source"],
        zip([comm_ids[x] for x in _col(k, "community_code")], _col(k, "code"),
            _col(k, "name"), _col(k, "name_en"), to_hex_wkb(_geo(k)), ["derived"] * len(k), strict=False),
        geom={"geom": "multi"}, returning=("id", "code"),
    ))
    counts.update(districts=len(district_ids), streets=len(street_ids),
                  communities=len(comm_ids), compounds=len(comp_ids))
    lap("places")

    b = layers["buildings"]
    b_hex = to_hex_wkb(_geo(b))
    b_codes = _col(b, "code")
    b_ids = ids(insert_rows(
        cur, "buildings",
        ["code", "osm_id", "name", "address", "households", "floors", "use", "community_id",
         "compound_id", "geom", "pt", "source"],
        [
            (code, _int_or_none(osm), name, addr, _int_or_none(hh) or 0, _int_or_none(fl),
             use, comm_ids[cc], comp_ids[kc] if kc is not None else None, h, h, "osm")
            for code, osm, name, addr, hh, fl, use, cc, kc, h in zip(
                b_codes, b["osm_id"].tolist() if "osm_id" in b else [None] * len(b),
                _col(b, "name"), _col(b, "address"), b["households"].tolist(),
                b["floors"].tolist() if "floors" in b else [None] * len(b), _col(b, "use"),
                _col(b, "community_code"), _col(b, "compound_code"), b_hex, strict=False,
            )
        ],
        geom={"geom": "multi", "pt": "pos"}, returning=("id", "code"),
    ))
    counts["buildings"] = len(b_ids)
    lap("buildings")

    cells = _cells(b, c, cells_fn)
    lap("cells (compute)")
    keep = [i for i, g in enumerate(cells) if g is not None and not g.is_empty]
    b_comm = _col(b, "community_code")
    insert_rows(
        cur, "building_cells", ["building_id", "community_id", "method", "geom", "source"],
        [(b_ids[b_codes[i]], comm_ids[b_comm[i]], "voronoi", h, "derived")
         for i, h in zip(keep, to_hex_wkb([cells[i] for i in keep]), strict=False)],
        geom={"geom": "multi"},
    )
    counts["building_cells"] = len(keep)
    lap("cells (write)")

    g = layers["grids"]
    b_grid = _col(b, "grid_code")
    grid_ids: dict[str, int] = {}
    by_comm: dict[str, list[GridSpec]] = {}
    for code, cc, seq, kind, name in zip(_col(g, "code"), _col(g, "community_code"),
                                         g["seq"].tolist(), _col(g, "kind"), _col(g, "name"), strict=False):
        by_comm.setdefault(cc, []).append(GridSpec(code=code, seq=int(seq),
                                                   kind=kind or "basic", name=name))
    assign: dict[str, dict[int, str]] = {}
    for code, cc, gc in zip(b_codes, b_comm, b_grid, strict=False):
        if gc is not None:
            assign.setdefault(cc, {})[b_ids[code]] = gc
    for cc, specs in sorted(by_comm.items()):
        res = write_grid_version(
            cur, comm_ids[cc], specs, assignment=assign.get(cc, {}), source="derived",
            created_by=actor, note="initial demo grids", relocate_points=False,
        )
        grid_ids.update(res.grid_ids)
    counts["grid_versions"] = len(by_comm)
    counts["grids"] = len(grid_ids)
    lap("grids")
    from geo import coarse

    counts.update(coarse.refresh(report.district_code, cur))
    lap("coarse copies")

    ref = pd.Timestamp(meta["reference_time"])
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
    clock = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    clock = clock.tz_localize("UTC") if clock.tzinfo is None else clock.tz_convert("UTC")
    delta = (clock - ref).to_pytimedelta()
    dep = layers["departments"]
    dep_ids = ids(insert_rows(
        cur, "departments", ["code", "name", "name_en", "phone", "source"],
        zip(_col(dep, "code"), _col(dep, "name"), _col(dep, "name_en"), _col(dep, "phone"),
            ["synthetic"] * len(dep), strict=False),
        returning=("id", "code"),
    ))
    cat = layers["incident_categories"]
    cat_ids = ids(insert_rows(
        cur, "incident_categories",
        ["code", "class", "name", "name_en", "department_id", "source"],
        zip(_col(cat, "code"), _col(cat, "class"), _col(cat, "name"), _col(cat, "name_en"),
            [dep_ids.get(x) if x else None for x in _col(cat, "department_code")],
            ["synthetic"] * len(cat), strict=False),
        returning=("id", "code"),
    ))
    parents = [(cat_ids[ch], cat_ids[p]) for ch, p in zip(_col(cat, "code"),
                                                          _col(cat, "parent_code"), strict=False) if p]
    if parents:
        cur.execute(
            """UPDATE incident_categories c SET parent_id = u.parent
                 FROM unnest(%s::int[], %s::int[]) AS u(id, parent) WHERE c.id = u.id""",
            ([a for a, _ in parents], [p for _, p in parents]),
        )
    w = layers["grid_workers"]
    insert_rows(
        cur, "grid_workers", ["code", "name", "phone", "grid_id", "source"],
        zip(_col(w, "code"), _col(w, "name"), _col(w, "phone"),
            [grid_ids.get(x) if x else None for x in _col(w, "grid_code")],
            ["synthetic"] * len(w), strict=False),
    )
    cam = layers["cameras"]
    heartbeat = _shift(cam["last_heartbeat"].tolist(), delta) if "last_heartbeat" in cam \
        else [None] * len(cam)
    cam_rows = insert_rows(
        cur, "cameras",
        ["code", "name", "type", "status", "owner", "last_heartbeat", "stream_url",
         "district_id", "geom", "source"],
        zip(_col(cam, "code"), _col(cam, "name"),
            [x or "fixed" for x in _col(cam, "type")], _col(cam, "status"), _col(cam, "owner"),
            heartbeat, _col(cam, "stream_url"), [district_id] * len(cam),
            to_hex_wkb(_geo(cam)), ["synthetic"] * len(cam), strict=False),
        geom={"geom": "point"}, returning=("id",),
    )
    cur.execute(
        """UPDATE cameras c SET grid_id = (
                  SELECT g.id FROM grids g JOIN grid_versions v ON v.id = g.version_id
                   WHERE v.is_current AND ST_Intersects(g.geom, c.geom)
                   ORDER BY g.code LIMIT 1)
            WHERE c.id = ANY(%s)""",
        ([r["id"] for r in cam_rows],),
    )
    pr = layers["police_rooms"]
    insert_rows(
        cur, "police_rooms",
        ["code", "name", "name_en", "address", "phone", "community_id", "geom", "source"],
        zip(_col(pr, "code"), _col(pr, "name"), _col(pr, "name_en"), _col(pr, "address"),
            _col(pr, "phone"), [comm_ids.get(x) if x else None for x in _col(pr, "community_code")],
            to_hex_wkb(_geo(pr)), ["synthetic"] * len(pr), strict=False),
        geom={"geom": "point"},
    )
    counts.update(departments=len(dep_ids), incident_categories=len(cat_ids),
                  grid_workers=len(w), cameras=len(cam), police_rooms=len(pr))
    lap("assets")

    inc = layers["incidents"]
    times = {name: _shift(inc[name].tolist(), delta) for name in (
        "reported_at", "dispatched_at", "due_at", "handled_at", "closed_at")}
    inc_rows = insert_rows(
        cur, "incidents",
        ["code", "category_id", "title", "description", "severity", "state", "level",
         "reported_at", "dispatched_at", "due_at", "handled_at", "closed_at", "closed_level",
         "department_id", "district_id", "reporter_name", "reporter_phone", "geom", "source"],
        zip(_col(inc, "code"), [cat_ids[x] for x in _col(inc, "category_code")],
            _col(inc, "title"), _col(inc, "description"), _col(inc, "severity"),
            _col(inc, "state"), _col(inc, "level"), times["reported_at"],
            times["dispatched_at"], times["due_at"], times["handled_at"], times["closed_at"],
            _col(inc, "closed_level"),
            [dep_ids.get(x) if x else None for x in _col(inc, "department_code")],
            [district_id] * len(inc), _col(inc, "reporter_name"), _col(inc, "reporter_phone"),
            to_hex_wkb(_geo(inc)), ["synthetic"] * len(inc), strict=False),
        geom={"geom": "point"}, returning=("id", "code"),
    )
    inc_ids = ids(inc_rows)
    cur.execute(
        """UPDATE incidents i
              SET street_id = (SELECT s.id FROM streets s WHERE s.district_id = i.district_id
                                  AND ST_Intersects(s.geom, i.geom) ORDER BY s.code LIMIT 1),
                  community_id = (SELECT c.id FROM communities c
                                   WHERE c.district_id = i.district_id
                                     AND ST_Intersects(c.geom, i.geom) ORDER BY c.code LIMIT 1),
                  grid_id = (SELECT g.id FROM grids g JOIN grid_versions v
                               ON v.id = g.version_id AND v.is_current
                              WHERE ST_Intersects(g.geom, i.geom) ORDER BY g.code LIMIT 1)
            WHERE i.id = ANY(%s)""",
        (list(inc_ids.values()),),
    )
    ev = layers["incident_events"]
    insert_rows(
        cur, "incident_events",
        ["incident_id", "at", "from_state", "to_state", "level", "actor", "note", "source"],
        zip([inc_ids[x] for x in _col(ev, "incident_code")], _shift(ev["at"].tolist(), delta),
            _col(ev, "from_state"), _col(ev, "to_state"), _col(ev, "level"), _col(ev, "actor"),
            _col(ev, "note"), ["synthetic"] * len(ev), strict=False),
    )
    counts.update(incidents=len(inc_ids), incident_events=len(ev))
    lap("incidents")
    _write_roads(cur, ds, report)
    lap("roads")

    audit(
        cur, actor=actor, action=ACTION, target=report.district_code,
        scope_code=report.district_code,
        detail={
            "checksum": report.checksum, "counts": counts,
            "reference_time": str(meta["reference_time"]),
            "shift_seconds": int(delta.total_seconds()),
            "attribution": meta.get("attribution"),
        },
        source="derived",
    )


def _write_roads(cur, ds: ModuleType, report: LoadReport) -> int:
    """The demo's OSM roads of the basemap classes (:data:`geo.repository.roads.DEMO_CLASSES`),
    once: nothing is written when the database already holds OSM roads or the dataset has
    no roads layer. Names are kept as OSM has them (Russian/Kazakh); ``source`` is ``osm``
    (ODbL, see data/README.md). Returns the number written."""
    import shapely

    from geo.repository.roads import DEMO_CLASSES
    from geo.repository.writers import insert_rows, to_hex_wkb

    if "roads" not in getattr(ds, "LAYERS", ()):
        return 0
    cur.execute("SELECT EXISTS (SELECT 1 FROM roads WHERE source = 'osm') AS has")
    if cur.fetchone()["has"]:
        return 0
    r = ds.read_layer("roads")
    r = r[r["highway"].isin(DEMO_CLASSES).to_numpy()]
    geoms = np.asarray(r.geometry.values, dtype=object)
    keep = np.array([g is not None and not g.is_empty and g.length > 0 for g in geoms], dtype=bool)
    r, geoms = r[keep], geoms[keep]
    lines = [g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g]) for g in geoms]
    insert_rows(
        cur, "roads", ["osm_id", "name", "class", "geom", "source"],
        zip([_int_or_none(v) for v in r["osm_id"].tolist()], _col(r, "name"),
            _col(r, "highway"), to_hex_wkb(lines), ["osm"] * len(r), strict=False),
        geom={"geom": "multi"},
    )
    report.counts["roads"] = len(r)
    return len(r)


def _repair(frame: gpd.GeoDataFrame, layer: str) -> list[str]:
    """Make invalid polygons valid in place (``make_valid``, the method PostGIS'
    ``ST_MakeValid`` and the cell builder use) and say which ones were repaired."""
    import shapely

    geoms = np.asarray(frame.geometry.values, dtype=object)
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    out = []
    for i in bad:
        reason = shapely.is_valid_reason(geoms[i])
        fixed = shapely.make_valid(geoms[i])
        parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
        geoms[i] = shapely.MultiPolygon(
            [q for p in parts for q in shapely.get_parts(p)]
        ) if parts else geoms[i]
        code = frame["code"].iloc[i] if "code" in frame.columns else i
        out.append(f"{layer} {code}: {reason}")
        log.warning("demo dataset: %s %s invalid (%s); repaired", layer, code, reason)
    if len(bad):
        frame[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)
    return out


def _cells(
    buildings: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, cells_fn: Callable | None
) -> list:
    """Building cells per community, in the order of ``buildings``."""
    if cells_fn is None:
        from geo.partition.cells import building_cells as cells_fn
    out: list = [None] * len(buildings)
    codes = buildings["community_code"].astype(str).to_numpy()
    geoms = buildings.geometry
    for ccode, cgeom in zip(communities["code"].astype(str), communities.geometry, strict=False):
        idx = np.flatnonzero(codes == ccode)
        if not len(idx):
            continue
        fps = gpd.GeoSeries(geoms.iloc[idx].values, crs="EPSG:4326")
        cells = cells_fn(fps, cgeom)
        for i, cell in zip(idx, cells.values, strict=False):
            out[i] = cell
    return out
