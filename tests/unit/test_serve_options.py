"""gunicorn's options from the settings: a wall's idle connection outlives its refresh."""

from __future__ import annotations

import dataclasses

from geo import serve
from geo.settings import get_settings


def test_keepalive_outlasts_the_walls_refresh_and_a_balancers_idle_timeout():
    s = get_settings()
    for every in (2, 15, 60, 300):
        opts = serve.options(dataclasses.replace(s, refresh_seconds=every))
        assert opts["keepalive"] > every and opts["keepalive"] > 60
        assert opts["worker_class"] == "gthread"
