"""An open case created by the incident service follows its point when its community's grids
are redrawn (the planning commit relocates open incidents and keeps the history)."""

from __future__ import annotations

from geo.access.roles import Principal
from geo.incidents import service as svc
from geo.planning import api
from tests.db.incident_fixtures import scalar

COMM = "990100002003"  # 东湖社区, small (see tests/db/test_planning.py)
ADMIN = Principal("test:admin", "admin", None)


def test_open_case_is_relocated_after_a_commit(demo_db):
    conn = demo_db.connect()
    with conn.cursor() as cur:
        cur.execute("""SELECT ST_X(b.pt), ST_Y(b.pt) FROM buildings b
                         JOIN communities c ON c.id = b.community_id
                        WHERE c.code = %s ORDER BY b.code LIMIT 1""", (COMM,))
        lon, lat = cur.fetchone()
        cur.execute("SELECT code FROM incident_categories WHERE parent_id IS NOT NULL ORDER BY code LIMIT 1")
        (category,) = cur.fetchone()
    conn.close()
    actor = svc.Actor(ADMIN)
    case = svc.report(actor, lon=lon, lat=lat, category=category, severity="ordinary",
                      title="重划网格前上报", level="grid")
    closed = svc.report(actor, lon=lon, lat=lat, category=category, severity="ordinary",
                        title="已办结", level="grid")
    closed = svc.transition(actor, closed["code"], "resolved")
    assert case["community_code"] == COMM
    old_grid = scalar(demo_db, "SELECT grid_id FROM incidents WHERE id = %s", (case["id"],))

    prop = api.propose(ADMIN, COMM, mode="fresh", seed=0)
    res = api.commit(ADMIN, prop, note="relocation test", allow_out_of_band=True)

    new_grid, holder = (scalar(demo_db, q, (case["id"], res.version_id)) for q in (
        "SELECT grid_id FROM incidents WHERE id = %s AND %s IS NOT NULL",
        """SELECT g.id FROM grids g, incidents i WHERE i.id = %s AND g.version_id = %s
             AND ST_Intersects(g.geom, i.geom) ORDER BY g.code LIMIT 1"""))
    assert new_grid == holder != old_grid  # in the new version's grid holding its point
    hist = scalar(demo_db, """SELECT array[old_grid_id, new_grid_id] FROM incident_grid_history
                               WHERE incident_id = %s AND version_id = %s""",
                  (case["id"], res.version_id))
    assert hist == [old_grid, new_grid]
    # the closed case stays in the grid that handled it
    assert scalar(demo_db, "SELECT grid_id FROM incidents WHERE id = %s", (closed["id"],)) == old_grid
    shown = svc.show(actor, case["code"])
    assert shown["grid_code"].startswith(COMM) and shown["state"] == "reported"
