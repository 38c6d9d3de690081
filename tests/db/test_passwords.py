"""Passwords: the rule (8 characters from 3 classes), a user's own change at
/account/password (CSRF-protected, audited, other sessions signed out), and the admin's
reset ``python -m geo users passwd NAME --password-stdin``. Real app, real database."""

from __future__ import annotations

import json

import pytest
import requests

from geo.access import audit, users
from geo.access.roles import SYSTEM
from geo.errors import GridAtlasError
from tests.browser.conftest import AppServer
from tests.conftest import run_cli
from tests.db.web import csrf, message, sign_in

PW = "Password-pass-1"
PAGE = "/account/password"


@pytest.mark.parametrize("password, ok", [
    ("operator-demo-2026", True),   # lower, symbol, digit
    ("Abcdefg1", True),
    ("abcdef-1", True),
    ("Abcdef1", False),             # 7 characters
    ("abcdefgh12", False),          # 2 classes
    ("correct-horse-battery", False),
    ("ABCDEFGH!", False),
    ("密码密码Abc12", True),          # a CJK character counts as a symbol
])
def test_the_rule(password, ok):
    if ok:
        users.check_password_policy(password)
    else:
        with pytest.raises(GridAtlasError, match="at least 3 of"):
            users.check_password_policy(password)


@pytest.fixture(scope="module")
def server(empty_db):
    for name in ("p_self", "p_reset"):
        users.add_user(SYSTEM, name, "admin", PW)
    app = AppServer(empty_db.url)
    yield app
    app.stop()


def _change(http, server, old, new, again=None, token=None):
    token = token if token is not None else csrf(http, server.url, PAGE)
    return http.post(server.url + PAGE, data={
        "csrf_token": token, "old_password": old, "new_password": new,
        "new_password2": new if again is None else again}, allow_redirects=False)


def test_users_add_applies_the_rule_and_demo_accounts_pass(empty_db):
    weak = run_cli("users", "add", "p_weak", "--role", "admin", "--password-stdin",
                   url=empty_db.url, stdin="abcdefgh12\n")
    assert weak.returncode == 2 and "at least 3 of" in weak.stderr
    assert users.get_user("p_weak") is None
    fine = run_cli("users", "add", "p_fine", "--role", "admin", "--password", "operator-demo-2026",
                   url=empty_db.url)
    assert fine.returncode == 0, fine.stderr
    created = run_cli("users", "ensure-admin", url=empty_db.url)
    assert created.returncode == 0, created.stderr
    if "shown once" in created.stdout:  # a generated password obeys the rule
        users.check_password_policy(created.stdout.strip().splitlines()[-1])


def test_a_user_changes_their_own_password(server):
    http, resp = sign_in(server.url, "p_self", PW)
    assert resp.status_code == 302
    other, _ = sign_in(server.url, "p_self", PW)  # the same user in another browser
    # the page is linked from the top bar's badge
    assert '"href": "/account/password"' in json.dumps(http.get(server.url + "/_dash-layout").json())
    page = http.get(server.url + PAGE)
    assert page.status_code == 200 and 'name="new_password2"' in page.text

    assert _change(http, server, PW, "New-pass-22", token="forged").status_code == 400
    bad = _change(http, server, PW, "New-pass-22", again="New-pass-23")
    assert bad.status_code == 400 and "differ" in message(bad)
    weak = _change(http, server, PW, "newpassword")
    assert weak.status_code == 400 and "at least 3 of" in message(weak)
    wrong = _change(http, server, "Not-the-pass-1", "New-pass-22")
    assert wrong.status_code == 400 and "old password is wrong" in message(wrong)
    assert sign_in(server.url, "p_self", PW)[1].status_code == 302  # nothing changed

    done = _change(http, server, PW, "New-pass-22")
    assert done.status_code == 200 and "password was changed" in done.text
    assert http.get(server.url + "/incidents", allow_redirects=False).status_code == 200
    assert other.get(server.url + "/incidents", allow_redirects=False).status_code == 302
    assert sign_in(server.url, "p_self", PW)[1].status_code == 401
    assert sign_in(server.url, "p_self", "New-pass-22")[1].status_code == 302
    rows = [r for r in audit.browse(SYSTEM, action="user.password") if r["target"] == "p_self"]
    assert rows and rows[0]["actor"] == "p_self" and rows[0]["action"] == "user.password"


def test_the_page_needs_a_signed_in_user(server):
    resp = requests.get(server.url + PAGE, allow_redirects=False)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    anon = requests.Session()
    token = csrf(anon, server.url)  # a token from the sign-in form does not help
    resp = anon.post(server.url + PAGE, data={"csrf_token": token, "old_password": PW,
                                              "new_password": "New-pass-22",
                                              "new_password2": "New-pass-22"},
                     allow_redirects=False)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_an_admin_resets_a_password_and_signs_the_user_out(server, empty_db):
    http, _ = sign_in(server.url, "p_reset", PW)
    assert http.get(server.url + "/incidents", allow_redirects=False).status_code == 200

    weak = run_cli("users", "passwd", "p_reset", "--password-stdin", url=empty_db.url,
                   stdin="short\n")
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    missing = run_cli("users", "passwd", "p_nobody", "--password-stdin", url=empty_db.url,
                      stdin="Reset-pass-1\n")
    assert missing.returncode == 2 and "no user 'p_nobody'" in missing.stderr

    done = run_cli("users", "passwd", "p_reset", "--password-stdin", url=empty_db.url,
                   stdin="Reset-pass-1\n")
    assert done.returncode == 0, done.stderr
    assert "1 session(s) signed out" in done.stdout
    assert http.get(server.url + "/incidents", allow_redirects=False).status_code == 302
    assert sign_in(server.url, "p_reset", PW)[1].status_code == 401
    assert sign_in(server.url, "p_reset", "Reset-pass-1")[1].status_code == 302
    row = next(r for r in audit.browse(SYSTEM, action="user.password_reset")
               if r["target"] == "p_reset")
    assert row["actor"].startswith("cli:") and row["detail"]["sessions_ended"] == 1
