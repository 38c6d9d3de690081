"""Open311 GeoReport v2 over real HTTP: the running app on a demo clone, a real client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from geo.access import apikeys
from geo.access.roles import SYSTEM
from geo.gcj02 import wgs84_to_gcj02
from tests.browser.conftest import AppServer

BASE = "/open311/v2"


@pytest.fixture(scope="module")
def world(demo_db):
    key = apikeys.create(SYSTEM, "hotline-12345")
    conn = demo_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        # a point well inside a grid of the demo district, and a leaf category routed somewhere
        cur.execute("""SELECT ST_X(p), ST_Y(p) FROM (
                           SELECT ST_PointOnSurface(g.geom) AS p FROM grids g
                             JOIN grid_versions v ON v.id = g.version_id AND v.is_current
                            ORDER BY g.code LIMIT 1) x""")
        lon, lat = cur.fetchone()
        cur.execute("""SELECT c.code FROM incident_categories c
                        WHERE NOT EXISTS (SELECT 1 FROM incident_categories k WHERE k.parent_id = c.id)
                        ORDER BY c.code LIMIT 2""")
        cats = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT ST_XMax(geom) + 0.05, ST_YMax(geom) + 0.05 FROM districts LIMIT 1")
        outside = cur.fetchone()
    conn.close()
    server = AppServer(demo_db.url)
    yield {"url": server.url + BASE, "key": key, "lon": lon, "lat": lat, "cats": cats,
           "outside": outside, "db": demo_db}
    server.stop()


def _counts(tdb) -> tuple:
    conn = tdb.connect()
    with conn.cursor() as cur:
        cur.execute("""SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_events),
                              (SELECT count(*) FROM audit_log), (SELECT count(*) FROM open311_requests)""")
        row = cur.fetchone()
    conn.close()
    return row


def _form(w, **over) -> dict:
    form = {"api_key": w["key"], "service_code": w["cats"][0], "lat": f"{w['lat']:.7f}",
            "long": f"{w['lon']:.7f}", "description": "人行道上有积水 test", "first_name": "小明",
            "last_name": "王", "phone": "13800138000"}
    form.update(over)
    return {k: v for k, v in form.items() if v is not None}


def _no_personal(text: str) -> None:
    assert "13800138000" not in text and "王 小明" not in text and "小明" not in text


def test_discovery_and_services(world):
    r = requests.get(world["url"] + "/discovery.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["endpoints"][0]["url"].endswith(BASE)
    r = requests.get(world["url"] + "/services.json", timeout=10)
    services = r.json()
    codes = {s["service_code"] for s in services}
    assert set(world["cats"]) <= codes
    conn = world["db"].connect()
    with conn.cursor() as cur:  # leaves only: no category that is someone's parent
        cur.execute("SELECT DISTINCT p.code FROM incident_categories c JOIN incident_categories p"
                    " ON p.id = c.parent_id")
        parents = {r[0] for r in cur.fetchall()}
    conn.close()
    assert parents and not (codes & parents)


def test_post_creates_a_filed_case_and_a_retry_returns_it(world):
    before = _counts(world["db"])
    headers = {"Idempotency-Key": "call-20240501-0001"}
    r1 = requests.post(world["url"] + "/requests.json", data=_form(world), headers=headers, timeout=10)
    assert r1.status_code == 201, r1.text
    code = r1.json()[0]["service_request_id"]
    r2 = requests.post(world["url"] + "/requests.json", data=_form(world), headers=headers, timeout=10)
    assert r2.status_code == 200 and r2.json()[0]["service_request_id"] == code
    assert _counts(world["db"])[0] == before[0] + 1
    assert world["db"].scalar("SELECT count(*) FROM incidents WHERE code = %s", (code,)) == 1
    assert world["db"].scalar("SELECT state || '/' || level FROM incidents WHERE code = %s",
                              (code,)) == "filed/district"
    # stored, never answered
    assert world["db"].scalar("SELECT reporter_phone FROM incidents WHERE code = %s",
                              (code,)) == "13800138000"
    one = requests.get(world["url"] + f"/requests/{code}.json", timeout=10)
    assert one.status_code == 200
    req = one.json()[0]
    assert req["status"] == "open" and req["status_notes"].startswith("已立案")
    assert req["expected_datetime"] is None  # not dispatched yet
    _no_personal(one.text)
    # the same key with other fields is refused, nothing written
    n = _counts(world["db"])
    r3 = requests.post(world["url"] + "/requests.json", data=_form(world, description="别的"),
                       headers=headers, timeout=10)
    assert r3.status_code == 422 and r3.json()[0]["code"] == 422
    assert _counts(world["db"]) == n


def test_concurrent_retries_make_one_case(world):
    before = _counts(world["db"])[0]
    headers = {"Idempotency-Key": "race-key-7"}
    form = _form(world, description="同时重试")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: requests.post(world["url"] + "/requests.json", data=form,
                                                        headers=headers, timeout=20), range(6)))
    ids = {a.json()[0]["service_request_id"] for a in answers}
    assert len(ids) == 1 and sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert _counts(world["db"])[0] == before + 1


@pytest.mark.parametrize("case", [
    ("no key", {"api_key": None}, 401),
    ("bad key", {"api_key": "ga_not-a-real-key"}, 401),
    ("no location", {"lat": None, "long": None}, 400),
    ("bad latitude", {"lat": "north"}, 400),
    ("unknown service", {"service_code": "NO-SUCH-CODE"}, 400),
    ("outside the district", {"outside": True}, 400),
    ("unknown coordinate system", {"coordinate_system": "bd09"}, 400),
    ("bad severity", {"severity": "urgent"}, 400),
], ids=lambda c: c[0])
def test_refused_posts_answer_the_spec_body_and_write_nothing(world, case):
    _name, over, status = case
    if over.pop("outside", False):
        over = {"long": str(world["outside"][0]), "lat": str(world["outside"][1])}
    before = _counts(world["db"])
    r = requests.post(world["url"] + "/requests.json", data=_form(world, **over),
                      headers={"Idempotency-Key": f"refused-{_name}"}, timeout=10)
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and body[0]["code"] == status and body[0]["description"]
    assert _counts(world["db"]) == before


@pytest.mark.parametrize("query", ["start_date=yesterday", "end_date=2024-13-45",
                                   "page=0", "page_size=5000", "status=pending",
                                   "service_code=NO-SUCH-CODE",
                                   "start_date=2024-05-02&end_date=2024-05-01"])
def test_malformed_get_is_400_with_the_spec_body(world, query):
    r = requests.get(world["url"] + "/requests.json?" + query, timeout=10)
    assert r.status_code == 400 and r.json()[0]["code"] == 400


def test_unknown_request_is_404_with_the_spec_body(world):
    r = requests.get(world["url"] + "/requests/SJ000.json", timeout=10)
    assert r.status_code == 404 and r.json()[0]["code"] == 404


def test_get_filters_and_pages(world):
    url = world["url"] + "/requests.json"
    # three new cases of the second category, one given in GCJ-02
    made = []
    for i in range(3):
        lon, lat = world["lon"] + 0.00002 * i, world["lat"]
        over = {"service_code": world["cats"][1], "description": f"分页测试 {i}"}
        if i == 2:
            glon, glat = wgs84_to_gcj02(lon, lat)
            over.update({"long": f"{glon:.8f}", "lat": f"{glat:.8f}", "coordinate_system": "gcj02"})
        r = requests.post(url, data=_form(world, **over), timeout=10)
        assert r.status_code == 201, r.text
        made.append(r.json()[0]["service_request_id"])
    # the GCJ-02 point is stored as WGS-84 (within a metre of the point it came from)
    d = world["db"].scalar(
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
        " FROM incidents WHERE code = %s", (world["lon"] + 0.00004, world["lat"], made[2]))
    assert d < 1.0
    # the second and third are within 50 m of an open case of the same category: flagged
    flagged = world["db"].scalar("SELECT count(*) FROM incidents WHERE code = ANY(%s) AND"
                                 " possible_duplicate_of IS NOT NULL", (made,))
    assert flagged == 2

    r = requests.get(url, params={"service_code": world["cats"][1], "status": "open"}, timeout=10)
    got = r.json()
    assert r.status_code == 200 and [g["service_request_id"] for g in got[:3]] == made[::-1]
    assert {g["service_code"] for g in got} == {world["cats"][1]}
    assert {g["status"] for g in got} == {"open"}
    _no_personal(r.text)
    for g in got:
        assert not ({"first_name", "last_name", "phone", "email", "reporter_name"} & set(g))

    pages = [requests.get(url, params={"service_code": world["cats"][1], "page_size": 2,
                                       "page": p}, timeout=10).json() for p in (1, 2)]
    assert len(pages[0]) == 2 and pages[0][0]["service_request_id"] == made[2]
    assert pages[1][0]["service_request_id"] == made[0]

    # the demo's history: closed cases exist, and the default window is the last 90 days
    closed = requests.get(url, params={"status": "closed", "page_size": 1000}, timeout=10).json()
    assert closed and {c["status"] for c in closed} == {"closed"}
    n_all = world["db"].scalar("SELECT count(*) FROM incidents WHERE reported_at >= now() - interval"
                               " '90 days'")
    default = requests.get(url, timeout=30).json()
    assert len(default) == min(n_all, 1000)
    # a window with nothing in it
    empty = requests.get(url, params={"start_date": "2001-01-01", "end_date": "2001-01-31"}, timeout=10)
    assert empty.status_code == 200 and empty.json() == []
    # expected_datetime once dispatched: a demo case with a deadline
    due = world["db"].scalar("SELECT code FROM incidents WHERE dispatched_at IS NOT NULL"
                             " AND closed_at IS NULL ORDER BY id LIMIT 1")
    one = requests.get(world["url"] + f"/requests/{due}.json", timeout=10).json()[0]
    assert one["expected_datetime"] and one["status"] == "open"
    _no_personal(json.dumps(closed, ensure_ascii=False))


def test_a_session_cookie_gives_no_right_to_post(world):
    """The POST needs its api_key: no form key, no case, whatever cookies come along."""
    s = requests.Session()
    s.cookies.set("gridatlas_session", "forged")
    r = s.post(world["url"] + "/requests.json", data=_form(world, api_key=None), timeout=10)
    assert r.status_code == 401
