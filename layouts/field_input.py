"""Checks of the values the field page's browser sends (points, photos, action keys) before
they reach :mod:`geo.incidents`; a bad value is a :class:`FieldInputError` the page shows."""

from __future__ import annotations

import base64
import binascii
import math
import re

from geo.errors import GridAtlasError
from geo.incidents import states as sm

_ACT = re.compile(r"^([A-Za-z0-9_-]{1,64})\|(resolved|escalated)\|([a-z]{1,20})$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FieldInputError(GridAtlasError):
    """A value from the page that is not what the page sends (tampered or stale)."""


def _bad(what: str) -> FieldInputError:
    return FieldInputError(f"输入无效（{what}），请刷新页面后重试 / invalid {what}: reload the page and try again")


def point(value, gcj02_basemap: bool) -> tuple[float, float, str] | None:
    """``(lon, lat, crs)`` of the chosen point: a tap is in the basemap's datum (GCJ-02 when
    ``BASEMAP_GCJ02``), the phone's position is WGS-84. ``None`` when nothing is chosen."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("src") not in ("tap", "gps"):
        raise _bad("location")
    lon, lat = value.get("lon"), value.get("lat")
    if isinstance(lon, bool) or isinstance(lat, bool) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in (lon, lat)):
        raise _bad("location")
    crs = "gcj02" if value["src"] == "tap" and gcj02_basemap else "wgs84"
    return float(lon), float(lat), crs


def photo(contents, max_bytes: int) -> bytes | None:
    """The bytes of an uploaded photo (a ``data:`` URL from dcc.Upload), or ``None``."""
    if contents in (None, ""):
        return None
    if not isinstance(contents, str) or not contents.startswith("data:") or "," not in contents:
        raise _bad("photo")
    if len(contents) > max_bytes * 4 // 3 + 200:
        raise FieldInputError(f"照片超过 {max_bytes // 1024} KB 上限，请重新拍摄 / the photo is larger "
                              f"than {max_bytes // 1024} KB")
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise _bad("photo") from None


def act(index) -> tuple[str, str, str]:
    """``(case code, to_state, state shown)`` from an action button's index."""
    m = _ACT.match(index) if isinstance(index, str) else None
    if m is None or m.group(3) not in sm.STATES:
        raise _bad("action")
    return m.group(1), m.group(2), m.group(3)


def case_code(value) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise _bad("case")
    return value


def text(value, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("text")
    return value[:limit]


def choice(value, allowed) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in allowed:
        raise _bad("choice")
    return value


def gps(value) -> tuple[str, float, float] | None:
    """``(do, lon, lat)`` of a patrol position from the phone: do is start or checkin."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("do") not in ("start", "checkin"):
        raise _bad("location")
    lon, lat = value.get("lon"), value.get("lat")
    if isinstance(lon, bool) or isinstance(lat, bool) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in (lon, lat)):
        raise _bad("location")
    return value["do"], float(lon), float(lat)


_RULE = re.compile(r"\s*\[[\w.]+\]\s*$")


def user_text(exc: GridAtlasError, lang: str) -> str:
    """A service message ``中文 / English [rule]`` in the user's language only."""
    msg = _RULE.sub("", exc.user_msg)
    if " / " in msg:
        zh, en = msg.split(" / ", 1)
        return en.strip() if lang == "en" else zh.strip()
    return msg
