"""Canonical fields of each import KIND, and mapping a file's columns onto them.

A file's column is used for a canonical field when it is named in ``--field
canonical=COLUMN``, else when its name equals the canonical name (case-insensitive), else
when it matches one of a few common aliases (Chinese register headings included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from geo.errors import GridAtlasError


@dataclass(frozen=True)
class Field:
    """One canonical field.

    Attributes
    ----------
    name:
        Canonical name.
    type:
        ``text``, ``code`` (text kept verbatim, numbers without a decimal part), ``int``,
        ``float``, ``datetime`` (UTC; naive values are in the configured time zone) or
        ``choice``.
    required:
        The import stops when the field is not mapped or a feature has no value.
    choices:
        Allowed values of a ``choice`` field.
    minimum:
        Smallest allowed value of an ``int`` field.
    pattern_digits:
        Exact number of digits of a ``code`` field (0: any text).
    help:
        One line for the documentation table.
    """

    name: str
    type: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    pattern_digits: int = 0
    help: str = ""


@dataclass(frozen=True)
class KindSpec:
    """What an import KIND reads and where it writes.

    Attributes
    ----------
    name:
        The KIND as typed on the command line.
    geometry:
        ``polygon``, ``point``, ``line`` or ``None`` (attribute-only files such as
        CSV/XLSX).
    fields:
        Canonical fields.
    within_district:
        Features must lie in a district already in the database (point on surface inside,
        at most :data:`DISTRICT_TOLERANCE_M` beyond it).
    """

    name: str
    geometry: str | None
    fields: tuple[Field, ...]
    within_district: bool = True

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


#: How far (metres) a feature may extend beyond its district before the import stops.
DISTRICT_TOLERANCE_M = 50.0

CAMERA_STATUS = ("online", "offline", "fault")
SEVERITIES = ("ordinary", "major", "complex")
STATES = (
    "reported", "escalated", "resolved", "filed", "dispatched", "accepted", "handled",
    "verified", "closed", "evaluated", "returned", "deferred",
)
LEVELS = ("grid", "community", "street", "district")

_NAME = Field("name", "text", True, help="display name")
_NAME_EN = Field("name_en", "text", help="English name")

KINDS: dict[str, KindSpec] = {
    k.name: k
    for k in (
        KindSpec("districts", "polygon", (
            Field("code", "code", True, pattern_digits=6, help="6-digit county code"),
            _NAME, _NAME_EN,
        ), within_district=False),
        KindSpec("streets", "polygon", (
            Field("code", "code", True, pattern_digits=9, help="district code + 3 digits"),
            _NAME, _NAME_EN,
            Field("district_code", "code", help="parent; else by point-on-surface containment"),
        )),
        KindSpec("communities", "polygon", (
            Field("code", "code", True, pattern_digits=12, help="street code + 3 digits"),
            _NAME, _NAME_EN,
            Field("street_code", "code", help="parent; else by containment"),
            Field("target_households", "int", minimum=1, help="grid size target (400)"),
            Field("min_households", "int", minimum=0, help="lower bound (300)"),
            Field("max_households", "int", minimum=1, help="upper bound (500)"),
        )),
        KindSpec("grids", "polygon", (
            Field("code", "code", pattern_digits=15,
                  help="community code + 3-digit sequence; numbered west to east, north to "
                       "south when absent"),
            Field("community_code", "code", help="parent; else by containment"),
            Field("seq", "int", minimum=1, help="sequence; else the code's last 3 digits"),
            Field("kind", "choice", choices=("basic", "dedicated"), help="default basic"),
            Field("name", "text", help="display name"),
        )),
        KindSpec("compounds", "polygon", (
            Field("code", "code", True, help="unique compound code"),
            Field("name", "text", help="display name"), _NAME_EN,
            Field("community_code", "code", help="parent; else by containment"),
        )),
        KindSpec("buildings", "polygon", (
            Field("households", "int", True, minimum=0, help="households living there"),
            Field("code", "code", help="unique; minted from the community code when absent"),
            Field("osm_id", "int", help="OpenStreetMap way id"),
            Field("floors", "int", minimum=1, help="storeys"),
            Field("use", "text", help="e.g. residential, commercial"),
            Field("compound_code", "code", help="compound (小区); else by containment"),
            Field("community_code", "code", help="parent; else by containment"),
            Field("name", "text", help="display name"),
            Field("address", "text", help="postal address"),
        )),
        KindSpec("cameras", "point", (
            Field("code", "code", True, help="unique camera code"),
            Field("name", "text", help="display name"),
            Field("type", "text", help="e.g. fixed, dome (default fixed)"),
            Field("status", "choice", choices=CAMERA_STATUS, help="default online"),
            Field("owner", "text", help="owning unit"),
            Field("last_heartbeat", "datetime", help="last signal"),
            Field("stream_url", "text", help="video stream address"),
        )),
        KindSpec("police-rooms", "point", (
            Field("code", "code", True, help="unique code"),
            _NAME, _NAME_EN,
            Field("address", "text", help="postal address"),
            Field("phone", "text", help="duty phone"),
            Field("community_code", "code", help="community; else by containment"),
        )),
        KindSpec("departments", None, (
            Field("code", "code", True, help="unique department code"),
            _NAME, _NAME_EN,
            Field("phone", "text", help="duty phone"),
        ), within_district=False),
        KindSpec("incidents", "point", (
            Field("code", "code", True, help="unique case number"),
            Field("category", "code", True, help="code of an incident category"),
            Field("severity", "choice", True, choices=SEVERITIES, help="ordinary/major/complex"),
            Field("state", "choice", True, choices=STATES, help="state machine state"),
            Field("reported_at", "datetime", True, help="when reported"),
            Field("title", "text", help="default: the category's name"),
            Field("description", "text", help="free text"),
            Field("level", "choice", choices=LEVELS, help="default grid"),
            Field("dispatched_at", "datetime", help="clock start"),
            Field("due_at", "datetime", help="deadline"),
            Field("handled_at", "datetime", help="handled"),
            Field("closed_at", "datetime", help="closed"),
            Field("closed_level", "choice", choices=LEVELS, help="where it was closed"),
            Field("department_code", "code", help="responsible department"),
            Field("reporter_name", "text", help="reporter"),
            Field("reporter_phone", "text", help="reporter phone"),
        )),
        KindSpec("roads", "line", (
            Field("class", "text", True,
                  help="road class: OSM highway (motorway, trunk, primary, secondary, "
                       "tertiary, residential, service, ...) or 快速路/主干路/次干路/支路"),
            Field("name", "text", help="road name, kept as the file spells it"),
            _NAME_EN,
            Field("osm_id", "int", help="OpenStreetMap way id (may repeat: a way in pieces)"),
        ), within_district=False),
        KindSpec("households", None, (
            Field("households", "int", True, minimum=0, help="households of the building"),
            Field("building_code", "code", help="key (this or address is required)"),
            Field("address", "text", help="key when no building code"),
        ), within_district=False),
    )
}

# Common alternative headings (lower case); a --field mapping always wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码", "id_code"),
    "name": ("名称", "name_zh", "名字"),
    "name_en": ("english_name", "name_eng"),
    "households": ("hh", "hh_count", "户数", "households_est"),
    "floors": ("levels", "storeys", "层数"),
    "address": ("addr", "地址"),
    "building_code": ("code", "楼栋编码"),
    "district_code": ("district",),
    "street_code": ("street",),
    "community_code": ("community",),
    "compound_code": ("compound",),
    "category": ("category_code",),
    "phone": ("tel", "电话"),
    "class": ("highway", "fclass", "道路等级", "等级"),
}


def parse_field_options(options: Sequence[str] | None, kind: KindSpec) -> dict[str, str]:
    """Parse repeated ``--field canonical=COLUMN`` options.

    Raises
    ------
    GridAtlasError
        On a malformed option or a canonical name the KIND does not have.
    """
    out: dict[str, str] = {}
    known = [f.name for f in kind.fields]
    for opt in options or ():
        canon, sep, column = opt.partition("=")
        canon, column = canon.strip(), column.strip()
        if not sep or not canon or not column:
            raise GridAtlasError(f"--field {opt!r}: write it as canonical=COLUMN")
        if canon not in known:
            raise GridAtlasError(
                f"--field {opt!r}: {kind.name} have no field {canon!r}; "
                f"fields are {', '.join(known)}"
            )
        out[canon] = column
    return out


def resolve_columns(
    columns: Sequence[str], kind: KindSpec, mapping: Mapping[str, str], file_label: str
) -> dict[str, str]:
    """Decide which file column feeds each canonical field.

    Parameters
    ----------
    columns:
        The file's attribute columns.
    kind:
        The KIND being imported.
    mapping:
        Explicit ``--field`` mappings.
    file_label:
        File name for messages.

    Returns
    -------
    dict
        canonical name -> column name, for the fields found.

    Raises
    ------
    GridAtlasError
        When a mapped column is absent or a required field is not found.
    """
    lower = {str(c).lower(): str(c) for c in columns}
    out: dict[str, str] = {}
    for canon, column in mapping.items():
        if column not in columns:
            hit = lower.get(column.lower())
            if hit is None:
                raise GridAtlasError(
                    f"{file_label}: --field {canon}={column}: the file has no column {column!r}"
                    f" (columns: {', '.join(map(str, columns)) or 'none'})"
                )
            column = hit
        out[canon] = column
    taken = set(out.values())
    for f in kind.fields:
        if f.name in out:
            continue
        for cand in (f.name, *ALIASES.get(f.name, ())):
            col = lower.get(cand.lower())
            if col is not None and col not in taken:
                out[f.name] = col
                taken.add(col)
                break
    for f in kind.fields:
        if f.required and f.name not in out:
            raise GridAtlasError(
                f"{file_label}: required field {f.name!r} is missing for {kind.name} "
                f"(columns: {', '.join(map(str, columns)) or 'none'}); "
                f"map one with --field {f.name}=COLUMN"
            )
    if kind.name == "households" and not ({"building_code", "address"} & set(out)):
        raise GridAtlasError(
            f"{file_label}: households need a key field 'building_code' or 'address' "
            f"(columns: {', '.join(map(str, columns))}); map one with --field"
        )
    return out
