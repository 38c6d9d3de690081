"""The gate judges Dash's page router by the pathname Dash will use, and refuses malformed
callback requests with a 400 (never a 500).

Dash hands the router its inputs by position, whatever ids a request gives them: a request
that puts ``/audit`` first and labels it ``search`` gets the audit page rendered. The real
app (``AppServer``) with the anonymous wall on, a grid worker signed in, via ``requests``.
"""

from __future__ import annotations

import pytest
import requests

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer
from tests.conftest import create_tiny_place
from tests.db.web import sign_in

PW = "Router-pass-1"
ROUTER = ".._pages_content.children..._pages_store.data.."


@pytest.fixture(scope="module")
def server(empty_db):
    place = create_tiny_place(empty_db)
    users.add_user(SYSTEM, "r_worker", "grid_worker", PW, place["grid"])
    users.add_user(SYSTEM, "r_admin", "admin", PW)
    app = AppServer(empty_db.url, {"ANONYMOUS_WALL": "1"})
    yield app
    app.stop()


def _router(first: dict, second: dict) -> dict:
    return {"output": ROUTER, "outputs": [{"id": "_pages_content", "property": "children"},
                                          {"id": "_pages_store", "property": "data"}],
            "inputs": [first, second], "state": [], "changedPropIds": []}


def _loc(prop: str, value: str) -> dict:
    return {"id": "_pages_location", "property": prop, "value": value}


@pytest.fixture()
def worker(server):
    http, resp = sign_in(server.url, "r_worker", PW)
    assert resp.status_code == 302
    return http


@pytest.fixture()
def wall(server):
    http = requests.Session()
    assert http.get(server.url + "/?kiosk=1", allow_redirects=False).status_code == 200
    return http


def _post(http, server, body):
    return http.post(server.url + "/_dash-update-component", json=body)


@pytest.mark.parametrize("page", ["/audit", "/plan", "/audit/"])
def test_reordered_router_inputs_are_judged_by_position(server, worker, wall, page):
    # what Dash renders is the first input's value: here, the refused page
    swapped = _router(_loc("search", page), _loc("pathname", "/"))
    resp = _post(worker, server, swapped)
    assert resp.status_code == 403, resp.text[:300]
    assert "grid_worker may not" in resp.json()["error"]
    assert _post(wall, server, swapped).status_code == 401
    # the ordinary order asking for the page is refused as well
    assert _post(worker, server, _router(_loc("pathname", page), _loc("search", ""))).status_code == 403


def test_the_router_still_renders_what_each_may_see(server, worker, wall):
    for http in (worker, wall):
        resp = _post(http, server, _router(_loc("pathname", "/"), _loc("search", "")))
        assert resp.status_code == 200, resp.text[:300]
        assert "_pages_content" in resp.json()["response"]
    # labelled "/" but the first value is /incidents: the worker may see it, Dash renders it
    resp = _post(worker, server, _router(_loc("search", "/incidents"), _loc("pathname", "/")))
    assert resp.status_code == 200 and "inc-table" in resp.text


@pytest.mark.parametrize("body", [
    {"output": [ROUTER], "inputs": []},
    {"output": {"id": "x"}, "inputs": []},
    {"output": ROUTER, "inputs": {"pathname": "/"}},
    {"output": ROUTER, "inputs": [_loc("pathname", "/")], "state": "x"},
    {"output": ROUTER, "inputs": [_loc("pathname", None), _loc("search", "")]},
    {"output": ROUTER, "inputs": ["/", ""]},
    {"output": ROUTER, "inputs": [_loc("pathname", "/")]},  # one value short
    {"output": ROUTER, "outputs": [{"id": "_pages_content", "property": "children"}],
     "inputs": [_loc("pathname", "/"), _loc("search", "")]},  # one output short
    [ROUTER],
    "not an object",
])
def test_malformed_callback_requests_are_400(server, body):
    http, _ = sign_in(server.url, "r_admin", PW)
    resp = _post(http, server, body)
    assert resp.status_code == 400, (body, resp.status_code, resp.text[:200])
    assert "malformed callback request" in resp.json()["error"]


def test_a_body_that_is_not_json_is_400(server):
    http, _ = sign_in(server.url, "r_admin", PW)
    resp = http.post(server.url + "/_dash-update-component", data="output=x",
                     headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    resp = http.post(server.url + "/_dash-update-component", data={"output": ROUTER})
    assert resp.status_code == 400
