"""What each role sees in a real browser: its pages in the menu, its places on the map."""

from __future__ import annotations

import pytest

from geo.access import permissions, users
from geo.access.roles import ROLES, SYSTEM
from tests.browser.conftest import AppServer, login, screenshot
from tests.conftest import create_tiny_place

PW = "roles-password-1"
PAGE_LABELS = {"/": "指挥中心", "/plan": "网格规划", "/review": "领导审阅",
               "/incidents": "事件", "/field": "现场处置", "/audit": "审计日志",
               "/routes": "派遣路由", "/import": "数据导入"}


@pytest.fixture(scope="module")
def app_roles(empty_db):
    place = create_tiny_place(empty_db)
    scope = {"admin": None, "leader": place["district"], "operator": place["district"],
             "street_operator": place["street"], "community_staff": place["community"],
             "department": place["district"], "grid_worker": place["grid"],
             "planner": place["district"]}
    for role in ROLES:
        users.add_user(SYSTEM, f"b_{role}", role, PW, scope[role])
    server = AppServer(empty_db.url)
    yield server
    server.stop()


def test_each_role_sees_its_menu_and_its_places(app_roles, new_page):
    for role in ROLES:
        page, console = new_page()
        login(page, app_roles.url, f"b_{role}", PW, "/")
        labels = page.locator(".ga-nav-link").all_inner_texts()
        expected = [label for path, label in PAGE_LABELS.items()
                    if permissions.allowed(role, permissions.PAGE_ACTIONS[path])]
        assert labels == expected, role
        # boundaries: district, street, community, and the grids within the scope
        page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length >= 4")
        paths = page.locator("path.leaflet-interactive").count()
        assert paths == (4 if role == "grid_worker" else 5), (role, paths)
        assert page.inner_text(".ga-user-role")
        assert console.errors == [], role
        if role == "grid_worker":
            screenshot(page, "role-grid-worker")
            page.goto(app_roles.url + "/plan")  # refused by the server, with the reason
            assert "您的角色「网格员」无权查看网格规划方案" in page.inner_text("body")
