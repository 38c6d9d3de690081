"""The leaders' review reads through the read pool (``DATABASE_READ_URL``), not the primary.

The read URL names a second copy of the demo database in which one street has another name,
so the page shows which server answered: a figure read from the primary would carry the
primary's name. Sign-in (sessions, users) stays on the primary, which the read copy knows
nothing of. When the read server cannot be reached the page says so and shows no figures
from elsewhere (no silent fallback to the primary), as the wall shows its stale banner.
"""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import sql

from geo.access import users
from geo.access.roles import SYSTEM
from tests.browser.conftest import AppServer, login, screenshot

PW = "Replica-leader-pw1"
READ_NAME = "只读库街道"


@pytest.fixture(scope="module")
def routed_app(pg_server, demo_template, demo_db):
    users.add_user(SYSTEM, "rr_leader", "leader", PW, "990100")  # on the primary only
    read = pg_server.create((demo_db.name + "_read")[:63], template=demo_template.name)
    street = demo_db.scalar("SELECT min(code) FROM streets")
    primary_name = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (street,))
    conn = read.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE streets SET name = %s WHERE code = %s", (READ_NAME, street))
    conn.close()
    server = AppServer(demo_db.url, extra_env={"DATABASE_READ_URL": read.url,
                                               "REPLICA_MAX_LAG_SECONDS": "60"})
    try:
        yield server, read, street, primary_name
    finally:
        server.stop()
        pg_server.drop(read.name)


def _streets_table(page) -> str:
    """The streets' ranking once it is on the page (selector waits outlast the sign-in's
    redirects, which a page function would not)."""
    page.wait_for_selector("#rv-streets table td", timeout=90000)
    return page.inner_text("#rv-streets")


def test_review_reads_come_from_the_read_pool(pg_server, routed_app, new_page):
    server, read, street, primary_name = routed_app
    page, console = new_page(locale="zh-CN")
    login(page, server.url, "rr_leader", PW, "/review?level=street&period=month")
    table = _streets_table(page)
    assert READ_NAME in table and primary_name not in table, table
    screenshot(page, "review-read-pool")
    # the print view (the report's HTML) reads there too
    page.goto(f"{server.url}/review/print?area={street}&period=month")
    page.wait_for_selector("#rvp-frame", state="attached", timeout=60000)
    doc = page.get_attribute("#rvp-frame", "srcdoc") or ""
    assert READ_NAME in doc and primary_name not in doc

    # the read server gone: the page says the database cannot be reached, no other figures
    admin = psycopg2.connect(pg_server.admin_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(read.name)))
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (read.name,))
    admin.close()
    page.goto(f"{server.url}/review?level=street&period=month")
    page.wait_for_function("document.querySelector('#rv-error') && "
                           "document.querySelector('#rv-error').innerText.includes('数据库暂不可用')",
                           timeout=60000)
    text = page.evaluate("document.body.innerText")
    assert READ_NAME not in text and primary_name not in text, text
    assert not [e for e in console.errors if "favicon" not in e], console.errors
