"""The demo's accounts can work from the start: `users seed-demo` ties the department account
to the department with the most open cases, so it signs in to a list of its own cases."""

from __future__ import annotations

from geo.access.roles import Principal
from geo.incidents import desk, listing
from geo.incidents import service as svc
from tests.conftest import run_cli

TIED = """SELECT d.code FROM users u JOIN departments d ON d.id = u.department_id
           WHERE u.username = 'demo_department'"""


def test_the_demo_department_account_has_a_department_and_cases(demo_db):
    proc = run_cli("users", "seed-demo", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    busiest = demo_db.scalar(
        """SELECT d.code FROM departments d
             LEFT JOIN incidents i ON i.department_id = d.id AND i.closed_at IS NULL
            GROUP BY d.code ORDER BY count(i.id) DESC, d.code LIMIT 1""")
    assert demo_db.scalar(TIED) == busiest
    actor = svc.actor_by_username("demo_department")
    rows = listing.list_cases(actor, desk.scoped_filter(actor, listing.CaseFilter()))["rows"]
    assert rows and {r["department"] for r in rows} == {busiest}
    # an account an admin tied elsewhere stays there when the demo is seeded again
    other = demo_db.scalar("SELECT code FROM departments WHERE code <> %s ORDER BY code LIMIT 1", (busiest,))
    svc.tie_user_to_department(Principal("t:admin", "admin", None), "demo_department", other)
    assert run_cli("users", "seed-demo", url=demo_db.url).returncode == 0
    assert demo_db.scalar(TIED) == other
