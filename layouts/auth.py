"""Sign-in, sessions and the server-side permission gate in front of every route.

* ``/login``: a plain HTML form (``username``, ``password``) with a CSRF token, POSTed,
  redirecting to ``next`` (same-site paths only); attempts are throttled per typed name
  and client address, and per address (:func:`geo.access.users.authenticate`).
* Sessions: a signed, HttpOnly, SameSite=Lax cookie (``Secure`` with
  ``SESSION_COOKIE_SECURE=1``) carrying a random session id and the principal. Every
  request checks the id against the ``sessions`` table (one indexed query): sign-out,
  disabling the user or a password reset refuse the cookie at once, in every process.
  When that check cannot reach the database, the cookie's principal is kept for reading
  (a wall keeps its stale view) and every write is refused.
* Every request passes :func:`_gate`: static files and ``/login`` are open; a page needs
  its page action; a Dash callback needs the action its function was registered with
  (:func:`layouts.secure.secure_callback`); Dash's page router needs the action of the
  page Dash will render; anything unregistered is refused, a malformed callback is 400.
* Every response carries security headers (:func:`security_headers`): a
  Content-Security-Policy allowing scripts from this site and Dash's own inline scripts
  by hash, no framing, ``nosniff`` and a same-origin referrer policy.
"""

from __future__ import annotations

import hmac
import html
import logging
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import dash
import flask
from dash import _pages
from dash.exceptions import CallbackException
from flask import Flask, redirect, request, session

from geo.access import permissions, users
from geo.access.roles import WALL, Principal
from geo.errors import DatabaseUnavailable, GridAtlasError
from geo.settings import PROJECT_ROOT, get_settings
from layouts import strings_refusals as refusals
from layouts.headers import security_headers
from layouts.i18n import current_lang, t
from layouts.login_pages import client_address, login_form, page, safe_next

log = logging.getLogger(__name__)

# Dash's own page router: guarded by the action of the page it is asked to render.
_ROUTER_OUTPUT = "_pages_content.children"
_ENDED = "会话已结束，请重新登录 / your session has ended; please sign in again"
_DB_DOWN_WRITE = ("数据库暂时无法连接，更改未保存 / the database cannot be reached: "
                  "changes are refused until it returns")


class MalformedCallback(GridAtlasError):
    """A Dash callback request whose body Dash could not run: answered 400."""


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
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max_seconds),
    )
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])
    _set_up_dash_once(app)
    server.before_request(_gate)
    server.after_request(security_headers)
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


def _start_session(principal: Principal, session_id: str) -> None:
    session.clear()
    session.permanent = True
    now = time.time()
    session["sid"] = session_id
    session["principal"] = _principal_data(principal)
    session["login_at"] = now
    session["seen_at"] = now
    session["csrf"] = secrets.token_urlsafe(24)


def _principal_data(principal: Principal) -> dict:
    return {"username": principal.username, "role": principal.role,
            "scope_code": principal.scope_code, "display_name": principal.display_name}


def session_id() -> str | None:
    """The current request's server-side session id (None: no signed-in session)."""
    sid = session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def _session_expired() -> str | None:
    settings = get_settings()
    now = time.time()
    if now - session.get("login_at", 0) > settings.session_max_seconds:
        return "会话已到期，请重新登录 / session expired (12 h limit); please sign in again"
    if now - session.get("seen_at", 0) > settings.session_idle_seconds:
        return "长时间未操作，请重新登录 / signed out after inactivity; please sign in again"
    return None


def _check_session():
    """Check the signed-in session against the database; a refusal, or None to go on.

    The session row must exist, be unexpired and belong to an enabled user; the principal
    is refreshed from that row (a changed role or scope applies at once). When the
    database cannot be reached, the cookie's principal is kept and ``g.gridatlas_db_down``
    marks the request read-only: an outage signs nobody out and writes nothing.
    """
    expired = _session_expired()
    if expired:
        session.clear()
        flask.g.gridatlas_expired = expired
        return _signed_out(expired)
    sid = session_id()
    try:
        user = users.session_user(sid) if sid else None
    except DatabaseUnavailable as exc:
        log.warning("session check: database unreachable, read-only: %s", exc.user_msg)
        flask.g.gridatlas_db_down = True
        session["seen_at"] = time.time()
        return None
    if user is None:
        session.clear()
        return _signed_out(_ENDED)
    data = _principal_data(user.principal())
    if session.get("principal") != data:
        session["principal"] = data
    session["seen_at"] = time.time()
    return None


def _signed_out(message: str):
    if _wants_json():
        return flask.jsonify({"error": message}), 401
    return redirect("/login?expired=1&next=" + _quote(request.path))


# ----------------------------------------------------------------------------- the gate


def _wants_json() -> bool:
    return request.path.startswith("/_dash-") or request.is_json


def _refuse(status: int, message: str | permissions.PermissionDenied):
    """Refuse the request: JSON ``{"error": "中文 / English"}`` for Dash and API callers, a
    sign-in redirect for 401, else a small page in the visitor's language."""
    if _wants_json():
        text = message.user_msg if isinstance(message, GridAtlasError) else message
        return flask.jsonify({"error": text}), status
    if status == 401:
        nxt = request.full_path if request.query_string else request.path
        return redirect("/login?next=" + _quote(nxt))
    lang = current_lang()
    reason = refusals.refusal_text(message, lang)
    ask = ""
    if isinstance(message, permissions.PermissionDenied) and message.reason == "role":
        ask = f"<p class='hint'>{html.escape(t('refusal.ask', lang))}</p>"
    title = refusals.title(status, lang)
    return page(
        title,
        f"<div class='card refusal'><h1>{html.escape(title)}</h1>"
        f"<p class='msg' role='alert'>{html.escape(reason)}</p>{ask}"
        f"<p><a href='/'>{html.escape(t('refusal.back', lang))}</a></p></div>",
        status,
        lang="zh-CN" if lang == "zh" else "en",
    )


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _gate():
    path = request.path
    if _route_kind() == "open":
        return None
    settings = get_settings()
    if session.get("principal"):
        refused = _check_session()
        if refused is not None:
            return refused
    elif settings.anonymous_wall and path == "/" and request.args.get("kiosk") == "1":
        session["wall"] = True  # read-only wall screen, this page only
    principal = current_principal()
    if principal is None:
        return _refuse(401, "请先登录 / please sign in")
    try:
        action = _action_for_request()
    except MalformedCallback as exc:
        return _refuse(400, exc.user_msg)
    if action is None:
        log.warning("refused unregistered route %s %s", request.method, path)
        if _route_kind() == "page" and request.method in ("GET", "HEAD"):
            return _refuse(404, t("refusal.not_found", current_lang()))
        return _refuse(403, f"{path} 未登记，已拒绝 / {path} is not a registered action: refused")
    if action == "open":
        return None
    if principal.anonymous_wall and not (action == "view.command" or action.startswith("dash.")):
        return _refuse(401, "请先登录 / please sign in")
    if action.startswith("dash."):  # Dash plumbing (layout, dependencies): no data
        return None
    try:
        permissions.check(principal, action)
    except permissions.PermissionDenied as exc:
        return _refuse(403, exc)
    if getattr(flask.g, "gridatlas_db_down", False) and _writes(action):
        return _refuse(503, _DB_DOWN_WRITE)
    if _route_kind() == "callback":
        try:
            _check_callback_shape(request.get_json(silent=True))
        except MalformedCallback as exc:
            return _refuse(400, exc.user_msg)
    flask.g.gridatlas_action = action
    return None


def _writes(action: str) -> bool:
    """True when the request may change data: a mutating action, not a plain page read."""
    mutates = permissions.ACTIONS.get(action, (None, True))[1]
    return mutates and (request.method not in ("GET", "HEAD") or _route_kind() == "callback")


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
    # Open311 (layouts/open311.py): GETs are public, the POST checks its api_key itself
    "/open311/v2/discovery.json": "open",
    "/open311/v2/services.json": "open",
    "/open311/v2/requests.json": "open",
    "/open311/v2/requests/<service_request_id>.json": "open",
    "/_dash-layout": "dash.layout",
    "/_dash-dependencies": "dash.dependencies",
    "/_reload-hash": "dash.reload",
    "/logout": "session",
    "/account/password": "account.password",
    "/_dash-update-component": "callback",
    # the incident list as a file and case photos (layouts/incidents_files.py)
    "/incidents/export.xlsx": "view.incidents",
    "/incidents/export.csv": "view.incidents",
    "/incidents/photo/<int:photo_id>": "view.incidents",
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
        return callback_action(request.get_json(silent=True))
    if kind == "page":
        return permissions.page_action(request.path) if request.method == "GET" else None
    return kind


_MALFORMED = "回调请求格式错误 / malformed callback request"


def callback_action(body, app=None) -> str | None:
    """The action a Dash callback request performs (from the callback's registration).

    Dash's page router takes the action of the page Dash will render: Dash hands the
    router its inputs by position, whatever ids the request gives them, so the pathname
    is read at the position the router was registered with, and resolved to a page by
    Dash's own lookup.

    Raises
    ------
    MalformedCallback
        The body is not a JSON object, ``output`` is not a string, or inputs or state
        are not lists.
    """
    app = app or flask.current_app.extensions["gridatlas_dash_app"]
    if not isinstance(body, dict):
        raise MalformedCallback(_MALFORMED + ": the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or not output:
        raise MalformedCallback(_MALFORMED + ": output must be a string")
    for part in ("inputs", "state"):
        if not isinstance(body.get(part, []), list):
            raise MalformedCallback(f"{_MALFORMED}: {part} must be a list")
    entry = app.callback_map.get(output)
    if entry is None or "callback" not in entry:  # unknown, or browser-only (clientside)
        return None
    if _ROUTER_OUTPUT in output:  # a registered key: Dash's page router
        return _router_action(app, entry, body.get("inputs", []))
    action = getattr(entry["callback"], "gridatlas_action", None)
    if action is None:
        action = _cancel_action(app, entry)
    return action


def _router_action(app, entry: dict, inputs: list) -> str | None:
    position = _pathname_position(entry)
    if position is None:
        return None
    if position >= len(inputs) or not isinstance(inputs[position], dict):
        raise MalformedCallback(_MALFORMED + ": the page router's inputs are missing")
    pathname = inputs[position].get("value")
    if not isinstance(pathname, str) or not pathname.startswith("/"):
        raise MalformedCallback(_MALFORMED + ": the pathname must be a path starting with /")
    # the very lookup the router performs (dash.Dash.enable_pages' update())
    page, _ = _pages._path_to_page(app.strip_relative_path(pathname))
    return permissions.page_action(page["path"]) if page else None


def _pathname_position(entry: dict) -> int | None:
    """Where the router's ``pathname_`` argument sits among the inputs Dash receives."""
    indices = entry.get("inputs_state_indices")
    if isinstance(indices, dict) and isinstance(indices.get("pathname_"), int):
        return indices["pathname_"]
    for i, spec in enumerate(entry.get("inputs", [])):
        if spec.get("id") == "_pages_location" and spec.get("property") == "pathname":
            return i
    return None


def _check_callback_shape(body) -> None:
    """Refuse (400) a callback body Dash would fail on: one value per registered input and
    state, each an object (or a list of objects for a pattern-matching id)."""
    entry = flask.current_app.extensions["gridatlas_dash_app"].callback_map[body["output"]]
    for part in ("inputs", "state"):
        values = body.get(part, [])
        if len(values) != len(entry.get(part, [])):
            raise MalformedCallback(f"{_MALFORMED}: {part} must have {len(entry.get(part, []))} values")
        for value in values:
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, dict) for v in items):
                raise MalformedCallback(f"{_MALFORMED}: each of {part} must be an object")
    if "changedPropIds" in body and not isinstance(body["changedPropIds"], list):
        raise MalformedCallback(f"{_MALFORMED}: changedPropIds must be a list")
    registered = entry.get("output")
    if registered is not None and registered != [] and not entry.get("no_output"):
        try:  # Dash's own check, which it would otherwise fail on with a 500
            dash._validate.validate_output_spec(registered, body.get("outputs", []), dash.Output)
        except (CallbackException, LookupError, TypeError, AttributeError):
            raise MalformedCallback(
                f"{_MALFORMED}: outputs do not match the callback's outputs") from None


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


def _login():
    nxt = safe_next(request.values.get("next"))
    if request.method == "GET":
        note = ""
        if request.args.get("expired"):
            note = "会话已过期，请重新登录 / your session ended; please sign in again"
        return login_form(nxt, note, 200)
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        return login_form(nxt, "表单已失效，请重试 / the form expired (CSRF check); try again", 400)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    address = client_address()
    try:
        user = users.authenticate(username, password, address)
        sid = users.start_session(user, address, get_settings().session_max_seconds)
    except users.AuthError as exc:
        return login_form(nxt, exc.user_msg, exc.status, username)
    except GridAtlasError as exc:
        return login_form(nxt, exc.user_msg, 503, username)
    _start_session(user.principal(), sid)
    from layouts.field_landing import landing  # a grid worker on a phone: /field

    return redirect(landing(user.role, nxt, request.headers))


def _logout():
    sid = session_id()
    if sid:
        try:
            users.end_session(sid)
        except DatabaseUnavailable as exc:
            # the browser forgets the cookie; the row ends at its expiry
            log.warning("sign-out while the database is unreachable: %s", exc.user_msg)
    session.clear()
    return redirect("/login")
