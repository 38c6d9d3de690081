"""Incident KPIs against hand counts: fifteen tiny cases with known times on the tiny place.

Period: March 2026 in Asia/Shanghai, the 31st included. Every figure below is counted by
hand from the table in ``CASES``.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import pytest

from geo.access.roles import SYSTEM, Principal
from geo.incidents import kpi
from geo.incidents.service import Denied
from tests.conftest import create_tiny_place

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
GRID1 = (116.0002, 40.0005)
GRID2 = (116.0015, 40.0005)
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=TZ)


def L(text: str) -> datetime:
    """A local time in 2026: 'MM-DD HH:MM'."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


def loop(rep, disp, due, handled=None, closed=None, extra=()):
    """Events of a district case: reported, filed, dispatched, accepted, [extra], handled..."""
    ev = [(rep, None, "reported"), (rep, "reported", "filed"), (disp, "filed", "dispatched"),
          (disp, "dispatched", "accepted"), *extra]
    if handled:
        last = ev[-1][2]
        ev.append((handled, last, "handled"))
    if closed:
        ev += [(closed, "handled", "verified"), (closed, "verified", "closed")]
    return ev


# code: (state, level, reported, dispatched, due, handled, closed, closed_level, point, events)
CASES = {
    # due in March, handled in time, closed 03-06 (24 h)
    "A": ("closed", "district", L("03-05 09:00"), L("03-05 09:10"), L("03-05 10:10"),
          L("03-05 10:00"), L("03-06 09:00"), "district", GRID1, None),
    # due in March, handled late, closed 03-12 (48 h)
    "B": ("closed", "district", L("03-10 08:00"), L("03-10 08:10"), L("03-10 09:10"),
          L("03-10 12:00"), L("03-12 08:00"), "district", GRID1, None),
    # deferred 03-14..03-20 (deadline moved to 03-21), handled in time, closed 03-22 (216 h):
    # due and deferred (closed after a deferral): not in the on-time count
    "C": ("closed", "district", L("03-13 08:00"), L("03-13 09:00"), L("03-21 09:00"),
          L("03-20 10:00"), L("03-22 08:00"), "district", GRID1,
          [("03-14 09:00", "accepted", "deferred"), ("03-20 09:00", "deferred", "accepted")]),
    # due 03-25, deferred 03-24 and still deferred at the period's end (and now)
    "D": ("deferred", "district", L("03-24 07:00"), L("03-24 08:00"), L("03-25 08:00"),
          None, None, None, GRID1, [("03-24 09:00", "accepted", "deferred")]),
    # returned 03-27, handled again before the deadline, closed 03-29 (48 h)
    "E": ("closed", "district", L("03-27 08:00"), L("03-27 08:30"), L("03-28 08:30"),
          L("03-28 08:00"), L("03-29 08:00"), "district", GRID1,
          [("03-27 10:00", "accepted", "handled"), ("03-27 12:00", "handled", "returned")]),
    # due in April, open, overdue now
    "F": ("accepted", "district", L("03-30 08:00"), L("03-30 09:00"), L("04-05 09:00"),
          None, None, None, GRID1, None),
    # resolved on the spot in the grid, 2 h
    "G": ("resolved", "grid", L("03-02 10:00"), None, None, None, L("03-02 12:00"), "grid",
          GRID1, None),
    # reported in February, resolved by the community on 03-03 (288 h)
    "H": ("resolved", "community", L("02-20 00:00"), None, None, None, L("03-03 00:00"),
          "community", GRID1, None),
    # closed before the period: counts nowhere
    "I": ("resolved", "grid", L("02-24 00:00"), None, None, None, L("02-25 00:00"), "grid",
          GRID1, None),
    # reported after the period, open, not dispatched: counts nowhere
    "J": ("reported", "grid", L("04-02 10:00"), None, None, None, None, None, GRID1, None),
    # a duplicate (due and closed in March): left out of everything
    "K": ("duplicate", "district", L("03-09 08:00"), L("03-09 08:10"), L("03-09 09:10"),
          None, L("03-10 08:00"), "district", GRID1, None),
    # in grid 002, resolved by the street, 10 h
    "M": ("resolved", "street", L("03-08 08:00"), None, None, None, L("03-08 18:00"), "street",
          GRID2, None),
    # the period's last half hour counts: 1 h
    "N": ("resolved", "grid", L("03-31 22:30"), None, None, None, L("03-31 23:30"), "grid",
          GRID1, None),
    # just after the period: counts nowhere
    "O": ("resolved", "grid", L("04-01 00:10"), None, None, None, L("04-01 01:10"), "grid",
          GRID1, None),
    # a return in February (before the period) on a case handled in February
    "P": ("closed", "district", L("02-10 08:00"), L("02-10 08:30"), L("02-10 09:30"),
          L("02-10 09:00"), L("02-11 08:00"), "district", GRID1,
          [("02-10 08:40", "accepted", "handled"), ("02-10 08:50", "handled", "returned")]),
}


@pytest.fixture(scope="module")
def world(empty_db):
    create_tiny_place(empty_db)
    conn = empty_db.connect(admin=True)
    with conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO incident_categories (code, class, name, name_en, source)
                       VALUES ('K1', 'event', '乱堆物料', 'Dumping', 'synthetic') RETURNING id""")
        cat = cur.fetchone()[0]
        cur.execute("""SELECT d.id, s.id, c.id FROM districts d JOIN streets s ON s.district_id = d.id
                         JOIN communities c ON c.street_id = s.id""")
        d, s, c = cur.fetchone()
        cur.execute("SELECT code, id FROM grids")
        grids = dict(cur.fetchall())
        ids = {}
        for code, (state, level, rep, disp, due, handled, closed, clevel, pt, extra) in CASES.items():
            grid = grids["990100001001001" if pt == GRID1 else "990100001001002"]
            cur.execute(
                """INSERT INTO incidents (code, category_id, title, severity, state, level,
                       reported_at, dispatched_at, due_at, handled_at, closed_at, closed_level,
                       district_id, street_id, community_id, grid_id, geom, source)
                   VALUES (%s, %s, %s, 'ordinary', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                           ST_SetSRID(ST_MakePoint(%s, %s), 4326), 'synthetic') RETURNING id""",
                (f"T{code}", cat, code, state, level, rep, disp, due, handled, closed, clevel,
                 d, s, c, grid, *pt))
            ids[code] = cur.fetchone()[0]
            if disp is not None:
                evs = loop(rep, disp, due, handled, closed,
                           [(L(t), f, to) for t, f, to in (extra or [])])
            else:
                evs = [(rep, None, "reported")]
                if closed:
                    evs.append((closed, "reported", state))
            for at, f, to in evs:
                cur.execute("""INSERT INTO incident_events (incident_id, at, from_state, to_state,
                                   level, source) VALUES (%s, %s, %s, %s, %s, 'synthetic')""",
                            (ids[code], at, f, to, level))
        cur.execute("UPDATE incidents SET duplicate_of = %s WHERE id = %s", (ids["A"], ids["K"]))
    conn.close()
    return ids


def test_district_march_by_hand(world):
    k = kpi.kpi(SYSTEM, "990100", *MARCH, now=NOW)
    assert k["due"] == 5                      # A B C D E
    assert k["deferred"] == 2                 # C (closed after a deferral), D (deferred at the end)
    assert k["closed_on_time"] == 2           # A, E (handled again in time: rework keeps the deadline)
    assert k["on_time_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert k["closed"] == 8                   # A B C E G H M N
    assert k["open_in_period"] == 10          # the closed ones + D F
    assert k["closure_rate"] == pytest.approx(8 / 10)
    assert k["overdue_now"] == 1              # F (D is deferred, J not dispatched)
    assert k["rework"] == 1                   # E's return (P's was in February)
    # hours to close: N 1, G 2, M 10, A 24, B 48, E 48, C 216, H 288 -> (24 + 48) / 2
    assert k["median_hours_to_close"] == pytest.approx(36.0)
    assert k["closed_level"] == pytest.approx(
        {"grid": 2 / 8, "community": 1 / 8, "street": 1 / 8, "district": 4 / 8})
    assert sum(k["closed_level"].values()) == pytest.approx(1.0)


def test_narrower_scopes_and_empty_denominators(world):
    g2 = kpi.kpi(SYSTEM, "990100001001002", *MARCH, now=NOW)
    assert (g2["due"], g2["closed"], g2["open_in_period"], g2["overdue_now"]) == (0, 1, 1, 0)
    assert g2["on_time_rate"] is None and g2["closure_rate"] == 1.0
    assert g2["closed_level"] == {"grid": 0.0, "community": 0.0, "street": 1.0, "district": 0.0}
    street = kpi.kpi(SYSTEM, "990100001", *MARCH, now=NOW)
    district = kpi.kpi(SYSTEM, "990100", *MARCH, now=NOW)
    assert {k: v for k, v in street.items() if k != "scope"} == \
        {k: v for k, v in district.items() if k != "scope"}
    feb = kpi.kpi(SYSTEM, "990100", date(2026, 2, 1), date(2026, 2, 28), now=NOW)
    assert (feb["due"], feb["closed"], feb["rework"]) == (1, 2, 1)  # P; I and P; P's return
    empty = kpi.kpi(SYSTEM, "990100", date(2025, 1, 1), date(2025, 1, 31), now=NOW)
    assert empty["on_time_rate"] is None and empty["closure_rate"] is None
    assert empty["median_hours_to_close"] is None
    assert set(empty["closed_level"].values()) == {None}


def test_deferred_at_the_period_end_depends_on_the_end(world):
    # D was deferred on 03-24: a period ending 03-23 does not see its deferral (nor its due)
    early = kpi.kpi(SYSTEM, "990100", date(2026, 3, 1), date(2026, 3, 23), now=NOW)
    assert (early["due"], early["deferred"]) == (3, 1)  # A B C; C closed after a deferral


def test_scope_and_period_are_checked(world):
    with pytest.raises(Denied):
        kpi.kpi(Principal("gw", "grid_worker", "990100001001001"), "990100", *MARCH, now=NOW)
    with pytest.raises(Denied):
        kpi.kpi(Principal("pl", "planner", "990100"), "990100", *MARCH, now=NOW)
    with pytest.raises(kpi.Refused, match="kpi.period"):
        kpi.kpi(SYSTEM, "990100", date(2026, 3, 31), date(2026, 3, 1), now=NOW)
    with pytest.raises(kpi.Refused, match="kpi.scope"):
        kpi.kpi(SYSTEM, "99010", *MARCH, now=NOW)
    with pytest.raises(kpi.Refused, match="kpi.scope"):
        kpi.kpi(SYSTEM, "990199", *MARCH, now=NOW)
