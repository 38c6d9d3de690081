"""Export a proposal or a grid version to GeoPackage, GeoJSON, CSV or Shapefile.

Formats are chosen for the people who open them:

* ``csv``: UTF-8 *with* a byte-order mark, so Excel on Chinese Windows opens it without
  garbling names; one row per grid with a label point (``x``, ``y``) instead of polygons
  (a polygon's WKT can pass Excel's 32,767-character cell limit).
* ``shp``: attributes encoded in GBK with a ``.cpg`` saying so (what ArcGIS and older
  Chinese desktop GIS expect); field names are at most 10 characters. A path ending in
  ``.zip`` gets the shapefile's files zipped together (for a download).
* ``gpkg`` / ``geojson``: UTF-8, layer ``grids``.

``crs`` is ``EPSG:4326`` (default) or ``EPSG:4490`` (CGCS2000). Grids are stored in 4326;
as DESIGN.md says, the two differ by centimetres, so 4490 output relabels the coordinates as
CGCS2000 rather than transforming them. A GeoJSON written in 4490 carries a ``crs`` member
(RFC 7946 readers assume WGS 84, which is right to within centimetres).
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo import db
from geo.access import permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import versions
from geo.planning.model import Proposal

log = logging.getLogger(__name__)

FORMATS = ("gpkg", "geojson", "csv", "shp")
CRSES = ("EPSG:4326", "EPSG:4490")

# Shapefile field names (<= 10 characters).
_SHP_NAMES = {
    "households": "households", "deviation": "deviation", "n_buildings": "n_bldg",
    "failed_rules": "failed", "households_moved": "hh_moved", "predecessor": "pred",
    "community": "community", "community_name": "comm_name", "version_no": "version",
}


def grids_frame(obj: Proposal | int | str) -> gpd.GeoDataFrame:
    """The grids of a proposal or a version as one flat table (EPSG:4326).

    Columns: ``community``, ``community_name``, ``version_no`` (``None`` for a proposal),
    ``code``, ``seq``, ``kind``, ``name``, ``households``, ``deviation``, ``pp``,
    ``n_buildings``, ``in_band``, ``valid``, ``failed_rules`` (comma separated),
    ``status``, ``predecessor``, ``households_moved``, geometry.
    """
    if isinstance(obj, Proposal):
        g = obj.grids
        p = obj.params
        frame = pd.DataFrame({
            "community": obj.community_code, "community_name": obj.community_name,
            "version_no": None, "code": g["code"], "seq": g["seq"].astype(int),
            "kind": g["kind"], "name": g["name"], "households": g["households"].astype(int),
            "deviation": g["deviation"].astype(float), "pp": g["pp"].astype(float),
            "n_buildings": g["n_buildings"].astype(int),
            "in_band": [bool(p["min_hh"] <= h <= p["max_hh"]) for h in g["households"]],
            "valid": g["valid"].astype(bool),
            "failed_rules": [",".join(r) for r in g["failed_rules"]],
            "status": g["status"], "predecessor": g["predecessor"],
            "households_moved": g["households_moved"].astype(int),
        })
        return gpd.GeoDataFrame(frame, geometry=g.geometry.values, crs=4326)
    return _version_frame(obj)


def _version_frame(ref: int | str) -> gpd.GeoDataFrame:
    import shapely

    with db.transaction(readonly=True) as cur:
        ver = versions.resolve_version(cur, ref)
        cur.execute(
            """SELECT c.code, c.name, c.target_households, c.min_households, c.max_households
                 FROM communities c WHERE c.id = %s""", (ver["community_id"],))
        com = cur.fetchone()
        cur.execute(
            """SELECT g.code, g.seq, g.kind, g.name, g.households,
                      (SELECT count(*) FROM building_grid bg WHERE bg.grid_id = g.id)::int
                          AS n_buildings,
                      ST_Area(g.geom::geography) AS area_m2,
                      ST_Perimeter(g.geom::geography) AS perim_m,
                      ST_NumGeometries(g.geom) AS parts,
                      ST_AsBinary(g.geom) AS wkb
                 FROM grids g WHERE g.version_id = %s ORDER BY g.code""", (ver["id"],))
        rows = cur.fetchall()
    import math

    lo, hi, target = com["min_households"], com["max_households"], com["target_households"]
    frame = pd.DataFrame({
        "community": com["code"], "community_name": com["name"],
        "version_no": int(ver["version_no"]),
        "code": [r["code"] for r in rows], "seq": [int(r["seq"]) for r in rows],
        "kind": [r["kind"] for r in rows], "name": [r["name"] for r in rows],
        "households": [int(r["households"]) for r in rows],
        "deviation": [round(abs(r["households"] - target) / target, 6) for r in rows],
        "pp": [round(4 * math.pi * r["area_m2"] / r["perim_m"] ** 2, 6) if r["perim_m"] else 0.0
               for r in rows],
        "n_buildings": [r["n_buildings"] for r in rows],
        "in_band": [bool(lo <= r["households"] <= hi) for r in rows],
        "valid": [bool(lo <= r["households"] <= hi and r["parts"] == 1) for r in rows],
        "failed_rules": [",".join(
            ([] if r["parts"] == 1 else ["one_piece"])
            + ([] if lo <= r["households"] <= hi else ["band"])) for r in rows],
        "status": None, "predecessor": None, "households_moved": 0,
    })
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=4326)


def export(
    obj: Proposal | int | str,
    fmt: str,
    path: str | os.PathLike,
    crs: str = "EPSG:4326",
    *,
    principal: Principal | None = None,
) -> Path:
    """Write the grids of a proposal or a version to a file.

    Parameters
    ----------
    obj:
        A :class:`Proposal`, a version id, or ``"COMMUNITY@NUMBER"``.
    fmt:
        ``gpkg``, ``geojson``, ``csv`` or ``shp``.
    path:
        Output file (``.zip`` for a zipped shapefile). Overwritten if it exists.
    crs:
        ``EPSG:4326`` or ``EPSG:4490``.
    principal:
        When given, checked for ``view.plan`` on the community.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    fmt = fmt.lower().lstrip(".") if isinstance(fmt, str) else ""
    if fmt not in FORMATS:
        raise GridAtlasError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    crs = crs.upper() if isinstance(crs, str) else ""
    if crs not in CRSES:
        raise GridAtlasError(f"export CRS must be EPSG:4326 or EPSG:4490, not {crs!r}")
    if principal is not None:
        from geo.planning.api import _in_scope

        permissions.check(principal, "view.plan")
        if isinstance(obj, Proposal):
            community = obj.community_code
        else:
            with db.transaction(readonly=True) as cur:
                community = versions.resolve_version(cur, obj)["community_code"]
        _in_scope(principal, "view.plan", community)
    frame = grids_frame(obj)
    if crs == "EPSG:4490":
        frame = frame.set_crs(4490, allow_override=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _write_csv(frame, path)
    elif fmt == "shp":
        _write_shp(frame, path)
    else:
        if path.exists():
            path.unlink()
        driver = "GPKG" if fmt == "gpkg" else "GeoJSON"
        out = frame.copy()
        out["version_no"] = out["version_no"].astype("Int64")
        kw: dict[str, Any] = {"layer": "grids"} if fmt == "gpkg" else {}
        out.to_file(path, driver=driver, engine="pyogrio", **kw)
    log.info("exported %d grids to %s (%s, %s)", len(frame), path, fmt, crs)
    return path


def download(principal: Principal, proposal: Proposal, fmt: Any, crs: str = "EPSG:4326",
             ) -> tuple[str, bytes]:
    """A proposal's grids as a file to send to the browser: ``(file name, content)``.

    Checks ``view.plan`` on the proposal's community and the format before anything is
    written; the file is written in a private temporary folder that is removed before
    returning, whatever happens.

    Raises
    ------
    PermissionDenied, GridAtlasError
        Not allowed, or an unknown format or CRS (nothing written).
    """
    from geo.planning.api import _in_scope

    _in_scope(principal, "view.plan", proposal.community_code)
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FORMATS:
        raise GridAtlasError(
            f"导出格式无效 / unknown export format {str(fmt)[:20]!r}: use one of "
            f"{', '.join(FORMATS)}")
    fmt = fmt.lower().lstrip(".")
    name = f"plan-{proposal.community_code}.{'zip' if fmt == 'shp' else fmt}"
    with tempfile.TemporaryDirectory(prefix="gridatlas-export-") as folder:
        path = export(proposal, fmt, Path(folder) / name, crs=crs, principal=principal)
        return path.name, path.read_bytes()


def _write_csv(frame: gpd.GeoDataFrame, path: Path) -> None:
    pts = frame.geometry.representative_point()
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table["x"] = pts.x.round(6)
    table["y"] = pts.y.round(6)
    table["crs"] = frame.crs.to_string()
    table.to_csv(path, index=False, encoding="utf-8-sig")


def _write_shp(frame: gpd.GeoDataFrame, path: Path) -> None:
    out = frame.rename(columns=_SHP_NAMES).copy()
    out["valid"] = out["valid"].astype(int)
    out["in_band"] = out["in_band"].astype(int)
    out["version"] = out["version"].astype("Int64")
    out = out.fillna({"pred": "", "status": ""})
    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            shp = Path(tmp) / (path.stem.removesuffix(".shp") + ".shp")
            out.to_file(shp, driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
            if path.exists():
                path.unlink()
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(Path(tmp).iterdir()):
                    zf.write(f, f.name)
        return
    if path.suffix.lower() != ".shp":
        raise GridAtlasError(f"a shapefile path ends in .shp or .zip, not {path.name!r}")
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        p = path.with_suffix(ext)
        if p.exists():
            p.unlink()
    out.to_file(path, driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
