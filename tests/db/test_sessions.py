"""Sessions end when they should, at once and in every process: sign-out (GET or POST),
a disabled user; and a database outage signs nobody out but refuses every write.

The real app (``AppServer``) on a clone of the empty database, driven with ``requests``.
"""

from __future__ import annotations

import pytest
import requests

from geo.access import permissions, users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer
from tests.conftest import create_tiny_place
from tests.db.web import Blocked, callback_body, sign_in

PW = "Session-pass-1"
COOKIE = "gridatlas_session"


@pytest.fixture(scope="module")
def server(empty_db):
    place = create_tiny_place(empty_db)
    for name in ("s_operator", "s_gone"):
        users.add_user(SYSTEM, name, "operator", PW, place["district"])
    users.add_user(SYSTEM, "s_planner", "planner", PW, place["district"])  # reads and writes
    app = AppServer(empty_db.url)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def app_module(server):
    import app

    return app


def _replay(server, cookie: str, path: str = "/incidents") -> requests.Response:
    return requests.get(server.url + path, cookies={COOKIE: cookie}, allow_redirects=False)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_old_cookie_is_refused_after_logout(server, app_module, method):
    http, resp = sign_in(server.url, "s_operator", PW)
    assert resp.status_code == 302
    assert http.get(server.url + "/incidents", allow_redirects=False).status_code == 200
    cookie = http.cookies.get(COOKIE)
    assert _replay(server, cookie).status_code == 200  # a copy works while signed in

    out = http.request(method, server.url + "/logout", allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"].endswith("/login")

    replay = _replay(server, cookie)
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    body = callback_body(app_module, "view.command")
    refused = requests.post(server.url + "/_dash-update-component", json=body,
                            cookies={COOKIE: cookie})
    assert refused.status_code == 401, refused.text


def test_a_disabled_user_is_refused_on_the_next_request(server):
    http, _ = sign_in(server.url, "s_gone", PW)
    assert http.get(server.url + "/incidents", allow_redirects=False).status_code == 200
    cookie = http.cookies.get(COOKIE)
    users.set_disabled(SYSTEM, "s_gone")
    resp = http.get(server.url + "/incidents", allow_redirects=False)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    users.set_disabled(SYSTEM, "s_gone", False)
    assert _replay(server, cookie).status_code == 302  # enabling again revives no session


def test_a_database_outage_keeps_the_signed_in_wall_read_only(server, app_module, empty_db):
    http, _ = sign_in(server.url, "s_planner", PW)
    read = callback_body(app_module, "view.command")
    write = callback_body(app_module, lambda a: bool(
        a and permissions.ACTIONS[a][1] and permissions.allowed("planner", a)))
    assert http.post(server.url + "/_dash-update-component", json=read).status_code == 200

    with Blocked(empty_db):
        page = http.get(server.url + "/", allow_redirects=False)
        assert page.status_code == 200  # the wall's page, not the sign-in form
        refresh = http.post(server.url + "/_dash-update-component", json=read)
        assert refresh.status_code == 200, refresh.text[:300]  # the callback says "stale"
        change = http.post(server.url + "/_dash-update-component", json=write)
        assert change.status_code == 503, (write["output"], change.status_code, change.text[:300])
        assert "database" in change.json()["error"]

    # the database is back: the same session goes on
    assert http.get(server.url + "/plan", allow_redirects=False).status_code == 200
    assert http.post(server.url + "/_dash-update-component", json=read).status_code == 200
