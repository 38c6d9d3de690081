"""``/account/password``: a signed-in user changes their own password.

A plain HTML form served outside Dash, like ``/login``: old password, new password twice,
and the session's CSRF token. The gate (:mod:`layouts.auth`) lets only a signed-in user
through (action ``account.password``) and refuses the POST while the database is
unreachable. The change itself, its audit row and the sign-out of the user's other
sessions happen in :func:`geo.access.users.change_password`.
"""

from __future__ import annotations

import hmac
import html

from flask import Flask, request, session

from geo.access import users
from geo.errors import GridAtlasError
from layouts import auth, login_pages

PATH = "/account/password"


def register(server: Flask) -> None:
    """Add the route (its guard is the ``layouts.auth.ROUTES`` entry)."""
    server.add_url_rule(PATH, "account_password", _password, methods=["GET", "POST"])


def _password():
    principal = auth.current_principal()
    if request.method == "GET":
        return _form(principal.username, "", 200)
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        return _form(principal.username, "表单已失效，请重试 / the form expired (CSRF check); try again", 400)
    old = request.form.get("old_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", ""):
        return _form(principal.username, "两次输入的新密码不一致 / the two new passwords differ", 400)
    try:
        ended = users.change_password(principal.username, old, new, login_pages.client_address(),
                                      keep_session=auth.session_id())
    except users.AuthError as exc:
        if exc.status == 401:
            return _form(principal.username, "旧密码不正确 / the old password is wrong", 400)
        return _form(principal.username, exc.user_msg, exc.status)
    except GridAtlasError as exc:
        return _form(principal.username, exc.user_msg, 400)
    note = f"（另有 {ended} 个会话已退出 / {ended} other session(s) signed out）" if ended else ""
    body = f"""
      <div class="card">
        <h1>GridAtlas <span>修改密码 / Change password</span></h1>
        <p class="ok" role="status">密码已修改 / your password was changed{html.escape(note)}</p>
        <p><a href="/">返回 / back</a></p>
      </div>"""
    return login_pages.page("修改密码 · GridAtlas", body, 200)


def _form(username: str, message: str, status: int):
    msg = f"<p class='msg' role='alert'>{html.escape(message)}</p>" if message else ""
    body = f"""
      <form method="post" action="{PATH}" class="card" autocomplete="off">
        <h1>GridAtlas <span>修改密码 / Change password</span></h1>
        {msg}
        <input type="hidden" name="csrf_token" value="{html.escape(login_pages.csrf_token())}">
        <input type="text" name="username" value="{html.escape(username)}" autocomplete="username"
               hidden readonly>
        <label for="old_password">旧密码 / Current password</label>
        <input id="old_password" name="old_password" type="password" required autofocus
               autocomplete="current-password">
        <label for="new_password">新密码 / New password</label>
        <input id="new_password" name="new_password" type="password" required minlength="8"
               autocomplete="new-password">
        <label for="new_password2">再次输入新密码 / New password again</label>
        <input id="new_password2" name="new_password2" type="password" required minlength="8"
               autocomplete="new-password">
        <p class="hint">至少8位，含大写字母、小写字母、数字、符号中的至少三类 /
          at least 8 characters from 3 of: upper-case, lower-case, digits, symbols</p>
        <button type="submit">修改密码 / Change password</button>
        <p><a href="/">返回 / back</a></p>
      </form>"""
    return login_pages.page("修改密码 · GridAtlas", body, status)
