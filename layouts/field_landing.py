"""Where a grid worker lands after signing in on a phone: the field page (/field).

The server cannot see the screen; the browser says it is a phone through the
``Sec-CH-UA-Mobile`` client hint (Chromium) or a phone's user agent (iOS, Android).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PHONE_UA = re.compile(r"iPhone|Android.+Mobile|Mobile Safari|HarmonyOS.+Mobile")


def is_phone(headers: Mapping[str, str]) -> bool:
    """True when the request comes from a phone's browser."""
    if headers.get("Sec-CH-UA-Mobile", "").strip() == "?1":
        return True
    return bool(_PHONE_UA.search(headers.get("User-Agent", "")))


def landing(role: str, nxt: str, headers: Mapping[str, str]) -> str:
    """``/field`` for a grid worker on a phone who was sent to the wall (``/``), else ``nxt``."""
    if role == "grid_worker" and nxt == "/" and is_phone(headers):
        return "/field"
    return nxt
