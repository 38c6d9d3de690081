"""The permission matrix: every callback and route is registered, and each role is let
through or refused exactly as written below."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from geo.access import permissions, users
from geo.access.roles import ROLES, SYSTEM
from tests.conftest import create_tiny_place

PW = "matrix-password-1"
ALL = set(ROLES)
FIELD = {"admin", "operator", "street_operator", "community_staff", "department", "grid_worker"}

# The matrix, written out by hand: action -> roles that may perform it.
MATRIX: dict[str, set[str]] = {
    "view.command": ALL | {"wall"},
    "view.plan": {"admin", "planner", "leader"},
    "view.review": {"admin", "leader", "planner", "operator", "street_operator"},
    "view.incidents": FIELD | {"leader"},
    "view.audit": {"admin", "leader"},
    "view.field": {"admin", "grid_worker", "community_staff", "street_operator"},
    "view.personal": {"admin", "operator", "street_operator", "community_staff"},
    "view.camera_stream": {"admin", "operator", "street_operator"},
    "wall.alert_ack": {"admin", "operator", "street_operator"},
    "plan.run": {"admin", "planner"},
    "grids.commit": {"admin", "planner"},
    "grids.restore": {"admin", "planner"},
    "incident.transition": FIELD,
    "incident.create": FIELD | {"api"},
    "data.import": {"admin", "operator"},
    "users.manage": {"admin"},
    "apikey.manage": {"admin"},
    "session": ALL,
    "incident.local": {"admin", "grid_worker", "community_staff", "street_operator"},
    "incident.dispatch": {"admin", "operator"},
    "incident.work": {"admin", "department"},
    "incident.verify": {"admin", "operator"},
    "incident.evaluate": {"admin", "operator"},
    "incident.defer.request": {"admin", "department"},
    "incident.defer.decide": {"admin", "operator"},
    "incident.urge": {"admin", "operator", "street_operator", "leader"},
    "incident.comment": FIELD | {"leader"},
    "incident.photo": FIELD,
    "incident.merge": {"admin", "operator"},
    "incident.route": {"admin"},
    "account.password": ALL,
    "networks.import": {"admin"},
    "networks.view": {"admin", "planner", "leader"},
    "grid_roles.edit": {"admin"},
    "grid_roles.view": ALL,
    "incident.whistle": {"admin", "street_operator", "community_staff"},
    "incident.report_in": {"admin", "department"},
    "patrol.run": {"grid_worker"},
    "patrols.view": {"admin", "leader", "operator", "street_operator", "community_staff"},
    "departments.scorecard": {"admin", "leader", "operator", "street_operator"},
}


@pytest.fixture(scope="module")
def app_module(empty_db):
    import app

    place = create_tiny_place(empty_db)
    scope = {"admin": None, "leader": place["district"], "operator": place["district"],
             "street_operator": place["street"], "community_staff": place["community"],
             "department": place["district"], "grid_worker": place["grid"],
             "planner": place["district"]}
    for role in ROLES:
        users.add_user(SYSTEM, f"m_{role}", role, PW, scope[role])
    client = app.server.test_client()
    client.get("/login")  # first request: Dash moves every callback into callback_map
    return app


def _client_for(app, role):
    client = app.server.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = client.post("/login", data={"username": f"m_{role}", "password": PW,
                                       "csrf_token": token, "next": "/"})
    assert resp.status_code == 302, resp.text
    return client


def _one(pattern: str) -> dict:
    """A concrete id matching a MATCH pattern id (its wildcard keys set to "x")."""
    return {k: "x" if v == ["MATCH"] else v for k, v in json.loads(pattern).items()}


def _spec_values(specs: list[dict]) -> list:
    """Null values for a callback's inputs or states (an empty list for wildcard ids)."""
    out = []
    for spec in specs:
        if '["MATCH' in str(spec["id"]):  # one component, as the browser sends it
            out.append({"id": _one(spec["id"]), "property": spec["property"], "value": None})
        elif str(spec["id"]).startswith("{"):
            out.append([])  # pattern-matching ALL: no matching components
        else:
            out.append({"id": spec["id"], "property": spec["property"], "value": None})
    return out


def _body(key: str, inputs: list[dict], state: list | None = None) -> dict:
    """A well-formed /_dash-update-component body for the callback ``key``."""
    clean = key.split("@")[0] if "@" in key and not key.startswith("..") else key
    parts = clean[2:-2].split("...") if clean.startswith("..") else [clean]
    outputs = [dict(zip(("id", "property"), p.split("@")[0].rsplit(".", 1), strict=False)) for p in parts]
    # as the browser sends them: an ALL output as the list of its matching components (none
    # here), a MATCH output as the one component that fired
    outputs = [[] if '["ALL' in o["id"] else {**o, "id": _one(o["id"])} if '["MATCH' in o["id"] else o
               for o in outputs]
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs, "state": state or [], "changedPropIds": []}


def test_registry_is_the_matrix():
    assert set(permissions.ACTIONS) == set(MATRIX)
    for action, roles in MATRIX.items():
        assert set(permissions.ACTIONS[action][0]) == roles, action


def test_every_callback_has_a_registered_action(app_module):
    from layouts.auth import callback_action

    missing = []
    server_side = 0
    for key, entry in app_module.app.callback_map.items():
        if "callback" not in entry:
            continue  # clientside: runs in the browser, the server refuses to run it
        server_side += 1
        action = callback_action({"output": key, "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/"}]}, app_module.app)
        if action not in permissions.ACTIONS:
            missing.append(key)
    assert server_side >= 6
    assert missing == [], f"callbacks without a registered action: {missing}"


def test_every_route_is_registered(app_module):
    from layouts.auth import ROUTES

    rules = {r.rule for r in app_module.server.url_map.iter_rules()}
    assert rules - set(ROUTES) == set(), "routes without an entry in layouts.auth.ROUTES"


def test_each_page_is_opened_or_refused_per_role(app_module):
    for role in ROLES:
        client = _client_for(app_module, role)
        for path, action in permissions.PAGE_ACTIONS.items():
            status = client.get(path).status_code
            expected = 200 if role in MATRIX[action] else 403
            assert status == expected, (role, path, status)


def test_each_callback_is_run_or_refused_per_role(app_module):
    """The gate answers 403 exactly where the matrix says no, before the callback runs."""
    from layouts.auth import callback_action

    entries = [(k, e) for k, e in app_module.app.callback_map.items() if "callback" in e]
    for role in ROLES:
        client = _client_for(app_module, role)
        for key, entry in entries:
            inputs = _spec_values(entry["inputs"])
            state = _spec_values(entry.get("state", []))
            if "_pages_content" in key:
                inputs = [{"id": "_pages_location", "property": "pathname", "value": "/audit"},
                          {"id": "_pages_location", "property": "search", "value": ""}]
            body = _body(key, inputs, state)
            action = callback_action(body, app_module.app)
            resp = client.post("/_dash-update-component", json=body)
            if role in MATRIX[action]:
                assert resp.status_code == 200, (role, key, resp.status_code, resp.text[:300])
            else:
                assert resp.status_code == 403, (role, key, resp.status_code)
                assert "may not" in resp.get_json()["error"]


def test_unregistered_and_clientside_callbacks_are_refused(app_module):
    client = _client_for(app_module, "admin")
    for output in ("no-such.children", "shell-lang.title", "shell-clock.children"):
        resp = client.post("/_dash-update-component", json={"output": output, "inputs": []})
        assert resp.status_code == 403


def test_anonymous_wall_reads_only_the_kiosk_map(app_module, monkeypatch):
    from geo.settings import get_settings

    client = app_module.server.test_client()
    assert client.get("/?kiosk=1").status_code == 302  # off by default
    monkeypatch.setenv("ANONYMOUS_WALL", "1")
    get_settings.cache_clear()
    try:
        assert client.get("/").status_code == 302  # only with kiosk=1
        assert client.get("/?kiosk=1").status_code == 200
        assert client.get("/plan").status_code == 302
        cmd = next(k for k in app_module.app.callback_map if "cmd-districts.data" in k)
        entry = app_module.app.callback_map[cmd]
        ok = client.post("/_dash-update-component", json=_body(
            cmd, _spec_values(entry["inputs"]), _spec_values(entry["state"])))
        assert ok.status_code == 200, ok.text
        assert ok.get_json()["response"]["cmd-districts"]["data"]["features"]
        plan = next(k for k in app_module.app.callback_map if "plan-table" in k)
        assert client.post("/_dash-update-component",
                           json={"output": plan, "inputs": []}).status_code == 401
    finally:
        monkeypatch.delenv("ANONYMOUS_WALL")
        get_settings.cache_clear()


# ----------------------------------------------------------------------------- incidents
# Who may take each step of the incident loop, written out by hand (geo/incidents/service.py
# maps each step to one registry action; local steps also need the role of the case's level,
# department steps the department the case is dispatched to).
LOCAL_ROLE = {"grid": "grid_worker", "community": "community_staff", "street": "street_operator"}
STEP_ROLES = {
    "local": {"admin"},  # plus LOCAL_ROLE[level]
    "filed": {"admin", "operator"},
    "dispatched": {"admin", "operator"},
    "accepted": {"admin", "department"},
    "handled": {"admin", "department"},
    "verified": {"admin", "operator"},
    "returned": {"admin", "operator"},
    "closed": {"admin", "operator"},
    "evaluated": {"admin", "operator"},
    "deferred": {"admin", "operator"},   # the decision; the department requests it
    "resume": {"admin", "operator"},     # ending a deferral early
    "duplicate": {"admin", "operator"},  # merged into another case
}


def _step_roles(frm: str, to: str, level: str) -> set[str]:
    if to in ("resolved", "escalated"):
        return STEP_ROLES["local"] | {LOCAL_ROLE[level]}
    if frm == "deferred":
        return STEP_ROLES["resume"]
    return STEP_ROLES[to]


@pytest.fixture(scope="module")
def incident_world(app_module, empty_db):
    from geo.incidents import service

    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO departments (code, name, source) VALUES ('MD1', '城管', 'synthetic')
                       RETURNING id""")
        dep = cur.fetchone()[0]
        cur.execute("""INSERT INTO incident_categories (code, class, name, name_en, department_id, source)
                       VALUES ('MC1', 'event', '占道', 'Vending', %s, 'synthetic') RETURNING id""", (dep,))
        cat = cur.fetchone()[0]
        cur.execute("""SELECT d.id, s.id, c.id, g.id FROM grids g
                         JOIN communities c ON c.id = g.community_id JOIN streets s ON s.id = c.street_id
                         JOIN districts d ON d.id = s.district_id WHERE g.code = '990100001001001'""")
        place = cur.fetchone()
    conn.close()
    service.tie_user_to_department(SYSTEM, "m_department", "MD1")
    actors = {role: service.actor_by_username(f"m_{role}") for role in ROLES}
    return {"dep": dep, "cat": cat, "place": place, "actors": actors}


def _case_in(tdb, world, state: str, level: str) -> int:
    """A case sitting in ``state`` at ``level`` (for a deferred one: deferred from accepted
    or dispatched as the name says, e.g. 'deferred:accepted')."""
    state, _, deferred_from = state.partition(":")
    d, s, c, g = world["place"]
    district_loop = level == "district" and state not in ("reported", "escalated")
    conn = tdb.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO incidents (code, category_id, title, severity, state, level, reported_at,
                   dispatched_at, due_at, handled_at, closed_at, closed_level, department_id,
                   district_id, street_id, community_id, grid_id, geom, source)
               VALUES ('M' || nextval('incident_code_seq'), %s, 'matrix', 'ordinary', %s, %s, now(),
                   %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s,
                   ST_SetSRID(ST_MakePoint(116.0002, 40.0005), 4326), 'synthetic') RETURNING id""",
            (world["cat"], state, level,
             "now" if district_loop and state != "filed" else None,
             "tomorrow" if district_loop and state != "filed" else None,
             "now" if state == "closed" else None, level if state == "closed" else None,
             world["dep"] if district_loop and state != "filed" else None, d, s, c, g))
        case_id = cur.fetchone()[0]
        if deferred_from:
            cur.execute("""INSERT INTO incident_events (incident_id, at, from_state, to_state, level, source)
                           VALUES (%s, now(), %s, 'deferred', 'district', 'synthetic')""",
                        (case_id, deferred_from))
    conn.close()
    return case_id


def test_each_incident_step_is_taken_or_refused_per_role(empty_db, incident_world):
    from geo.incidents import service
    from geo.incidents import states as sm

    steps = []
    for frm, moves in sm.TRANSITIONS.items():
        for to, levels in moves.items():
            for level in sorted(levels):
                if frm not in ("reported", "escalated") and level != "district" and to != "duplicate":
                    continue
                if level not in sm.STATE_LEVELS[frm]:
                    continue
                steps.append((frm, to, level))
    assert len(steps) >= 30
    actors = incident_world["actors"]
    for frm, to, level in steps:
        for role in ROLES:
            state = f"deferred:{to}" if frm == "deferred" else frm
            cid = _case_in(empty_db, incident_world, state, level)
            actor = actors[role]
            try:
                if to == "deferred":
                    service.request_deferral(actors["admin"], cid, reason="matrix",
                                             until=datetime.now(UTC) + timedelta(days=1))
                    service.decide_deferral(actor, cid, approve=True)
                elif to == "evaluated":
                    service.evaluate(actor, cid, "满意")
                elif to == "duplicate":
                    keep = _case_in(empty_db, incident_world, "reported", "grid")
                    service.merge_duplicates(actor, keep, [cid])
                else:
                    service.transition(actor, cid, to)
                took = True
            except service.Denied as exc:
                took = False
                assert " / " in exc.user_msg, exc.user_msg
            assert took == (role in _step_roles(frm, to, level)), (frm, to, level, role)
            if took:
                got = service.show(actors["admin"], cid)["state"]
                assert got == to, (frm, to, level, role, got)


def test_department_requests_and_other_departments_are_refused(empty_db, incident_world):
    from geo.incidents import service

    actors = incident_world["actors"]
    until = datetime.now(UTC) + timedelta(days=1)
    for role in ROLES:
        cid = _case_in(empty_db, incident_world, "dispatched", "district")
        try:
            service.request_deferral(actors[role], cid, reason="matrix", until=until)
            took = True
        except service.Denied:
            took = False
        assert took == (role in {"admin", "department"}), role
    # a department account not tied to the case's department may do nothing with it
    users.add_user(SYSTEM, "m_department_other", "department", PW, "990100")
    other = service.actor_by_username("m_department_other")
    cid = _case_in(empty_db, incident_world, "dispatched", "district")
    for call in (lambda: service.transition(other, cid, "accepted"),
                 lambda: service.request_deferral(other, cid, reason="x", until=until)):
        with pytest.raises(service.Denied, match="department"):
            call()


def test_whistles_patrols_and_scorecard_per_role(empty_db, incident_world):
    """Each role blows a whistle, reports in, starts a patrol and reads the scorecard and the
    patrols exactly where the matrix says (the department also only when summoned)."""
    from geo.incidents import scorecard, whistles
    from geo.patrols import service as patrols

    actors = incident_world["actors"]
    today = datetime.now(UTC).date()
    for role in ROLES:
        actor = actors[role]
        cid = _case_in(empty_db, incident_world, "reported", "grid")
        try:
            whistles.blow(actor, cid, "quick", ["MD1"])
            took = True
        except service_denied() as exc:
            took = False
            assert " / " in exc.user_msg
        assert took == (role in MATRIX["incident.whistle"]), ("whistle", role)
        whistles.blow(actors["admin"], cid, "quick", ["MD1"])
        try:
            whistles.report_in(actor, cid, department="MD1" if role == "admin" else None)
            took = True
        except service_denied():
            took = False
        assert took == (role in MATRIX["incident.report_in"]), ("report_in", role)
        try:
            patrols.start(actor, lon=116.0002, lat=40.0005)
            patrols.end(actor)
            took = True
        except service_denied():
            took = False
        assert took == (role in MATRIX["patrol.run"]), ("patrol", role)
        own = actor.principal.scope_code or "990100"  # each reads inside its own scope
        for action, call in (
                ("departments.scorecard", lambda a, own=own: scorecard.scorecard(a, own, today, today)),
                ("patrols.view", lambda a, own=own: patrols.coverage_by_grid(a.principal, own, today, today)),
                ("patrols.view", lambda a: patrols.on_patrol_now(a.principal))):
            try:
                call(actor)
                took = True
            except permissions.PermissionDenied:
                took = False
            assert took == (role in MATRIX[action]), (action, role)


def service_denied():
    from geo.incidents import service

    return service.Denied
