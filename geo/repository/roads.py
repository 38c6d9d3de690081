"""Roads as a quiet basemap: the lines in a map view for a zoom, as small GeoJSON.

Command centres often run on an intranet without a tile server; the roads table (migration
0009, filled by ``python -m geo import roads FILE`` or the demo load) lets the wall draw the
streets itself. :func:`roads_in_view` takes the reader's scope first, like every read in
:mod:`geo.repository`, and keeps the answer small:

* **classes by zoom**: each road class has a smallest zoom (:class:`RoadRules`); at zoom 12
  only motorways, trunks, primary and secondary roads come back, residential streets from
  14, service roads and classes the rules do not know from 16;
* **simplified by zoom**: lines are simplified to about half a screen pixel
  (``ST_Simplify``) and written with 5 decimals (~1 m) below zoom 15, 6 above; pieces
  shorter than a pixel are dropped;
* **merged by name**: the pieces of one road (same class and name) in view are merged
  (``ST_LineMerge``) into one feature, so a name travels once;
* **the zoom the view can show**: a view wider than :attr:`RoadRules.max_view_px` pixels at
  the zoom asked is read at the zoom that fits it, so a huge box at zoom 16 cannot pull the
  whole city at full detail.

Features carry ``class``, ``rank`` (1 = most important, for the drawing order and line
width), ``name`` and ``name_en`` (as the source spells them: the demo's OpenStreetMap names
are Russian or Kazakh) and, where the road is labelled at this zoom, ``label`` = [lon, lat]
of a point on the line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from geo import db
from geo.access.roles import Principal
from geo.repository.scope import Scope
from geo.repository.wall import BadRequest

#: Chinese urban road classes (GB 50220 / CJJ 37) as the OSM class the zoom rules know.
CHINESE_CLASSES: dict[str, str] = {
    "高速公路": "motorway", "快速路": "trunk", "城市快速路": "trunk", "主干路": "primary",
    "主干道": "primary", "次干路": "secondary", "次干道": "secondary", "支路": "tertiary",
    "街巷": "residential", "小区道路": "service", "内部道路": "service",
}

#: Classes the demo load keeps (OSM ``highway`` values): residential and above, their links,
#: living streets and service roads. Footways, paths, steps and cycleways are left out.
DEMO_CLASSES: frozenset[str] = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service",
})


def _default_ranks() -> dict[str, tuple[int, int]]:
    # class -> (rank, smallest zoom drawn)
    return {
        "motorway": (1, 0), "trunk": (1, 0), "motorway_link": (2, 12), "trunk_link": (2, 12),
        "primary": (2, 0), "primary_link": (3, 13), "secondary": (3, 12),
        "secondary_link": (4, 14), "tertiary": (4, 13), "tertiary_link": (5, 15),
        "unclassified": (5, 14), "residential": (5, 14), "living_street": (6, 15),
        "service": (6, 16),
    }


@dataclass(frozen=True)
class RoadRules:
    """What the basemap shows at which zoom.

    Attributes
    ----------
    classes:
        class -> (rank, smallest zoom at which it is drawn). Rank 1 is the most important.
    other:
        (rank, smallest zoom) of a class not in ``classes``.
    label_zoom_offset:
        A road is labelled from ``label_zoom_offset`` zoom levels after it is first drawn
        (with the default classes: motorways, trunks and primary roads always, secondary
        roads from 14, tertiary from 15, residential streets from 16).
    min_zoom:
        Below this zoom no road is returned (a whole region is a blur of lines).
    max_view_px:
        The widest view (in screen pixels) read at the zoom asked; wider views are read at
        the zoom that fits them into this many pixels.
    pixel_tolerance:
        Simplification tolerance and shortest piece kept, in screen pixels.
    max_features:
        Most features returned (the least important classes go first when cut).
    """

    classes: dict[str, tuple[int, int]] = field(default_factory=_default_ranks)
    other: tuple[int, int] = (7, 16)
    label_zoom_offset: int = 2
    min_zoom: float = 10.0
    max_view_px: int = 4096
    pixel_tolerance: float = 0.5
    max_features: int = 4000

    def shown_at(self, zoom: float) -> list[str]:
        """Known classes drawn at ``zoom``."""
        return sorted(c for c, (_, z) in self.classes.items() if zoom >= z)

    def labelled_at(self, zoom: float) -> list[str]:
        """Known classes labelled at ``zoom``."""
        return sorted(c for c, (_, z) in self.classes.items()
                      if zoom >= z + self.label_zoom_offset)


DEFAULT = RoadRules()


def normalize_class(value: str) -> str:
    """A road class as stored: lower case, ``-`` and spaces as ``_``, Chinese classes mapped.

    Raises
    ------
    ValueError
        When the result is not 1-32 characters of ``a-z``, ``0-9`` and ``_`` starting with a
        letter (the database's rule).
    """
    text = str(value).strip()
    text = CHINESE_CLASSES.get(text, text).lower().replace("-", "_").replace(" ", "_")
    if not (0 < len(text) <= 32 and text[0].isascii() and text[0].isalpha()
            and all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in text)):
        raise ValueError(
            f"{str(value)[:40]!r} is not a road class (e.g. motorway, primary, residential, "
            f"service, or {', '.join(list(CHINESE_CLASSES)[:5])})")
    return text


def view_zoom(bbox: list[float], zoom: float, rules: RoadRules = DEFAULT) -> float:
    """The zoom a view is read at: ``zoom``, or less when the box would not fit
    ``rules.max_view_px`` pixels at it."""
    width = max(bbox[2] - bbox[0], 1e-9)
    height = max(bbox[3] - bbox[1], 1e-9)
    # Web Mercator: 256 * 2**z pixels span 360 degrees of longitude; latitude is stretched by
    # 1 / cos(lat) near the middle of the box.
    mid = math.radians(max(-85.0, min(85.0, (bbox[1] + bbox[3]) / 2)))
    span = max(width, height / math.cos(mid))
    fits = math.log2(rules.max_view_px * 360.0 / (256.0 * span))
    return min(zoom, fits)


def _check_view(bbox: Any, zoom: Any) -> tuple[list[float], float]:
    if isinstance(zoom, bool) or not isinstance(zoom, int | float) or not math.isfinite(zoom) \
            or not 0 <= zoom <= 24:
        raise BadRequest("缩放级别无效 / malformed map zoom")
    try:
        w, s, e, n = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise BadRequest("地图范围无效 / malformed map bounds") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)) or not (
            -90 <= s <= n <= 90 and -540 <= w <= e <= 540):
        raise BadRequest("地图范围无效 / map bounds out of range")
    return [w, s, e, n], float(zoom)


_PLACE_TABLE = {6: "districts", 9: "streets", 12: "communities"}
# How far (degrees, ~500 m) beyond its place a scoped reader sees roads.
_SCOPE_MARGIN_DEG = 0.005


def _scope_box(scope: Scope) -> str:
    """SQL (a geometry) limiting roads to the scope's place box, or TRUE for no place."""
    if scope.place is None:
        return "TRUE"
    if len(scope.place) == 4:  # a city: its districts
        src = "SELECT geom FROM districts WHERE left(code, 4) = %(place)s"
    elif len(scope.place) == 15:
        src = """SELECT g.geom FROM grids g JOIN grid_versions v
                   ON v.id = g.version_id AND v.is_current WHERE g.code = %(place)s"""
    else:
        src = f"SELECT geom FROM {_PLACE_TABLE[len(scope.place)]} WHERE code = %(place)s"
    return (f"r.geom && (SELECT ST_Expand(ST_Extent(geom)::geometry, {_SCOPE_MARGIN_DEG})"
            f" FROM ({src}) p)")


def roads_in_view(
    scope: Scope | Principal | None,
    bbox: Any,
    zoom: Any,
    rules: RoadRules = DEFAULT,
) -> dict[str, Any]:
    """Roads in a map view as a GeoJSON FeatureCollection, for drawing at ``zoom``.

    Parameters
    ----------
    scope:
        The reader's scope (or the principal, whose whole scope is used). Nobody (``None``)
        is refused; a scoped reader sees roads within ~500 m of their place's box only.
    bbox:
        ``[west, south, east, north]`` in degrees.
    zoom:
        The map's zoom (web-map levels, 0-24).
    rules:
        Classes, labels and limits by zoom.

    Returns
    -------
    dict
        A FeatureCollection; ``properties``: ``class``, ``rank``, ``name``, ``name_en`` and,
        when labelled at this zoom, ``label``. The collection also carries ``zoom`` (the zoom
        read, see :func:`view_zoom`) and ``truncated``.

    Raises
    ------
    geo.access.permissions.PermissionDenied
        Without a principal.
    geo.repository.wall.BadRequest
        On a malformed box or zoom.
    """
    if not isinstance(scope, Scope):
        scope = Scope.of(scope)
    box, asked = _check_view(bbox, zoom)
    z = view_zoom(box, asked, rules)
    empty = {"type": "FeatureCollection", "features": [], "zoom": round(z, 2),
             "truncated": False}
    if z < rules.min_zoom:
        return empty
    known = rules.shown_at(z)
    other_ok = z >= rules.other[1]
    if not known and not other_ok:
        return empty
    deg_per_px = 360.0 / (256.0 * 2.0 ** z)
    tol = rules.pixel_tolerance * deg_per_px
    digits = 5 if z < 15 else 6
    ranks = rules.classes
    params = {
        **scope.params(), "w": box[0], "s": box[1], "e": box[2], "n": box[3],
        "known": known, "other_ok": other_ok, "all_known": list(ranks),
        "tol": tol, "min_len": tol * 2, "digits": digits,
        "rank_classes": list(ranks), "rank_values": [r for r, _ in ranks.values()],
        "other_rank": rules.other[0], "labelled": rules.labelled_at(z),
        "label_other": z >= rules.other[1] + rules.label_zoom_offset,
        "limit": rules.max_features + 1,
    }
    rows = db.fetch_all(
        f"""
        WITH r AS (
          SELECT r.class, r.name, r.name_en, ST_Simplify(r.geom, %(tol)s, true) AS geom
            FROM roads r
           WHERE r.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
             AND (r.class = ANY(%(known)s)
                  OR (%(other_ok)s AND NOT r.class = ANY(%(all_known)s)))
             AND {_scope_box(scope)}
        ), m AS (
          SELECT class, name, name_en,
                 ST_LineMerge(ST_CollectionExtract(ST_Collect(geom), 2)) AS geom
            FROM r WHERE ST_Length(geom) >= %(min_len)s
           GROUP BY class, name, name_en
        ), k AS (
          SELECT m.*, coalesce(rk.rank, %(other_rank)s) AS rank
            FROM m LEFT JOIN unnest(%(rank_classes)s::text[], %(rank_values)s::int[])
                             AS rk(class, rank) ON rk.class = m.class
        )
        SELECT class, rank, name, name_en,
               CASE WHEN name IS NOT NULL AND (class = ANY(%(labelled)s)
                         OR (%(label_other)s AND NOT class = ANY(%(all_known)s)))
                    THEN ST_AsGeoJSON(ST_ClosestPoint(geom, ST_Centroid(geom)), %(digits)s)
               END AS label,
               ST_AsGeoJSON(geom, %(digits)s) AS gj
          FROM k
         ORDER BY rank, class, name NULLS LAST
         LIMIT %(limit)s""",
        params,
    )
    truncated = len(rows) > rules.max_features
    features = []
    for row in rows[:rules.max_features]:
        props: dict[str, Any] = {"class": row["class"], "rank": row["rank"],
                                 "name": row["name"], "name_en": row["name_en"]}
        if row["label"]:
            props["label"] = json.loads(row["label"])["coordinates"]
        features.append({"type": "Feature", "geometry": json.loads(row["gj"]),
                         "properties": props})
    return {"type": "FeatureCollection", "features": features, "zoom": round(z, 2),
            "truncated": truncated}


__all__ = ["CHINESE_CLASSES", "DEFAULT", "DEMO_CLASSES", "RoadRules", "normalize_class",
           "roads_in_view", "view_zoom"]
