"""Texts of the incident screens that are computed, not looked up: refusals in the user's
language, durations, place and state names."""

from __future__ import annotations

import re
from datetime import datetime

from geo.errors import GridAtlasError
from layouts import strings_incidents  # noqa: F401 (registers the strings)
from layouts.i18n import STRINGS, t

_RULE = re.compile(r"\s*\[[\w.]+\]\s*$")


def user_text(exc: GridAtlasError | str, lang: str) -> str:
    """A service message ``中文 / English [rule]`` in the user's language only."""
    msg = exc.user_msg if isinstance(exc, GridAtlasError) else str(exc)
    msg = _RULE.sub("", msg)
    if " / " in msg:
        zh, en = msg.split(" / ", 1)
        return en.strip() if lang == "en" else zh.strip()
    return msg


def label(prefix: str, key: str | None, lang: str) -> str:
    """``t(prefix.key)`` when registered, else the key itself."""
    if not key:
        return ""
    full = f"{prefix}.{key}"
    return t(full, lang) if full in STRINGS else key


def duration(seconds: float, lang: str) -> str:
    """A duration as 2天3小时 / 2 d 3 h (the two largest units)."""
    seconds = abs(int(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m = max(rest // 60, 0)
    parts = []
    if d:
        parts.append(t("inc.dur.d", lang).format(n=d))
    if h:
        parts.append(t("inc.dur.h", lang).format(n=h))
    if not d and (m or not parts):
        parts.append(t("inc.dur.m", lang).format(n=m))
    return ("" if lang == "en" else "").join(p + (" " if lang == "en" else "") for p in parts).strip()


def time_left(row: dict, now: datetime, lang: str) -> tuple[str, str]:
    """``(text, css class)`` for the time left of a case: 剩余 2小时 / 已超时 30分钟."""
    if row.get("state") == "deferred":
        return t("inc.deferred", lang), "inc-left-deferred"
    due = row.get("due_at")
    if not due or row.get("closed_at"):
        return "", ""
    due_at = datetime.fromisoformat(due) if isinstance(due, str) else due
    left = (due_at - now).total_seconds()
    if left < 0:
        return t("inc.over", lang).format(t=duration(left, lang)), "inc-left-over"
    return t("inc.left", lang).format(t=duration(left, lang)), "inc-left-ok"
