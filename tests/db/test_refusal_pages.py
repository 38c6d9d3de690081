"""The 403 and 404 pages say why in the visitor's language, naming role and action in it;
Dash and API callers keep the JSON refusal with both languages."""

from __future__ import annotations

import re

import pytest

from geo.access import permissions, users
from geo.access.roles import ROLE_NAMES, SYSTEM
from tests.conftest import create_tiny_place

PW = "Refusal-pages-2026"
LATIN = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def place(empty_db):
    place = create_tiny_place(empty_db)
    users.add_user(SYSTEM, "ref_worker", "grid_worker", PW, place["grid"])
    return place


@pytest.fixture()
def client(place):
    import app

    return app.server.test_client()


def _sign_in(client, lang: str | None = None) -> None:
    if lang:
        client.set_cookie("lang", lang)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    resp = client.post("/login", data={"username": "ref_worker", "password": PW, "csrf_token": token,
                                       "next": "/incidents"})
    assert resp.status_code == 302


def _visible(html: str) -> str:
    """What a person reads: the title and the body's text (tags, attributes and links' targets
    stripped)."""
    body = html.split("<body", 1)[1]
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    return title + " " + re.sub(r"<[^>]+>", " ", body.split(">", 1)[1])


def test_every_action_is_described_in_chinese_and_english():
    for action, (_, _, en, zh) in permissions.ACTIONS.items():
        assert CJK.search(zh) and not LATIN.search(zh.replace("KPI", "")), (action, zh)
        assert en and not CJK.search(en), (action, en)
        assert permissions.description(action, "zh") == zh and permissions.description(action, "en") == en


def test_the_403_page_in_chinese_names_role_and_action_in_chinese(client):
    _sign_in(client)
    resp = client.get("/plan")
    assert resp.status_code == 403
    text = _visible(resp.text)
    assert '<html lang="zh-CN">' in resp.text
    assert "无权访问" in text and "您的角色「网格员」无权查看网格规划方案" in text and "返回首页" in text
    assert not LATIN.search(text), text


def test_the_403_page_in_english(client):
    _sign_in(client, "en")
    resp = client.get("/audit")
    assert resp.status_code == 403 and '<html lang="en">' in resp.text
    text = _visible(resp.text)
    assert "Your role (grid worker) may not browse the audit log." in text and "Back to the home page" in text
    assert not CJK.search(text), text


@pytest.mark.parametrize("lang,words", [("zh", ("页面不存在", "没有这个页面")),
                                        ("en", ("Page not found", "no such page"))])
def test_an_unknown_page_is_a_404_in_the_visitors_language(client, lang, words):
    _sign_in(client, lang)
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    text = _visible(resp.text)
    assert all(w in text for w in words), text
    assert not (LATIN if lang == "zh" else CJK).search(text), text
    # not signed in: the sign-in page first, whatever the path
    client.delete_cookie("gridatlas_session")
    assert client.get("/no-such-page").status_code == 302


def test_a_refused_callback_keeps_both_languages_in_its_json(client):
    _sign_in(client, "en")
    loc = [{"id": "_pages_location", "property": p, "value": v} for p, v in (("pathname", "/plan"),
                                                                          ("search", ""))]
    resp = client.post("/_dash-update-component", json={
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": loc, "state": [], "changedPropIds": []})
    assert resp.status_code == 403
    error = resp.get_json()["error"]
    assert "角色「网格员」无权查看网格规划方案" in error and "role grid_worker may not see grid plans" in error


def test_role_names_cover_every_role():
    from geo.access.roles import ROLES

    assert set(ROLES) <= set(ROLE_NAMES)
