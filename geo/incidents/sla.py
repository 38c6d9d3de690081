"""The SLA clock: deadlines in calendar time or in working hours (pure, no database).

The clock starts at dispatch: ``due_at = clock.add(dispatched_at, limit(severity))``. Rework
keeps the deadline; time spent deferred extends it by ``clock.elapsed(deferred_at,
resumed_at)`` (in working hours when the clock counts working hours: a weekend spent
deferred extends nothing).

Settings (read once by :mod:`geo.settings`):

* ``INCIDENT_LIMIT_ORDINARY|MAJOR|COMPLEX``: time limits (``1h``, ``1d``, ``7d`` by default);
* ``INCIDENT_CLOCK``: ``calendar`` (default) or ``working``;
* ``INCIDENT_WORK_HOURS``: the working day in ``TIMEZONE``, ``09:00-18:00`` by default,
  Monday to Friday (public holidays are not known to the clock).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from geo.errors import ConfigError
from geo.incidents.states import DEFAULT_LIMITS, SEVERITIES, InvalidTransition, limits_from_env

CLOCKS = ("calendar", "working")


def _parse_hours(raw: str) -> tuple[time, time]:
    try:
        a, b = (part.strip() for part in raw.split("-"))
        start = time.fromisoformat(a)
        end = time.fromisoformat(b)
    except ValueError:
        raise ConfigError(f"INCIDENT_WORK_HOURS must look like 09:00-18:00, got {raw!r}") from None
    if start >= end:
        raise ConfigError(f"INCIDENT_WORK_HOURS must start before it ends, got {raw!r}")
    return start, end


def settings_from_env(environ: Mapping[str, str], *, photo_max_bytes: int,
                      duplicate_radius_m: int) -> dict:
    """The incident fields of :class:`geo.settings.Settings`, validated.

    Raises
    ------
    ConfigError
        A limit, the clock or the working hours are malformed.
    """
    clock = (environ.get("INCIDENT_CLOCK") or "calendar").strip().lower()
    if clock not in CLOCKS:
        raise ConfigError(f"INCIDENT_CLOCK must be calendar or working, got {clock!r}")
    hours = environ.get("INCIDENT_WORK_HOURS") or "09:00-18:00"
    _parse_hours(hours)
    return {
        "incident_limits": limits_from_env(environ),
        "incident_clock": clock,
        "incident_work_hours": hours,
        "incident_photo_max_bytes": photo_max_bytes,
        "incident_duplicate_radius_m": duplicate_radius_m,
    }


@dataclass(frozen=True)
class Clock:
    """How deadlines are counted.

    Attributes
    ----------
    limits:
        Time allowed per severity (working time when ``working``).
    working:
        ``False``: calendar time; ``True``: only Monday-Friday between ``day_start`` and
        ``day_end`` in ``timezone`` counts.
    """

    limits: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    working: bool = False
    day_start: time = time(9, 0)
    day_end: time = time(18, 0)
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, settings) -> Clock:
        """The clock configured by :func:`geo.settings.get_settings`."""
        start, end = _parse_hours(settings.incident_work_hours)
        return cls(limits=settings.incident_limits or dict(DEFAULT_LIMITS),
                   working=settings.incident_clock == "working",
                   day_start=start, day_end=end, timezone=settings.timezone)

    def limit(self, severity: str) -> timedelta:
        if severity not in SEVERITIES:
            raise InvalidTransition(
                f"未知的紧急程度 {severity!r} / unknown severity {severity!r}; "
                f"expected one of {', '.join(SEVERITIES)}")
        return self.limits[severity]

    def due_at(self, dispatched_at: datetime, severity: str) -> datetime:
        """The deadline of a case dispatched at ``dispatched_at``."""
        return self.add(dispatched_at, self.limit(severity))

    # -- working-day arithmetic ------------------------------------------------------
    def _windows(self, day: date):
        """The working window of a local day as aware datetimes (None on weekends)."""
        if day.weekday() >= 5:
            return None
        tz = zoneinfo.ZoneInfo(self.timezone)
        return (datetime.combine(day, self.day_start, tz), datetime.combine(day, self.day_end, tz))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` of counted time."""
        if not self.working:
            return start + duration
        if duration <= timedelta(0):
            return start
        tz = zoneinfo.ZoneInfo(self.timezone)
        left = duration
        day = start.astimezone(tz).date()
        while True:
            win = self._windows(day)
            if win is not None:
                lo = max(win[0], start)
                if lo < win[1]:
                    if lo + left <= win[1]:
                        return lo + left
                    left -= win[1] - lo
            day += timedelta(days=1)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Counted time between ``start`` and ``end`` (zero when ``end <= start``)."""
        if end <= start:
            return timedelta(0)
        if not self.working:
            return end - start
        tz = zoneinfo.ZoneInfo(self.timezone)
        total = timedelta(0)
        day = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        while day <= last:
            win = self._windows(day)
            if win is not None:
                lo, hi = max(win[0], start), min(win[1], end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def extend(self, due_at: datetime, deferred_at: datetime, resumed_at: datetime) -> datetime:
        """The deadline after a deferral from ``deferred_at`` to ``resumed_at``."""
        return self.add(due_at, self.elapsed(deferred_at, resumed_at)) if self.working \
            else due_at + (resumed_at - deferred_at if resumed_at > deferred_at else timedelta(0))
