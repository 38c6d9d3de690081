"""Every read in geo/repository and every planning entry point, asked by users scoped to
community A (or A's street, or one of A's grids) for B's places, for patterns and for
values that are not codes: nothing of B comes back."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import SYSTEM, Principal
from geo.errors import GridAtlasError
from geo.planning import api, export
from geo.repository import summary, wall
from geo.repository.scope import Scope

ROOT = Path(__file__).resolve().parents[2]
A = "990100001001"
B = "990100002001"
HOSTILE = [B, B[:9], "9", "%", "_", A + "%", A[:9] + "_", "990100%", [B], {"code": B}, 990100002001]
WORLD = [-180.0, -90.0, 180.0, 90.0]


@pytest.fixture(scope="module")
def facts(demo_db):
    """B's code, names, grids and a version id (the things that must not come back)."""
    conn = demo_db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT c.name, c.name_en, s.name, s.name_en FROM communities c
                         JOIN streets s ON s.id = c.street_id WHERE c.code = %s""", (B,))
        names = [n for n in cur.fetchone() if n]
        cur.execute("""SELECT g.code FROM grids g JOIN grid_versions v ON v.id = g.version_id
                        AND v.is_current JOIN communities c ON c.id = g.community_id
                        WHERE c.code = %s ORDER BY g.code""", (A,))
        a_grid = cur.fetchone()[0]
        cur.execute("""SELECT v.id FROM grid_versions v JOIN communities c
                         ON c.id = v.community_id WHERE c.code = %s""", (B,))
        b_version = cur.fetchone()[0]
        cur.execute("""SELECT i.code FROM incidents i JOIN communities c
                         ON c.id = i.community_id WHERE c.code = %s LIMIT 1""", (B,))
        b_incident = cur.fetchone()[0]
        cur.execute("""SELECT cam.code FROM cameras cam JOIN grids g ON g.id = cam.grid_id
                        WHERE g.code LIKE %s LIMIT 1""", (B + "%",))
        b_camera = cur.fetchone()[0]
    conn.close()
    return {"names": names, "a_grid": a_grid, "b_version": b_version,
            "b_incident": b_incident, "b_camera": b_camera}


def users(facts):
    return [Principal("t:planner", "planner", A), Principal("t:leader", "leader", A[:9]),
            Principal("t:worker", "grid_worker", facts["a_grid"]),
            Principal("t:staff", "community_staff", A)]


def leaks(result, facts) -> list[str]:
    text = json.dumps(result, ensure_ascii=False, default=str)
    return [m for m in [B, *facts["names"], facts["b_incident"], facts["b_camera"]] if m in text]


def _ask(fn, *args):
    """The answer, or the refusal (a GridAtlasError) as a string."""
    try:
        return fn(*args)
    except GridAtlasError as exc:
        return {"refused": exc.user_msg}


def test_scope_accepts_only_codes_inside():
    scope = Scope.of(Principal("p", "planner", A))
    assert scope.narrow(A + "001").place == A + "001"
    assert scope.narrow(A[:9]).place == A  # an ancestor keeps the scope
    assert scope.narrow(None).place == A and scope.narrow("").place == A
    for bad in HOSTILE + ["９９０１００", "990100001001 ", "99010000100a"]:
        with pytest.raises(PermissionDenied):
            scope.narrow(bad)
    assert Scope.of(SYSTEM).narrow(B).place == B
    with pytest.raises(PermissionDenied):
        Scope.of(None)
    with pytest.raises(PermissionDenied):
        Scope.of(Principal("p", "planner", "%"))


def test_wall_reads_return_nothing_of_b(facts):
    now = datetime.now(UTC)
    for who in users(facts):
        base = Scope.of(who)
        for value in HOSTILE:
            stored = [{"community": value}, {"street": value}, {"community": A, "street": value}]
            stored += [] if isinstance(value, dict) else [value]  # not an object
            for s in stored:
                try:
                    wall.view_of(who, s)
                except GridAtlasError:
                    continue
                raise AssertionError(f"{who.role} narrowed to {s!r}")
        checks = {
            "boundaries": [_ask(wall.boundaries, base, lvl, z) for lvl in
                           ("district", "street", "community", "grid") for z in (10, 18)],
            "labels": _ask(wall.labels, base),
            "extent": _ask(wall.extent, base),
            "kpis": _ask(wall.kpis, base, now),
            "bars": _ask(wall.open_by_street, base, now),
            "ticker": _ask(wall.ticker, base, wall.ANY, 500),
            "incidents": _ask(wall.incidents_in_view, base, WORLD, now),
            "counts": [_ask(wall.incident_counts, base, now, lvl) for lvl in ("grid", "community")],
            "density": _ask(wall.incident_density, base, now),
            "cameras": _ask(wall.cameras_in_view, base, WORLD),
            "camera_counts": [_ask(wall.camera_counts, base, lvl) for lvl in ("grid", "community")],
            "police": _ask(wall.police_rooms, base),
            "buildings": _ask(wall.buildings_in_view, base, WORLD),
            "options": _ask(wall.filter_options, base),
            "summary": _ask(summary.community_summary, base),
            "recent": _ask(summary.recent_incidents, base, 5000),
        }
        for value in HOSTILE + [B + "001", facts["b_incident"], facts["b_camera"]]:
            checks[f"panels {value!r}"] = [
                _ask(wall.grid_detail, base, value), _ask(wall.camera_detail, base, value),
                _ask(wall.incident_timeline, base, value, now), _ask(wall.search, base, value),
                _ask(summary.community_buildings, base, value),
                _ask(summary.community_map, base, value)]
        for name in facts["names"]:
            checks[f"search {name}"] = _ask(wall.search, base, name)
        for key, result in checks.items():
            assert leaks(result, facts) == [], (who.role, key)
        # and the reads do answer inside the scope (the test could fail)
        assert checks["boundaries"][-1]["features"], who.role
        assert A[:9] in json.dumps(checks["boundaries"])


def test_planning_entry_points_refuse_b(facts):
    planner = Principal("t:planner", "planner", A)
    theirs = api.propose(SYSTEM, B, mode="minimal")
    text = theirs.to_json()
    bid = sorted(theirs.labels)[0]
    calls = [
        lambda: api.load_proposal(planner, text),
        lambda: api.neighbour_grids(planner, theirs, bid),
        lambda: api.move_building(planner, theirs, bid, theirs.labels[bid]),
        lambda: api.commit(planner, theirs),
        lambda: api.compare(theirs, facts["b_version"], principal=planner),
        lambda: api.version_assignment(planner, facts["b_version"]),
        lambda: api.restore(planner, facts["b_version"]),
        lambda: export.download(planner, theirs, "csv"),
    ]
    for value in HOSTILE:
        calls += [lambda v=value: api.list_versions(planner, v),
                  lambda v=value: api.propose(planner, v)]
    for call in calls:
        with pytest.raises(PermissionDenied) as info:
            call()
        assert leaks(info.value.user_msg, facts) == []
    # the same calls answer for A
    mine = api.propose(planner, A, mode="minimal")
    assert api.load_proposal(planner, mine.to_json()).community_code == A
    assert api.list_versions(planner, A)


def test_layouts_do_not_import_the_database_module():
    """Nothing under layouts/ (pages, helpers, sign-in, error handlers) imports geo.db:
    reads go through geo.repository and the other principal-first geo modules."""
    offenders = []
    for path in sorted((ROOT / "layouts").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            if any(n == "geo.db" or n.startswith("geo.db.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_camera_streams_only_for_roles_that_need_them(demo_db):
    from geo.access.roles import WALL

    conn = demo_db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT code FROM cameras WHERE stream_url IS NOT NULL LIMIT 1")
        (code,) = cur.fetchone()
    conn.close()
    for who, sees in ((WALL, False), (Principal("t:leader", "leader", None), False),
                      (Principal("t:planner", "planner", None), False),
                      (Principal("t:op", "operator", None), True),
                      (Principal("t:sop", "street_operator", None), True), (SYSTEM, True)):
        row = wall.camera_detail(Scope.of(who), code)
        assert row["code"] == code and (row["stream_url"] is not None) == sees, who.role
