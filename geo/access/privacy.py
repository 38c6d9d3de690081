"""Masking personal data (phones, reporters' names) for roles that do not need it."""

from __future__ import annotations

from geo.access.permissions import allowed
from geo.access.roles import Principal


def may_see_personal(principal: Principal | None) -> bool:
    """True when the principal's role needs personal data unmasked."""
    return principal is not None and not principal.anonymous_wall and allowed(
        principal.role, "view.personal"
    )


def mask_phone(phone: str | None, principal: Principal | None) -> str | None:
    """``13912345678`` -> ``139****5678`` unless the principal may see it."""
    if phone is None or may_see_personal(principal):
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None, principal: Principal | None) -> str | None:
    """``张小明`` -> ``张**`` unless the principal may see it."""
    if not name or may_see_personal(principal):
        return name
    return name[0] + "*" * (len(name) - 1)
