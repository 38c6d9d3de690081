"""Counts of what the database holds (``python -m geo stats --json``)."""

from __future__ import annotations

from geo import db
from geo.access.permissions import PermissionDenied
from geo.repository.scope import Scope

# key -> SQL counting it; constant text, no user values.
_COUNTS: dict[str, str] = {
    "districts": "SELECT count(*) FROM districts",
    "streets": "SELECT count(*) FROM streets",
    "communities": "SELECT count(*) FROM communities",
    "grids": "SELECT count(*) FROM grids g JOIN grid_versions v ON v.id = g.version_id"
    " WHERE v.is_current",
    "grid_versions": "SELECT count(*) FROM grid_versions",
    "compounds": "SELECT count(*) FROM compounds",
    "buildings": "SELECT count(*) FROM buildings",
    "cameras": "SELECT count(*) FROM cameras",
    "police_rooms": "SELECT count(*) FROM police_rooms",
    "grid_workers": "SELECT count(*) FROM grid_workers",
    "incidents": "SELECT count(*) FROM incidents",
    "incidents_open": "SELECT count(*) FROM incidents WHERE closed_at IS NULL",
    "departments": "SELECT count(*) FROM departments",
    "users": "SELECT count(*) FROM users",
    "audit_log": "SELECT count(*) FROM audit_log",
}


def counts(scope: Scope) -> dict[str, int]:
    """One integer per key, read in a single read-only transaction (whole database: only
    a scope that covers everything may ask)."""
    if not isinstance(scope, Scope) or scope.place is not None:
        raise PermissionDenied("database-wide counts need an unscoped principal")
    query = "SELECT " + ", ".join(f"({q}) AS {k}" for k, q in _COUNTS.items())
    row = db.fetch_one(query)
    return {k: int(row[k]) for k in _COUNTS}
