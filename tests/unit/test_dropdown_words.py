"""Dash's dropdown writes words of its own (its search box, select all, "n selected", no
options found): every dropdown of the app is made by ``layouts.i18n.dropdown``, which gives
it those words in the user's language."""

from __future__ import annotations

import re
from pathlib import Path

from layouts import i18n

LAYOUTS = Path(__file__).resolve().parents[2] / "layouts"


def test_no_page_makes_a_dropdown_without_its_words():
    direct = [f"{p.relative_to(LAYOUTS.parent)}:{n}" for p in LAYOUTS.rglob("*.py") if p.name != "i18n.py"
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"\bDropdown\(", line) and "def " not in line]
    assert not direct, f"use layouts.i18n.dropdown: {direct}"


def test_the_dropdown_speaks_the_language_asked():
    zh = i18n.dropdown("zh", id="x", options=[], multi=True).labels
    en = i18n.dropdown("en", id="x", options=[]).labels
    assert set(zh) == set(en) == {"select_all", "deselect_all", "selected_count", "search", "clear_search",
                                  "clear_selection", "no_options_found"}
    assert all(re.search(r"[\u4e00-\u9fff]", v) and not re.search(r"[A-Za-z]{2,}", v.replace("num_selected", ""))
               for v in zh.values()), zh
    assert "{num_selected}" in zh["selected_count"] and "{num_selected}" in en["selected_count"]
    assert i18n.dropdown("zh", id="y", labels={"search": "找"}).labels == {"search": "找"}  # given words kept
