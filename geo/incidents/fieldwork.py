"""Reads of the field page (the grid worker's phone): the local inbox and the category menu.

No Dash here. Both reads take the actor first: the inbox is :func:`geo.incidents.listing.
list_cases` (the actor's scope applied before anything else) narrowed to the cases waiting at
the actor's own level, which is where ``incident.local`` lets them resolve or escalate.
"""

from __future__ import annotations

from datetime import datetime

from geo import db
from geo.incidents import listing, service

INBOX_STATES = ("reported", "escalated")
INBOX_SIZE = 50
# the levels whose cases each local role decides (admin: every level below the district)
_INBOX_LEVELS = {"grid_worker": ("grid",), "community_staff": ("community",),
                 "street_operator": ("street",), "admin": ("grid", "community", "street")}


def inbox_levels(actor: service.Actor) -> tuple[str, ...]:
    """The levels of the cases waiting for this actor (empty: none are theirs to decide)."""
    return _INBOX_LEVELS.get(actor.role, ())


def inbox(actor: service.Actor, *, now: datetime | None = None) -> dict:
    """The cases waiting at the actor's level within their scope (待办), newest first.

    Returns
    -------
    dict
        As :func:`geo.incidents.listing.list_cases`: ``rows`` and ``total``; no rows for a
        role that decides no local case.
    """
    service._permit(actor, "incident.local")
    levels = inbox_levels(actor)
    if not levels:
        return {"rows": [], "total": 0, "total_capped": False, "page": 1, "page_size": INBOX_SIZE}
    flt = listing.CaseFilter(states=INBOX_STATES, levels=levels, page_size=INBOX_SIZE)
    return listing.list_cases(actor, flt, now=now)


def categories(actor: service.Actor) -> list[dict]:
    """Categories a reporter may choose (code, name, name_en, parent code), parents first."""
    service._permit(actor, "incident.create")
    return db.fetch_all(
        """SELECT c.code, c.name, c.name_en, p.code AS parent
             FROM incident_categories c LEFT JOIN incident_categories p ON p.id = c.parent_id
            ORDER BY coalesce(p.code, c.code), c.parent_id NULLS FIRST, c.code""")
