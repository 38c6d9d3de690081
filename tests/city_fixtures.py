"""Two cities in a demo database: city A (9901) holds the demo district 990100 and a small
second district 990101; city B (9902) is the importer's fixture district 990200, imported
file by file with the project's own importer. One open incident in 990101 and one in 990200
(imported too, located in their grids by the importer).

Used by tests/db/test_city_scope.py and tests/browser/test_city_scope.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from geo.importers import import_file

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import make_fixtures  # noqa: E402

CITY_A, CITY_B = "9901", "9902"
A_DEMO, A_SECOND, B_DISTRICT = "990100", "990101", "990200"
# 990101: a small district just east of the demo district (71.28-71.63 E, 51.12-51.27 N), one
# street, one community, two grids
A2_BOX = (71.63, 51.15, 71.66, 51.18)
A2_NAMES = {"district": ("东郊区", "East Suburb"), "street": ("东郊街道", "East Suburb Street"),
            "community": ("东郊社区", "East Suburb Community")}
# what must never reach city A's readers: B's codes, names and its incident
B_SECRETS = [B_DISTRICT, "CITYB-I1", "CAM1", "CAM2"]


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def _insert_second_district(tdb) -> None:
    x0, y0, x1, y1 = A2_BOX
    whole = _box(*A2_BOX)
    mid = (x0 + x1) / 2
    conn = tdb.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO districts (code, name, name_en, geom, source)
               VALUES (%s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic') RETURNING id""",
            (A_SECOND, *A2_NAMES["district"], whole))
        d = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO streets (district_id, code, name, name_en, geom, source)
               VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')
               RETURNING id""", (d, A_SECOND + "001", *A2_NAMES["street"], whole))
        s = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO communities (street_id, district_id, code, name, name_en, geom, source)
               VALUES (%s, %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')
               RETURNING id""", (s, d, A_SECOND + "001001", *A2_NAMES["community"], whole))
        c = cur.fetchone()[0]
        cur.execute("""INSERT INTO grid_versions (community_id, version_no, is_current, source)
                       VALUES (%s, 1, true, 'synthetic') RETURNING id""", (c,))
        v = cur.fetchone()[0]
        for seq, wkt in ((1, _box(x0, y0, mid, y1)), (2, _box(mid, y0, x1, y1))):
            cur.execute(
                """INSERT INTO grids (version_id, community_id, code, seq, households, geom, source)
                   VALUES (%s, %s, %s, %s, 400, ST_Multi(ST_GeomFromText(%s, 4326)), 'synthetic')""",
                (v, c, f"{A_SECOND}001001{seq:03d}", seq, wkt))
    conn.close()


def build_two_cities(tdb, workdir: Path) -> dict[str, str]:
    """Add 990101 (city A) and import 990200 (city B) into ``tdb`` (a demo database the
    geo package points at); returns the incident codes by district."""
    _insert_second_district(tdb)
    fx = make_fixtures.build(workdir)
    import_file("districts", fx["districts.geojson"], actor="tester")
    import_file("streets", fx["streets_gbk_nocpg.shp"], encoding="gbk",
                fields=["code=CODE", "name=NAME", "name_en=NAME_EN"])
    import_file("communities", fx["communities_4549.gpkg"])
    import_file("grids", fx["grids_ok.geojson"])
    import_file("cameras", fx["cameras.csv"])
    import_file("police-rooms", fx["police_rooms_gbk.shp"])
    category = tdb.scalar("SELECT code FROM incident_categories WHERE parent_id IS NOT NULL"
                          " ORDER BY code LIMIT 1")
    path = workdir / "city_incidents.csv"
    x0, y0, x1, y1 = A2_BOX
    pd.DataFrame({"code": ["CITYA-I1", "CITYB-I1"], "category": [category, category],
                  "severity": ["major", "major"], "state": ["reported", "reported"],
                  "reported_at": [pd.Timestamp.now(tz="Asia/Shanghai").strftime("%Y-%m-%d %H:%M")] * 2,
                  "lon": [x0 + 0.005, 120.105], "lat": [y0 + 0.005, 30.205]}).to_csv(path, index=False)
    import_file("incidents", path)
    return {A_SECOND: "CITYA-I1", B_DISTRICT: "CITYB-I1"}
