"""Accounts' password hashes are made and checked on the niced hashing threads
(geo.access.pwhash): a new account, a sign-in with a known name and one with an unknown
name (its dummy check). This fails where geo.access.users calls werkzeug on the request's
own thread, at the web tier's priority."""

from __future__ import annotations

import pytest

from geo.access import pwhash, users
from geo.access.roles import SYSTEM


def test_users_hash_on_the_niced_threads(demo_db, monkeypatch):
    seen = []
    real = pwhash.run

    def spy(fn, *args):
        seen.append(fn.__name__)
        return real(fn, *args)

    monkeypatch.setattr(pwhash, "run", spy)
    users.add_user(SYSTEM, "pw_niced", "planner", "Grid-atlas-2026", "990100")
    assert seen == ["generate_password_hash"]
    assert users.authenticate("pw_niced", "Grid-atlas-2026", "10.0.0.9").username == "pw_niced"
    with pytest.raises(users.AuthError):
        users.authenticate("pw_nobody", "Grid-atlas-2026", "10.0.0.9")
    assert seen == ["generate_password_hash", "check_password_hash", "check_password_hash"]
