"""Grid workers keep or follow their grid through a redraw (demo district on PostGIS).

A grid worker's account is scoped to a grid code; when a redraw retires that code, the
account moves to the grid holding most of the old grid's households, in the commit's
transaction, with its own audit entry.
"""

from __future__ import annotations

from collections import defaultdict

from geo.access import permissions
from geo.access.roles import Principal
from geo.access.users import add_user, get_user
from geo.planning import api
from geo.planning.versions import preview_staff

ADMIN = Principal("test:admin", "admin", None)
COMM = "990100002003"


def rows(tdb, query, params=()):
    conn = tdb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_a_grid_workers_account_follows_its_grid_through_a_fresh_redraw(demo_db):
    prop = api.propose(ADMIN, COMM, mode="fresh", seed=0)
    retired = sorted(set(prop.base_labels.values()) - set(prop.labels.values()))
    assert retired, "the fresh plan keeps every code: pick another community"
    old = retired[0]
    add_user(ADMIN, "worker_a", "grid_worker", "Gridworker-2024!", scope_code=old)
    # the successor: the proposed grid holding most of the old grid's households
    share = defaultdict(lambda: [0, 0])
    for b, c in prop.base_labels.items():
        if c == old:
            share[prop.labels[b]][0] += prop.households[b]
            share[prop.labels[b]][1] += 1
    successor = min(share, key=lambda c: (-share[c][0], -share[c][1], c))

    preview = preview_staff(ADMIN, prop)
    assert {"username": "worker_a", "role": "grid_worker", "from": old, "to": successor} \
        in preview["accounts"]
    assert set(preview["vacant_grids"]) <= set(prop.labels.values())

    before = get_user("worker_a").principal()
    assert not before.covers(successor)
    res = api.commit(ADMIN, prop, allow_out_of_band=True)
    assert {"username": "worker_a", "role": "grid_worker", "from": old, "to": successor} \
        in res.accounts
    after = get_user("worker_a").principal()
    assert after.scope_code == successor
    # the worker sees the successor grid (and nothing of the retired code's neighbours)
    permissions.check(after, "view.incidents", successor)
    (action, target, scope, detail), = rows(demo_db, """
        SELECT action, target, scope_code, detail FROM audit_log
         WHERE action = 'users.scope_follow' AND target = 'worker_a'""")
    assert (action, scope) == ("users.scope_follow", successor)
    assert detail["from"] == old and detail["to"] == successor
    assert detail["version_id"] == res.version_id
    (commit_detail,), = rows(demo_db, "SELECT detail FROM audit_log WHERE id = %s",
                             (res.audit_id,))
    assert any(a["username"] == "worker_a" for a in commit_detail["accounts"])


def test_an_account_whose_grid_keeps_its_code_stays(demo_db):
    cur_codes = [r[0] for r in rows(demo_db, """
        SELECT g.code FROM grids g JOIN grid_versions v ON v.id = g.version_id
          JOIN communities c ON c.id = v.community_id
         WHERE c.code = %s AND v.is_current ORDER BY g.code""", (COMM,))]
    add_user(ADMIN, "worker_b", "grid_worker", "Gridworker-2024!", scope_code=cur_codes[0])
    prop = api.propose(ADMIN, COMM, mode="minimal", seed=0)
    assert prop.churn["households_moved"] == 0
    res = api.commit(ADMIN, prop, allow_out_of_band=True)
    assert res.accounts == []
    assert get_user("worker_b").principal().scope_code == cur_codes[0]
    assert rows(demo_db, "SELECT count(*) FROM audit_log WHERE action = 'users.scope_follow' "
                         "AND target = 'worker_b'")[0][0] == 0
