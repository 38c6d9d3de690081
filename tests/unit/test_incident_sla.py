"""SLA arithmetic: deadlines by severity, deferral extending them, calendar and working hours."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest

from geo.errors import ConfigError
from geo.incidents.sla import Clock, settings_from_env
from geo.incidents.states import InvalidTransition

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def L(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


CAL = Clock()
WORK = Clock(working=True)  # Mon-Fri 09:00-18:00 Asia/Shanghai


def test_calendar_deadlines_by_severity():
    t = L(2026, 3, 6, 17, 30)  # a Friday
    assert CAL.due_at(t, "ordinary") == t + timedelta(hours=1)
    assert CAL.due_at(t, "major") == t + timedelta(days=1)
    assert CAL.due_at(t, "complex") == t + timedelta(days=7)
    with pytest.raises(InvalidTransition, match="unknown severity"):
        CAL.due_at(t, "urgent")


def test_working_hours_skip_nights_and_weekends():
    fri = L(2026, 3, 6, 17, 30)
    assert WORK.due_at(fri, "ordinary") == L(2026, 3, 9, 9, 30)   # 30 min Fri + 30 min Mon
    assert WORK.due_at(L(2026, 3, 7, 11), "ordinary") == L(2026, 3, 9, 10)  # Saturday report
    assert WORK.due_at(L(2026, 3, 9, 7), "ordinary") == L(2026, 3, 9, 10)   # before opening
    # one day = 24 working hours = 2 days 6 hours of working days
    assert WORK.due_at(L(2026, 3, 9, 9), "major") == L(2026, 3, 11, 15)
    assert WORK.elapsed(L(2026, 3, 6, 17), L(2026, 3, 9, 10)) == timedelta(hours=2)
    assert WORK.elapsed(L(2026, 3, 9, 10), L(2026, 3, 9, 9)) == timedelta(0)


def test_deferral_extends_the_deadline_by_the_time_deferred():
    dispatched = L(2026, 3, 2, 9)
    due = CAL.due_at(dispatched, "major")                        # Tue 09:00
    extended = CAL.extend(due, L(2026, 3, 2, 12), L(2026, 3, 4, 12))  # two days deferred
    assert extended == due + timedelta(days=2)
    assert CAL.extend(due, L(2026, 3, 2, 12), L(2026, 3, 2, 12)) == due
    # in working hours a weekend spent deferred extends nothing beyond the working time
    wdue = WORK.due_at(L(2026, 3, 6, 9), "ordinary")              # Fri 10:00
    assert WORK.extend(wdue, L(2026, 3, 6, 17), L(2026, 3, 9, 10)) == L(2026, 3, 6, 12)


def test_settings_are_validated():
    base = {"photo_max_bytes": 1024, "duplicate_radius_m": 50}
    got = settings_from_env({"INCIDENT_LIMIT_ORDINARY": "90m", "INCIDENT_CLOCK": "working"}, **base)
    assert got["incident_limits"]["ordinary"] == timedelta(minutes=90)
    assert got["incident_clock"] == "working"
    with pytest.raises(ConfigError, match="INCIDENT_CLOCK"):
        settings_from_env({"INCIDENT_CLOCK": "lunar"}, **base)
    with pytest.raises(ConfigError, match="INCIDENT_WORK_HOURS"):
        settings_from_env({"INCIDENT_WORK_HOURS": "18:00-09:00"}, **base)
    with pytest.raises(ConfigError, match="INCIDENT_WORK_HOURS"):
        settings_from_env({"INCIDENT_WORK_HOURS": "nine to five"}, **base)
    with pytest.raises(ConfigError, match="INCIDENT_LIMIT_MAJOR"):
        settings_from_env({"INCIDENT_LIMIT_MAJOR": "-1h"}, **base)
