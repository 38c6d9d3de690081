"""Sign-in, sessions and the server-side permission gate in front of every route.

* ``/login``: a plain HTML form (``username``, ``password``) with a CSRF token, POSTed,
  redirecting to ``next`` (same-site paths only).
* Sessions: HttpOnly, SameSite=Lax cookies; idle timeout and absolute lifetime from the
  settings; the signed-in principal is re-read from the database at most once a minute,
  so a disabled account loses access within a minute.
* Every request passes :func:`_gate`: static files and ``/login`` are open; a page needs
  its page action; a Dash callback needs the action its function was registered with
  (:func:`layouts.secure.secure_callback`); anything unregistered is refused.
"""

from __future__ import annotations

import hmac
import html
import logging
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import flask
from flask import Flask, redirect, request, session

from geo.access import permissions, users
from geo.access.roles import WALL, Principal
from geo.errors import GridAtlasError
from geo.settings import PROJECT_ROOT, get_settings

log = logging.getLogger(__name__)

_REVALIDATE_SECONDS = 60
# Dash's own page router: guarded by the action of the page it is asked to render.
_ROUTER_OUTPUT = "_pages_content.children"


def secret_key() -> str:
    """The key signing sessions and job tokens (setting, else a generated key file)."""
    configured = get_settings().secret_key
    if configured:
        return configured
    path = PROJECT_ROOT / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def install(app) -> None:
    """Wire sessions, the log-in routes and the permission gate into a Dash app."""
    server: Flask = app.server
    settings = get_settings()
    server.secret_key = secret_key()
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="gridatlas_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max_seconds),
    )
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])
    server.add_url_rule("/healthz", "healthz", lambda: ("ok", 200))
    _set_up_dash_once(app)
    server.before_request(_gate)
    server.extensions["gridatlas_dash_app"] = app


def _set_up_dash_once(app) -> None:
    """Run Dash's first-request setup under a lock, ahead of every other hook.

    Dash moves its callbacks into ``callback_map`` on the first request, but it marks the
    setup as done before it starts. Requests arriving meanwhile would reach the gate with
    no callback registered and be refused. This happens after a restart, when a wall
    screen's timers all fire at once. Dash's own hook stays in place and does nothing
    after this one.
    """
    lock = threading.Lock()
    ready = threading.Event()

    def setup_once() -> None:
        if ready.is_set():
            return
        with lock:
            if not ready.is_set():
                app._setup_server()
                ready.set()

    app.server.before_request_funcs.setdefault(None, []).insert(0, setup_once)


# ----------------------------------------------------------------------------- principal


def current_principal() -> Principal | None:
    """Who is making the current request (None: nobody signed in)."""
    if not flask.has_request_context():
        return None
    cached = getattr(flask.g, "gridatlas_principal", None)
    if cached is not None:
        return cached
    data = session.get("principal")
    if data:
        return Principal(**data)
    if get_settings().anonymous_wall and session.get("wall"):
        return WALL
    return None


def _start_session(principal: Principal) -> None:
    session.clear()
    session.permanent = True
    now = time.time()
    session["principal"] = {
        "username": principal.username,
        "role": principal.role,
        "scope_code": principal.scope_code,
        "display_name": principal.display_name,
    }
    session["login_at"] = now
    session["seen_at"] = now
    session["checked_at"] = now
    session["csrf"] = secrets.token_urlsafe(24)


def _session_expired() -> str | None:
    settings = get_settings()
    now = time.time()
    if now - session.get("login_at", 0) > settings.session_max_seconds:
        return "会话已到期，请重新登录 / session expired (12 h limit); please sign in again"
    if now - session.get("seen_at", 0) > settings.session_idle_seconds:
        return "长时间未操作，请重新登录 / signed out after inactivity; please sign in again"
    return None


def _revalidate() -> None:
    """Re-read the user at most once a minute: disabled or changed accounts lose access."""
    if time.time() - session.get("checked_at", 0) < _REVALIDATE_SECONDS:
        return
    name = session["principal"]["username"]
    try:
        user = users.get_user(name)
    except GridAtlasError:
        return  # database down: keep the session; the pages say the data is stale
    if user is None or user.disabled:
        session.clear()
        return
    session["principal"] = {
        "username": user.username, "role": user.role, "scope_code": user.scope_code,
        "display_name": user.display_name,
    }
    session["checked_at"] = time.time()


# ----------------------------------------------------------------------------- the gate


def _wants_json() -> bool:
    return request.path.startswith("/_dash-") or request.is_json


def _refuse(status: int, message: str):
    if _wants_json():
        return flask.jsonify({"error": message}), status
    if status == 401:
        nxt = request.full_path if request.query_string else request.path
        return redirect("/login?next=" + _quote(nxt))
    return _page(
        "无权访问 / Not allowed",
        f"<p class='msg'>{html.escape(message)}</p><p><a href='/'>返回 / back</a></p>",
        status,
    )


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _gate():
    path = request.path
    if _route_kind() == "open":
        return None
    settings = get_settings()
    if session.get("principal"):
        expired = _session_expired()
        if expired:
            session.clear()
            flask.g.gridatlas_expired = expired
            if _wants_json():
                return flask.jsonify({"error": expired}), 401
            return redirect("/login?expired=1&next=" + _quote(path))
        session["seen_at"] = time.time()
        _revalidate()
    elif settings.anonymous_wall and path == "/" and request.args.get("kiosk") == "1":
        session["wall"] = True  # read-only wall screen, this page only
    principal = current_principal()
    if principal is None:
        return _refuse(401, "请先登录 / please sign in")
    action = _action_for_request()
    if action is None:
        log.warning("refused unregistered route %s %s", request.method, path)
        return _refuse(403, f"{path} is not a registered action: refused")
    if action == "open":
        return None
    if principal.anonymous_wall and not (action == "view.command" or action.startswith("dash.")):
        return _refuse(401, "请先登录 / please sign in")
    if action.startswith("dash."):  # Dash plumbing (layout, dependencies): no data
        return None
    try:
        permissions.check(principal, action)
    except permissions.PermissionDenied as exc:
        return _refuse(403, exc.user_msg)
    flask.g.gridatlas_action = action
    return None


# Every Flask route and what guards it. A route missing here is refused (and the
# permission-matrix test fails). "open": no sign-in; "page": the page's view action;
# "callback": the action the Dash callback was registered with; "dash.*": Dash plumbing
# that serves no data of its own.
ROUTES: dict[str, str] = {
    "/static/<path:filename>": "open",
    "/assets/<path:filename>": "open",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": "open",
    "/_favicon.ico": "open",
    "/login": "open",
    "/healthz": "open",
    "/_dash-layout": "dash.layout",
    "/_dash-dependencies": "dash.dependencies",
    "/_reload-hash": "dash.reload",
    "/logout": "session",
    "/_dash-update-component": "callback",
    "/": "page",
    "/<path:path>": "page",
}


def _route_kind() -> str | None:
    rule = request.url_rule.rule if request.url_rule is not None else None
    return ROUTES.get(rule) if rule else None


def _action_for_request() -> str | None:
    """The registered action of this request, or None when nothing registers it."""
    kind = _route_kind()
    if kind == "callback":
        return callback_action(request.get_json(silent=True) or {})
    if kind == "page":
        return permissions.page_action(request.path) if request.method == "GET" else None
    return kind


def callback_action(body: dict, app=None) -> str | None:
    """The action a Dash callback request performs (from the callback's registration)."""
    app = app or flask.current_app.extensions["gridatlas_dash_app"]
    output = body.get("output", "")
    if _ROUTER_OUTPUT in output:
        pathname = next(
            (i.get("value") for i in body.get("inputs", [])
             if i.get("id") == "_pages_location" and i.get("property") == "pathname"),
            None,
        )
        return permissions.page_action(pathname or "/")
    entry = app.callback_map.get(output)
    if entry is None or "callback" not in entry:  # unknown, or browser-only (clientside)
        return None
    action = getattr(entry["callback"], "gridatlas_action", None)
    if action is None:
        action = _cancel_action(app, entry)
    return action


def _cancel_action(app, entry: dict) -> str | None:
    """Dash's own handler of a background callback's cancel button acts for that job:
    it takes the job's action."""
    if len(entry.get("inputs", [])) != 1:
        return None
    trigger = entry["inputs"][0]
    for other in app.callback_map.values():
        spec = other.get("background") or {}
        if trigger in spec.get("cancel", []) and "callback" in other:
            return getattr(other["callback"], "gridatlas_action", None)
    return None


# ----------------------------------------------------------------------------- log-in pages


def _safe_next(target: str | None) -> str:
    """Only same-site paths: no open redirects."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def _login():
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        note = ""
        if request.args.get("expired"):
            note = "会话已过期，请重新登录 / your session ended; please sign in again"
        return _login_form(nxt, note, 200)
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _login_form(nxt, "表单已失效，请重试 / the form expired (CSRF check); try again", 400)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        user = users.authenticate(username, password)
    except users.AuthError as exc:
        return _login_form(nxt, exc.user_msg, 401, username)
    except GridAtlasError as exc:
        return _login_form(nxt, exc.user_msg, 503, username)
    _start_session(user.principal())
    return redirect(nxt)


def _logout():
    session.clear()
    return redirect("/login")


def _login_form(nxt: str, message: str, status: int, username: str = ""):
    token = _csrf_token()
    msg = f"<p class='msg' role='alert'>{html.escape(message)}</p>" if message else ""
    body = f"""
      <form method="post" action="/login" class="card" autocomplete="on">
        <h1>GridAtlas <span>网格化管理指挥平台</span></h1>
        {msg}
        <input type="hidden" name="csrf_token" value="{html.escape(token)}">
        <input type="hidden" name="next" value="{html.escape(nxt)}">
        <label for="username">用户名 / User name</label>
        <input id="username" name="username" value="{html.escape(username)}" required autofocus
               autocomplete="username">
        <label for="password">密码 / Password</label>
        <input id="password" name="password" type="password" required
               autocomplete="current-password">
        <button type="submit">登录 / Sign in</button>
      </form>"""
    return _page("登录 · GridAtlas", body, status)


def _page(title: str, body: str, status: int):
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/assets/login.css"></head>
<body class="ga-login">{body}</body></html>"""
    resp = flask.make_response(page, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp
