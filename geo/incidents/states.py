"""The incident state machine and its clock: pure functions, no database.

A case is *reported* at some level (grid, community, street or district).  Below the
district it is either **resolved on the spot** at that level or **escalated** to the next
level (grid > community > street > district), where the same choice repeats.  At the
district a case is **filed** and follows the dispatch loop::

    filed > dispatched > accepted > handled > verified > closed > evaluated

with two detours and one side exit:

* **returned** (rework): the verification of a *handled* case fails, the case is returned
  to the department and goes back to *handled* when reworked;
* **deferred** (缓办 / 挂账): a *dispatched* or *accepted* case can be put on hold and later
  resumes to the state it was deferred from;
* **duplicate** (重复件): any open case merged into another one is closed as a duplicate
  at the level it is at (``closed_level`` = that level); it is left out of the KPIs.

Design choices
--------------
* ``resolved`` is the terminal state of a case closed **below** the district: it sets
  ``closed_at`` and ``closed_level`` (the level it was resolved at; "small matters stay in
  the grid" is the share with ``closed_level == 'grid'``).  At the district a case ends as
  ``closed`` (``closed_level == 'district'``) and may later be ``evaluated``; both count as
  closed.  A case is never resolved at the district: there it is filed and dispatched.
* ``escalated`` is both the event and the state of a case that has just arrived at the next
  level: an escalation event carries the level the case **arrives at**; every other event
  carries the level the case is already at.
* The clock starts at dispatch: ``due_at = dispatched_at + limit(severity)`` with limits
  ordinary 1 hour, major 1 day, complex 7 days (a plan within a week).  Limits are
  configurable (:func:`limits_from_env`); :data:`DEFAULT_LIMITS` holds the defaults.
* A deferred case is still open; KPIs subtract deferred cases from the due ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geo.errors import ConfigError, GridAtlasError

LEVELS: tuple[str, ...] = ("grid", "community", "street", "district")
"""Levels from the lowest to the highest."""

STATES: tuple[str, ...] = (
    "reported",
    "escalated",
    "resolved",
    "filed",
    "dispatched",
    "accepted",
    "handled",
    "verified",
    "closed",
    "evaluated",
    "returned",
    "deferred",
    "duplicate",
)
"""Every state an incident can be in (the values of ``incidents.state``)."""

SEVERITIES: tuple[str, ...] = ("ordinary", "major", "complex")

INITIAL_STATE = "reported"

CLOSED_STATES: frozenset[str] = frozenset({"resolved", "closed", "evaluated", "duplicate"})
"""States in which a case is closed (``closed_at`` and ``closed_level`` are set)."""

TERMINAL_STATES: frozenset[str] = frozenset({"resolved", "evaluated", "duplicate"})
"""States with no way out."""

LOWER_LEVELS: frozenset[str] = frozenset(LEVELS[:-1])
DISTRICT: frozenset[str] = frozenset({"district"})

# from_state -> {to_state: levels at which the transition may happen}
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "reported": {
        "resolved": LOWER_LEVELS,
        "escalated": LOWER_LEVELS,
        "filed": DISTRICT,
    },
    "escalated": {
        "resolved": LOWER_LEVELS,
        "escalated": LOWER_LEVELS,
        "filed": DISTRICT,
    },
    "filed": {"dispatched": DISTRICT},
    "dispatched": {"accepted": DISTRICT, "deferred": DISTRICT},
    "accepted": {"handled": DISTRICT, "deferred": DISTRICT},
    "deferred": {"dispatched": DISTRICT, "accepted": DISTRICT},
    "handled": {"verified": DISTRICT, "returned": DISTRICT},
    "returned": {"handled": DISTRICT},
    "verified": {"closed": DISTRICT},
    "closed": {"evaluated": DISTRICT},
    "resolved": {},
    "evaluated": {},
    "duplicate": {},
}
"""Legal moves: ``TRANSITIONS[from_state][to_state]`` is the set of levels where the case
may be when the move happens (for ``escalated``: the level it is escalated **from**)."""

# The level at which a case that is in a given state can be.
STATE_LEVELS: dict[str, frozenset[str]] = {
    "reported": frozenset(LEVELS),
    "escalated": frozenset(LEVELS[1:]),
    "resolved": LOWER_LEVELS,
    "duplicate": frozenset(LEVELS),
    **{s: DISTRICT for s in STATES if s not in ("reported", "escalated", "resolved", "duplicate")},
}

# A side exit: an open case merged into another one is closed as a duplicate at whatever
# level it is (it is linked to the case kept and left out of the KPIs).
DUPLICATE = "duplicate"
for _state, _levels in STATE_LEVELS.items():
    if _state not in CLOSED_STATES:
        TRANSITIONS[_state][DUPLICATE] = _levels
del _state, _levels

DEFAULT_LIMITS: dict[str, timedelta] = {
    "ordinary": timedelta(hours=1),
    "major": timedelta(days=1),
    "complex": timedelta(days=7),
}
"""Time allowed from dispatch to handling, by severity."""

DUE_SOON_SHARE = 0.25
"""A case is *due soon* when less than this share of its time limit is left."""


class InvalidTransition(GridAtlasError):
    """A move the state machine does not allow; the message names the step and why."""


@dataclass(frozen=True)
class Event:
    """One step of a case's history (mirrors a row of ``incident_events``).

    Attributes
    ----------
    to_state:
        State after the event.
    level:
        Level of the case after the event (for an escalation: the level it arrives at).
    from_state:
        State before the event; ``None`` for the first event.
    at:
        When it happened (optional for replay; checked to be non-decreasing if given).
    """

    to_state: str
    level: str
    from_state: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class CaseState:
    """Where a case stands after replaying its events."""

    state: str
    level: str
    closed_level: str | None
    steps: int


def next_level(level: str) -> str | None:
    """The level above ``level`` (``None`` above the district).

    Parameters
    ----------
    level:
        One of :data:`LEVELS`.

    Returns
    -------
    str or None
    """
    _check_level(level)
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise InvalidTransition(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def _check_state(state: str) -> None:
    if state not in STATES:
        raise InvalidTransition(f"unknown state {state!r}; expected one of {', '.join(STATES)}")


def can_transition(from_state: str | None, to_state: str, level: str) -> bool:
    """Whether a case in ``from_state`` at ``level`` may move to ``to_state``.

    Parameters
    ----------
    from_state:
        Current state, or ``None`` for a new case (only ``reported`` is allowed then).
    to_state:
        Requested state.
    level:
        Level the case is at **before** the move (for ``escalated``, the level it leaves).

    Returns
    -------
    bool
        ``False`` for unknown states or levels as well as for illegal moves.
    """
    if level not in LEVELS or to_state not in STATES:
        return False
    if from_state is None:
        return to_state == INITIAL_STATE
    if from_state not in STATES:
        return False
    if level not in STATE_LEVELS[from_state]:
        return False
    return level in TRANSITIONS[from_state].get(to_state, frozenset())


def explain_transition(from_state: str | None, to_state: str, level: str) -> str | None:
    """Why a move is refused (``None`` if it is allowed).

    Parameters
    ----------
    from_state, to_state, level:
        As for :func:`can_transition`.

    Returns
    -------
    str or None
        A sentence naming the states, the level and the moves that are allowed instead.
    """
    if level not in LEVELS:
        return f"unknown level {level!r} (expected one of {', '.join(LEVELS)})"
    if to_state not in STATES:
        return f"unknown state {to_state!r} (expected one of {', '.join(STATES)})"
    if from_state is None:
        if to_state == INITIAL_STATE:
            return None
        return f"a new case starts as {INITIAL_STATE!r}, not {to_state!r}"
    if from_state not in STATES:
        return f"unknown state {from_state!r} (expected one of {', '.join(STATES)})"
    if can_transition(from_state, to_state, level):
        return None
    if level not in STATE_LEVELS[from_state]:
        return (
            f"a case cannot be {from_state!r} at {level} level "
            f"(only at {', '.join(sorted(STATE_LEVELS[from_state], key=LEVELS.index))})"
        )
    allowed = sorted(t for t, lv in TRANSITIONS[from_state].items()
                     if level in lv and t != DUPLICATE)
    if not allowed:
        return f"{from_state!r} is final: no move to {to_state!r} is allowed"
    return (
        f"{from_state!r} cannot move to {to_state!r} at {level} level; "
        f"allowed: {', '.join(allowed)}"
    )


def replay(events: Iterable[Event | Mapping[str, Any]]) -> CaseState:
    """Check a case history against the state machine and return where it ends.

    Parameters
    ----------
    events:
        The case's events in order: :class:`Event` objects or mappings with keys
        ``to_state``, ``level`` and optionally ``from_state`` and ``at``.  Each event's
        ``level`` is the level after the event; an escalation must arrive exactly one
        level up, other events keep the level; a resumed deferral returns to the state
        it was deferred from; ``from_state``, when given, must equal the previous state.

    Returns
    -------
    CaseState
        Final state, level, closed level (``None`` while open) and number of steps.

    Raises
    ------
    InvalidTransition
        Naming the step (1-based), the states and what is allowed instead.
    """
    state: str | None = None
    level: str | None = None
    deferred_from: str | None = None
    last_at: datetime | None = None
    steps = 0
    for steps, raw in enumerate(events, start=1):
        ev = raw if isinstance(raw, Event) else Event(
            to_state=raw["to_state"],
            level=raw["level"],
            from_state=raw.get("from_state"),
            at=raw.get("at"),
        )
        where = f"step {steps} ({ev.from_state or 'start'} -> {ev.to_state} at {ev.level})"
        if ev.level not in LEVELS:
            raise InvalidTransition(f"{where}: unknown level {ev.level!r}")
        if steps > 1 and ev.from_state is not None and ev.from_state != state:
            raise InvalidTransition(
                f"{where}: the event starts from {ev.from_state!r} but the case is {state!r}"
            )
        if steps == 1 and ev.from_state is not None:
            raise InvalidTransition(f"{where}: the first event has no previous state")
        if ev.at is not None and last_at is not None and ev.at < last_at:
            raise InvalidTransition(f"{where}: happens before the previous step ({last_at})")
        if state is None:
            if ev.to_state != INITIAL_STATE:
                raise InvalidTransition(
                    f"{where}: a case starts as {INITIAL_STATE!r}, not {ev.to_state!r}"
                )
            state, level = ev.to_state, ev.level
        else:
            assert level is not None
            from_level = level
            if ev.to_state == "escalated":
                expected = next_level(level)
                if ev.level != expected:
                    raise InvalidTransition(
                        f"{where}: an escalation from {level} level must arrive at "
                        f"{expected or 'no higher'} level"
                    )
            elif ev.level != level:
                raise InvalidTransition(
                    f"{where}: the case is at {level} level; only an escalation changes level"
                )
            why = explain_transition(state, ev.to_state, from_level)
            if why:
                raise InvalidTransition(f"{where}: {why}")
            if state == "deferred" and ev.to_state != deferred_from:
                raise InvalidTransition(
                    f"{where}: a deferred case resumes to {deferred_from!r}, "
                    f"the state it was deferred from"
                )
            if ev.to_state == "deferred":
                deferred_from = state
            state, level = ev.to_state, ev.level
        if ev.at is not None:
            last_at = ev.at
    if state is None or level is None:
        raise InvalidTransition("an empty history: a case has at least its report event")
    return CaseState(
        state=state,
        level=level,
        closed_level=level if state in CLOSED_STATES else None,
        steps=steps,
    )


def is_open(state: str) -> bool:
    """Whether a case in ``state`` still needs work (deferred cases are open).

    Parameters
    ----------
    state:
        One of :data:`STATES`.
    """
    _check_state(state)
    return state not in CLOSED_STATES


def closed_level(state: str, level: str) -> str | None:
    """The ``closed_level`` of a case in ``state`` at ``level`` (``None`` while open)."""
    _check_state(state)
    _check_level(level)
    return level if state in CLOSED_STATES else None


def due_at(
    dispatched_at: datetime,
    severity: str,
    limits: Mapping[str, timedelta] = DEFAULT_LIMITS,
) -> datetime:
    """When a dispatched case must be handled.

    Parameters
    ----------
    dispatched_at:
        The dispatch time (the clock starts there).
    severity:
        ``ordinary``, ``major`` or ``complex``.
    limits:
        Time limit per severity; :data:`DEFAULT_LIMITS` by default.

    Returns
    -------
    datetime
    """
    try:
        return dispatched_at + limits[severity]
    except KeyError:
        raise InvalidTransition(
            f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}"
        ) from None


def urgency(now: datetime, dispatched_at: datetime, due_at: datetime) -> str:
    """How pressing an open, dispatched case is.

    Parameters
    ----------
    now:
        The current time (injected: tests pass their own clock).
    dispatched_at, due_at:
        Start and end of the case's time limit.

    Returns
    -------
    str
        ``'overdue'`` once ``now`` is past ``due_at``; ``'due_soon'`` when less than
        :data:`DUE_SOON_SHARE` of the limit is left; else ``'on_time'``.
    """
    if now > due_at:
        return "overdue"
    total = (due_at - dispatched_at).total_seconds()
    left = (due_at - now).total_seconds()
    if total <= 0 or left < DUE_SOON_SHARE * total:
        return "due_soon"
    return "on_time"


def _parse_duration(name: str, raw: str) -> timedelta:
    units = {"m": 60, "h": 3600, "d": 86400}
    text = raw.strip().lower()
    try:
        if text and text[-1] in units:
            seconds = float(text[:-1]) * units[text[-1]]
        else:
            seconds = float(text) * 3600
    except ValueError:
        raise ConfigError(
            f"{name} must be a duration such as 90m, 1h, 1d or 7d, got {raw!r}"
        ) from None
    if seconds <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return timedelta(seconds=seconds)


def limits_from_env(environ: Mapping[str, str] | None = None) -> dict[str, timedelta]:
    """Time limits per severity from ``INCIDENT_LIMIT_ORDINARY|MAJOR|COMPLEX``.

    Parameters
    ----------
    environ:
        Where to read (``os.environ`` by default).  Values are durations such as ``90m``,
        ``1h``, ``1d``, ``7d`` (a bare number means hours); missing ones keep the default.

    Returns
    -------
    dict
        Severity -> :class:`~datetime.timedelta`.

    Raises
    ------
    ConfigError
        A value is malformed or not positive.
    """
    env = os.environ if environ is None else environ
    limits = dict(DEFAULT_LIMITS)
    for sev in SEVERITIES:
        name = f"INCIDENT_LIMIT_{sev.upper()}"
        raw = env.get(name)
        if raw:
            limits[sev] = _parse_duration(name, raw)
    return limits


def legal_paths(start_level: str = "grid", max_loops: int = 1) -> list[list[Event]]:
    """Every complete legal history from a report at ``start_level`` (for tests and docs).

    Parameters
    ----------
    start_level:
        Where the case is reported.
    max_loops:
        How many times each detour (returned rework, deferral) may be taken.

    Returns
    -------
    list of list of Event
        Histories ending in a terminal or closed state (``resolved``, ``closed``,
        ``evaluated``); the ``duplicate`` side exit is left out.
    """
    _check_level(start_level)
    paths: list[list[Event]] = []

    def walk(path: list[Event], state: str, level: str, loops: dict[str, int],
             deferred_from: str | None) -> None:
        if state in CLOSED_STATES:
            paths.append(list(path))
            if state in TERMINAL_STATES:
                return
        for to_state, levels in TRANSITIONS[state].items():
            if level not in levels or to_state == DUPLICATE:
                continue  # the duplicate exit is a merge, not a path of work
            if state == "deferred" and to_state != deferred_from:
                continue
            if to_state in ("returned", "deferred") and loops.get(to_state, 0) >= max_loops:
                continue
            new_level = next_level(level) if to_state == "escalated" else level
            assert new_level is not None
            new_loops = dict(loops)
            if to_state in ("returned", "deferred"):
                new_loops[to_state] = loops.get(to_state, 0) + 1
            path.append(Event(to_state, new_level, state))
            walk(path, to_state, new_level, new_loops,
                 state if to_state == "deferred" else deferred_from)
            path.pop()

    walk([Event(INITIAL_STATE, start_level)], INITIAL_STATE, start_level, {}, None)
    return paths
