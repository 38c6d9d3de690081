"""Security headers on every response: a Content-Security-Policy allowing scripts from
this site and Dash's own inline scripts by hash, no framing, ``nosniff``, a same-origin
referrer policy, and HSTS when the cookie is ``Secure`` (``SESSION_COOKIE_SECURE=1``)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

import dash
import flask

from geo.settings import get_settings

_script_hashes: dict[int, list[str]] = {}


def _csp() -> str:
    """The Content-Security-Policy: this site only, Dash's inline scripts by hash."""
    app = flask.current_app.extensions["gridatlas_dash_app"]
    count = len(app._inline_scripts) + len(dash._callback.GLOBAL_INLINE_SCRIPTS)
    if count not in _script_hashes:  # inline scripts only grow, at start-up
        _script_hashes.clear()
        _script_hashes[count] = [_hash(script) for script in app._inline_scripts
                                 + dash._callback.GLOBAL_INLINE_SCRIPTS + [app.renderer]]
    images = ["'self'", "data:", "blob:"]
    tiles = _basemap_origin(get_settings().basemap_url)
    if tiles:
        images.append(tiles)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(_script_hashes[count]),
        # Dash components and plotly set styles at run time
        "style-src 'self' 'unsafe-inline'",
        "img-src " + " ".join(images),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _basemap_origin(url: str | None) -> str | None:
    """The basemap's origin for img-src; a ``{s}`` subdomain becomes a wildcard."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = ".".join("*" if "{" in label else label for label in parts.netloc.split("."))
    return f"{parts.scheme}://{host}"


def security_headers(response: flask.Response) -> flask.Response:
    """Security headers on every response."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _csp())
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if get_settings().session_cookie_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
