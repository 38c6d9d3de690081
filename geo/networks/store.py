"""Importing a department's grid layer as a named network, and listing the networks.

The file goes through the importer's own readers, CRS handling, field mapping and feature
checks (:mod:`geo.importers.readers`, :mod:`~geo.importers.crs`, :mod:`~geo.importers.fields`,
:mod:`~geo.importers.validate`), so a network file is refused exactly like any import file:
the message names the file, the feature and the field, and nothing is written. On top of
those checks a network polygon must overlap a district already in the database (a layer in
the wrong CRS lands elsewhere and is refused at its first feature).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg2
import shapely

from geo import db
from geo.access import audit, permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.importers.fields import Field, KindSpec
from geo.networks import GAP_TOLERANCE_M, NAME_MAX
from geo.networks.assign import assign_buildings

log = logging.getLogger(__name__)

#: The canonical fields of a network file (``--field code=COL --field name=COL``).
NETWORK_SPEC = KindSpec(
    "networks", "polygon", (
        Field("code", "code", True, help="the department's grid code (unique in the file)"),
        Field("name", "text", help="the department's grid name"),
    ),
)

#: Most vertices of a stored polygon piece (see ``network_grid_parts``).
PART_VERTICES = 32

_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class NetworkNotFound(GridAtlasError):
    """No network of that name."""


@dataclass
class NetworkReport:
    """What a committed network import did."""

    name: str
    file: str
    grids: int
    crs: str | None
    replaced: bool = False
    buildings: int = 0
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "grids": self.grids, "crs": self.crs,
                "replaced": self.replaced, "buildings": self.buildings,
                "repaired": self.repaired, "notes": self.notes,
                "seconds": round(self.seconds, 3)}


def check_name(name: str) -> str:
    """A network name, stripped; refused when empty, too long or holding control characters."""
    text = (name or "").strip()
    if not text or len(text) > NAME_MAX or _BAD_NAME.search(text):
        raise GridAtlasError(
            f"网络名称无效 / invalid network name {name!r}: 1-{NAME_MAX} characters, no "
            "slashes or control characters (e.g. 城管, 综治, 公安, 党建)")
    return text


def import_network(
    principal: Principal,
    name: str,
    path: str | Path,
    *,
    layer: str | None = None,
    fields: list[str] | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    replace: bool = False,
) -> NetworkReport:
    """Import a department's grid layer (polygons with a code and a name) as network ``name``.

    Parameters
    ----------
    principal:
        Who imports (action ``networks.import``; only a principal without a place scope,
        since a network spans the whole district).
    name:
        The network's name (城管, 综治, 公安, 党建 ...).
    path, layer, fields, crs, encoding:
        As for :func:`geo.importers.import_file`; ``fields`` maps ``code`` and ``name``.
    replace:
        Replace a network of the same name (in the same transaction); without it an existing
        name is refused.

    Returns
    -------
    NetworkReport

    Raises
    ------
    GridAtlasError
        On any refusal (file, feature and field named); nothing is written.
    """
    from geo.importers.crs import parse_crs, to_wgs84
    from geo.importers.fields import parse_field_options, resolve_columns
    from geo.importers.readers import read_source
    from geo.importers.validate import check_features, feature_name
    from geo.repository import lookup
    from geo.repository.writers import insert_rows, to_hex_wkb
    from geo.settings import get_settings

    permissions.check(principal, "networks.import")
    if principal.scope_code is not None:
        raise permissions.PermissionDenied(
            f"a network spans the whole district: {principal.username} (scope "
            f"{principal.scope_code}) may not import one (action networks.import)")
    t0 = time.perf_counter()
    name = check_name(name)
    mapping = parse_field_options(fields, NETWORK_SPEC)
    src = read_source(path, layer=layer, encoding=encoding)
    label = src.label
    if not src.has_geometry:
        raise GridAtlasError(f"{label}: a network needs polygon geometry, but the file has none")
    if crs:
        source_crs = parse_crs(crs, label).to_string()
    else:
        source_crs = src.frame.crs.to_string() if src.frame.crs is not None else None
    frame, notes = to_wgs84(src.frame, label, crs_override=crs)
    notes = list(src.notes) + notes
    geom_col = frame.geometry.name
    columns = resolve_columns([str(c) for c in frame.columns if c != geom_col], NETWORK_SPEC,
                              mapping, label)
    checked = check_features(frame, NETWORK_SPEC, columns, label,
                             timezone=get_settings().timezone)
    codes = checked.values["code"]
    names = checked.values.get("name", [None] * len(codes))
    try:
        with db.transaction() as cur:
            districts = lookup.boundaries(cur, "district")
            if len(districts) == 0:
                raise GridAtlasError(
                    f"{label}: there is no district in the database yet; import districts "
                    "first (python -m geo import districts FILE)")
            _refuse_outside(checked.geometry, districts, label, codes, feature_name)
            cur.execute("SELECT id FROM networks WHERE name = %s FOR UPDATE", (name,))
            old = cur.fetchone()
            if old is not None and not replace:
                raise GridAtlasError(
                    f"network {name!r} exists already; pass --replace to replace it with "
                    f"{label}")
            if old is not None:
                cur.execute("DELETE FROM networks WHERE id = %s", (old["id"],))
            cur.execute(
                """INSERT INTO networks (name, imported_by, source_file, crs, gap_tolerance_m)
                   VALUES (%s, %s, %s, %s, %s) RETURNING id, imported_at""",
                (name, principal.username, Path(path).name, source_crs, GAP_TOLERANCE_M),
            )
            row = cur.fetchone()
            nid = int(row["id"])
            insert_rows(
                cur, "network_grids", ["network_id", "code", "name", "geom"],
                zip([nid] * len(codes), codes, names, to_hex_wkb(checked.geometry),
                    strict=True),
                geom={"geom": "multi"},
            )
            cur.execute(
                """INSERT INTO network_grid_parts (network_grid_id, network_id, code, geom)
                   SELECT id, network_id, code, ST_Subdivide(geom, %s)
                     FROM network_grids WHERE network_id = %s""", (PART_VERTICES, nid))
            placed = assign_buildings(cur, nid, GAP_TOLERANCE_M)
            report = NetworkReport(name=name, file=Path(path).name, grids=len(codes),
                                   crs=source_crs, replaced=old is not None,
                                   buildings=placed,
                                   repaired=list(checked.repaired), notes=notes)
            audit.record(
                cur, principal, "networks.import", target=name,
                detail={"network": name, "file": Path(path).name, "layer": layer,
                        "features": len(codes), "replaced": old is not None,
                        "buildings": placed,
                        "repaired": len(checked.repaired), "repairs": checked.repaired[:50],
                        "notes": notes, "fields": columns, "crs": source_crs},
            )
    except psycopg2.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        raise GridAtlasError(f"{label}: the database refused the network: {primary.strip()}") \
            from exc
    report.seconds = time.perf_counter() - t0
    log.info("network %s imported from %s: %d grids in %.1f s", name, label, report.grids,
             report.seconds)
    return report


def _refuse_outside(geoms: np.ndarray, districts, label: str, codes: list, feature_name) -> None:
    """Each polygon must overlap a district (a wrong CRS puts the layer elsewhere)."""
    tree = shapely.STRtree(np.asarray(districts.geometry.values, dtype=object))
    hit = np.zeros(len(geoms), dtype=bool)
    fi, _ = tree.query(np.asarray(geoms, dtype=object), predicate="intersects")
    hit[fi] = True
    bad = np.flatnonzero(~hit)
    if len(bad):
        pos = int(bad[0])
        raise GridAtlasError(
            f"{label}: {feature_name(pos, codes[pos])}, field 'geometry': lies outside every "
            f"district in the database ({', '.join(districts.code.astype(str))}); the CRS is "
            "wrong (pass the right one with --crs) or the layer covers another place"
            + (f"; {len(bad) - 1} more feature(s) too" if len(bad) > 1 else ""))


def list_networks(principal: Principal) -> list[dict]:
    """The networks: ``name``, ``count`` (polygons), ``imported_at`` (ISO 8601), ``source_file``,
    ``crs``; by name. Action ``networks.view``."""
    permissions.check(principal, "networks.view")
    rows = db.fetch_all(
        """SELECT n.name, count(g.id)::int AS count, n.imported_at, n.source_file, n.crs
             FROM networks n LEFT JOIN network_grids g ON g.network_id = n.id
            GROUP BY n.id ORDER BY n.name""")
    return [{"name": r["name"], "count": r["count"],
             "imported_at": r["imported_at"].isoformat(), "source_file": r["source_file"],
             "crs": r["crs"]} for r in rows]


def network_id(cur, name: str) -> int:
    """The id of network ``name``; :class:`NetworkNotFound` when there is none."""
    cur.execute("SELECT id FROM networks WHERE name = %s", (name,))
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT string_agg(name, ', ' ORDER BY name) AS names FROM networks")
        have = (cur.fetchone() or {}).get("names")
        raise NetworkNotFound(
            f"没有名为 {name!r} 的网络 / no network named {name!r}"
            + (f" (networks: {have})" if have else " (none imported yet)"))
    return int(row["id"])
