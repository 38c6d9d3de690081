"""Roles and place scopes.

Place codes are hierarchical prefixes (city 4 digits, district 6, street 9, community 12,
grid 15), so "inside a scope" is "starts with the scope's code". A city is the 4-digit prefix
of its districts' codes: a city-scoped account sees every district whose code starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: tuple[str, ...] = (
    "admin",
    "leader",
    "operator",
    "street_operator",
    "community_staff",
    "department",
    "grid_worker",
    "planner",
)

ROLE_NAMES: dict[str, tuple[str, str]] = {
    "admin": ("系统管理员", "administrator"),
    "leader": ("领导", "leader"),
    "operator": ("区指挥中心值班员", "district command-centre operator"),
    "street_operator": ("街道分中心值班员", "street sub-centre operator"),
    "community_staff": ("社区工作人员", "community staff"),
    "department": ("职能部门", "department"),
    "grid_worker": ("网格员", "grid worker"),
    "planner": ("网格规划员", "grid planner"),
}

def role_name(role: str, scope_code: str | None = None) -> tuple[str, str]:
    """(Chinese, English) name of a role as its holder sees it: an operator scoped to a city
    works in the city's command centre, not a district's."""
    if role == "operator" and isinstance(scope_code, str) and len(scope_code) == 4:
        return ("市指挥中心值班员", "city command-centre operator")
    return ROLE_NAMES.get(role, (role, role))


SCOPE_LEVELS: dict[int, str] = {4: "city", 6: "district", 9: "street", 12: "community",
                                 15: "grid"}


def scope_level(code: str) -> str:
    """'city', 'district', 'street', 'community' or 'grid' for a place code.

    Raises
    ------
    ValueError
        When the code is not 4, 6, 9, 12 or 15 ASCII digits.
    """
    if not _is_place_code(code):
        raise ValueError(
            f"scope {str(code)[:20]!r} is not a place code (4-digit city, 6-digit district, "
            "9-digit street, 12-digit community or 15-digit grid)"
        )
    return SCOPE_LEVELS[len(code)]


def _is_place_code(code: object) -> bool:
    """True for a string of 4, 6, 9, 12 or 15 ASCII digits."""
    return isinstance(code, str) and code.isascii() and code.isdigit() and len(code) in SCOPE_LEVELS


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in user, the command line, or the anonymous wall screen."""

    username: str
    role: str
    scope_code: str | None  # None: everywhere (admin, command line)
    display_name: str | None = None
    anonymous_wall: bool = False

    def covers(self, code: str | None) -> bool:
        """True when ``code`` (a place code) lies within this principal's scope."""
        if self.scope_code is None:
            return True
        if not _is_place_code(code):
            return False  # None, a pattern ("9900%"), a list...: never inside a scope
        return code.startswith(self.scope_code)

    def sees(self, code: str | None) -> bool:
        """True when a place is inside the scope or is one of the scope's ancestors."""
        if self.scope_code is None or code is None:
            return True
        if not _is_place_code(code):
            return False
        return code.startswith(self.scope_code) or self.scope_code.startswith(code)


SYSTEM = Principal(username="system", role="admin", scope_code=None)
WALL = Principal(username="wall", role="wall", scope_code=None, anonymous_wall=True)
