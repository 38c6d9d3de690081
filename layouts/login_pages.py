"""The sign-in pages' HTML: the form, the plain page frame shared with the password page
and the refusal pages, the CSRF token, safe redirects and the client's address.

Plain HTML (no Dash): these pages must work before anyone is signed in and when the
Dash app cannot be served. The routes themselves are in :mod:`layouts.auth`.
"""

from __future__ import annotations

import html
import ipaddress
import secrets
from urllib.parse import urlsplit

import flask
from flask import request, session

from geo.settings import get_settings


def safe_next(target: str | None) -> str:
    """Only same-site paths: no open redirects."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def client_address() -> str:
    """The client's address: the socket peer, or, with ``TRUSTED_PROXY_HEADER`` set, the
    last address in that header (the one the trusted proxy itself wrote)."""
    header = get_settings().trusted_proxy_header
    if header:
        last = request.headers.get(header, "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return request.remote_addr or "-"


def login_form(nxt: str, message: str, status: int, username: str = ""):
    token = csrf_token()
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
    return page("登录 · GridAtlas", body, status)


def page(title: str, body: str, status: int, lang: str = "zh-CN"):
    page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="/_favicon.ico">
<link rel="stylesheet" href="/assets/login.css"></head>
<body class="ga-login">{body}</body></html>"""
    resp = flask.make_response(page, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp
