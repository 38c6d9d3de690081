"""The Flask error handlers of layouts/errors.py on a bare Flask app (no database): what a
request that fails is answered, and that the answer reveals nothing."""

from __future__ import annotations

import logging

import flask
import pytest

from geo.errors import DatabaseBusy, DatabaseUnavailable, GridAtlasError
from layouts import errors

SECRET = 'connection to server at "10.1.2.3", port 5432 failed: FATAL: role "ops_admin"'


@pytest.fixture()
def client():
    server = flask.Flask(__name__)

    @server.route("/busy")
    @server.post("/_dash-update-component")
    def busy():
        raise DatabaseBusy("服务器繁忙 / busy", detail=SECRET)

    @server.route("/down")
    def down():
        raise DatabaseUnavailable("数据库暂不可用 / Cannot reach the database", detail=SECRET)

    @server.route("/domain")
    def domain():
        raise GridAtlasError("网格编码无效 / bad grid code")

    @server.route("/bug")
    def bug():
        raise RuntimeError(SECRET)

    errors.install(server)
    return server.test_client()


def test_busy_callback_is_503_json_with_the_message(client):
    r = client.post("/_dash-update-component", json={})
    assert r.status_code == 503
    assert r.get_json() == {"error": "服务器繁忙 / busy"}
    assert errors.RETRY_AFTER_SECONDS <= int(r.headers["Retry-After"]) <= (
        errors.RETRY_AFTER_SECONDS + errors.RETRY_AFTER_SPREAD_SECONDS)


def test_retry_after_is_spread_so_refused_clients_do_not_return_together(client):
    seen = [int(client.post("/_dash-update-component", json={}).headers["Retry-After"]) for _ in range(60)]
    assert min(seen) >= errors.RETRY_AFTER_SECONDS
    assert max(seen) <= errors.RETRY_AFTER_SECONDS + errors.RETRY_AFTER_SPREAD_SECONDS
    # 11 values, 60 draws: fewer than 4 distinct ones would mean no spread at all
    assert len(set(seen)) >= 4


def test_database_down_page_is_503_html_in_chinese_and_english(client):
    for path in ("/down", "/busy"):
        r = client.get(path)
        assert r.status_code == 503
        assert r.mimetype == "text/html"
        text = r.get_data(as_text=True)
        assert "数据库暂不可用" in text and "Database unavailable" in text
        assert "10.1.2.3" not in text and "5432" not in text and "ops_admin" not in text


def test_a_domain_error_left_uncaught_is_400_with_its_message(client):
    r = client.get("/domain")
    assert r.status_code == 400
    assert "网格编码无效" in r.get_data(as_text=True)


def test_an_uncaught_exception_is_a_generic_500_logged_with_a_reference(client, caplog):
    with caplog.at_level(logging.ERROR, logger="layouts.errors"):
        r = client.get("/bug")
    text = r.get_data(as_text=True)
    assert r.status_code == 500
    assert "服务器内部错误" in text
    assert "10.1.2.3" not in text and "RuntimeError" not in text and "Traceback" not in text
    ref = text.split("(ref ", 1)[1].split(")", 1)[0]
    assert any(ref in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_not_found_stays_404(client):
    assert client.get("/nothing-here").status_code == 404


def test_a_body_over_the_upload_limit_is_413_before_any_callback(monkeypatch):
    from geo.importers.uploads import max_upload_bytes

    monkeypatch.setenv("IMPORT_MAX_MB", "1")
    max_upload_bytes.cache_clear()
    seen = []
    server = flask.Flask(__name__)

    @server.post("/_dash-update-component")
    def callback():
        seen.append(len(flask.request.get_data()))
        return {"ok": True}

    try:
        errors.install(server)
        limit = errors.body_limit()
        assert limit == 1024 * 1024 * 4 // 3 + 1024 * 1024
        c = server.test_client()
        r = c.post("/_dash-update-component", data=b"x" * (limit + 1), content_type="application/json")
        assert r.status_code == 413
        assert "IMPORT_MAX_MB" in r.get_json()["error"] and "请求内容超过" in r.get_json()["error"]
        assert seen == []
        r = c.post("/_dash-update-component", data=b"x" * (limit - 10), content_type="application/json")
        assert r.status_code == 200 and seen == [limit - 10]
    finally:
        monkeypatch.delenv("IMPORT_MAX_MB")
        max_upload_bytes.cache_clear()
