"""Every page as every role, in Chinese: no English words on the screen.

For each role the test signs in through the real form, opens every page the role may open
(geo/access/permissions.py PAGE_ACTIONS), one page it may not (the 403 page) and a path that
does not exist (404), and collects what a person reads: ``document.body.innerText``, every
``title`` and ``placeholder`` attribute (the map controls' tooltips among them). A Latin word
that is not an allowed code or unit, nor a proper name from the data (the demo's OSM road and
building names, the users' names), is a finding; all findings are reported together.

Known findings on pages other engineers are still finishing are listed in ``DEBT`` by page
and word, so the suite stays green while the debt stays visible; remove an entry when its
page is fixed (an entry that no longer matches fails the test, so the list cannot go stale).
"""

from __future__ import annotations

import re

import pytest
from psycopg2 import sql

from geo.access import permissions, users
from geo.access.roles import ROLES, SYSTEM
from tests.browser.conftest import AppServer, login

PW = "Walk-zh-pw-2026"

#: Codes, units and names that are the same in both languages.
ALLOWED = {
    "GridAtlas", "OSM", "OpenStreetMap", "ODbL", "PDF", "CSV", "XLSX", "Excel", "KPI", "API", "GeoJSON",
    "KML", "Shapefile", "GeoPackage", "EPSG", "GPS", "ID", "m", "km", "km²", "m²", "English", "Leaflet", "SOS",
}

#: Known findings on other owners' pages: (page, word). Each is debt to pay on that page.
DEBT: set[tuple[str, str]] = set()

WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def _data_words(db) -> set[str]:
    """Latin words of proper names in the data (OSM road, building, POI names...)."""
    conn = db.connect()
    words: set[str] = set()
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT table_name, column_name FROM information_schema.columns
                            WHERE table_schema = 'public' AND data_type = 'text'
                              AND column_name IN ('name', 'display_name', 'username', 'address')""")
            # account names shown as who acted (the loaders write "demo", the CLI "system")
            cur.execute("SELECT DISTINCT actor FROM audit_log")
            for (value,) in cur.fetchall():
                words |= set(WORD.findall(value or ""))
            cur.execute("""SELECT table_name, column_name FROM information_schema.columns
                            WHERE table_schema = 'public' AND data_type = 'text'
                              AND column_name IN ('name', 'display_name', 'username', 'address')""")
            for table, column in cur.fetchall():
                cur.execute(sql.SQL("SELECT DISTINCT {c} FROM {t} WHERE {c} ~ '[A-Za-z]'").format(
                    c=sql.Identifier(column), t=sql.Identifier(table)))
                for (value,) in cur.fetchall():
                    words |= set(WORD.findall(value or ""))
    finally:
        conn.close()
    return words


def _scope(db, role: str) -> str | None:
    grid = db.scalar("""SELECT min(g.code) FROM grids g JOIN grid_versions v ON v.id = g.version_id
                         AND v.is_current""")
    return {"admin": None, "leader": "990100", "operator": "990100", "street_operator": grid[:9],
            "community_staff": grid[:12], "department": "990100", "grid_worker": grid,
            "planner": "990100"}[role]


@pytest.fixture(scope="module")
def walk_app(demo_db):
    for role in ROLES:
        users.add_user(SYSTEM, f"walk_{role}", role, PW, _scope(demo_db, role))
    server = AppServer(demo_db.url)
    yield server
    server.stop()


_COLLECT = """() => {
  const out = [document.body.innerText];
  document.querySelectorAll('[title], [placeholder]').forEach(el => {
    for (const a of ['title', 'placeholder']) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  });
  out.push(document.title);
  return out.join('\\n');
}"""


def _settle(page) -> None:
    page.wait_for_load_state("networkidle", timeout=60000)
    page.wait_for_function("!document.querySelector('._dash-loading, [data-dash-is-loading=true]')",
                           timeout=60000)
    page.wait_for_timeout(1500)


CHUNK = re.compile(r"[A-Za-z0-9_'’.\-]+")


def _english(text: str, allowed: set[str]) -> set[str]:
    """Latin words not allowed; a chunk holding a digit is a code (D1, 990100001, AU-CASE-1)."""
    found = set()
    for chunk in CHUNK.findall(text):
        if any(ch.isdigit() for ch in chunk):
            continue
        for w in WORD.findall(chunk):
            if w in allowed or len(w) == 1:
                continue
            found.add(w)
    return found


def test_every_page_every_role_in_chinese(walk_app, demo_db, new_page):
    allowed = ALLOWED | _data_words(demo_db) | {f"walk_{r}" for r in ROLES} | {"walk"}
    findings: dict[tuple[str, str], set[str]] = {}
    for role in ROLES:
        page, _ = new_page(locale="zh-CN")
        page.context.add_cookies([{"name": "lang", "value": "zh", "url": walk_app.url}])
        login(page, walk_app.url, f"walk_{role}", PW, "/")
        paths = [p for p, a in permissions.PAGE_ACTIONS.items() if permissions.allowed(role, a)]
        refused = next((p for p, a in permissions.PAGE_ACTIONS.items()
                        if not permissions.allowed(role, a)), None)
        for path in [*paths, *([refused] if refused else []), "/no-such-page"]:
            page.goto(walk_app.url + path)
            _settle(page)
            words = _english(page.evaluate(_COLLECT), allowed)
            page_key = path if path in paths else ("403" if path == refused else "404")
            for w in words:
                findings.setdefault((page_key, w), set()).add(role)
        page.context.close()
    report = sorted(findings.items())
    unexpected = [(k, sorted(v)) for k, v in report if k not in DEBT]
    stale = sorted(DEBT - set(findings))
    print("\n".join(f"{p} {w!r} ({', '.join(sorted(r))})" for (p, w), r in report))
    assert not unexpected, "English words in Chinese mode (page, word, roles):\n" + "\n".join(
        f"  {p}: {w!r} as {', '.join(r)}" for (p, w), r in unexpected)
    assert not stale, f"DEBT entries no longer found, remove them: {stale}"
