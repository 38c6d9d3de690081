"""Accountable access on the real database: users, sign-in, sessions, keys, audit."""

from __future__ import annotations

import re
import time

import pytest

from geo.access import apikeys, audit, users
from geo.access.roles import SYSTEM, Principal
from geo.errors import GridAtlasError
from geo.repository import summary, wall
from geo.repository.scope import Scope
from geo.settings import get_settings
from tests.conftest import create_tiny_place, run_cli

PW = "correct-horse-battery-1"


@pytest.fixture(scope="module")
def place(empty_db):
    return create_tiny_place(empty_db)


@pytest.fixture(scope="module")
def people(empty_db, place):
    made = {}
    for name, role, scope in [
        ("acc_admin", "admin", None),
        ("acc_staff", "community_staff", place["community"]),
        ("acc_worker", "grid_worker", place["grid"]),
        ("acc_leader", "leader", place["district"]),
    ]:
        made[name] = users.add_user(SYSTEM, name, role, PW, scope)
    return made


@pytest.fixture()
def settings_env(monkeypatch):
    """Change settings for one test (they are read once per process otherwise)."""

    def apply(**values):
        for k, v in values.items():
            monkeypatch.setenv(k, str(v))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture()
def client(people):
    import app

    return app.server.test_client()


def _csrf(client, path="/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _login(client, username, password, nxt="/"):
    return client.post("/login", data={
        "username": username, "password": password, "csrf_token": _csrf(client), "next": nxt})


# ----------------------------------------------------------------------------- users


def test_cli_adds_lists_and_disables_users(empty_db, place):
    proc = run_cli("users", "add", "cli_planner", "--role", "planner", "--scope",
                   place["street"], "--password-stdin", url=empty_db.url, stdin=PW + "\n")
    assert proc.returncode == 0, proc.stderr
    listing = run_cli("users", "list", url=empty_db.url).stdout
    assert re.search(r"cli_planner\s+planner\s+990100001\s+active", listing)
    assert run_cli("users", "disable", "cli_planner", url=empty_db.url).returncode == 0
    assert re.search(r"cli_planner\s+planner\s+990100001\s+disabled",
                     run_cli("users", "list", url=empty_db.url).stdout)
    actions = {r["action"] for r in audit.browse(SYSTEM, actor=None)}
    assert {"user.add", "user.disable"} <= actions


@pytest.mark.parametrize("args,message", [
    (["--role", "planner", "--scope", "990100001", "--password", "short"], "at least 8"),
    (["--role", "planner", "--password", PW], "needs a --scope"),
    (["--role", "planner", "--scope", "123", "--password", PW], "not a place code"),
    (["--role", "planner", "--scope", "990999001", "--password", PW], "names no district"),
])
def test_cli_refuses_bad_users_clearly(empty_db, place, args, message):
    before = run_cli("stats", "--json", url=empty_db.url).stdout
    proc = run_cli("users", "add", "bad_user", *args, url=empty_db.url)
    assert proc.returncode == 2 and message in proc.stderr
    assert run_cli("stats", "--json", url=empty_db.url).stdout == before


def test_first_admin_password_from_the_environment_or_printed_once(empty_db, monkeypatch):
    # an admin exists already in other tests' fixtures? use a dedicated check on a fresh table
    created, shown = users.ensure_admin("environment-pass-1")
    if created:
        assert shown is None  # given by the environment, not printed
    assert users.ensure_admin() == (False, None)  # never twice


def test_api_key_printed_last_and_verified(empty_db):
    proc = run_cli("apikey", "create", "open311-test", url=empty_db.url)
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    assert key.startswith("ga_") and len(key) > 30
    principal = apikeys.verify(key)
    assert principal and principal.role == "api" and principal.username == "apikey:open311-test"
    assert apikeys.verify(key + "x") is None and apikeys.verify(None) is None
    # the key itself is never stored
    assert empty_db.scalar("SELECT count(*) FROM api_keys WHERE key_hash = %s", (key,)) == 0


# ----------------------------------------------------------------------------- sign-in


def test_anonymous_is_sent_to_login_with_next(client):
    resp = client.get("/plan")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?next=/plan"
    assert client.post("/_dash-update-component", json={"output": "x.children"}).status_code == 401


def test_login_redirects_to_next_and_sets_a_safe_cookie(client):
    resp = _login(client, "acc_staff", PW, "/incidents")
    assert resp.status_code == 302 and resp.headers["Location"] == "/incidents"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_never_redirects_off_site(client):
    resp = _login(client, "acc_staff", PW, "https://evil.example/")
    assert resp.headers["Location"] == "/"


def test_login_without_csrf_token_is_refused(client):
    client.get("/login")
    resp = client.post("/login", data={"username": "acc_staff", "password": PW})
    assert resp.status_code == 400 and "CSRF" in resp.text
    resp = client.post("/login", data={"username": "acc_staff", "password": PW,
                                       "csrf_token": "forged"})
    assert resp.status_code == 400


def test_five_failures_lock_the_account(client, settings_env):
    # the failures count within the lock window: wide enough for five sign-ins (each hashes
    # a password) on a busy machine
    settings_env(LOGIN_LOCK_SECONDS=8)
    users.add_user(SYSTEM, "acc_lockme", "leader", PW, "990100")
    for _ in range(4):
        assert _login(client, "acc_lockme", "wrong-password!").status_code == 401
    resp = _login(client, "acc_lockme", "wrong-password!")
    assert "locked" in resp.text
    assert "locked" in _login(client, "acc_lockme", PW).text  # even the right password
    time.sleep(8.2)
    assert _login(client, "acc_lockme", PW).status_code == 302
    assert any(r["action"] == "user.locked" and r["target"] == "acc_lockme"
               for r in audit.browse(SYSTEM))


def test_idle_timeout_signs_out(client, settings_env):
    settings_env(SESSION_IDLE_SECONDS=1)
    assert _login(client, "acc_staff", PW).status_code == 302
    assert client.get("/incidents").status_code == 200
    time.sleep(1.3)
    resp = client.get("/incidents")
    assert resp.status_code == 302 and "expired=1" in resp.headers["Location"]


def test_absolute_lifetime_signs_out(client, settings_env):
    settings_env(SESSION_MAX_SECONDS=2, SESSION_IDLE_SECONDS=3600)
    assert _login(client, "acc_staff", PW).status_code == 302
    for _ in range(3):
        time.sleep(0.8)
        resp = client.get("/incidents")
    assert resp.status_code == 302 and "expired=1" in resp.headers["Location"]


def test_disabled_user_cannot_sign_in(client):
    users.add_user(SYSTEM, "acc_gone", "leader", PW, "990100")
    users.set_disabled(SYSTEM, "acc_gone")
    assert "disabled" in _login(client, "acc_gone", PW).text


def test_pages_are_refused_by_role_with_a_reason(client):
    _login(client, "acc_worker", PW)
    resp = client.get("/plan")
    assert resp.status_code == 403 and "您的角色「网格员」无权查看网格规划方案" in resp.text
    assert client.get("/incidents").status_code == 200


# ----------------------------------------------------------------------------- scope


def test_queries_are_filtered_by_scope(people, place):
    def codes(level, scope):
        fc = wall.boundaries(Scope.of(Principal("t", "leader", scope)), level, 18)
        return [f["properties"]["code"] for f in fc["features"]]

    assert len(codes("grid", None)) == 2 and codes("grid", place["grid"]) == [place["grid"]]
    # a community's staff see their community and its ancestors, nothing beside them
    assert codes("street", place["community"]) == [place["street"]]
    assert codes("community", "990100002") == []
    staff = Principal("s", "community_staff", place["community"])
    assert [r["code"] for r in summary.community_summary(Scope.of(staff))] == [place["community"]]


def test_check_refuses_outside_scope():
    from geo.access.permissions import PermissionDenied, check

    staff = Principal("s", "community_staff", "990100001001")
    check(staff, "incident.transition", "990100001001002")
    with pytest.raises(PermissionDenied) as info:
        check(staff, "incident.transition", "990100001002001")
    assert "outside your scope 990100001001" in info.value.user_msg
    with pytest.raises(GridAtlasError):
        check(staff, "users.manage")


def test_audit_rows_commit_only_with_their_change(empty_db):
    n = empty_db.scalar("SELECT count(*) FROM audit_log")
    with pytest.raises(GridAtlasError):
        users.add_user(SYSTEM, "acc_staff", "leader", PW, "990100")  # exists: refused
    assert empty_db.scalar("SELECT count(*) FROM audit_log") == n
