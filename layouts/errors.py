"""What the server answers when a request cannot be served, and ``/healthz``.

* The database is down or every pooled connection stays busy for ``DB_POOL_TIMEOUT``
  seconds (:class:`~geo.errors.DatabaseUnavailable`, :class:`~geo.errors.DatabaseBusy`):
  503 with ``Retry-After`` (spread over 5-15 s, :func:`retry_after`); a JSON
  ``{"error": message}`` for Dash requests, a small
  Chinese/English page otherwise. Callbacks that catch the error themselves (the wall's
  refresh shows its stale state) never get here.
* Any other domain error (:class:`~geo.errors.GridAtlasError`) that a callback let through:
  400 with its user message.
* Anything else: logged with a reference, answered with a generic 500 that reveals
  nothing. This is the last resort; no request should reach it.
* A request body larger than :func:`body_limit` (the upload limit ``IMPORT_MAX_MB`` as
  base64, the form Dash's upload box posts it in, plus 1 MB): 413 with a message, before
  the body is read; nothing reaches a callback.
* ``/healthz``: ``ok`` (200) only when ``SELECT 1`` on the pool answers within two
  seconds; else 503 with ``database: down`` or ``database: busy``.

Messages never name a host, port, socket path, user or database (see :mod:`geo.db`).
"""

from __future__ import annotations

import html
import logging
import secrets

import flask
from flask import Flask, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from geo.errors import DatabaseBusy, DatabaseUnavailable, GridAtlasError
from geo.repository import session as db_session

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
"""The least ``Retry-After`` of a 503 (seconds)."""
RETRY_AFTER_SPREAD_SECONDS = 10
"""A 503's ``Retry-After`` is drawn from ``RETRY_AFTER_SECONDS`` to that plus this."""
HEALTH_TIMEOUT_SECONDS = 2.0
INTERNAL_MSG = "服务器内部错误，请稍后重试 / Internal server error; please try again later"


def install(server: Flask) -> None:
    """Register the error handlers and ``/healthz`` on the Flask server (once, from app.py)."""
    if "healthz" in server.view_functions:  # registered elsewhere already: this view answers
        server.view_functions["healthz"] = healthz
    else:
        server.add_url_rule("/healthz", "healthz", healthz)
    server.config["MAX_CONTENT_LENGTH"] = body_limit()
    server.register_error_handler(RequestEntityTooLarge, _too_large)
    server.register_error_handler(DatabaseUnavailable, _database_unavailable)
    server.register_error_handler(GridAtlasError, _domain_error)
    server.register_error_handler(Exception, _uncaught)


def body_limit() -> int:
    """Bytes a request body may have: the largest upload (``IMPORT_MAX_MB``) base64-encoded
    in a callback's JSON, and 1 MB for the rest of it. Flask refuses a longer body (413)
    from its ``Content-Length`` before reading it."""
    from geo.importers.uploads import max_upload_bytes

    return max_upload_bytes() * 4 // 3 + 1024 * 1024


def retry_after() -> str:
    """A 503's ``Retry-After``: whole seconds drawn from ``RETRY_AFTER_SECONDS`` to
    ``RETRY_AFTER_SECONDS + RETRY_AFTER_SPREAD_SECONDS``.

    Clients that honour it (a hotline app, Open311 reporters) come back spread over that
    span. With one fixed value, every client refused during an outage of the primary came
    back within the same second or so once it returned (about a thousand reports after 20 s
    of 50 a second)."""
    return str(RETRY_AFTER_SECONDS + secrets.randbelow(RETRY_AFTER_SPREAD_SECONDS + 1))


def healthz():
    """``ok`` only when the database answers through the pool; what is down otherwise."""
    try:
        db_session.ping(timeout=HEALTH_TIMEOUT_SECONDS)
    except DatabaseBusy:
        return _plain("database: busy", 503)
    except GridAtlasError:
        return _plain("database: down", 503)
    return _plain("ok", 200)


# ----------------------------------------------------------------------------- handlers


def _database_unavailable(exc: DatabaseUnavailable):
    # the detail was logged where it was raised (geo.db); here only which request failed
    log.warning("%s %s answered 503: %s", request.method, request.path,
                "busy" if isinstance(exc, DatabaseBusy) else "database unavailable")
    resp = _answer(503, "数据库暂不可用 / Database unavailable", exc.user_msg)
    resp.headers["Retry-After"] = retry_after()
    return resp


def _domain_error(exc: GridAtlasError):
    log.warning("%s %s answered 400: %s", request.method, request.path, exc.user_msg)
    return _answer(400, "无法完成请求 / Request not completed", exc.user_msg)


def _too_large(exc: RequestEntityTooLarge):
    mb = body_limit() // (1024 * 1024)
    log.warning("%s %s answered 413: body over %d MB", request.method, request.path, mb)
    return _answer(413, "请求过大 / Request too large",
                   f"请求内容超过 {mb} MB（上传文件上限见 IMPORT_MAX_MB）/ "
                   f"The request is larger than {mb} MB (the upload limit is IMPORT_MAX_MB)")


def _uncaught(exc: Exception):
    if isinstance(exc, HTTPException):  # 404, 405...: Flask's own answer
        return exc
    if flask.current_app.debug:
        raise exc  # the developer's debugger shows it
    ref = secrets.token_hex(4)
    log.error("uncaught error [%s] in %s %s", ref, request.method, request.path, exc_info=exc)
    return _answer(500, "服务器内部错误 / Internal error", f"{INTERNAL_MSG} (ref {ref})")


# ----------------------------------------------------------------------------- responses


def _wants_json() -> bool:
    return request.path.startswith("/_dash-") or request.is_json


def _answer(status: int, title: str, message: str) -> flask.Response:
    if _wants_json():
        resp = flask.jsonify({"error": message})
        resp.status_code = status
    else:
        resp = flask.make_response(_page(title, message), status)
        resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _page(title: str, message: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · GridAtlas</title>
<link rel="stylesheet" href="/assets/login.css"></head>
<body class="ga-login"><div class="card"><h1>{html.escape(title)}</h1>
<p class="msg" role="alert">{html.escape(message)}</p>
<p><a href="/">返回 / back</a></p></div></body></html>"""


def _plain(text: str, status: int) -> flask.Response:
    resp = flask.make_response(text, status)
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp
