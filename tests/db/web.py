"""Helpers for tests that drive the real app (``AppServer``) over HTTP with ``requests``."""

from __future__ import annotations

import re
import time

import requests

from tests.conftest import _with_dbname

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MESSAGE = re.compile(r"<p class='msg' role='alert'>([^<]*)</p>")


def csrf(http: requests.Session, base: str, path: str = "/login") -> str:
    page = http.get(base + path, allow_redirects=False)
    assert page.status_code == 200, (path, page.status_code)
    return CSRF.search(page.text).group(1)


def sign_in(base: str, username: str, password: str, headers: dict | None = None
            ) -> tuple[requests.Session, requests.Response]:
    """A fresh browser-like session posting the real /login form; (session, answer)."""
    http = requests.Session()
    if headers:
        http.headers.update(headers)
    token = csrf(http, base)
    resp = http.post(base + "/login", data={"username": username, "password": password,
                                            "csrf_token": token, "next": "/incidents"},
                     allow_redirects=False)
    return http, resp


def message(resp: requests.Response) -> str:
    found = MESSAGE.search(resp.text)
    return found.group(1) if found else ""


def callback_body(app_module, action=None, output_part: str | None = None) -> dict:
    """A well-formed /_dash-update-component body (null values) for one registered callback,
    chosen by its action (a name, or a predicate on the name) or by part of its output."""
    app = app_module.app
    if not app.callback_map:
        app._setup_server()
    for key, entry in app.callback_map.items():
        func = entry.get("callback")
        if func is None:
            continue
        name = getattr(func, "gridatlas_action", None)
        if action and not (action(name) if callable(action) else name == action):
            continue
        if output_part and output_part not in key:
            continue

        def values(specs):
            return [[] if str(s["id"]).startswith("{") else
                    {"id": s["id"], "property": s["property"], "value": None} for s in specs]

        out = entry["output"]
        outputs = ([{"id": o.component_id, "property": o.component_property} for o in out]
                   if isinstance(out, list) else
                   {"id": out.component_id, "property": out.component_property})
        return {"output": key, "outputs": outputs, "inputs": values(entry["inputs"]),
                "state": values(entry.get("state", [])), "changedPropIds": []}
    raise AssertionError(f"no callback for {action or output_part}")


class Blocked:
    """The test database refuses every connection (``ALLOW_CONNECTIONS false`` and its
    backends ended) inside the block, and accepts them again after."""

    def __init__(self, tdb) -> None:
        self.tdb = tdb

    def _run(self, *statements: tuple[str, tuple]) -> None:
        import psycopg2

        conn = psycopg2.connect(_with_dbname(self.tdb.admin_url, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for query, params in statements:
                cur.execute(query, params)
        conn.close()

    def __enter__(self):
        from psycopg2 import sql

        name = sql.Identifier(self.tdb.name)
        self._run(
            (sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name), ()),
            ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
             (self.tdb.name,)),
        )
        time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        from psycopg2 import sql

        self._run((sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
            sql.Identifier(self.tdb.name)), ()))
