"""The incident state machine: every legal path replays, illegal moves are refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo.errors import ConfigError
from geo.incidents import states as sm
from geo.incidents.states import Event, InvalidTransition

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def ev(to_state: str, level: str, from_state: str | None = None) -> Event:
    return Event(to_state=to_state, level=level, from_state=from_state)


@pytest.mark.parametrize("start", sm.LEVELS)
def test_every_legal_path_replays(start: str) -> None:
    paths = sm.legal_paths(start)
    assert paths
    for path in paths:
        end = sm.replay(path)
        assert end.state == path[-1].to_state
        assert end.level == path[-1].level
        assert end.closed_level == end.level
        assert not sm.is_open(end.state)


def test_path_shapes() -> None:
    grid_paths = sm.legal_paths("grid")
    finals = {(p[-1].to_state, p[-1].level) for p in grid_paths}
    assert finals == {
        ("resolved", "grid"), ("resolved", "community"), ("resolved", "street"),
        ("closed", "district"), ("evaluated", "district"),
    }
    # the full district loop with both detours exists
    wanted = ["reported", "escalated", "escalated", "escalated", "filed", "dispatched",
              "deferred", "dispatched", "accepted", "handled", "returned", "handled",
              "verified", "closed", "evaluated"]
    assert wanted in [[e.to_state for e in p] for p in grid_paths]
    assert [[e.to_state for e in p] for p in sm.legal_paths("district")][0][:2] == [
        "reported", "filed"]


def test_resolved_on_the_spot_at_grid() -> None:
    end = sm.replay([ev("reported", "grid"), ev("resolved", "grid", "reported")])
    assert (end.state, end.closed_level) == ("resolved", "grid")


def test_open_states() -> None:
    for state in ("reported", "escalated", "filed", "dispatched", "accepted", "handled",
                  "verified", "returned", "deferred"):
        assert sm.is_open(state)
    for state in ("resolved", "closed", "evaluated"):
        assert not sm.is_open(state)
    with pytest.raises(InvalidTransition, match="unknown state"):
        sm.is_open("lost")


@pytest.mark.parametrize(
    ("from_state", "to_state", "level"),
    [
        ("reported", "filed", "grid"),          # filing is a district step
        ("reported", "resolved", "district"),   # the district files, never resolves on the spot
        ("reported", "escalated", "district"),  # nothing above the district
        ("filed", "closed", "district"),        # skipping the loop
        ("handled", "closed", "district"),
        ("verified", "returned", "district"),
        ("resolved", "escalated", "grid"),      # final
        ("evaluated", "closed", "district"),
        ("dispatched", "accepted", "grid"),     # wrong level for the state
        (None, "filed", "district"),            # a case starts as reported
        ("reported", "bogus", "grid"),
        ("reported", "resolved", "planet"),
    ],
)
def test_illegal_moves_refused(from_state, to_state, level) -> None:
    assert not sm.can_transition(from_state, to_state, level)
    assert sm.explain_transition(from_state, to_state, level)


def test_every_pair_consistent_with_table() -> None:
    for f in sm.STATES:
        for t in sm.STATES:
            for lv in sm.LEVELS:
                ok = sm.can_transition(f, t, lv)
                assert ok == (lv in sm.STATE_LEVELS[f] and lv in sm.TRANSITIONS[f].get(t, ()))
                assert (sm.explain_transition(f, t, lv) is None) == ok


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([ev("filed", "district")], r"step 1 .*starts as 'reported'"),
        ([ev("reported", "grid"), ev("escalated", "street", "reported")],
         r"step 2 .*must arrive at community"),
        ([ev("reported", "grid"), ev("filed", "grid", "reported")],
         r"step 2 .*'reported' cannot move to 'filed' at grid level; allowed: escalated, resolved"),
        ([ev("reported", "district"), ev("filed", "district"), ev("dispatched", "district"),
          ev("accepted", "district"), ev("closed", "district")],
         r"step 5 .*allowed: deferred, handled"),
        ([ev("reported", "district"), ev("filed", "district"), ev("dispatched", "district"),
          ev("deferred", "district"), ev("accepted", "district")],
         r"step 5 .*resumes to 'dispatched'"),
        ([ev("reported", "grid"), ev("resolved", "community", "reported")],
         r"step 2 .*only an escalation changes level"),
        ([ev("reported", "grid"), ev("resolved", "grid", "filed")],
         r"step 2 .*starts from 'filed' but the case is 'reported'"),
        ([ev("reported", "grid"), ev("resolved", "grid"), ev("escalated", "community")],
         r"step 3 .*'resolved' is final"),
        ([], "empty history"),
    ],
)
def test_replay_names_the_failing_step(events, message) -> None:
    with pytest.raises(InvalidTransition, match=message):
        sm.replay(events)


def test_replay_accepts_mappings_and_checks_time_order() -> None:
    rows = [
        {"to_state": "reported", "level": "grid", "from_state": None, "at": T0},
        {"to_state": "resolved", "level": "grid", "from_state": "reported",
         "at": T0 + timedelta(minutes=5)},
    ]
    assert sm.replay(rows).state == "resolved"
    rows[1]["at"] = T0 - timedelta(minutes=5)
    with pytest.raises(InvalidTransition, match="before the previous step"):
        sm.replay(rows)


def test_due_at_by_severity() -> None:
    assert sm.due_at(T0, "ordinary") == T0 + timedelta(hours=1)
    assert sm.due_at(T0, "major") == T0 + timedelta(days=1)
    assert sm.due_at(T0, "complex") == T0 + timedelta(days=7)
    assert sm.due_at(T0, "major", {"major": timedelta(hours=4)}) == T0 + timedelta(hours=4)
    with pytest.raises(InvalidTransition, match="unknown severity 'huge'"):
        sm.due_at(T0, "huge")


def test_urgency() -> None:
    due = T0 + timedelta(hours=4)
    assert sm.urgency(T0 + timedelta(hours=1), T0, due) == "on_time"
    assert sm.urgency(T0 + timedelta(hours=3), T0, due) == "on_time"  # exactly 25 % left
    assert sm.urgency(T0 + timedelta(hours=3, minutes=1), T0, due) == "due_soon"
    assert sm.urgency(due, T0, due) == "due_soon"
    assert sm.urgency(due + timedelta(seconds=1), T0, due) == "overdue"


def test_limits_from_env() -> None:
    assert sm.limits_from_env({}) == sm.DEFAULT_LIMITS
    limits = sm.limits_from_env({"INCIDENT_LIMIT_ORDINARY": "90m", "INCIDENT_LIMIT_COMPLEX": "5d"})
    assert limits["ordinary"] == timedelta(minutes=90)
    assert limits["major"] == timedelta(days=1)
    assert limits["complex"] == timedelta(days=5)
    with pytest.raises(ConfigError, match="INCIDENT_LIMIT_MAJOR"):
        sm.limits_from_env({"INCIDENT_LIMIT_MAJOR": "soon"})
    with pytest.raises(ConfigError, match="positive"):
        sm.limits_from_env({"INCIDENT_LIMIT_MAJOR": "0h"})
