"""The city level of scopes: a 4-digit code (the prefix of its districts' codes) is a scope;
2, 3, 5 digits or patterns are not."""

from __future__ import annotations

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal, scope_level
from geo.repository.scope import Scope, place_sql, valid_code

CITY = "9901"
DISTRICT = "990100"
OTHER_CITY_DISTRICT = "990200"
SAME_CITY_DISTRICT = "990101"


def test_a_four_digit_code_is_a_city_and_shorter_codes_are_refused():
    assert scope_level(CITY) == "city"
    assert scope_level(DISTRICT) == "district"
    assert valid_code(CITY)
    for bad in ("99", "990", "99010", "9901 ", "990a", "９９０１", "", "9%", "99_1"):
        assert not valid_code(bad), bad
        with pytest.raises(ValueError, match="4-digit city"):
            scope_level(bad)


def test_a_city_scope_covers_its_districts_and_nothing_of_another_city():
    scope = Scope.of(Principal("c", "operator", CITY))
    assert scope.base == scope.place == CITY
    assert scope.covers(DISTRICT) and scope.covers(SAME_CITY_DISTRICT)
    assert scope.covers(DISTRICT + "001001001")
    assert not scope.covers(OTHER_CITY_DISTRICT) and not scope.covers("9902")
    assert scope.narrow(SAME_CITY_DISTRICT).place == SAME_CITY_DISTRICT
    assert scope.narrow(DISTRICT + "001").place == DISTRICT + "001"
    assert scope.require(DISTRICT) == DISTRICT
    for bad in (OTHER_CITY_DISTRICT, "9902", "9", "99", "990", "%", "_", "99%", "9901%",
                "990_", [DISTRICT], {"code": DISTRICT}, 9901):
        with pytest.raises(PermissionDenied):
            scope.narrow(bad)
        with pytest.raises(PermissionDenied):
            scope.require(bad)
    # the city's params: a 4-character prefix match, never a pattern
    assert scope.params() == {"place": CITY, "plen": 4}
    assert "LIKE" not in place_sql("code")


def test_a_district_user_sees_the_city_as_an_ancestor_but_cannot_narrow_to_it():
    scope = Scope.of(Principal("d", "operator", DISTRICT))
    assert scope.sees(CITY) and not scope.covers(CITY)
    assert scope.narrow(CITY).place == DISTRICT  # an ancestor keeps the scope
    with pytest.raises(PermissionDenied):
        scope.require(CITY)
    with pytest.raises(PermissionDenied):
        scope.narrow(SAME_CITY_DISTRICT)  # a sibling district of the same city


def test_principal_checks_accept_the_city():
    city = Principal("c", "leader", CITY)
    assert city.covers(DISTRICT) and city.covers(SAME_CITY_DISTRICT + "001")
    assert not city.covers(OTHER_CITY_DISTRICT) and not city.covers("9901%")
    assert Principal("d", "leader", DISTRICT).sees(CITY)
    assert Scope.of(Principal("admin", "admin", None)).narrow(CITY).place == CITY


def test_a_stored_scope_of_the_wrong_length_is_refused():
    for bad in ("99", "990", "99010"):
        with pytest.raises(PermissionDenied):
            Scope.of(Principal("x", "operator", bad))


def test_a_city_operator_is_named_for_the_city_command_centre():
    from geo.access.roles import role_name

    assert role_name("operator", CITY) == ("市指挥中心值班员", "city command-centre operator")
    assert role_name("operator", DISTRICT) == ("区指挥中心值班员", "district command-centre operator")
    assert role_name("leader", CITY) == ("领导", "leader")
