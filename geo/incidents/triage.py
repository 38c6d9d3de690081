"""三事分流: every case carries its triage, proposed by its category, changeable at filing.

* ``public`` (公共事务): a matter for government departments: filed and dispatched;
* ``shared`` (互助事务): residents, property managers and social organisations together;
  follows the same loop (it may be dispatched);
* ``self`` (自我事务): the residents' own matter, resolved with them in the community and
  **never dispatched** (the service refuses to dispatch it).

A category proposes its triage (``incident_categories.triage``; NULL inherits the parent
category's; none at all means ``public``). The reporter may name another at the report; the
district operator may change it at filing (``transition(..., 'filed', triage=...)``) or while
the case is filed (:func:`set_triage`): a filed ``self`` case has to be re-triaged before it can
be dispatched. KPIs can be split by triage (:func:`kpi_by_triage`).
"""

from __future__ import annotations

from datetime import date, datetime

from geo import db
from geo.access.roles import Principal

TRIAGES: tuple[str, ...] = ("public", "shared", "self")
TRIAGE_ZH: dict[str, str] = {"public": "公共事务", "shared": "互助事务", "self": "自我事务"}
DEFAULT_TRIAGE = "public"


def check(triage: str | None, refused) -> str | None:
    """``triage`` if it is one of :data:`TRIAGES` (``None`` passes); else raise ``refused``."""
    if triage is None:
        return None
    if triage not in TRIAGES:
        raise refused("triage", f"未知的分流类型 {triage!r}（公共事务 public、互助事务 shared、自我事务 self）",
                      f"unknown triage {triage!r}; expected one of {', '.join(TRIAGES)}")
    return triage


def proposed(cur, category_id: int) -> str:
    """The triage a category proposes: its own, else its parent's, else ``public``."""
    cur.execute(
        """SELECT coalesce(c.triage, p.triage) AS triage
             FROM incident_categories c LEFT JOIN incident_categories p ON p.id = c.parent_id
            WHERE c.id = %s""", (category_id,))
    row = cur.fetchone()
    return (row and row["triage"]) or DEFAULT_TRIAGE


def set_triage(actor, case_id: int | str, triage: str, *, note: str | None = None,
               expected_version: int | None = None, now: datetime | None = None) -> dict:
    """Change the triage of a **filed** case (the district operator's filing desk).

    Needs ``incident.dispatch`` (who files also triages) and the case in scope. Writes a
    ``triage`` event (before and after in its detail) and an ``incident.triage`` audit entry,
    and bumps the case's version.

    Returns
    -------
    dict
        The case as :func:`geo.incidents.service.show` returns it.
    """
    from geo.incidents import service as svc

    at = svc._now(now)
    check(triage, svc.Refused)
    note = svc._text(note, "note")
    with db.transaction() as cur:
        case = svc._load(cur, case_id, lock=True)
        svc._visible(actor, case)
        svc._expect(case, expected_version, None)
        svc._permit(actor, "incident.dispatch", svc._place(case))
        if case["state"] != "filed":
            raise svc.Refused("triage.state", f"只有已立案、未派遣的事件可以改变分流（当前"
                              f"{svc.STATE_ZH[case['state']]}）",
                              f"the triage changes at filing: the case is {case['state']}, not filed")
        if triage != case["triage"]:
            svc._event(cur, case, actor, at, kind="triage", note=note,
                       detail={"before": case["triage"], "after": triage})
            svc._update(cur, case["id"], {"triage": triage})
            svc._audit(cur, actor, "incident.triage", case, before=case["triage"], after=triage)
        return svc._show(cur, case["id"], at)


def kpi_by_triage(actor, scope: str, date_from: date, date_to: date, *,
                  now: datetime | None = None) -> dict[str, dict]:
    """The KPIs of :func:`geo.incidents.kpi.kpi` once per triage: ``{triage: kpis}``."""
    from geo.incidents import kpi

    actor = actor if not isinstance(actor, Principal) else kpi.Actor(actor)
    return {t: kpi.kpi(actor, scope, date_from, date_to, now=now, triage=t) for t in TRIAGES}
