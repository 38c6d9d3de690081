"""The validated place scope every read in :mod:`geo.repository` takes first.

A :class:`Scope` is built from a principal (:meth:`Scope.of`) and can only be narrowed to a
place code that is all digits, of a place level's length (4/6/9/12/15: city, district,
street, community, grid) and inside the
principal's own scope (:meth:`Scope.narrow`). SQL then matches places by that code with
``left(code, n) = %(place)s``: the user never supplies a pattern, so ``%``, ``_`` or ``9``
cannot widen what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo.access.permissions import PermissionDenied
from geo.access.roles import SCOPE_LEVELS, Principal


def valid_code(code: Any) -> bool:
    """True for a place code: a string of 4, 6, 9, 12 or 15 ASCII digits."""
    return (isinstance(code, str) and len(code) in SCOPE_LEVELS
            and all("0" <= ch <= "9" for ch in code))


# Refusals do not repeat the code asked for: the answer says what is allowed, nothing else.
def _bad_code(code: Any) -> PermissionDenied:
    return PermissionDenied(
        "地点代码无效（应为 4/6/9/12/15 位数字）/ not a place code (4, 6, 9, 12 or 15 digits)")


@dataclass(frozen=True)
class Scope:
    """Where a principal may read, possibly narrowed to one place inside it.

    Attributes
    ----------
    principal:
        Who reads.
    base:
        The principal's own scope code (``None``: everywhere).
    place:
        The code the reads are limited to: ``base`` or a place inside it (``None``:
        everywhere). Always a validated all-digit code.
    """

    principal: Principal
    base: str | None
    place: str | None

    @classmethod
    def of(cls, principal: Principal | None) -> Scope:
        """The principal's whole scope; refuses nobody and a malformed stored scope."""
        if principal is None:
            raise PermissionDenied("请先登录 / please sign in")
        base = principal.scope_code
        if base is not None and not valid_code(base):
            raise PermissionDenied(f"account scope {base!r} is not a place code: refused")
        return cls(principal, base, base)

    # ------------------------------------------------------------------ checks

    def covers(self, code: Any) -> bool:
        """True when ``code`` is a valid place code inside the principal's scope."""
        return valid_code(code) and (self.base is None or code.startswith(self.base))

    def sees(self, code: Any) -> bool:
        """True when ``code`` is inside the scope or one of its ancestors."""
        return valid_code(code) and (
            self.base is None or code.startswith(self.base) or self.base.startswith(code))

    def require(self, code: Any, *, what: str = "place") -> str:
        """``code`` itself when it is a valid code inside the scope, else PermissionDenied."""
        if not valid_code(code):
            raise _bad_code(code)
        if not self.covers(code):
            raise PermissionDenied(
                f"不在您的权限范围 {self.base} 内 / this {what} lies outside your scope "
                f"{self.base}")
        return code

    def require_community(self, code: Any) -> str:
        """A 12-digit community code inside the scope (PermissionDenied otherwise)."""
        if not (valid_code(code) and len(code) == 12):
            raise PermissionDenied("社区代码无效（应为 12 位数字）/ not a community code (12 digits)")
        return self.require(code, what="community")

    def narrow(self, code: Any) -> Scope:
        """This scope limited to ``code`` (inside the principal's scope).

        ``None`` or ``""`` keeps the scope as it is; an ancestor of the principal's scope
        keeps it too (a street operator filtering on their own district sees their street).
        Anything else (not a code, outside the scope) is refused.
        """
        if code is None or code == "":
            return self
        if not valid_code(code):
            raise _bad_code(code)
        if self.base is not None and self.base.startswith(code):
            return self
        self.require(code)
        return Scope(self.principal, self.base, code)

    # ------------------------------------------------------------------ SQL

    def params(self) -> dict[str, Any]:
        """``place`` and its length ``plen`` for ``left(code, %(plen)s) = %(place)s``."""
        return {"place": self.place, "plen": len(self.place) if self.place else 0}


def place_sql(column: str, *, ancestors: bool = False) -> str:
    """A condition on ``column`` (a trusted column name) against the scope's params.

    ``column`` lies inside the place; with ``ancestors`` it may also be one of the
    place's ancestors. Uses ``left()``, never ``LIKE``: the bound value is not a pattern.
    """
    cond = f"left({column}, %(plen)s) = %(place)s"
    if ancestors:
        cond += f" OR left(%(place)s, length({column})) = {column}"
    return f"(%(place)s::text IS NULL OR {cond})"
