"""Every page callback of the real app, asked by users scoped to community A (its street, one
of its grids) for B's places, for patterns and for values of the wrong type: nothing of B
comes back and nothing answers 500.

The app runs as a subprocess on a demo clone (``AppServer``); the users sign in through
/login and post real ``/_dash-update-component`` bodies. A callback without an entry in
``ATTACKS`` fails the test, so a new callback cannot skip its scope test. Each callback also
gets every hostile value in every slot from the first of the users allowed to run it (an
admin, last, only for callbacks none of the scoped users may run, such as /routes).
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from geo.access.roles import SYSTEM
from tests.browser.conftest import ARTIFACTS, AppServer
from tests.conftest import run_cli

A = "990100001001"
B = "990100002001"
PW = "Plan-ner-2026x"
WORLD = [[-89.0, -179.0], [89.0, 179.0]]
# strings where codes are expected, patterns, other types
HOSTILE = [B, B[:9], "9", "%", "_", A + "%", [B], {"community": B, "street": B[:9]}, 990100002001,
           True, "x" * 300]


@pytest.fixture(scope="module")
def world(demo_db):
    from geo.planning import api
    from layouts import plan_store

    conn = demo_db.connect()
    with conn, conn.cursor() as cur:
        cur.execute("""SELECT c.name, c.name_en, s.name, s.name_en FROM communities c
                         JOIN streets s ON s.id = c.street_id WHERE c.code = %s""", (B,))
        names = [n for n in cur.fetchone() if n]
        cur.execute("""SELECT g.code FROM grids g JOIN grid_versions v ON v.id = g.version_id
                        AND v.is_current WHERE g.code LIKE %s ORDER BY g.code LIMIT 1""", (A + "%",))
        a_grid = cur.fetchone()[0]
        cur.execute("""SELECT g.code FROM grids g JOIN grid_versions v ON v.id = g.version_id
                        AND v.is_current WHERE g.code LIKE %s ORDER BY g.code LIMIT 1""", (B + "%",))
        b_grid = cur.fetchone()[0]
        cur.execute("""SELECT DISTINCT g.code FROM grids g JOIN communities c
                         ON c.id = g.community_id WHERE c.code = %s""", (B,))
        b_grids = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT v.id FROM grid_versions v JOIN communities c
                         ON c.id = v.community_id WHERE c.code = %s ORDER BY v.id""", (B,))
        b_versions = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT i.code FROM incidents i JOIN communities c
                         ON c.id = i.community_id WHERE c.code = %s LIMIT 1""", (B,))
        b_incident = cur.fetchone()[0]
        cur.execute("""SELECT cam.code FROM cameras cam JOIN grids g ON g.id = cam.grid_id
                        WHERE g.code LIKE %s LIMIT 1""", (B + "%",))
        b_camera = cur.fetchone()[0]
        cur.execute("""SELECT b.id FROM buildings b JOIN communities c ON c.id = b.community_id
                        WHERE c.code = %s ORDER BY b.id LIMIT 1""", (B,))
        b_building = cur.fetchone()[0]
    conn.close()
    theirs = api.propose(SYSTEM, B, mode="minimal")
    b_plan = plan_store.put(theirs.to_json())  # another community's proposal, by its id
    for name, role, scope in (("s_planner", "planner", A), ("s_leader", "leader", A[:9]),
                              ("s_worker", "grid_worker", a_grid)):
        out = run_cli("users", "add", name, "--role", role, "--scope", scope,
                      "--password-stdin", url=demo_db.url, stdin=PW + "\n")
        assert out.returncode == 0, out.stderr
    # only for the hostile values of callbacks none of the scoped users may run (/routes)
    out = run_cli("users", "add", "s_admin", "--role", "admin", "--password-stdin",
                  url=demo_db.url, stdin=PW + "\n")
    assert out.returncode == 0, out.stderr
    server = AppServer(demo_db.url)
    yield {"url": server.url, "names": names, "b_grid": b_grid, "b_grids": b_grids, "b_versions": b_versions,
           "b_incident": b_incident, "b_camera": b_camera, "b_building": b_building,
           "b_plan": b_plan, "b_building_props": {"id": b_building, "code": "x"}}
    server.stop()


def _session(url: str, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(url + "/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = s.post(url + "/login", data={"username": username, "password": PW,
                                        "csrf_token": token, "next": "/"},
                  allow_redirects=False, timeout=30)
    assert resp.status_code == 302, resp.text[:300]
    return s


def _callbacks(url: str, s: requests.Session) -> dict[str, dict]:
    """Server-side callbacks as the app lists them: output key -> inputs and state."""
    deps = s.get(url + "/_dash-dependencies", timeout=30).json()
    return {d["output"]: d for d in deps if not d.get("clientside_function")}


def _first(key: str) -> str:
    """The first output 'id.property' of a callback key, without Dash's duplicate hash."""
    first = key[2:].split("...")[0] if key.startswith("..") else key
    return first.split("@")[0].rstrip(".")


def _slot_id(spec) -> str:
    return spec["id"] if isinstance(spec["id"], str) else json.dumps(spec["id"])


def _body(key: str, dep: dict, values: dict[str, object], changed: list[str]) -> dict:
    """A /_dash-update-component body; ``values`` by 'id.property' (None elsewhere)."""
    def slot(spec):
        name = f"{_slot_id(spec)}.{spec['property']}"
        if spec["id"].startswith("{"):
            pattern = json.loads(spec["id"])
            hits = values.get(name) or []
            return [{"id": {**pattern, "index": i}, "property": spec["property"], "value": v}
                    for i, v in hits]
        return {"id": spec["id"], "property": spec["property"], "value": values.get(name)}

    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [dict(zip(("id", "property"), p.split("@")[0].rsplit(".", 1), strict=True))
               for p in parts]
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [slot(i) for i in dep["inputs"]], "state": [slot(i) for i in dep["state"]],
            "changedPropIds": changed}


def _attacks(w) -> dict[str, list[dict]]:
    """Per callback (first output): bodies that ask for B in a realistic shape."""
    bf = [{"community": B}, {"street": B[:9]}, {"community": A + "%"}, {"street": "9"}, "9",
          [A], {"community": A, "street": B[:9]}]
    click = {"cmd-grids.clickData": {"properties": {"code": w["b_grid"]}},
             "cmd-cameras.clickData": {"properties": {"code": w["b_camera"]}},
             "cmd-incidents.clickData": {"properties": {"code": w["b_incident"]}},
             "cmd-police.clickData": {"properties": {"code": "%", "name": "x"}}}
    plan = w["b_plan"]
    street_keys = [{"street": st, "plans": [{"code": B, "name": "x", "key": plan}]} for st in (B[:9], A[:9])]
    street_keys += [{"street": "9", "plans": "x"}, {"street": A[:9], "plans": [{"code": A, "key": "%"}]}, [B]]
    return {
        "_pages_content.children": [{"_pages_location.pathname": path,
                                     "_pages_location.search": search}
                                    for path in ("/", "/plan", "/review", "/incidents", "/field")
                                    for search in (f"?community={B}", f"?street={B[:9]}",
                                                   "?community=%25", "?lat=x&z=%5B%5D")],
        # the incident desk (layouts/pages/incidents.py): B's places as filters, B's case by code
        "inc-table.children": [{"inc-f-street.value": [B[:9]]}, {"inc-f-community.value": [B]},
                               {"inc-f-grid.value": [w["b_grid"]]}, {"inc-f-text.value": w["b_incident"]},
                               {"inc-f-community.value": ["%"], "inc-f-street.value": ["_"]},
                               {"inc-f-text.value": "%", "inc-f-sort.value": "code; drop"},
                               {"inc-f-dates.start_date": "2026-13-45", "inc-f-state.value": [9]},
                               {"inc-next.n_clicks": 1, "inc-page.data": 2**40},
                               {"inc-selected.data": w["b_incident"], "inc-view.value": "x"}],
        "inc-f-state.value": [{"inc-reset.n_clicks": 1, "inc-f-department.value": v,
                               "inc-f-department.disabled": True} for v in ("9", "%", [B])],
        "inc-selected.data": [{'{"index":["ALL"],"type":"inc-row"}.n_clicks': [(v, 1)]}
                              for v in (w["b_incident"], "%", "x" * 300)]
        + [{'{"index":["ALL"],"type":"inc-case-close"}.n_clicks': [(w["b_incident"], 1)]}],
        "inc-case.children": [{"inc-selected.data": v, "inc-refresh.data": 1}
                              for v in (w["b_incident"], "9", "%", "_", [w["b_incident"]], 990100002001)],
        "inc-act-msg.children": [{'{"index":["ALL"],"type":"inc-act"}.n_clicks': [(a, 1)],
                                  '{"index":["ALL"],"type":"inc-field"}.value': [(f"{a}:note", "n"),
                                                                                 (f"{a}:department", "%")],
                                  "inc-case-ver.data": v}
                                 for a in ("dispatch", "resolve", "x")
                                 for v in ({"code": w["b_incident"], "version": 1}, {"code": "%"},
                                           {"code": [w["b_incident"]], "version": "x"}, w["b_incident"])],
        '{"index":["MATCH"],"type":"inc-photo-name"}.children': [
            {'{"index":["MATCH"],"type":"inc-photo"}.filename': [("resolve", w["b_incident"] + ".png")]}],
        # the routing table (layouts/pages/routes.py): a route for B's street
        "routes-table.children": [{"routes-boot.data": 1}],
        "routes-msg.children": [{"routes-save.n_clicks": 1, "routes-category.value": c,
                                 "routes-street.value": st, "routes-department.value": d}
                                for c, st, d in (("x", B[:9], "x"), ("%", "%", "%"), ("_", "9", "_"),
                                                 (["x"], [B[:9]], {"code": "x"}))],
        # the review (layouts/pages/review.py, review_print.py, review_signoff.py): B's areas
        "rv-state.data": [{"rv-areas.clickData": {"properties": {"code": v}}, "rv-state.data": st}
                          for v in (B, B[:9], w["b_grid"], "9", "%", [B]) for st in (None, {"area": B})]
        + [{'{"index":["ALL"],"type":"rv-crumb"}.n_clicks': [(v, 1)]} for v in (B, B[:9], "%")]
        + [{"rv-level.value": "grid", "rv-state.data": {"area": v, "level": "grid"}} for v in (B, "%", [B])],
        "rv-areas.data": [{"rv-state.data": {"area": a, "level": lv}, "rv-period.value": "month"}
                          for a in (B, B[:9], "9", "%", "_", [B]) for lv in ("community", "grid", "x")]
        + [{"rv-state.data": {"area": A, "level": "grid"}, "rv-period.value": "custom",
            "rv-from.value": "2026-13-45", "rv-to.value": [1]}],
        # the rankings, read once the view's figures have arrived (a metric change is clientside)
        "rv-rows.data": [{"rv-figs.data": {"figs": {}}, "rv-state.data": {"area": a, "level": "grid"},
                          "rv-period.value": "month"} for a in (B, B[:9], "9", "%", "_", [B])],
        "rv-download.data": [{'{"index":["ALL"],"type":"rv-export"}.n_clicks': [(v, 1)],
                              "rv-rows.data": {"streets": [{"code": "x"}], "communities": "x"}}
                             for v in ("streets-csv", "communities-xlsx", "x-y", 9)],
        # the PDF report as a background job (layouts/review_pdf_job.py): B's areas at the
        # submission, a forged user token or B's area for the job itself
        "rv-pdf-job.data": [{"rv-pdf.n_clicks": 1, "rv-state.data": {"area": v}, "rv-period.value": p}
                            for v in (B, B[:9], "9", "%", [B]) for p in ("month", "x")],
        "rv-pdf-download.data": [{"rv-pdf-job.data": v} for v in (
            {"token": "x", "args": {"area": A, "period": "month"}},
            {"token": None, "args": {"area": B, "period": "month"}}, "x", [B])],
        "rv-pdf-status.children": [{"rv-pdf-cancel.n_clicks": 1}],
        "rv-pdf-cancel.id": [{"rv-pdf-cancel.n_clicks": 1}],
        # /review/print's PDF, the same job (layouts/pdf_job.py): B's areas at the click, a forged
        # user token or B's area for the job itself
        "rvp-pdf-job.data": [{"rvp-pdf.n_clicks": 1, "rvp-args.data": {"area": v, "period": "month"}}
                             for v in (B, B[:9], "9", "%", [B])],
        "rvp-pdf-download.data": [{"rvp-pdf-job.data": v} for v in (
            {"token": "x", "args": {"area": A, "period": "month"}},
            {"token": None, "args": {"area": B, "period": "month"}}, "x", [B])],
        "rvp-pdf-status.children": [{"rvp-pdf-cancel.n_clicks": 1}],
        "rvp-pdf-cancel.id": [{"rvp-pdf-cancel.n_clicks": 1}],
        # the department scorecard and patrol coverage on the review, the ranking sheet's PDF
        "rv-sc-table.children": [{"rv-area-name.children": "x", "rv-state.data": {"area": a, "level": "grid"},
                                  "rv-period.value": p,
                                  "rv-from.value": f, "rv-to.value": [1]}
                                 for a in (B, B[:9], "9", "%", "_", [B]) for p, f in (("month", None),
                                                                                       ("range", "2026-13-45"))],
        "rv-pc-table.children": [{"rv-area-name.children": "x", "rv-state.data": {"area": a, "level": "grid"},
                                  "rv-period.value": p,
                                  "rv-from.value": f, "rv-to.value": [1]}
                                 for a in (B, B[:9], "9", "%", "_", [B]) for p, f in (("month", None),
                                                                                       ("range", "2026-13-45"))],
        "rvp-sc-pdf-job.data": [{"rvp-sc-pdf.n_clicks": 1, "rvp-args.data": {"area": v, "period": p}}
                                for v in (B, B[:9], "9", "%", [B]) for p in ("month", "x")],
        "rvp-sc-pdf-download.data": [{"rvp-sc-pdf-job.data": v} for v in (
            {"token": "x", "args": {"area": A[:9], "period": "month"}},
            {"token": None, "args": {"area": B[:9], "period": "month"}}, "x", [B])],
        "rvp-sc-pdf-status.children": [{"rvp-sc-pdf-cancel.n_clicks": 1}],
        "rvp-sc-pdf-cancel.id": [{"rvp-sc-pdf-cancel.n_clicks": 1}],
        "rv-so-community.options": [{"rv-so-community.id": "rv-so-community"}],
        "rv-so-a.options": [{"rv-so-community.value": v} for v in (B, B[:9], "9", "%", "_", [B])],
        "rv-so-grids-a.data": [{"rv-so-community.value": c, "rv-so-a.value": a, "rv-so-b.value": b}
                               for c in (B, A, "%") for a, b in ((w["b_versions"][0], w["b_versions"][-1]),
                                                                 ("1", [2]), (2**40, 1))],
        "audit-table.children": [{"audit-dates.start_date": "2026-13-45"},
                                 {"audit-dates.end_date": "2026-02-30", "audit-actor.value": "%"},
                                 {"audit-action.value": ["grids"]}],
        "plan-community.options": [{"plan-boot.data": {"community": B}}, {"plan-boot.data": "9"}],
        "plan-current.data": [{"plan-community.value": v, "plan-id.data": plan}
                              for v in (B, "9", "%", "_", A + "%", A[:9], [B])],
        "plan-id.data": [{"plan-run.n_clicks": 1, "plan-community.value": B}],
        "plan-proposed.data": [{"plan-id.data": plan}, {"plan-id.data": [plan]}],
        "plan-maps.className": [{"plan-view.value": "<b>"}],
        "plan-selected.data": [{"plan-buildings.clickData": {"properties": w["b_building_props"]},
                                "plan-id.data": plan}],
        "plan-rev.data": [{"plan-move.n_clicks": 1, "plan-id.data": plan,
                           "plan-selected.data": w["b_building"],
                           "plan-move-to.value": w["b_grid"]}],
        "plan-commit-msg.children": [{"plan-commit.n_clicks": 1, "plan-id.data": plan,
                                      "plan-community.value": B}],
        "plan-download.data": [{"plan-export.n_clicks": 1, "plan-id.data": plan,
                                "plan-export-fmt.value": "csv"},
                               {"plan-export.n_clicks": 1, "plan-id.data": plan,
                                "plan-export-fmt.value": "kml"}],
        "plan-versions.children": [{"plan-community.value": v} for v in (B, "9", "%", "_")],
        "plan-compare.children": [{"plan-cmp-a.value": w["b_versions"][0],
                                   "plan-cmp-b.value": w["b_versions"][-1]},
                                  {"plan-cmp-a.value": "1", "plan-cmp-b.value": [2]}],
        "plan-cancel.id": [{"plan-cancel.n_clicks": 1}],
        # the first view (layouts/plan_scope.py): the scope's communities; a click chooses one
        "plan-scope.data": [{"plan-community.value": v} for v in (None, "", B, "9", "%", [B])],
        "plan-community.value": [{"plan-scope.clickData": {"properties": {"code": v}}}
                                 for v in (B, B[:9], "9", "%", [B], None)]
        + [{"plan-scope.clickData": v} for v in ("x", [B], {"properties": B})],
        "cmd-districts.data": [{"cmd-filters.data": f, "cmd-boot.data": {"fit": True}} for f in bf]
        + [{"cmd-boot.data": {"view": ["a", "b"]}}, {"cmd-boot.data": {"view": [1, 2, "z"]}}],
        "cmd-grids.data": [{"cmd-map.zoom": 18, "cmd-filters.data": f} for f in bf]
        + [{"cmd-map.zoom": "18"}, {"cmd-map.zoom": 18, "cmd-zoom-band.data": "x"}],
        "cmd-filters.data": [{"cmd-f-community.value": B}],
        "cmd-inc-raw.data": [{"cmd-map.bounds": WORLD, "cmd-map.zoom": 18,
                                "cmd-filters.data": f, "cmd-layers.overlays": ["密度", "density"]}
                               for f in [None, *bf]]
        + [{"cmd-map.bounds": WORLD, "cmd-map.zoom": 12},
           {"cmd-map.bounds": [[1, 2]], "cmd-map.zoom": 18},
           {"cmd-map.bounds": [["a", "b"], ["c", "d"]], "cmd-map.zoom": 18},
           {"cmd-map.bounds": "x", "cmd-map.zoom": 18},
           {"cmd-map.bounds": WORLD, "cmd-map.zoom": "z"},
           {"cmd-map.bounds": [[90, 0], [-90, 1]], "cmd-map.zoom": 18},
           {"cmd-done.data": "x", "cmd-map.bounds": WORLD, "cmd-map.zoom": 18}],
        "cmd-buildings.data": [{"cmd-map.bounds": WORLD, "cmd-map.zoom": 18, "cmd-filters.data": f}
                               for f in [None, *bf]]
        + [{"cmd-map.bounds": [[1]], "cmd-map.zoom": 18}, {"cmd-map.bounds": WORLD,
                                                           "cmd-map.zoom": [18]}],
        "cmd-search-results.children": [{"cmd-search.value": v, "cmd-filters.data": f}
                                        for v in [*w["names"], B, "%", "_", "9", ["x"]]
                                        for f in (None, {"community": B})],
        "cmd-map.viewport": [{'{"index":["ALL"],"type":"cmd-search-hit"}.n_clicks': [(0, 1)],
                              "cmd-search.value": v, "cmd-filters.data": f}
                             for v in [*w["names"], B, "%"] for f in (None, {"community": B})],
        "cmd-roads.data": [{"cmd-map.bounds": WORLD, "cmd-map.zoom": 18,
                            "cmd-layers.overlays": ["道路", "Roads"], "cmd-filters.data": f}
                           for f in [None, *bf]]
        + [{"cmd-map.bounds": [[1]], "cmd-map.zoom": 18, "cmd-layers.overlays": ["道路"]},
           {"cmd-map.bounds": WORLD, "cmd-map.zoom": "z", "cmd-layers.overlays": ["道路"]},
           {"cmd-map.bounds": WORLD, "cmd-map.zoom": 18, "cmd-layers.overlays": "道路"}],
        "cmd-net-layers.children": [{"cmd-boot.data": {"fit": True}}],
        '{"index":["ALL"],"type":"cmd-net"}.data': [
            {"cmd-map.bounds": WORLD, "cmd-map.zoom": 16, "cmd-net-layers.overlays": ["x"],
             "cmd-net-list.data": [{"id": 1, "name": "x"}, {"id": "1; --", "name": "y"}]}],
        "cmd-patrols.data": [{"cmd-trigger.data": 1, "cmd-layers.overlays": ["巡查中的网格员"]}],
        "cmd-alerts.children": [{"cmd-trigger.data": 1, "cmd-filters.data": f} for f in [None, *bf]]
        + [{'{"index":["ALL"],"type":"cmd-alert-ack"}.n_clicks': [(i, 1)]}
           for i in (1, "1", 2**70, -1)]
        + [{"cmd-alert-ack-all.n_clicks": 1, "cmd-alert-ids.data": v}
           for v in ([1, 2], "x", [True], [2**70], list(range(500)))],
        "cmd-panel.children": [{k: v, "cmd-filters.data": f} for k, v in click.items()
                               for f in (None, {"community": B})]
        + [{'{"index":["ALL"],"type":"cmd-dispatch"}.n_clicks': [(f"{w['b_incident']}@1", 1)]},
           {'{"index":["ALL"],"type":"cmd-urge"}.n_clicks': [(f"{w['b_incident']}@1", 1)]},
           {'{"index":["ALL"],"type":"cmd-urge"}.n_clicks': [("x@y@z", 1)]}],
        # the field page (layouts/pages/field.py): B's cases by code, bad points and photos
        "field-grid.data": [{"field-config.data": {"gcj02": True}}],
        "field-inbox.children": [{"field-inbox-rev.data": 0}],
        "field-inbox-msg.children": [{'{"index":["ALL"],"type":"field-act"}.n_clicks': [(v, 1)]}
                                     for v in (f"{w['b_incident']}|escalated|reported",
                                               f"{w['b_incident']}|resolved|escalated", "x|y|z", "%|%|%")],
        "field-report-msg.children": [{'{"index":["ALL"],"type":"field-attach"}.n_clicks': [(v, 1)]}
                                      for v in (w["b_incident"], "%", "x" * 300)]
        + [{"field-submit.n_clicks": 1, "field-point.data": p, "field-category.value": "x",
            "field-title.value": "t", "field-photo.contents": ph}
           for p in ({"lon": 1, "lat": 2, "src": "tap"}, {"lon": "x", "lat": 2, "src": "gps"}, "9")
           for ph in (None, "data:image/png;base64,!!!", "data:x")],
        "field-patrol.children": [{"field-patrol-rev.data": 0}],
        "field-patrol-msg.children": [{"field-patrol-gps.data": g}
                                      for g in ({"do": "checkin", "lon": 1, "lat": 2}, {"do": "x"}, "9")]
        + [{"field-patrol-end.n_clicks": 1}],
        "plan-restore": [{"plan-restore-yes.n_clicks": 1, "plan-restore-pending.data": v}
                         for v in [*w["b_versions"], "1", 2**40, True]],
        "plan-restore-ask.children": [{'{"index":["ALL"],"type":"plan-restore"}.n_clicks': [(v, 1)],
                                       "plan-community.value": c}
                                      for v in [*w["b_versions"], "1", 2**40] for c in (A, B)],
        "plan-move-preview.children": [{"plan-move-to.value": w["b_grid"], "plan-id.data": plan,
                                        "plan-selected.data": w["b_building"]}],
        "plan-net-layer.children": [{"plan-nets.value": ["x"], "plan-community.value": v}
                                    for v in (B, "9", "%", [B])],
        "plan-net-table.children": [{"plan-net-pick.value": "x", "plan-community.value": v,
                                     "plan-id.data": plan} for v in (B, A, "%")],
        # respecting a network (layouts/plan_respect.py): B's plan compared, odd option lists
        "plan-respect-cmp.children": [{"plan-id.data": plan, "plan-respect.value": v}
                                      for v in ("x", None, [B])],
        "plan-respect.options": [{"plan-net-pick.options": v}
                                 for v in ([{"label": "x", "value": "x"}, "y", {"value": 1}], "x")],
        # a street's rebalance (layouts/plan_street.py): B's street, not street codes
        "plan-street.options": [{"plan-boot.data": {"community": B}}],
        "plan-street-run.disabled": [{"plan-street.value": v} for v in (B[:9], "%", [B])],
        "plan-street-results.children": [{"plan-street-run.n_clicks": 1, "plan-street.value": v}
                                         for v in (B[:9], "9", "%", [B])],
        "plan-street-cancel.id": [{"plan-street-cancel.n_clicks": 1}],
        # committing the whole street (layouts/plan_street_commit.py): B's proposal, B's street
        "plan-street-commit-box.hidden": [{"plan-street-keys.data": v} for v in street_keys],
        "plan-street-ask.children": [{"plan-street-commit.n_clicks": 1, "plan-street-keys.data": v,
                                      "plan-street-accept-band.value": ["yes"]} for v in street_keys],
        "plan-street-outcome.children": [{"plan-street-yes.n_clicks": 1, "plan-street-keys.data": v,
                                          "plan-street-note.value": "x"} for v in street_keys],
        # the /import page (layouts/pages/import_page.py, import_job.py): no user here but the
        # admin may import (data.import), so the bodies below meet 403 and the admin the hostile values
        "imp-token.data": [{"imp-boot.data": {"lang": "zh"}}],
        "imp-upload.data": [{"imp-file.contents": "data:x;base64,!!!", "imp-file.filename": "a.geojson"}],
        "imp-preview.children": [{"imp-upload.data": v, "imp-kind.value": "buildings"} for v in ("x", B)],
        "imp-result.children": [{"imp-run.n_clicks": 1, "imp-upload.data": "x"}],
        "imp-cancel.id": [{"imp-cancel.n_clicks": 1}],
    }


def _changed(dep: dict, values: dict) -> list[str]:
    out = []
    for spec in dep["inputs"]:
        name = f"{_slot_id(spec)}.{spec['property']}"
        if name in values:
            if spec["id"].startswith("{"):
                out += [json.dumps({**json.loads(spec["id"]), "index": i}, separators=(",", ":"),
                                   sort_keys=True) + "." + spec["property"] for i, _ in values[name]]
            else:
                out.append(name)
    return out


def _leaks(text: str, w, sent: str = "") -> list[str]:
    """B's names, codes and grid codes in an answer; a code the request itself carried may
    come back as the page's own state (a store, a hideout), B's names never."""
    codes = [B, w["b_incident"], w["b_camera"], *w["b_grids"]]
    return ([n for n in w["names"] if n in text]
            + [c for c in codes if c in text and c not in sent])


def _target(key: str) -> str:
    first = _first(key)
    return "plan-restore" if first == "plan-commit-msg.children" and not key.startswith("..") \
        else first


def test_every_callback_refuses_b_and_bad_input(world):
    url = world["url"]
    attacks = _attacks(world)
    failures = []
    hostile_done = set()  # callbacks that had the hostile values, from the first user let in
    for username in ("s_planner", "s_leader", "s_worker", "s_admin"):
        s = _session(url, username)
        callbacks = _callbacks(url, s)
        keys = {_target(k) for k in callbacks}
        assert keys == set(attacks), ("callbacks without a scope test", keys ^ set(attacks))
        for key, dep in callbacks.items():
            # the admin sees B by right: it only takes the hostile values no one else could send
            bodies = list(attacks[_target(key)]) if username != "s_admin" else []
            probe = s.post(url + "/_dash-update-component", json=_body(key, dep, {}, []), timeout=120)
            if probe.status_code >= 500:
                failures.append((username, _first(key), "{}", probe.status_code))
            if key not in hostile_done and probe.status_code != 403:  # every slot, every hostile value
                hostile_done.add(key)
                for spec in dep["inputs"] + dep["state"]:
                    if spec["id"].startswith("{"):
                        continue
                    for value in HOSTILE:
                        if spec["id"] == "_pages_location":
                            # the router's own path handling is layouts/auth.py's (a path
                            # without a leading "/"); its scope is what is tested here
                            value = "/" + value if isinstance(value, str) else value
                        bodies.append({f"{spec['id']}.{spec['property']}": value})
            for values in bodies:
                body = _body(key, dep, values, _changed(dep, values))
                resp = s.post(url + "/_dash-update-component", json=body, timeout=120)
                what = (username, _first(key), json.dumps(values, ensure_ascii=False)[:120])
                if resp.status_code >= 500:
                    failures.append((*what, resp.status_code))
                elif username != "s_admin" and _leaks(resp.text, world, json.dumps(values)):
                    failures.append((*what, "leaks", _leaks(resp.text, world, json.dumps(values))))
    (ARTIFACTS / "scope-callbacks-failures.txt").write_text(
        "\n".join(map(repr, failures)), encoding="utf-8")
    assert hostile_done == set(callbacks), ("never given the hostile values", set(callbacks) - hostile_done)
    assert failures == [], failures[:20]


def test_a_is_served(world):
    """The same callbacks do answer inside the scope (so the test above can fail)."""
    s = _session(world["url"], "s_planner")
    dep = _callbacks(world["url"], s)
    key = next(k for k in dep if _first(k) == "plan-current.data")
    resp = s.post(world["url"] + "/_dash-update-component",
                  json=_body(key, dep[key], {"plan-community.value": A}, ["plan-community.value"]),
                  timeout=120)
    assert resp.status_code == 200 and A in resp.text
    key = next(k for k in dep if _first(k) == "cmd-inc-raw.data")
    resp = s.post(world["url"] + "/_dash-update-component",
                  json=_body(key, dep[key], {"cmd-map.bounds": WORLD, "cmd-map.zoom": 18},
                             ["cmd-map.bounds"]), timeout=120)
    assert resp.status_code == 200 and '"Feature"' in resp.text
