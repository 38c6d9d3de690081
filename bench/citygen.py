"""A city-scale GridAtlas database for the command-centre benchmark (``bench/screen.py``).

The city is the shipped demo district tiled: ``copies`` copies of it, each shifted in
longitude/latitude so they never touch, all inside ONE district ``990200`` (so a
district-level operator sees the whole city, and the codes keep the 6/9/12/15-digit
hierarchy):

* copy ``k`` (0-based) of demo street ``990100SSS`` becomes street ``990200`` +
  ``k*10+SSS`` (3 digits); communities, grids and compounds keep their own digits under it;
* grid polygons are the demo's grids (union of the demo's building cells, computed once and
  cached in ``.cache/bench/``) translated with their community, so grids tile their
  communities exactly and the database's coverage triggers accept them;
* buildings: the demo has 26,662 footprints and 368 grids, but the city wants ~1,000,000
  buildings and only ~2,500 grids. 7 copies give 2,576 grids; every demo footprint is then
  repeated 5 or 6 times inside its own bounding box (a 3x2 arrangement of copies shrunk to
  fit one slot each, so they never overlap and stay in the original building's grid) until
  the total is exactly ``buildings``. Each repeat keeps the original's grid, community and
  compound; households are the original's scaled so the city holds ``households`` in all
  (the per-grid totals are therefore ~0.77x the demo's);
* 50,000 cameras and 20,000 open incidents (copies of the demo's open cases, times shifted to
  now and jittered up to a day back) plus closed history (copies of the demo's closed cases),
  with their events, each placed on a random building's point-on-surface: grid, community,
  street and district are set by construction, never by a spatial join;
* departments and incident categories are the demo's; police rooms and grid workers are
  the demo's, copied per community / grid.

Rows go in with COPY (text format, geometry as hex EWKB). The bulk tables (buildings,
building_grid, cameras, incidents, incident_events) are written with their secondary indexes
dropped and rebuilt afterwards, and with ``session_replication_role = replica`` (no
per-row foreign-key triggers; the rows are consistent by construction) when the role may
set it. Places and grids are written with every trigger on, in their own transaction, so
the deferred coverage check runs on commit. ``geo.coarse.refresh`` then writes the coarse
copies, as the product does after a grid version is written; VACUUM (ANALYZE) of the bulk
tables and ANALYZE at the end (so autovacuum does not visit a million fresh rows while the
benchmark measures).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.citygen")

CITY_CODE = "990200"
DEMO_CODE = "990100"
CACHE_DIR = ROOT / ".cache" / "bench"
ACTION = "bench_city"
BULK_TABLES = ("buildings", "building_grid", "cameras", "incidents", "incident_events")
GAP_DEG = 0.01  # between copies


@dataclass(frozen=True)
class CitySpec:
    """How big the city is. ``buildings=0`` keeps one footprint per demo building per copy;
    ``households=None`` keeps the demo's households."""

    copies: int = 7
    buildings: int = 1_000_000
    households: int | None = 1_000_000
    cameras: int = 50_000
    open_incidents: int = 20_000
    closed_incidents: int = 15_000
    seed: int = 0


FULL = CitySpec()
QUICK = CitySpec(copies=1, buildings=0, households=None, cameras=2_000, open_incidents=1_000,
                 closed_incidents=1_000)


# ----------------------------------------------------------------------------- COPY helpers


def _esc(v) -> str:
    """One value in COPY text format."""
    if v is None:
        return r"\N"
    if isinstance(v, float) and math.isnan(v):
        return r"\N"
    if v is pd.NA or v is pd.NaT:
        return r"\N"
    s = str(v)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


class _LineReader(io.RawIOBase):
    """A file-like object over an iterator of text chunks (lazy: COPY streams while the
    rows are still being generated, so Python and the server work at the same time)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            try:
                self._buf, self._pos = next(self._chunks).encode(), 0
            except StopIteration:
                return b""
        if size < 0:
            size = len(self._buf)
        out = self._buf[self._pos:self._pos + size]
        self._pos += len(out)
        return out

    def readline(self, size: int = -1) -> bytes:  # copy_expert only uses read()
        return self.read(size)


def _copy(cur, table: str, columns: list[str], rows: Iterable[str]) -> None:
    """COPY ``rows`` (each a complete text-format line) into ``table``."""

    def chunks() -> Iterator[str]:
        batch: list[str] = []
        for r in rows:
            batch.append(r)
            if len(batch) >= 20_000:
                yield "".join(batch)
                batch = []
        if batch:
            yield "".join(batch)

    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", _LineReader(chunks()),
                    size=1 << 20)


def _ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)


def _multi(g):
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.MultiPolygon([q for p in parts for q in shapely.get_parts(p)])


# ----------------------------------------------------------------------------- demo input


def demo_checksum() -> str:
    from geo.demo import dataset
    from geo.demo.load import dataset_checksum

    return dataset_checksum(dataset)


def demo_grid_polygons(buildings, communities, say: Callable[[str], None] = print) -> dict:
    """grid code -> grid polygon of the demo (union of its buildings' cells), cached."""
    key = demo_checksum()[:16]
    path = CACHE_DIR / f"demo_grids_{key}.pkl"
    if path.is_file():
        with path.open("rb") as fh:
            return {c: shapely.from_wkb(w) for c, w in pickle.load(fh).items()}
    from geo.demo.load import _cells

    say("computing the demo's grid polygons once (building cells, ~1 min; cached in "
        f"{path.relative_to(ROOT)})")
    t = time.perf_counter()
    cells = np.asarray(_cells(buildings, communities, None), dtype=object)
    codes = buildings["grid_code"].to_numpy()
    out = {}
    for code in sorted(set(c for c in codes if c is not None)):
        members = [g for g in cells[codes == code] if g is not None and not g.is_empty]
        g = shapely.union_all(members)
        if not g.is_valid:
            g = shapely.make_valid(g)
        out[code] = _multi(g)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump({c: shapely.to_wkb(g) for c, g in out.items()}, fh)
    tmp.replace(path)
    say(f"  demo grid polygons: {len(out)} in {time.perf_counter() - t:.1f} s")
    return out


# ----------------------------------------------------------------------------- database


def ensure_database(server_admin_url: str, dbname: str, fresh: bool) -> bool:
    """Create ``dbname`` on the server (dropping it first when ``fresh``). True if created."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(server_admin_url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            exists = cur.fetchone() is not None
            if exists and not fresh:
                return False
            if exists:
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return True
    finally:
        conn.close()


def city_present(url: str, spec: CitySpec) -> bool:
    """True when the database already holds a city built from ``spec`` (and this demo)."""
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('audit_log') IS NOT NULL")
            if not cur.fetchone()[0]:
                return False
            cur.execute("""SELECT detail FROM audit_log WHERE action = %s
                            ORDER BY id DESC LIMIT 1""", (ACTION,))
            row = cur.fetchone()
            return bool(row and row[0].get("spec") == asdict(spec)
                        and row[0].get("demo") == demo_checksum()[:16]
                        and row[0].get("counts", {}).get("roads"))  # cities before roads: rebuild
    finally:
        conn.close()


def is_empty(url: str) -> bool:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('districts') IS NULL OR NOT EXISTS "
                        "(SELECT 1 FROM districts)")
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


# ----------------------------------------------------------------------------- roads


def write_roads(cur, roads, copies: int, shift: Callable) -> int:
    """COPY the demo's roads of the basemap classes (``geo.repository.roads.DEMO_CLASSES``,
    as the demo load keeps them) once per copy ``k``, moved by ``shift(geoms, k)``.
    OSM names and ``source = 'osm'`` are kept (ODbL). Returns the rows written."""
    from geo.repository.roads import DEMO_CLASSES

    r = roads[roads["highway"].isin(DEMO_CLASSES).to_numpy()
              & (shapely.length(np.asarray(roads.geometry.values, dtype=object)) > 0)]
    geoms = np.asarray([_multi_line(g) for g in r.geometry.values], dtype=object)
    osm, names, classes = r["osm_id"].tolist(), r["name"].tolist(), r["highway"].tolist()

    def rows():
        for k in range(copies):
            for o, nm, c, g in zip(osm, names, classes, _ewkb(shift(geoms, k)), strict=True):
                yield f"{int(o)}\t{_esc(nm)}\t{_esc(c)}\t{g}\tosm\n"

    _copy(cur, "roads", ["osm_id", "name", "class", "geom", "source"], rows())
    return len(r) * copies


def _multi_line(g):
    return g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g])


# ----------------------------------------------------------------------------- the build


def build_city(url: str, spec: CitySpec = FULL, say: Callable[[str], None] = print,
               now: dt.datetime | None = None) -> dict:
    """Write the city into the (migrated, empty) database at ``url``. Returns counts and
    timings."""
    import psycopg2
    import psycopg2.extras

    from geo import coarse
    from geo.demo.dataset import read_layer, read_meta

    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    tlap = [t0]

    def lap(name: str) -> None:
        now_ = time.perf_counter()
        steps[name] = round(now_ - tlap[0], 2)
        tlap[0] = now_
        say(f"  {name}: {steps[name]:.1f} s")

    rng = np.random.default_rng(spec.seed)
    L = {n: read_layer(n) for n in (
        "districts", "streets", "communities", "compounds", "buildings", "grids",
        "grid_workers", "cameras", "police_rooms", "departments", "incident_categories",
        "incidents", "incident_events")}
    meta = read_meta()
    b = L["buildings"]
    for name in ("buildings", "communities", "streets", "districts", "compounds"):
        geoms = np.asarray(L[name].geometry.values, dtype=object)
        bad = ~shapely.is_valid(geoms)
        if bad.any():
            geoms[bad] = [_multi(shapely.make_valid(g)) for g in geoms[bad]]
            L[name] = L[name].set_geometry(list(geoms), crs=4326)
    b = L["buildings"]
    grid_geom = demo_grid_polygons(b, L["communities"], say)
    lap("read demo")

    # ---- layout of the copies: columns going west (stays in one UTM zone), rows north
    minx, miny, maxx, maxy = L["districts"].total_bounds
    w, h = maxx - minx, maxy - miny
    ncol = max(1, math.ceil(math.sqrt(spec.copies * h / w * 1.6)))
    ncol = min(ncol, spec.copies)
    offsets = [(-(k % ncol) * (w + GAP_DEG), (k // ncol) * (h + GAP_DEG))
               for k in range(spec.copies)]

    def shift(geoms, k):
        dx, dy = offsets[k]
        if dx == 0 and dy == 0:
            return np.asarray(geoms, dtype=object)
        return shapely.transform(np.asarray(geoms, dtype=object), lambda c: c + (dx, dy))

    def street_code(old: str, k: int) -> str:
        return CITY_CODE + f"{k * 10 + int(old[6:9]):03d}"

    def recode(old: str, k: int) -> str:  # any code below a street
        return street_code(old, k) + old[9:]

    n_b = len(b)
    if spec.copies * 10 + 9 > 999:
        raise ValueError("at most 99 copies (3-digit street codes)")

    conn = psycopg2.connect(url, connect_timeout=5, options="-c timezone=UTC")
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SET synchronous_commit = off")
    cur.execute("SET maintenance_work_mem = '512MB'")
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    superuser = bool(cur.fetchone()[0])

    # ---- places: one district, streets, communities, compounds (ids assigned here)
    d_row = L["districts"].iloc[0]
    parts = []
    for k in range(spec.copies):
        parts.extend(shapely.get_parts(shift([d_row.geometry], k)[0]))
    district_geom = shapely.MultiPolygon(list(parts))
    if not district_geom.is_valid:
        district_geom = _multi(shapely.make_valid(district_geom))
    cur.execute(
        """INSERT INTO districts (id, code, name, name_en, geom, source)
           VALUES (1, %s, %s, %s, ST_GeomFromEWKB(decode(%s, 'hex')), 'derived')""",
        (CITY_CODE, "基准市", "Bench City", _ewkb(np.array([district_geom]))[0]),
    )
    s_df, c_df, k_df = L["streets"], L["communities"], L["compounds"]
    street_id: dict[str, int] = {}
    comm_id: dict[str, int] = {}
    comp_id: dict[str, int] = {}
    rows = []
    for k in range(spec.copies):
        for code, name, name_en, g in zip(s_df["code"], s_df["name"], s_df["name_en"],
                                          _ewkb(shift(s_df.geometry.values, k)), strict=False):
            nc = street_code(code, k)
            street_id[nc] = len(street_id) + 1
            rows.append(f"{street_id[nc]}\t1\t{nc}\t{_esc(name + (f'{k + 1}' if k else ''))}\t"
                        f"{_esc((name_en or '') + (f' {k + 1}' if k else ''))}\t{g}\tderived\n")
    _copy(cur, "streets", ["id", "district_id", "code", "name", "name_en", "geom", "source"], rows)
    rows = []
    for k in range(spec.copies):
        for code, sc, name, name_en, th, mn, mx, g in zip(
                c_df["code"], c_df["street_code"], c_df["name"], c_df["name_en"],
                c_df["target_households"], c_df["min_households"], c_df["max_households"],
                _ewkb(shift(c_df.geometry.values, k)), strict=False):
            nc = recode(code, k)
            comm_id[nc] = len(comm_id) + 1
            rows.append(f"{comm_id[nc]}\t{street_id[street_code(sc, k)]}\t1\t{nc}\t"
                        f"{_esc(name + (f'{k + 1}' if k else ''))}\t"
                        f"{_esc((name_en or '') + (f' {k + 1}' if k else ''))}\t"
                        f"{int(th)}\t{int(mn)}\t{int(mx)}\t{g}\tderived\n")
    _copy(cur, "communities", ["id", "street_id", "district_id", "code", "name", "name_en",
                               "target_households", "min_households", "max_households", "geom",
                               "source"], rows)
    rows = []
    for k in range(spec.copies):
        for code, cc, name, name_en, g in zip(k_df["code"], k_df["community_code"], k_df["name"],
                                              k_df["name_en"],
                                              _ewkb(shift(k_df.geometry.values, k)), strict=False):
            nc = recode(code, k)
            comp_id[nc] = len(comp_id) + 1
            rows.append(f"{comp_id[nc]}\t{comm_id[recode(cc, k)]}\t{_esc(nc)}\t{_esc(name)}\t"
                        f"{_esc(name_en)}\t{g}\tderived\n")
    _copy(cur, "compounds", ["id", "community_id", "code", "name", "name_en", "geom", "source"],
          rows)
    lap("places")

    # ---- building multiplicity and households (needed for grid totals)
    hh0 = b["households"].to_numpy().astype(np.int64)
    if spec.buildings:
        base = spec.buildings // (spec.copies * n_b)
        extra = spec.buildings - base * spec.copies * n_b
        mult = np.full((spec.copies, n_b), max(base, 1), dtype=np.int64)
        if base >= 1 and extra > 0:
            flat = rng.choice(spec.copies * n_b, size=extra, replace=False)
            mult.reshape(-1)[flat] += 1
    else:
        mult = np.ones((spec.copies, n_b), dtype=np.int64)
    hscale = (spec.households / (spec.copies * hh0.sum())) if spec.households else 1.0
    # per original building and copy: scaled, rounded so the city total is exact
    exact = hh0 * hscale
    b_total_hh = np.floor(exact).astype(np.int64)
    if spec.households:
        short = int(round(spec.households / spec.copies)) - int(b_total_hh.sum())
        if short > 0:
            b_total_hh[np.argsort(-(exact - b_total_hh), kind="stable")[:short]] += 1

    g_df = L["grids"]
    b_grid = b["grid_code"].to_numpy()
    b_comm = b["community_code"].to_numpy()
    b_comp = b["compound_code"].to_numpy()
    demo_grid_hh = pd.Series(b_total_hh).groupby(pd.Series(b_grid)).sum().to_dict()

    # ---- grid versions and grids (triggers on: inside-community check, label points,
    # deferred coverage check on commit)
    version_of_comm: dict[str, int] = {}
    rows = []
    for nc, cid in comm_id.items():
        version_of_comm[nc] = cid
        rows.append(f"{cid}\t{cid}\t1\t\\N\ttrue\tbench\tbench city\tderived\n")
    _copy(cur, "grid_versions", ["id", "community_id", "version_no", "parent_id", "is_current",
                                 "created_by", "note", "source"], rows)
    grid_id: dict[str, int] = {}
    g_codes = g_df["code"].tolist()
    g_geoms = np.array([grid_geom[c] for c in g_codes], dtype=object)
    rows = []
    for k in range(spec.copies):
        for code, cc, seq, kind, name, g in zip(g_codes, g_df["community_code"], g_df["seq"],
                                                g_df["kind"], g_df["name"],
                                                _ewkb(shift(g_geoms, k)), strict=False):
            nc = recode(code, k)
            ncc = recode(cc, k)
            grid_id[nc] = len(grid_id) + 1
            rows.append(f"{grid_id[nc]}\t{version_of_comm[ncc]}\t{comm_id[ncc]}\t{nc}\t{int(seq)}\t"
                        f"{kind or 'basic'}\t{_esc(name)}\t{int(demo_grid_hh.get(code, 0))}\t"
                        f"{g}\tderived\n")
    _copy(cur, "grids", ["id", "version_id", "community_id", "code", "seq", "kind", "name",
                         "households", "geom", "source"], rows)
    lap("grids (COPY + inside-community triggers)")
    conn.commit()  # deferred coverage checks run here
    lap("commit (coverage checks)")

    # ---- coarse copies, as the product writes them after a grid version
    dict_cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    counts_coarse = coarse.refresh(CITY_CODE, dict_cur)
    conn.commit()
    lap("coarse copies")

    # ---- roads: the demo's OSM roads of the basemap classes, shifted with each copy
    n_roads = write_roads(cur, read_layer("roads"), spec.copies, shift)
    conn.commit()
    lap("roads")

    # ---- bulk tables: secondary indexes off, FK triggers off (by construction consistent)
    cur.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
        (list(BULK_TABLES),),
    )
    dropped = cur.fetchall()
    for name, _ in dropped:
        cur.execute(f'DROP INDEX "{name}"')
    if superuser:
        cur.execute("SET session_replication_role = replica")
    conn.commit()

    # departments, categories
    dep = L["departments"]
    dep_id = {c: i + 1 for i, c in enumerate(dep["code"])}
    _copy(cur, "departments", ["id", "code", "name", "name_en", "phone", "source"],
          [f"{dep_id[c]}\t{c}\t{_esc(n)}\t{_esc(ne)}\t{_esc(p)}\tsynthetic\n"
           for c, n, ne, p in zip(dep["code"], dep["name"], dep["name_en"], dep["phone"], strict=False)])
    cat = L["incident_categories"]
    cat_id = {c: i + 1 for i, c in enumerate(cat["code"])}
    # parents first is not needed: FKs are checked per statement only outside replica mode,
    # and parent rows are in the same COPY
    _copy(cur, "incident_categories",
          ["id", "code", "parent_id", "class", "name", "name_en", "department_id", "source"],
          [f"{cat_id[c]}\t{c}\t{cat_id[p] if p else chr(92) + 'N'}\t{cl}\t{_esc(n)}\t{_esc(ne)}\t"
           f"{dep_id[d] if d else chr(92) + 'N'}\tsynthetic\n"
           for c, p, cl, n, ne, d in zip(cat["code"], cat["parent_code"], cat["class"],
                                         cat["name"], cat["name_en"], cat["department_code"], strict=False)])

    # police rooms (one per community) and grid workers (one per grid)
    pr = L["police_rooms"]
    rows = []
    for k in range(spec.copies):
        for code, n, ne, a, p, cc, g in zip(pr["code"], pr["name"], pr["name_en"], pr["address"],
                                            pr["phone"], pr["community_code"],
                                            _ewkb(shift(pr.geometry.values, k)), strict=False):
            ncc = recode(cc, k) if cc else None
            rows.append(f"{_esc(code + f'-{k:02d}')}\t{_esc(n)}\t{_esc(ne)}\t{_esc(a)}\t{_esc(p)}\t"
                        f"{comm_id[ncc] if ncc else chr(92) + 'N'}\t{g}\tsynthetic\n")
    _copy(cur, "police_rooms", ["code", "name", "name_en", "address", "phone", "community_id",
                                "geom", "source"], rows)
    gw = L["grid_workers"]
    rows = []
    for k in range(spec.copies):
        for code, gc, n, p in zip(gw["code"], gw["grid_code"], gw["name"], gw["phone"], strict=False):
            gid = grid_id.get(recode(gc, k)) if gc else None
            rows.append(f"{_esc(code + f'-{k:02d}')}\t{_esc(n)}\t{_esc(p)}\t"
                        f"{gid if gid else chr(92) + 'N'}\ttrue\tsynthetic\n")
    _copy(cur, "grid_workers", ["code", "name", "phone", "grid_id", "active", "source"], rows)
    conn.commit()
    lap("departments, categories, police rooms, workers")

    # ---- buildings
    geoms0 = np.asarray(b.geometry.values, dtype=object)
    bx0, by0, bx1, by1 = shapely.bounds(geoms0).T
    bcx, bcy, bw, bh = (bx0 + bx1) / 2, (by0 + by1) / 2, bx1 - bx0, by1 - by0
    pt0 = shapely.point_on_surface(geoms0)
    px0, py0 = shapely.get_x(pt0), shapely.get_y(pt0)
    b_code = b["code"].to_numpy()
    b_osm = [str(int(v)) if v is not None and not pd.isna(v) else r"\N" for v in b["osm_id"]]
    b_name = [_esc(v) for v in b["name"]]
    b_addr = [_esc(v) for v in b["address"]]
    b_floors = [r"\N" if pd.isna(v) else str(int(v)) for v in b["floors"]]
    b_use = [_esc(v) for v in b["use"]]
    n_city = int(mult.sum())
    # per city building: (original index, copy) -> ids; remember what incidents need
    city_base = np.empty(n_city, dtype=np.int32)
    city_copy = np.empty(n_city, dtype=np.int16)
    city_px = np.empty(n_city)
    city_py = np.empty(n_city)
    next_id = 1
    hh_sum = 0
    for k in range(spec.copies):
        m = mult[k]
        idx = np.repeat(np.arange(n_b), m)
        starts = np.cumsum(m) - m
        slot = np.arange(len(idx)) - np.repeat(starts, m)
        mm = m[idx]
        rows_n = np.maximum(1, np.floor(np.sqrt(mm))).astype(np.int64)
        cols_n = np.ceil(mm / rows_n).astype(np.int64)
        shrink = np.where(mm == 1, 1.0, 0.9)
        sx, sy = shrink / cols_n, shrink / rows_n
        ox = bcx[idx] + ((slot % cols_n) - (cols_n - 1) / 2) * bw[idx] / cols_n
        oy = bcy[idx] + ((slot // cols_n) - (rows_n - 1) / 2) * bh[idx] / rows_n
        dx, dy = offsets[k]
        # per coordinate: x' = (x - cx) * sx + ox + dx
        ncoord = shapely.get_num_coordinates(geoms0[idx])
        ax, ay = np.repeat(sx, ncoord), np.repeat(sy, ncoord)
        bxr, byr = np.repeat(ox - bcx[idx] * sx + dx, ncoord), np.repeat(oy - bcy[idx] * sy + dy, ncoord)

        def tf(c, ax=ax, ay=ay, bxr=bxr, byr=byr):
            out = np.empty_like(c)
            out[:, 0] = c[:, 0] * ax + bxr
            out[:, 1] = c[:, 1] * ay + byr
            return out

        geoms = shapely.transform(geoms0[idx], tf)
        px = (px0[idx] - bcx[idx]) * sx + ox + dx
        py = (py0[idx] - bcy[idx]) * sy + oy + dy
        g_hex = _ewkb(geoms)
        p_hex = _ewkb(shapely.points(px, py))
        # households: the original's (scaled) total split over its repeats
        tot = b_total_hh[idx]
        hh = tot // mm + (slot < (tot % mm)).astype(np.int64)
        hh_sum += int(hh.sum())
        ids = np.arange(next_id, next_id + len(idx))
        sl = slice(next_id - 1, next_id - 1 + len(idx))
        city_base[sl], city_copy[sl], city_px[sl], city_py[sl] = idx, k, px, py
        comm_ids = np.array([comm_id[recode(c, k)] for c in b_comm])
        comp_ids = [str(comp_id[recode(c, k)]) if c else r"\N" for c in b_comp]
        grid_ids = [str(grid_id[recode(c, k)]) if c else r"\N" for c in b_grid]

        def brows(idx=idx, slot=slot, ids=ids, hh=hh, g_hex=g_hex, p_hex=p_hex,
                  comm_ids=comm_ids, comp_ids=comp_ids, grid_ids=grid_ids, k=k):
            for j in range(len(idx)):
                i = idx[j]
                yield (f"{ids[j]}\t{b_code[i]}-{k:02d}{slot[j]}\t{b_osm[i]}\t{b_name[i]}\t"
                       f"{b_addr[i]}\t{hh[j]}\t{b_floors[i]}\t{b_use[i]}\t{comm_ids[i]}\t"
                       f"{comp_ids[i]}\t{grid_ids[i]}\t{g_hex[j]}\t{p_hex[j]}\tosm\n")

        _copy(cur, "buildings", ["id", "code", "osm_id", "name", "address", "households",
                                 "floors", "use", "community_id", "compound_id", "grid_id",
                                 "geom", "pt", "source"], brows())

        def bgrows(idx=idx, ids=ids, grid_ids=grid_ids, k=k):
            for j in range(len(idx)):
                gid = grid_ids[idx[j]]
                if gid != r"\N":
                    vid = version_of_comm[recode(b_comm[idx[j]], k)]
                    yield f"{vid}\t{ids[j]}\t{gid}\tderived\n"

        _copy(cur, "building_grid", ["version_id", "building_id", "grid_id", "source"], bgrows())
        next_id += len(idx)
        say(f"    buildings copy {k + 1}/{spec.copies}: {len(idx):,} "
            f"({time.perf_counter() - tlap[0]:.1f} s)")
    conn.commit()
    lap("buildings + building_grid (COPY)")

    # ---- cameras and incidents at random buildings' points (ids by construction)
    street_of_comm = {}
    for nc in comm_id:
        street_of_comm[comm_id[nc]] = street_id[nc[:9]]

    def place_of(city_idx: np.ndarray):
        """(grid id or None, community id, street id) of city buildings."""
        out = []
        for bi, k in zip(city_base[city_idx], city_copy[city_idx], strict=False):
            gc = b_grid[bi]
            cid = comm_id[recode(b_comm[bi], int(k))]
            out.append((grid_id[recode(gc, int(k))] if gc else None, cid, street_of_comm[cid]))
        return out

    ref = pd.Timestamp(meta["reference_time"])
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
    clock = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    clock = clock.tz_localize("UTC") if clock.tzinfo is None else clock.tz_convert("UTC")
    delta = clock - ref

    def ts(values) -> np.ndarray:
        s = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")
        return s.to_numpy()

    cam = L["cameras"]
    n_cam = spec.cameras
    pick = rng.integers(0, n_city, n_cam)
    tmpl = np.arange(n_cam) % len(cam)
    jx, jy = rng.normal(0, 2e-5, n_cam), rng.normal(0, 1.3e-5, n_cam)
    cam_hex = _ewkb(shapely.points(city_px[pick] + jx, city_py[pick] + jy))
    hb = ts(cam["last_heartbeat"])
    places = place_of(pick)
    c_type, c_status, c_owner = cam["type"].to_numpy(), cam["status"].to_numpy(), \
        cam["owner"].to_numpy()
    c_name, c_url = cam["name"].to_numpy(), cam["stream_url"].to_numpy()

    def camrows():
        for j in range(n_cam):
            t = tmpl[j]
            code = f"CAM{CITY_CODE}{j + 1:08d}"
            beat = hb[t]
            beat_s = r"\N" if pd.isna(beat) else (pd.Timestamp(beat) + delta).isoformat()
            gid = places[j][0]
            yield (f"{j + 1}\t{code}\t{_esc(c_name[t])}\t{_esc(c_type[t] or 'fixed')}\t"
                   f"{c_status[t]}\t{_esc(c_owner[t])}\t{beat_s}\t"
                   f"{_esc((c_url[t] or '').rsplit('/', 1)[0] + '/' + code)}\t1\t"
                   f"{gid if gid else chr(92) + 'N'}\t{cam_hex[j]}\tsynthetic\n")

    _copy(cur, "cameras", ["id", "code", "name", "type", "status", "owner", "last_heartbeat",
                           "stream_url", "district_id", "grid_id", "geom", "source"], camrows())
    conn.commit()
    lap("cameras")

    inc = L["incidents"].reset_index(drop=True)
    ev = L["incident_events"]
    open_t = np.flatnonzero(inc["closed_at"].isna().to_numpy())
    closed_t = np.flatnonzero(inc["closed_at"].notna().to_numpy())
    templates = np.concatenate([open_t[np.arange(spec.open_incidents) % len(open_t)],
                                closed_t[np.arange(spec.closed_incidents) % len(closed_t)]])
    n_inc = len(templates)
    times = {c: ts(inc[c]) for c in ("reported_at", "dispatched_at", "due_at", "handled_at",
                                      "closed_at")}
    # open cases: jitter up to a day back (never into the future); closed ones: up to 14 days
    back = np.where(np.arange(n_inc) < spec.open_incidents,
                    rng.uniform(0, 86_400, n_inc), rng.uniform(0, 14 * 86_400, n_inc))
    shift_td = [delta - pd.Timedelta(seconds=float(s)) for s in back]
    pick = rng.integers(0, n_city, n_inc)
    inc_hex = _ewkb(shapely.points(city_px[pick], city_py[pick]))
    places = place_of(pick)
    cols = {c: inc[c].to_numpy() for c in ("category_code", "title", "description", "severity",
                                           "state", "level", "closed_level", "department_code",
                                           "reporter_name", "reporter_phone")}

    def tcell(name, t, j):
        v = times[name][t]
        return r"\N" if pd.isna(v) else (pd.Timestamp(v) + shift_td[j]).isoformat()

    def incrows():
        for j in range(n_inc):
            t = templates[j]
            g, c, s = places[j]
            dcode = cols["department_code"][t]
            yield (f"{j + 1}\tSJB{j + 1:09d}\t{cat_id[cols['category_code'][t]]}\t"
                   f"{_esc(cols['title'][t])}\t{_esc(cols['description'][t])}\t"
                   f"{cols['severity'][t]}\t{cols['state'][t]}\t{cols['level'][t]}\t"
                   f"{tcell('reported_at', t, j)}\t{tcell('dispatched_at', t, j)}\t"
                   f"{tcell('due_at', t, j)}\t{tcell('handled_at', t, j)}\t"
                   f"{tcell('closed_at', t, j)}\t{_esc(cols['closed_level'][t])}\t"
                   f"{dep_id[dcode] if dcode else chr(92) + 'N'}\t1\t{s}\t{c}\t"
                   f"{g if g else chr(92) + 'N'}\t{_esc(cols['reporter_name'][t])}\t"
                   f"{_esc(cols['reporter_phone'][t])}\t{inc_hex[j]}\tsynthetic\n")

    _copy(cur, "incidents", ["id", "code", "category_id", "title", "description", "severity",
                             "state", "level", "reported_at", "dispatched_at", "due_at",
                             "handled_at", "closed_at", "closed_level", "department_id",
                             "district_id", "street_id", "community_id", "grid_id",
                             "reporter_name", "reporter_phone", "geom", "source"], incrows())
    code_pos = {c: i for i, c in enumerate(inc["code"])}
    ev_by_t: dict[int, list[int]] = {}
    for r, c in enumerate(ev["incident_code"]):
        ev_by_t.setdefault(code_pos[c], []).append(r)
    ev_at = ts(ev["at"])
    ev_cols = {c: ev[c].to_numpy() for c in ("from_state", "to_state", "level", "actor", "note")}
    n_ev = [0]

    def evrows():
        for j in range(n_inc):
            for r in ev_by_t.get(int(templates[j]), ()):
                n_ev[0] += 1
                at = ev_at[r]
                yield (f"{j + 1}\t{(pd.Timestamp(at) + shift_td[j]).isoformat()}\t"
                       f"{_esc(ev_cols['from_state'][r])}\t{ev_cols['to_state'][r]}\t"
                       f"{ev_cols['level'][r]}\t{_esc(ev_cols['actor'][r])}\t"
                       f"{_esc(ev_cols['note'][r])}\tsynthetic\n")

    _copy(cur, "incident_events", ["incident_id", "at", "from_state", "to_state", "level",
                                   "actor", "note", "source"], evrows())
    conn.commit()
    lap("incidents + events")

    # ---- indexes back, sequences, audit, statistics
    cur.execute("SET session_replication_role = origin" if superuser else "SELECT 1")
    for _name, ddl in dropped:
        cur.execute(ddl)
    conn.commit()
    lap(f"rebuild {len(dropped)} indexes")
    # derived rows the triggers (off during the bulk load) would have kept (migration 0014).
    # Statistics first: planned on freshly loaded tables that autovacuum has not analysed
    # yet, the per-building camera lookup may scan all cameras for each of a million
    # buildings (seen: over 7 minutes instead of about 30 s).
    cur.execute("ANALYZE buildings, cameras")
    cur.execute("SELECT refresh_camera_gaps()")
    conn.commit()
    lap("camera gaps")
    for table in ("districts", "streets", "communities", "compounds", "grid_versions", "grids",
                  "buildings", "cameras", "departments", "incident_categories", "incidents",
                  "police_rooms", "grid_workers", "incident_events"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
    counts = {"districts": 1, "streets": len(street_id), "communities": len(comm_id),
              "compounds": len(comp_id), "grids": len(grid_id), "buildings": n_city,
              "households": hh_sum, "cameras": n_cam, "incidents": n_inc,
              "open_incidents": spec.open_incidents, "incident_events": n_ev[0],
              **counts_coarse}
    counts["roads"] = n_roads
    import json

    cur.execute(
        """INSERT INTO audit_log (actor, action, scope_code, target, detail, source)
           VALUES ('bench', %s, %s, %s, %s, 'derived')""",
        (ACTION, CITY_CODE, CITY_CODE,
         json.dumps({"spec": asdict(spec), "demo": demo_checksum()[:16], "counts": counts,
                     "steps": steps})),
    )
    conn.commit()
    conn.autocommit = True
    # VACUUM too: otherwise autovacuum visits the million fresh rows during the measurement
    cur.execute(f"VACUUM (ANALYZE) {', '.join(BULK_TABLES)}")
    cur.execute("ANALYZE")
    lap("vacuum + analyze")
    conn.close()
    total = round(time.perf_counter() - t0, 1)
    return {"counts": counts, "steps": steps, "seconds": total}


# ----------------------------------------------------------------------------- history

HISTORY_ACTION = "bench_city_history"
HISTORY_INCIDENTS = 200_000

_HISTORY_SQL = """
CREATE TEMP TABLE hsrc ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY id) AS rn, category_id, title, description, department_id,
       district_id, street_id, community_id, grid_id, geom
  FROM incidents WHERE code LIKE 'SJB%%';
SELECT setseed(%(seed)s);
CREATE TEMP TABLE hgen ON COMMIT DROP AS
SELECT g, 1 + floor(random() * (SELECT count(*) FROM hsrc))::bigint AS pick,
       random() AS r_sev, random() AS r_end, random() AS r_late, random() AS r_ret,
       date_trunc('second', %(now)s::timestamptz - interval '15 days'
                            - random() * interval '350 days') AS rep
  FROM generate_series(1, %(n)s) g;
INSERT INTO incidents (code, category_id, title, description, severity, state, level,
                       reported_at, dispatched_at, due_at, handled_at, closed_at, closed_level,
                       department_id, district_id, street_id, community_id, grid_id, geom,
                       source, reported_by)
SELECT 'SJH' || lpad(h.g::text, 9, '0'), s.category_id, s.title, s.description, h.sev,
       CASE WHEN h.local THEN 'resolved' WHEN h.r_end < 0.5 THEN 'evaluated' ELSE 'closed' END,
       CASE WHEN h.local THEN 'grid' ELSE 'district' END,
       h.rep,
       CASE WHEN NOT h.local THEN h.rep + interval '12 minutes' END,
       CASE WHEN NOT h.local THEN h.rep + interval '12 minutes' + h.lim END,
       CASE WHEN h.local THEN h.rep + interval '40 minutes'
            ELSE h.rep + interval '12 minutes' + h.lim * (0.15 + h.r_late) END,
       CASE WHEN h.local THEN h.rep + interval '45 minutes'
            ELSE h.rep + interval '42 minutes' + h.lim * (0.15 + h.r_late) END,
       CASE WHEN h.local THEN 'grid' ELSE 'district' END,
       CASE WHEN NOT h.local THEN s.department_id END,
       s.district_id, s.street_id, s.community_id, s.grid_id, s.geom, 'synthetic', 'bench'
  FROM (SELECT hg.*, hg.r_end < 0.25 AS local,
               CASE WHEN hg.r_sev < 0.8 THEN 'ordinary' WHEN hg.r_sev < 0.95 THEN 'major'
                    ELSE 'complex' END AS sev,
               CASE WHEN hg.r_sev < 0.8 THEN interval '1 hour' WHEN hg.r_sev < 0.95
                    THEN interval '1 day' ELSE interval '7 days' END AS lim
          FROM hgen hg) h
  JOIN hsrc s ON s.rn = h.pick;
-- the events of each: reported, then resolved on the spot, or the district loop
INSERT INTO incident_events (incident_id, at, from_state, to_state, level, actor, kind, source)
SELECT i.id, e.at, e.f, e.t, i.level, 'bench', 'transition', 'synthetic'
  FROM incidents i
 CROSS JOIN LATERAL (VALUES
       (i.reported_at, NULL, 'reported', true),
       (i.reported_at + interval '2 minutes', 'reported', 'resolved', i.state = 'resolved'),
       (i.reported_at + interval '5 minutes', 'reported', 'filed', i.state <> 'resolved'),
       (i.dispatched_at, 'filed', 'dispatched', i.dispatched_at IS NOT NULL),
       (i.dispatched_at + interval '8 minutes', 'dispatched', 'accepted', i.dispatched_at IS NOT NULL),
       (i.handled_at, 'accepted', 'handled', i.dispatched_at IS NOT NULL),
       (i.closed_at - interval '20 minutes', 'handled', 'verified', i.state <> 'resolved'),
       (i.closed_at, 'verified', 'closed', i.state <> 'resolved'),
       (i.closed_at + interval '1 day', 'closed', 'evaluated', i.state = 'evaluated')
       ) AS e(at, f, t, keep)
 WHERE i.code LIKE 'SJH%%' AND e.keep AND (e.t <> 'resolved' OR i.state = 'resolved');
"""


def history_present(url: str, n: int = HISTORY_INCIDENTS) -> bool:
    """True when ``n`` historical incidents were added to the city at ``url`` already."""
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT detail FROM audit_log WHERE action = %s ORDER BY id DESC LIMIT 1",
                        (HISTORY_ACTION,))
            row = cur.fetchone()
            return bool(row and row[0].get("n") == n)
    finally:
        conn.close()


def add_history(url: str, n: int = HISTORY_INCIDENTS, seed: float = 0.11,
                say: Callable[[str], None] = print, now: dt.datetime | None = None) -> dict:
    """Add ``n`` closed historical incidents (codes ``SJH...``) to a built city, with events.

    Reported over the year before the last 15 days (so the wall's "today" is unchanged),
    each a copy of a random city incident's place and category: a quarter resolved on the
    spot in the grid, the rest dispatched by severity (1 h, 1 day, 7 days), some handled late,
    closed, half evaluated. Server-side SQL (``setseed``: the same rows every time).
    Idempotent: returns ``{"added": 0}`` when they are there already.
    """
    import json

    import psycopg2

    if history_present(url, n):
        return {"added": 0}
    t0 = time.perf_counter()
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM incident_events WHERE incident_id IN "
                        "(SELECT id FROM incidents WHERE code LIKE 'SJH%%')")
            cur.execute("DELETE FROM incidents WHERE code LIKE 'SJH%%'")
            cur.execute(_HISTORY_SQL, {"seed": seed, "now": now or dt.datetime.now(dt.UTC), "n": n})
            cur.execute("SELECT count(*) FROM incidents WHERE code LIKE 'SJH%%'")
            added = cur.fetchone()[0]
            cur.execute("""INSERT INTO audit_log (actor, action, scope_code, target, detail, source)
                           VALUES ('bench', %s, %s, %s, %s, 'derived')""",
                        (HISTORY_ACTION, CITY_CODE, CITY_CODE, json.dumps({"n": n, "seed": seed})))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) incidents, incident_events")
    finally:
        conn.close()
    seconds = round(time.perf_counter() - t0, 1)
    say(f"added {added:,} historical incidents in {seconds:.1f} s")
    return {"added": added, "seconds": seconds}


if __name__ == "__main__":  # python bench/citygen.py URL [--quick]
    logging.basicConfig(level=logging.INFO)
    url = sys.argv[1]
    spec = QUICK if "--quick" in sys.argv else FULL
    print(build_city(url, spec))
