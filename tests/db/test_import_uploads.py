"""Uploads for the /import page on a real PostGIS: the upload store (owner, size limit,
purge), the dry-run preview, and the import job's core (geo.importers.uploads.run_import):
one transaction, progress, audit, and the scope check (an operator of district 990300 cannot
import buildings of district 990200: refused, nothing written)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.importers import import_file, uploads
from tests.conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_fixtures  # noqa: E402

ADMIN = Principal("u_admin", "admin", None)
OP_WEST = Principal("u_op_990200", "operator", "990200")  # the fixture district
OP_EAST = Principal("u_op_990300", "operator", "990300")  # the district next to it
PLANNER = Principal("u_planner", "planner", "990200")


@pytest.fixture(scope="module")
def fx(empty_db, tmp_path_factory) -> dict[str, Path]:
    """The importer's fixture district 990200 (streets, communities) and a second district
    990300 east of it, imported with the command line's importer."""
    out = tmp_path_factory.mktemp("fx")
    paths = make_fixtures.build(out)
    east = out / "district_990300.geojson"
    gpd.GeoDataFrame([{"code": "990300", "name": "东测试区", "geometry": box(120.14, 30.20, 120.18, 30.23)}],
                     crs="EPSG:4326").to_file(east, driver="GeoJSON")
    import_file("districts", paths["districts.geojson"], actor="tester")
    import_file("districts", east, actor="tester")
    import_file("streets", paths["streets_gbk_nocpg.shp"], encoding="gbk",
                fields=["code=CODE", "name=NAME", "name_en=NAME_EN"], actor="tester")
    import_file("communities", paths["communities_4549.gpkg"], actor="tester")
    return paths


def stats(db) -> dict:
    proc = run_cli("stats", "--json", url=db.url)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _store(principal, fx, name: str, kind: str = "buildings"):
    return uploads.store(principal, kind, name, fx[name].read_bytes())


def test_upload_is_its_owners_only(empty_db, fx):
    up = _store(OP_WEST, fx, "buildings.gpkg")
    got = uploads.get(OP_WEST, up.id, with_data=True)
    assert got.data == fx["buildings.gpkg"].read_bytes() and got.sha256 == up.sha256
    assert got.file_name == "buildings.gpkg" and got.kind == "buildings"
    with pytest.raises(GridAtlasError, match="not yours"):
        uploads.get(OP_EAST, up.id)  # another user's upload is not told apart from none
    with pytest.raises(PermissionDenied):
        uploads.get(PLANNER, up.id)  # no data.import
    with pytest.raises(GridAtlasError, match="not an upload id"):
        uploads.get(OP_WEST, "'; DROP TABLE import_uploads; --")
    assert not uploads.discard(OP_EAST, up.id)
    assert uploads.discard(OP_WEST, up.id)
    with pytest.raises(GridAtlasError, match="upload it again"):
        uploads.get(OP_WEST, up.id)


def test_store_refuses_bad_files_and_purges_old_ones(empty_db, fx, monkeypatch):
    before = empty_db.scalar("SELECT count(*) FROM import_uploads")
    with pytest.raises(GridAtlasError, match="unsupported file"):
        uploads.store(OP_WEST, "buildings", "../../etc/passwd", b"root:x:0:0")
    with pytest.raises(GridAtlasError, match="empty"):
        uploads.store(OP_WEST, "buildings", "a.geojson", b"")
    with pytest.raises(GridAtlasError, match="unknown kind"):
        uploads.store(OP_WEST, "users", "a.geojson", b"{}")
    with pytest.raises(PermissionDenied, match="whole city"):
        uploads.store(OP_WEST, "departments", "departments.csv", fx["departments.csv"].read_bytes())
    monkeypatch.setenv("IMPORT_MAX_MB", "1")
    uploads.max_upload_bytes.cache_clear()
    try:
        with pytest.raises(GridAtlasError, match="too large"):
            uploads.store(OP_WEST, "buildings", "big.geojson", b" " * (1024 * 1024 + 1))
    finally:
        monkeypatch.delenv("IMPORT_MAX_MB")
        uploads.max_upload_bytes.cache_clear()
    assert empty_db.scalar("SELECT count(*) FROM import_uploads") == before
    old = _store(OP_WEST, fx, "buildings.gpkg")
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE import_uploads SET created_at = now() - interval '25 hours' WHERE id = %s",
                    (old.id,))
    conn.close()
    with pytest.raises(GridAtlasError, match="expired"):
        uploads.get(OP_WEST, old.id)  # too old to read even before the purge
    new = _store(OP_WEST, fx, "cameras.csv", "cameras")  # any upload purges the old ones
    assert empty_db.scalar("SELECT count(*) FROM import_uploads WHERE id = %s", (old.id,)) == 0
    uploads.discard(OP_WEST, new.id)


def test_preview_reads_and_checks_without_writing(empty_db, fx):
    before = stats(empty_db)
    up = _store(OP_WEST, fx, "buildings.gpkg")
    p = uploads.preview(OP_WEST, up.id, "buildings")
    assert p.problem is None, p.problem
    assert p.rows == 36 and p.checked == 36 and p.crs == "EPSG:4326" and p.geometry == ["Polygon"]
    assert p.columns["households"] == "HH_COUNT" and p.columns["address"] == "ADDR"
    mapped = uploads.preview(OP_WEST, up.id, "buildings", fields=["code=BLD_CODE"])
    assert mapped.columns["code"] == "BLD_CODE"
    bad = _store(OP_WEST, fx, "bad_negative_households.geojson")
    p = uploads.preview(OP_WEST, bad.id, "buildings", fields=["households=HH_COUNT"])
    assert "field 'households'" in p.problem and "negative" in p.problem
    p = uploads.preview(OP_WEST, up.id, "cameras")
    assert "required field 'code' is missing" in p.problem
    for key in (up.id, bad.id):
        uploads.discard(OP_WEST, key)
    assert stats(empty_db) == before


def test_operator_of_another_district_is_refused_and_nothing_is_written(empty_db, fx):
    audit_before = empty_db.scalar("SELECT count(*) FROM audit_log")
    up = _store(OP_EAST, fx, "buildings.gpkg")
    with pytest.raises(PermissionDenied) as err:
        uploads.run_import(OP_EAST, up.id, "buildings")
    assert "outside your scope 990300" in err.value.user_msg and "990200" in err.value.user_msg
    assert "不在您的管辖范围 990300 内" in err.value.user_msg
    assert empty_db.scalar("SELECT count(*) FROM buildings") == 0
    assert empty_db.scalar("SELECT count(*) FROM audit_log") == audit_before
    # the file is kept (someone else may import it); its owner can remove it
    assert uploads.get(OP_EAST, up.id).size_bytes == fx["buildings.gpkg"].stat().st_size
    uploads.discard(OP_EAST, up.id)


def test_import_in_scope_writes_everything_once_with_progress_and_audit(empty_db, fx):
    up = _store(OP_WEST, fx, "buildings.gpkg")
    seen: list[tuple[str, int, int]] = []
    report = uploads.run_import(OP_WEST, up.id, "buildings", fields=["code=BLD_CODE"],
                                progress=lambda *a: seen.append(a))
    assert report.counts["buildings"] == 36
    assert [s[0] for s in seen] == ["read", "validated", "writing", "committing", "written"]
    assert seen[0][1] == 36 and seen[-1][1] == 36
    assert empty_db.scalar("SELECT count(*) FROM buildings WHERE code LIKE '990200%%'") == 36
    row = empty_db.scalar("SELECT json_build_object('actor', actor, 'role', role, 'scope', scope_code,"
                          " 'detail', detail) FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1")
    assert row["actor"] == "u_op_990200" and row["role"] == "operator" and row["scope"] == "990200"
    assert row["detail"]["via"] == "web" and row["detail"]["sha256"] == up.sha256
    assert row["detail"]["counts"]["buildings"] == 36
    # deleted with the commit: the same upload cannot be imported twice
    assert empty_db.scalar("SELECT count(*) FROM import_uploads WHERE id = %s", (up.id,)) == 0
    with pytest.raises(GridAtlasError, match="upload it again"):
        uploads.run_import(OP_WEST, up.id, "buildings")


def test_refused_file_writes_nothing_and_is_dropped(empty_db, fx):
    before = stats(empty_db)
    up = _store(ADMIN, fx, "bad_outside_district.geojson")
    with pytest.raises(GridAtlasError, match="feature 2 .*its point lies outside the district"):
        uploads.run_import(ADMIN, up.id, "buildings", fields=["households=HH_COUNT", "code=BLD_CODE"])
    assert stats(empty_db) == before
    assert empty_db.scalar("SELECT count(*) FROM import_uploads WHERE id = %s", (up.id,)) == 0


def test_admin_imports_city_wide_kinds(empty_db, fx):
    up = _store(ADMIN, fx, "departments.csv", "departments")
    assert uploads.run_import(ADMIN, up.id, "departments").counts == {"departments": 1}
    up = _store(ADMIN, fx, "cameras.csv", "cameras")
    with pytest.raises(PermissionDenied, match="whole city"):
        uploads.run_import(OP_WEST, up.id, "departments")


class _Killed(BaseException):
    """What a job's death looks like to the code it interrupts (not an Exception)."""


def test_death_inside_the_transaction_writes_nothing_and_keeps_the_upload(empty_db, fx):
    before = stats(empty_db)
    up = _store(ADMIN, fx, "cameras.csv", "cameras")

    def die(stage, done, total):
        if stage == "committing":  # every row written, not committed
            assert empty_db.scalar("SELECT count(*) FROM cameras") == 0  # not visible outside
            raise _Killed()

    with pytest.raises(_Killed):
        uploads.run_import(ADMIN, up.id, "cameras", progress=die)
    assert stats(empty_db) == before
    assert uploads.run_import(ADMIN, up.id, "cameras").counts["cameras"] == 2  # run again


def test_preview_checks_the_first_rows_and_the_import_checks_them_all(empty_db, fx, monkeypatch):
    monkeypatch.setattr(uploads, "PREVIEW_ROWS", 1)
    up = _store(ADMIN, fx, "bad_negative_households.geojson")  # feature 2 is negative
    p = uploads.preview(ADMIN, up.id, "buildings", fields=["households=HH_COUNT"])
    assert (p.rows, p.checked, p.problem) == (3, 1, None)
    before = stats(empty_db)
    with pytest.raises(GridAtlasError, match="feature 2, field .households.* is negative"):
        uploads.run_import(ADMIN, up.id, "buildings", fields=["households=HH_COUNT"])
    assert stats(empty_db) == before
