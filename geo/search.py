"""Search helpers: pinyin initials for Chinese place names (和平街道 -> hpjd)."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@lru_cache(maxsize=20000)
def initials(text: str) -> str:
    """Lower-case pinyin initials of the Chinese characters (other characters kept)."""
    return "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()


def initials_match(query: str, label: str | None) -> bool:
    """True when an ASCII query is found in the label's pinyin initials."""
    q = query.strip().lower()
    if not label or not q.isascii() or not q.isalpha():
        return False
    return q in initials(label)
