"""The reform's roles on each unified grid: grid leader (网格长) and party organisation.

Each current grid holds at most one row per slot in ``grid_roles``: ``leader`` (a person)
and ``party`` (its 党支部, ``party_kind`` ``branch``, or 党小组, ``group``). Administrators
set, clear and import them (action ``grid_roles.edit``, scope-checked on the grid's code);
everyone may read them within their scope (``grid_roles.view``). When a community is
redrawn, :func:`follow_redraw` moves each row like a grid worker: to the new grid that
received most of its old grid's households (then most buildings, then the lower code); when
two rows of one slot land on the same new grid, the one whose old grid gave it more
households keeps it and the other is kept unplaced (``grid_id`` NULL, ``last_grid_code``
set) for an administrator to place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg2

from geo import db
from geo.access import audit, permissions
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.importers.fields import Field, KindSpec

log = logging.getLogger(__name__)

#: Accepted role words -> (slot, party_kind).
ROLE_WORDS: dict[str, tuple[str, str | None]] = {
    "leader": ("leader", None), "grid_leader": ("leader", None), "网格长": ("leader", None),
    "party_branch": ("party", "branch"), "branch": ("party", "branch"),
    "党支部": ("party", "branch"),
    "party_group": ("party", "group"), "group": ("party", "group"), "党小组": ("party", "group"),
}

#: Canonical fields of a roles file (CSV/XLSX or any table GDAL reads).
ROLES_SPEC = KindSpec(
    "grid-roles", None, (
        Field("grid_code", "code", True, pattern_digits=15, help="current grid's code"),
        Field("role", "text", True, help="网格长/leader, 党支部/party_branch, 党小组/party_group"),
        Field("name", "text", True, help="the leader's or the organisation's name"),
        Field("phone", "text", help="contact phone"),
    ), within_district=False,
)


def parse_role(word: str) -> tuple[str, str | None]:
    """``(slot, party_kind)`` of a role word; :class:`GridAtlasError` for an unknown word."""
    key = str(word or "").strip().lower()
    if key not in ROLE_WORDS:
        raise GridAtlasError(
            f"unknown role {word!r}: use 网格长 (leader), 党支部 (party_branch) or "
            "党小组 (party_group)")
    return ROLE_WORDS[key]


def _current_grids(cur, codes: list[str]) -> dict[str, int]:
    cur.execute(
        """SELECT g.code, g.id FROM grids g JOIN grid_versions v ON v.id = g.version_id
            WHERE v.is_current AND g.code = ANY(%s)""", (list(codes),))
    return {r["code"]: int(r["id"]) for r in cur.fetchall()}


def _upsert(cur, grid_id: int, slot: str, kind: str | None, name: str, phone: str | None,
            who: str, source: str) -> dict | None:
    """Write one holder; returns the previous holder of the slot (or None)."""
    cur.execute(
        """SELECT id, name, party_kind, phone FROM grid_roles
            WHERE grid_id = %s AND role = %s FOR UPDATE""", (grid_id, slot))
    old = cur.fetchone()
    if old is None:
        cur.execute(
            """INSERT INTO grid_roles (grid_id, role, name, party_kind, phone, updated_by,
                                       source)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (grid_id, slot, name, kind, phone, who, source))
        return None
    cur.execute(
        """UPDATE grid_roles SET name = %s, party_kind = %s, phone = %s, updated_at = now(),
                  updated_by = %s, source = %s WHERE id = %s""",
        (name, kind, phone, who, source, old["id"]))
    return dict(old)


def set_role(principal: Principal, grid_code: str, role: str, name: str, *,
             phone: str | None = None) -> dict:
    """Set the holder of one slot of a current grid (replacing any holder); audited.

    Returns ``{"grid_code", "role", "party_kind", "name", "phone", "previous"}``.
    """
    permissions.check(principal, "grid_roles.edit", str(grid_code))
    slot, kind = parse_role(role)
    name = (name or "").strip()
    if not name:
        raise GridAtlasError("a name is required (the leader's or the organisation's)")
    phone = (phone or "").strip() or None
    with db.transaction() as cur:
        grid = _current_grids(cur, [str(grid_code)])
        if str(grid_code) not in grid:
            raise GridAtlasError(f"没有当前网格 {grid_code} / no current grid {grid_code}")
        old = _upsert(cur, grid[str(grid_code)], slot, kind, name, phone, principal.username,
                      "imported")
        out = {"grid_code": str(grid_code), "role": slot, "party_kind": kind, "name": name,
               "phone": phone, "previous": old and {k: old[k] for k in ("name", "party_kind",
                                                                         "phone")}}
        audit.record(cur, principal, "grid_roles.set", target=str(grid_code),
                     scope_code=str(grid_code), detail=out)
    return out


def clear_role(principal: Principal, grid_code: str, role: str) -> bool:
    """Remove the holder of one slot of a current grid; audited. False when it was empty."""
    permissions.check(principal, "grid_roles.edit", str(grid_code))
    slot, _ = parse_role(role)
    with db.transaction() as cur:
        grid = _current_grids(cur, [str(grid_code)])
        if str(grid_code) not in grid:
            raise GridAtlasError(f"没有当前网格 {grid_code} / no current grid {grid_code}")
        cur.execute("DELETE FROM grid_roles WHERE grid_id = %s AND role = %s"
                    " RETURNING name, party_kind, phone", (grid[str(grid_code)], slot))
        gone = cur.fetchone()
        if gone is None:
            return False
        audit.record(cur, principal, "grid_roles.clear", target=str(grid_code),
                     scope_code=str(grid_code), detail={"role": slot, "previous": dict(gone)})
    return True


def list_roles(principal: Principal, *, place_code: str | None = None,
               unplaced: bool = False) -> list[dict]:
    """Holders on current grids within the principal's scope (and under ``place_code``).

    With ``unplaced``, the rows a redraw left without a grid (``grid_code`` None,
    ``last_grid_code`` set), which only a principal without a scope, or whose scope covers
    the last grid, sees.
    """
    permissions.check(principal, "grid_roles.view", place_code)
    prefix = place_code or principal.scope_code
    if unplaced:
        rows = db.fetch_all(
            """SELECT NULL::text AS grid_code, r.role, r.party_kind, r.name, r.phone,
                      r.last_grid_code, r.updated_at, r.updated_by
                 FROM grid_roles r
                WHERE r.grid_id IS NULL
                  AND (%(p)s::text IS NULL OR r.last_grid_code LIKE %(p)s::text || '%%')
                ORDER BY r.last_grid_code, r.role""", {"p": prefix})
    else:
        rows = db.fetch_all(
            """SELECT g.code AS grid_code, r.role, r.party_kind, r.name, r.phone,
                      r.last_grid_code, r.updated_at, r.updated_by
                 FROM grid_roles r JOIN grids g ON g.id = r.grid_id
                 JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                WHERE (%(p)s::text IS NULL OR g.code LIKE %(p)s::text || '%%')
                ORDER BY g.code, r.role""", {"p": prefix})
    if principal.scope_code is not None:
        rows = [r for r in rows if principal.covers(r["grid_code"] or r["last_grid_code"])]
    return [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]


def import_roles(principal: Principal, path: str | Path, *, layer: str | None = None,
                 fields: list[str] | None = None, encoding: str | None = None) -> dict:
    """Import holders from a table (columns ``grid_code``, ``role``, ``name``, ``phone``).

    One transaction, one audit entry (``grid_roles.import``); refused whole, naming the
    file, the row and the field, on an unknown grid or role, a grid outside the
    principal's scope, or two rows for the same grid and slot. Returns counts.
    """
    from geo.importers.fields import parse_field_options, resolve_columns
    from geo.importers.readers import read_source
    from geo.importers.validate import check_features, feature_name
    from geo.settings import get_settings

    permissions.check(principal, "grid_roles.edit")
    mapping = parse_field_options(fields, ROLES_SPEC)
    src = read_source(path, layer=layer, encoding=encoding)
    label = src.label
    frame = src.frame
    geom_col = frame.geometry.name if src.has_geometry else None
    columns = resolve_columns([str(c) for c in frame.columns if c != geom_col], ROLES_SPEC,
                              mapping, label)
    checked = check_features(frame.drop(columns=[geom_col]) if geom_col else frame,
                             ROLES_SPEC, columns, label, timezone=get_settings().timezone)
    codes = checked.values["grid_code"]
    names = checked.values["name"]
    phones = checked.values.get("phone", [None] * len(codes))
    slots = []
    seen: dict[tuple[str, str], int] = {}
    for pos, word in enumerate(checked.values["role"]):
        where = f"{label}: {feature_name(pos)}"
        try:
            slot, kind = parse_role(word)
        except GridAtlasError as exc:
            raise GridAtlasError(f"{where}, field 'role': {exc.user_msg}") from None
        if not principal.covers(codes[pos]):
            raise permissions.PermissionDenied(
                f"{where}, field 'grid_code': {codes[pos]} lies outside your scope "
                f"{principal.scope_code} (action grid_roles.edit)")
        if (codes[pos], slot) in seen:
            raise GridAtlasError(
                f"{where}, field 'role': grid {codes[pos]} already has a {slot} in "
                f"{feature_name(seen[(codes[pos], slot)])} (one per grid)")
        seen[(codes[pos], slot)] = pos
        slots.append((slot, kind))
    counts = {"rows": len(codes), "new": 0, "replaced": 0}
    try:
        with db.transaction() as cur:
            grids = _current_grids(cur, sorted(set(codes)))
            for pos, code in enumerate(codes):
                if code not in grids:
                    raise GridAtlasError(
                        f"{label}: {feature_name(pos)}, field 'grid_code': no current grid "
                        f"{code} in the database")
            for pos, code in enumerate(codes):
                slot, kind = slots[pos]
                old = _upsert(cur, grids[code], slot, kind, names[pos], phones[pos],
                              principal.username, "imported")
                counts["replaced" if old else "new"] += 1
            audit.record(cur, principal, "grid_roles.import", target=Path(path).name,
                         detail={"file": Path(path).name, "fields": columns, **counts})
    except psycopg2.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        raise GridAtlasError(f"{label}: the database refused the roles: {primary.strip()}") \
            from exc
    return counts


def follow_redraw(cur, prev_id: int, version_id: int) -> list[dict]:
    """Move the roles of version ``prev_id``'s grids to version ``version_id``'s grids.

    Runs inside the redraw's transaction (after ``building_grid`` holds both versions).
    Returns one entry per moved row: ``role``, ``name``, ``from``, ``to`` (None: unplaced).
    """
    cur.execute(
        """WITH overlap AS (
               SELECT o.grid_id AS old_id, n.grid_id AS new_id,
                      sum(b.households) AS hh, count(*) AS nb
                 FROM building_grid o
                 JOIN building_grid n ON n.building_id = o.building_id AND n.version_id = %(v)s
                 JOIN buildings b ON b.id = o.building_id
                WHERE o.version_id = %(p)s
                GROUP BY 1, 2),
           best AS (
               SELECT DISTINCT ON (r.id) r.id, r.role, og.code AS old_code, ov.new_id,
                      coalesce(ov.hh, 0) AS hh, coalesce(ov.nb, 0) AS nb
                 FROM grid_roles r
                 JOIN grids og ON og.id = r.grid_id AND og.version_id = %(p)s
                 LEFT JOIN overlap ov ON ov.old_id = r.grid_id
                 LEFT JOIN grids ng ON ng.id = ov.new_id
                ORDER BY r.id, ov.hh DESC NULLS LAST, ov.nb DESC NULLS LAST, ng.code),
           winner AS (
               SELECT DISTINCT ON (new_id, role) id
                 FROM best WHERE new_id IS NOT NULL
                ORDER BY new_id, role, hh DESC, nb DESC, old_code)
           UPDATE grid_roles r
              SET grid_id = CASE WHEN r.id IN (SELECT id FROM winner) THEN best.new_id END,
                  last_grid_code = best.old_code, updated_at = now()
             FROM best WHERE best.id = r.id
           RETURNING r.role, r.name, best.old_code, r.grid_id""",
        {"p": prev_id, "v": version_id},
    )
    rows = [dict(r) for r in cur.fetchall()]
    cur.execute("SELECT id, code FROM grids WHERE version_id = %s", (version_id,))
    code_of = {int(r["id"]): r["code"] for r in cur.fetchall()}
    return sorted(
        ({"role": r["role"], "name": r["name"], "from": r["old_code"],
          "to": code_of.get(r["grid_id"]) if r["grid_id"] is not None else None}
         for r in rows),
        key=lambda r: (r["from"], r["role"]),
    )
