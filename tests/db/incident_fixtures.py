"""Shared fixtures for the incident service tests: departments, categories and one account
per role on the tiny place of :func:`tests.conftest.create_tiny_place`."""

from __future__ import annotations

from datetime import UTC, datetime

from geo.access import users
from geo.access.roles import SYSTEM
from geo.incidents import service
from tests.conftest import create_tiny_place

PW = "incident-password-1"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai
P1 = (116.0002, 40.0005)  # grid 990100001001001
P_GRID2 = (116.0015, 40.0005)  # grid 990100001001002
OUTSIDE = (116.01, 40.01)
M_PER_DEG_LON = 85_394.0  # at 40 N on the spheroid (checked against PostGIS below)

SCOPES = {
    "admin": None, "leader": "990100", "operator": "990100", "street_operator": "990100001",
    "community_staff": "990100001001", "department": "990100", "grid_worker": "990100001001001",
    "planner": "990100",
}


def seed_incident_world(tdb, prefix: str = "i") -> dict:
    """The tiny place, two departments, three categories, and a user per role.

    Category ``C1`` routes to department ``D1``; ``C2`` has no department of its own and
    inherits ``D2`` from its parent ``P2``. ``{prefix}_department`` is tied to ``D1`` and
    ``{prefix}_department2`` to ``D2``; ``{prefix}_grid_worker2`` works grid 002.
    """
    conn = tdb.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM districts WHERE code = '990100'")
        have_place = cur.fetchone()[0] > 0
    conn.close()
    if not have_place:
        create_tiny_place(tdb)
    conn = tdb.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO departments (code, name, name_en, source) VALUES
                       ('D1', '城管局', 'Urban management', 'synthetic'),
                       ('D2', '水务局', 'Water authority', 'synthetic')""")
        cur.execute("""INSERT INTO incident_categories (code, class, name, name_en, department_id, source)
                       SELECT 'C1', 'event', '占道经营', 'Street vending', id, 'synthetic'
                         FROM departments WHERE code = 'D1'""")
        cur.execute("""INSERT INTO incident_categories (code, class, name, name_en, department_id, source)
                       SELECT 'P2', 'component', '供水设施', 'Water facilities', id, 'synthetic'
                         FROM departments WHERE code = 'D2'""")
        cur.execute("""INSERT INTO incident_categories (code, parent_id, class, name, name_en, source)
                       SELECT 'C2', id, 'component', '井盖', 'Manhole cover', 'synthetic'
                         FROM incident_categories WHERE code = 'P2'""")
    conn.close()
    made = {}
    for role, scope in SCOPES.items():
        users.add_user(SYSTEM, f"{prefix}_{role}", role, PW, scope)
        made[role] = f"{prefix}_{role}"
    users.add_user(SYSTEM, f"{prefix}_department2", "department", PW, "990100")
    users.add_user(SYSTEM, f"{prefix}_grid_worker2", "grid_worker", PW, "990100001001002")
    users.add_user(SYSTEM, f"{prefix}_nodept", "department", PW, "990100")
    service.tie_user_to_department(SYSTEM, f"{prefix}_department", "D1")
    service.tie_user_to_department(SYSTEM, f"{prefix}_department2", "D2")
    return {role: service.actor_by_username(name) for role, name in {
        **made, "department2": f"{prefix}_department2", "grid_worker2": f"{prefix}_grid_worker2",
        "nodept": f"{prefix}_nodept"}.items()}


def scalar(tdb, query: str, params: tuple = ()):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def counts(tdb) -> tuple[int, int, int, int]:
    """(incidents, events, audit entries, photos): what a refused action must not change."""
    return (scalar(tdb, "SELECT count(*) FROM incidents"),
            scalar(tdb, "SELECT count(*) FROM incident_events"),
            scalar(tdb, "SELECT count(*) FROM audit_log"),
            scalar(tdb, "SELECT count(*) FROM incident_photos"))
