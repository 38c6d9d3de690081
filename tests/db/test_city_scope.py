"""The city level on a real PostGIS: two cities (A = 9901: the demo district and a second
district; B = 9902: the importer's fixture district). A city-scoped operator's wall and a
city-scoped leader's review see both of A's districts, sum A's figures, and never return
anything of B, whatever code, pattern or non-code they send."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.repository import review as rv
from geo.repository import wall
from geo.repository.scope import Scope
from tests.city_fixtures import (
    A_DEMO,
    A_SECOND,
    B_DISTRICT,
    B_SECRETS,
    CITY_A,
    CITY_B,
    build_two_cities,
)
from tests.conftest import run_cli

PW = "City-scope-pw1"
HOSTILE = [B_DISTRICT, CITY_B, B_DISTRICT + "001", "9", "99", "990", "%", "_", "99%", "990_",
           CITY_A + "%", "9901 ", [A_DEMO], {"code": A_DEMO}, 9901]
WORLD = [-180.0, -90.0, 180.0, 90.0]


@pytest.fixture(scope="module")
def cities(demo_db, tmp_path_factory):
    return build_two_cities(demo_db, tmp_path_factory.mktemp("cities"))


def leaks(result) -> list[str]:
    text = json.dumps(result, ensure_ascii=False, default=str)
    return [s for s in B_SECRETS if s in text]


def _ask(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except GridAtlasError as exc:
        return {"refused": exc.user_msg}


def test_cities_are_named_by_their_districts_prefix(demo_db, cities):
    # the trigger adds a city row for every new prefix (the importer's and a plain insert)
    assert demo_db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM cities") == "9901,9902"


def test_cli_accepts_a_city_scope_and_refuses_shorter_codes(demo_db, cities):
    ok = run_cli("users", "add", "c_city", "--role", "operator", "--scope", CITY_A,
                 "--password", PW, url=demo_db.url)
    assert ok.returncode == 0, ok.stderr
    assert demo_db.scalar("SELECT scope_code FROM users WHERE username = 'c_city'") == CITY_A
    for code, message in (("99", "4-digit city"), ("990", "4-digit city"), ("99010", "4-digit city"),
                          ("9903", "nor a city")):
        bad = run_cli("users", "add", f"c_bad{code}", "--role", "operator", "--scope", code,
                      "--password", PW, url=demo_db.url)
        assert bad.returncode != 0 and message in bad.stderr, (code, bad.stderr)
        assert demo_db.scalar("SELECT count(*) FROM users WHERE username = %s", (f"c_bad{code}",)) == 0


def test_city_wall_sees_every_district_and_sums_them(demo_db, cities):
    now = datetime.now(UTC)
    city = Scope.of(Principal("t:city", "operator", CITY_A))
    districts = wall.boundaries(city, "district", 10)
    assert sorted(f["properties"]["code"] for f in districts["features"]) == [A_DEMO, A_SECOND]
    options = wall.filter_options(city)
    assert [d["code"] for d in options["districts"]] == [A_DEMO, A_SECOND]
    assert {s["code"][:6] for s in options["streets"]} == {A_DEMO, A_SECOND}
    (s, w), (n, e) = wall.extent(city)
    (ds, dw), (dn, de) = wall.extent(city.narrow(A_DEMO))
    assert (s, w, n) == (ds, dw, dn) and de < 71.64 and abs(e - 71.66) < 1e-3  # both districts
    # KPIs over the city are the sum of its districts'
    per = [wall.kpis(city.narrow(d), now) for d in (A_DEMO, A_SECOND)]
    total = wall.kpis(city, now)
    for key in ("open", "overdue", "dispatched_today", "closed_today", "cameras_total"):
        assert total[key] == per[0][key] + per[1][key], key
    assert per[1]["open"] == 1 and total["open"] > 1
    points = wall.incidents_in_view(city, WORLD, now)
    assert cities[A_SECOND] in json.dumps(points, default=str)
    # the district filter narrows to one district
    one, _flt = wall.view_of(city.principal, {"district": A_SECOND})
    assert one.place == A_SECOND and wall.kpis(one, now)["open"] == 1


def test_city_wall_returns_nothing_of_the_other_city(demo_db, cities):
    now = datetime.now(UTC)
    who = Principal("t:city", "operator", CITY_A)
    base = Scope.of(who)
    for value in HOSTILE:
        for stored in ({"district": value}, {"street": value}, {"community": value}):
            with pytest.raises(GridAtlasError):
                wall.view_of(who, stored)
    checks = {
        "boundaries": [_ask(wall.boundaries, base, lvl, z) for lvl in
                       ("district", "street", "community", "grid") for z in (10, 18)],
        "labels": _ask(wall.labels, base),
        "extent": _ask(wall.extent, base),
        "kpis": _ask(wall.kpis, base, now),
        "bars": _ask(wall.open_by_street, base, now),
        "ticker": _ask(wall.ticker, base, wall.ANY, 500),
        "incidents": _ask(wall.incidents_in_view, base, WORLD, now),
        "counts": [_ask(wall.incident_counts, base, now, lvl) for lvl in ("grid", "community")],
        "cameras": _ask(wall.cameras_in_view, base, WORLD),
        "camera_counts": [_ask(wall.camera_counts, base, lvl) for lvl in ("grid", "community")],
        "police": _ask(wall.police_rooms, base),
        "options": _ask(wall.filter_options, base),
        "alerts": _ask(wall.alerts, who, now),
    }
    for value in [*HOSTILE, cities[B_DISTRICT], "CAM1", B_DISTRICT + "001001001"]:
        checks[f"panels {value!r}"] = [
            _ask(wall.grid_detail, base, value), _ask(wall.camera_detail, base, value),
            _ask(wall.incident_timeline, base, value, now), _ask(wall.search, base, value)]
    for key, result in checks.items():
        assert leaks(result) == [], key
    # the same reads do answer for B's own city (the test could fail)
    other = Scope.of(Principal("t:cityb", "operator", CITY_B))
    assert leaks(wall.boundaries(other, "district", 10))
    assert leaks(wall.incidents_in_view(other, WORLD, now))
    assert leaks(wall.cameras_in_view(other, WORLD))


def test_city_review_starts_at_the_city(demo_db, cities):
    leader = Scope.of(Principal("t:cityleader", "leader", CITY_A))
    period = rv.period_of("month")
    area, level = rv.check_view(leader, None, "district")
    assert (area, level) == (CITY_A, "district")
    areas = rv.map_areas(leader, CITY_A, "district")
    assert sorted(f["properties"]["code"] for f in areas["features"]) == [A_DEMO, A_SECOND]
    v = rv.view_figures(leader, CITY_A, "district", period)
    assert sorted(v["figs"]) == [A_DEMO, A_SECOND]
    key = v["key"]["now"]
    assert key["households"] == sum(f["households"] for f in v["figs"].values())
    assert key["reported"] == sum(f["reported"] for f in v["figs"].values()) >= 1
    assert v["figs"][A_SECOND]["reported"] == 1 and v["figs"][A_SECOND]["households"] == 800
    # the city's streets are ranked (both districts)
    assert {c[:6] for c in v["streets"]} == {A_DEMO, A_SECOND}
    crumbs = rv.breadcrumb(leader, A_SECOND + "001")
    assert [(c["code"], c["level"]) for c in crumbs] == [
        (CITY_A, "city"), (A_SECOND, "district"), (A_SECOND + "001", "street")]
    # a city without a name is named by its code
    assert (crumbs[0]["name"], crumbs[0]["name_en"]) == (f"城市 {CITY_A}", f"City {CITY_A}")
    # a district leader's breadcrumb still starts at the district, and cannot open the city
    district = Scope.of(Principal("t:dleader", "leader", A_DEMO))
    assert rv.breadcrumb(district, A_DEMO + "001")[0]["code"] == A_DEMO
    with pytest.raises(GridAtlasError):
        rv.check_view(district, CITY_A, "district")
    with pytest.raises(GridAtlasError):  # the city is a view's top, never a map level
        rv.check_view(leader, None, "city")


def test_city_review_refuses_the_other_city(demo_db, cities):
    leader = Scope.of(Principal("t:cityleader", "leader", CITY_A))
    period = rv.period_of("month")
    for value in [v for v in HOSTILE if v not in (None, "")]:
        for fn, args in ((rv.check_view, (value, "district")), (rv.map_areas, (value, "district")),
                         (rv.view_figures, (value, "district", period)),
                         (rv.area_figures, (value, period)),
                         (rv.incident_figures, (value, "district", period)),
                         (rv.asset_figures, (value, "district"))):
            result = _ask(fn, leader, *args)
            assert isinstance(result, dict) and "refused" in result, (fn.__name__, value)
    assert leaks(rv.breadcrumb(leader, B_DISTRICT + "001")) == []
    whole = rv.view_figures(leader, None, "district", period)
    assert leaks(whole) == [] and sorted(whole["figs"]) == [A_DEMO, A_SECOND]


def test_seed_demo_adds_a_city_operator(demo_db, cities):
    proc = run_cli("users", "seed-demo", url=demo_db.url)
    assert proc.returncode == 0, proc.stderr
    assert demo_db.scalar("SELECT role || ' ' || scope_code FROM users WHERE username = 'demo_city'") \
        == "operator 9901"


def test_city_incident_list_and_roads_stay_in_the_city(demo_db, cities):
    from geo.incidents import listing, service
    from geo.repository import roads

    actor = service.Actor(Principal("t:city", "operator", CITY_A))
    rows = listing.list_cases(actor, listing.CaseFilter(text="CITY", page_size=200))["rows"]
    assert [r["code"] for r in rows] == [cities[A_SECOND]]
    other = service.Actor(Principal("t:cityb", "operator", CITY_B))
    assert [r["code"] for r in listing.list_cases(other, listing.CaseFilter(text="CITY"))["rows"]] \
        == [cities[B_DISTRICT]]
    # the wall's road layer for a city (the box of its districts) answers, not an error
    city = Scope.of(Principal("t:city", "operator", CITY_A))
    assert roads.roads_in_view(city, [116.0, 39.5, 117.0, 40.5], 12)["type"] == "FeatureCollection"


def test_city_case_kpis_and_department_scorecard_cover_its_districts(demo_db, cities):
    from geo.incidents import kpi, scorecard
    from geo.repository.review import today

    leader = Principal("t:cityleader", "leader", CITY_A)
    end = today()  # the app's date (TIMEZONE): after 16:00 UTC it is tomorrow in Beijing
    start = end.replace(year=end.year - 2)
    now = datetime.now(UTC)
    city = kpi.kpi(leader, CITY_A, start, end, now=now)
    parts = [kpi.kpi(leader, d, start, end, now=now) for d in (A_DEMO, A_SECOND)]
    for key in ("due", "deferred", "closed_on_time", "closed", "overdue_now", "rework",
                "open_in_period"):
        assert city[key] == parts[0][key] + parts[1][key], key
    assert city["open_in_period"] > parts[0]["open_in_period"]  # 990101's case counts
    # the scorecard of the city is the demo district's (990101 has no department cases)
    assert scorecard.scorecard(leader, CITY_A, start, end, now=now) \
        == scorecard.scorecard(leader, A_DEMO, start, end, now=now) != []
    for bad in (CITY_B, B_DISTRICT, "9", "%", "_", "99"):
        with pytest.raises(GridAtlasError):
            kpi.kpi(leader, bad, start, end, now=now)
        with pytest.raises(GridAtlasError):
            scorecard.scorecard(leader, bad, start, end, now=now)


def test_city_report_covers_its_districts(demo_db, cities):
    from geo.reports import report

    leader = Scope.of(Principal("t:cityleader", "leader", CITY_A))
    data = report.build(leader, CITY_A, rv.period_of("month"))
    assert (data["level"], data["sub"], data["name"]) == ("city", "district", f"城市 {CITY_A}")
    assert leaks(data) == [] and data["svg"].count("<path") == 2  # the city's two districts
    assert data["figures"]["now"]["households"] == demo_db.scalar(
        """SELECT sum(g.households) FROM grids g JOIN grid_versions v ON v.id = g.version_id
            AND v.is_current WHERE left(g.code, 4) = %s""", (CITY_A,))
    with pytest.raises(GridAtlasError):
        report.build(leader, CITY_B, rv.period_of("month"))
