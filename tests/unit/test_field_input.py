"""The field page's checks of browser values (layouts/field_input.py) and the phone landing."""

from __future__ import annotations

import base64

import pytest

from layouts import field_input as inp
from layouts.field_landing import landing


def test_a_tap_follows_the_basemap_datum_and_the_phone_is_wgs84():
    assert inp.point({"lon": 116.4, "lat": 39.9, "src": "tap"}, True) == (116.4, 39.9, "gcj02")
    assert inp.point({"lon": 116.4, "lat": 39.9, "src": "tap"}, False)[2] == "wgs84"
    assert inp.point({"lon": 116.4, "lat": 39.9, "src": "gps"}, True)[2] == "wgs84"
    assert inp.point(None, True) is None
    for bad in ("9", {"lon": "x", "lat": 1, "src": "tap"}, {"lon": 1, "lat": 2, "src": "gcj02"},
                {"lon": True, "lat": 2, "src": "gps"}, {"lon": float("nan"), "lat": 2, "src": "gps"}):
        with pytest.raises(inp.FieldInputError):
            inp.point(bad, False)


def test_action_keys_photos_and_messages():
    assert inp.act("SJ20261206000001|escalated|reported") == ("SJ20261206000001", "escalated", "reported")
    for bad in ("SJ1|filed|reported", "SJ1|resolved|nope", "%|resolved|reported", 5, None):
        with pytest.raises(inp.FieldInputError):
            inp.act(bad)
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 10
    assert inp.photo("data:image/png;base64," + base64.b64encode(png).decode(), 1024) == png
    with pytest.raises(inp.FieldInputError):
        inp.photo("data:image/png;base64,!!!", 1024)
    with pytest.raises(inp.FieldInputError, match="KB"):
        inp.photo("data:image/png;base64," + "A" * 4000, 1024)
    err = inp.FieldInputError("网格员只能上报本网格 / a grid worker reports only inside their grid [location.grid]")
    assert inp.user_text(err, "zh") == "网格员只能上报本网格"
    assert inp.user_text(err, "en") == "a grid worker reports only inside their grid"


def test_a_grid_worker_on_a_phone_lands_on_the_field_page():
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
    desktop = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36"}
    assert landing("grid_worker", "/", phone) == "/field"
    assert landing("grid_worker", "/", {"Sec-CH-UA-Mobile": "?1"}) == "/field"
    assert landing("grid_worker", "/", desktop) == "/"
    assert landing("grid_worker", "/incidents", phone) == "/incidents"
    assert landing("community_staff", "/", phone) == "/"
