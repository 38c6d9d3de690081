"""The living demo: a simulator that reports cases and moves its own through the loop, and the
minute tick (:func:`geo.incidents.service.tick`) that marks newly overdue cases.

``make run`` starts ``python -m geo demo simulate --background`` as its own process beside
the web server (never inside a web worker). ``DEMO_SIMULATOR=0`` turns the simulator off;
the tick runs all the same. Tests never start it.

The simulator acts only through the incident service, as the people of the loop would:
the 12345 hotline (``simulator:12345``) reports at district level, the district operator
(``simulator:operator``) files, dispatches, verifies and closes, the department the case is
routed to (``simulator:department``) accepts and handles. It only ever selects cases whose
``reported_by`` is its own hotline name, and it passes the version it saw, so a case a person
acted on meanwhile is left alone (:class:`~geo.incidents.service.CaseChanged`). A share of
its cases is handled after the deadline, so the wall shows the occasional overdue case.

The tick: with several processes running this (several machines), exactly one ticks: the
process holding a PostgreSQL session advisory lock on a dedicated connection. When that
process dies its connection closes, the lock is free, and another takes over within a
minute.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from geo import db
from geo.access.roles import Principal
from geo.errors import DatabaseUnavailable, GridAtlasError
from geo.incidents import service

log = logging.getLogger(__name__)

REPORTER = "simulator:12345"
TICK_LOCK_KEY = 0x47410001  # pg advisory lock: the one process that ticks
MINUTE = 60.0


def enabled_by_setting() -> bool:
    """``DEMO_SIMULATOR`` (default on): off leaves only the tick running."""
    from geo.settings import _bool

    return _bool("DEMO_SIMULATOR", True)


@dataclass(frozen=True)
class SimConfig:
    """The simulator's knobs (times in seconds of demo time; ``speed`` divides them).

    Attributes
    ----------
    speed:
        How much faster than real time the simulator's own steps go (a deadline is the
        service's real deadline whatever the speed).
    report_every:
        Mean time between two new cases.
    max_open:
        No new case while this many of its own are open.
    overdue_share:
        Share of its cases the department handles after the deadline.
    return_share:
        Share of handled cases the operator returns for rework.
    evaluate_share:
        Share of closed cases that get an evaluation.
    district:
        District code to report in (default: the first district).
    seed:
        Seed of every random choice (None: fresh each run).
    """

    speed: float = 1.0
    report_every: float = 300.0
    max_open: int = 30
    overdue_share: float = 0.12
    return_share: float = 0.08
    evaluate_share: float = 0.5
    district: str | None = None
    seed: int | None = None
    # (low, high) delay before each step, by the state the case is in
    delays: dict = field(default_factory=lambda: {
        "reported": (60, 300), "filed": (120, 600), "dispatched": (180, 900),
        "handled": (300, 1200), "returned": (600, 1800), "verified": (60, 300),
        "closed": (1800, 7200)})


def _share(code: str, salt: str) -> float:
    """A stable number in [0, 1) per case (its fate does not change on a restart)."""
    h = hashlib.sha256(f"{code}:{salt}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class Simulator:
    """Reports cases and moves the simulator's own ones one step at a time (see module doc)."""

    def __init__(self, config: SimConfig = SimConfig()) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self._points: list[tuple[float, float]] = []
        self._categories: list[dict] = []
        self._district: str | None = None
        self._next_report = time.monotonic()  # the first case at once, then ~report_every
        self.counts = {"reported": 0, "moved": 0, "skipped": 0}

    # ----------------------------------------------------------------------- actors

    def _actors(self) -> dict[str, service.Actor]:
        d = self._district
        return {
            "reporter": service.Actor(Principal(REPORTER, "operator", d, "12345 热线（演示）")),
            "operator": service.Actor(Principal("simulator:operator", "operator", d, "值班员（演示）")),
        }

    def _department_actor(self, department_id: int) -> service.Actor:
        return service.Actor(Principal("simulator:department", "department", self._district,
                                       "职能部门（演示）"), department_id)

    # ----------------------------------------------------------------------- setup

    def prepare(self) -> None:
        """Read where cases may be reported (building points) and the routed categories."""
        with db.transaction(readonly=True) as cur:
            cur.execute("SELECT id, code FROM districts WHERE %(d)s::text IS NULL OR code = %(d)s"
                        " ORDER BY code LIMIT 1", {"d": self.config.district})
            row = cur.fetchone()
            if row is None:
                raise GridAtlasError("没有可模拟的区 / no district to simulate (load the demo first)")
            self._district = row["code"]
            cur.execute(
                """SELECT ST_X(b.pt) AS x, ST_Y(b.pt) AS y
                     FROM buildings b JOIN communities c ON c.id = b.community_id
                    WHERE c.district_id = %s
                    ORDER BY md5(b.code) LIMIT 2000""", (row["id"],))
            self._points = [(r["x"], r["y"]) for r in cur.fetchall()]
            cur.execute(
                """SELECT c.code, c.name FROM incident_categories c
                     LEFT JOIN incident_categories p ON p.id = c.parent_id
                    WHERE coalesce(c.department_id, p.department_id) IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM incident_categories k WHERE k.parent_id = c.id)
                    ORDER BY c.code""")
            self._categories = [dict(r) for r in cur.fetchall()]
        if not self._points or not self._categories:
            raise GridAtlasError("演示区没有建筑或可派遣的事件类别 / the district has no buildings or "
                                 "no routed incident categories to simulate")

    # ----------------------------------------------------------------------- one step

    def own_cases(self, now: datetime) -> list[dict]:
        """The simulator's own cases that may still move (nobody else's, ever)."""
        return db.fetch_all(
            """SELECT i.id, i.code, i.state, i.version, i.severity, i.dispatched_at, i.due_at,
                      i.department_id, i.closed_at,
                      (SELECT max(e.at) FROM incident_events e
                        WHERE e.incident_id = i.id AND e.kind = 'transition') AS since
                 FROM incidents i
                WHERE i.reported_by = %s
                  AND i.state NOT IN ('resolved', 'evaluated', 'duplicate', 'deferred')
                  AND (i.closed_at IS NULL OR i.closed_at > %s)
                ORDER BY i.id""", (REPORTER, now - timedelta(days=1)))

    def step(self, now: datetime | None = None) -> dict:
        """Report what is due and move each own case whose next step has come. Returns counts."""
        now = now or datetime.now(UTC)
        if not self._points:
            self.prepare()
        cases = self.own_cases(now)
        open_n = sum(1 for c in cases if c["closed_at"] is None)
        mean = self.config.report_every / self.config.speed
        while time.monotonic() >= self._next_report:
            self._next_report += float(self.rng.exponential(mean))
            if open_n < self.config.max_open:
                open_n += self._report(now)
        for case in cases:
            self._advance(case, now)
        return dict(self.counts)

    def _report(self, now: datetime) -> int:
        x, y = self._points[int(self.rng.integers(len(self._points)))]
        cat = self._categories[int(self.rng.integers(len(self._categories)))]
        severity = str(self.rng.choice(["ordinary", "major", "complex"], p=[0.8, 0.15, 0.05]))
        try:
            out = service.report(self._actors()["reporter"], lon=x, lat=y, category=cat["code"],
                                 severity=severity, title=f"{cat['name']}（演示）",
                                 description="演示模拟上报 / simulated demo report",
                                 level="district", now=now)
        except service.Refused as exc:
            log.info("simulator: report refused: %s", exc.user_msg)
            self.counts["skipped"] += 1
            return 0
        self.counts["reported"] += 1
        log.info("simulator: reported %s (%s, %s)", out["code"], cat["code"], severity)
        return 1

    def _next(self, case: dict) -> tuple[str, str, float] | None:
        """(actor kind, target state, seconds after ``since``) of the case's next step."""
        state, code, speed = case["state"], case["code"], self.config.speed
        lo_hi = self.config.delays.get(state)

        def wait(lo: float, hi: float, salt: str) -> float:
            return (lo + (hi - lo) * _share(code, salt + state)) / speed

        if state in ("reported", "escalated"):
            return "operator", "filed", wait(*lo_hi, "f")
        if state == "filed":
            return "operator", "dispatched", wait(*lo_hi, "d")
        if state == "dispatched":
            return "department", "accepted", wait(*lo_hi, "a")
        if state == "accepted":
            # a share of the time allowed; some cases after the deadline (real time)
            limit = (case["due_at"] - case["dispatched_at"]).total_seconds()
            late = _share(code, "late") < self.config.overdue_share
            frac = 1.1 + 0.4 * _share(code, "lf") if late else 0.2 + 0.6 * _share(code, "hf")
            at = case["dispatched_at"] + timedelta(seconds=limit * frac / (1.0 if late else speed))
            return "department", "handled", max(0.0, (at - case["since"]).total_seconds())
        if state == "handled":
            back = _share(code, f"ret{case['version']}") < self.config.return_share
            return "operator", "returned" if back else "verified", wait(*lo_hi, "v")
        if state == "returned":
            return "department", "handled", wait(*lo_hi, "r")
        if state == "verified":
            return "operator", "closed", wait(*lo_hi, "c")
        if state == "closed" and _share(code, "eval") < self.config.evaluate_share:
            return "operator", "evaluated", wait(*lo_hi, "e")
        return None

    def _advance(self, case: dict, now: datetime) -> None:
        nxt = self._next(case)
        if nxt is None or case["since"] is None:
            return
        who, to_state, after = nxt
        if now < case["since"] + timedelta(seconds=after):
            return
        actor = (self._department_actor(case["department_id"]) if who == "department"
                 else self._actors()["operator"])
        try:
            if to_state == "evaluated":
                grade = ["satisfied", "satisfied", "basically_satisfied", "dissatisfied"][
                    int(_share(case["code"], "grade") * 4)]
                service.evaluate(actor, case["id"], grade, expected_version=case["version"], now=now)
            else:
                service.transition(actor, case["id"], to_state, expected_version=case["version"],
                                   note="演示模拟 / simulated", now=now)
        except service.Refused as exc:  # someone acted meanwhile, or a rule refused: leave it
            log.info("simulator: %s > %s refused: %s", case["code"], to_state, exc.user_msg)
            self.counts["skipped"] += 1
            return
        self.counts["moved"] += 1
        log.info("simulator: %s %s > %s", case["code"], case["state"], to_state)


class TickLeader:
    """Runs :func:`geo.incidents.service.tick` once a minute in exactly one process.

    The process holding the session advisory lock ``TICK_LOCK_KEY`` (on a connection of its
    own, kept open) ticks; the others try to take the lock each minute.
    """

    def __init__(self, every: float = MINUTE, tick: Callable[[], dict] = service.tick) -> None:
        self.every = every
        self._tick = tick
        self._conn = None
        self._last: float | None = None
        self.ticks = 0

    @property
    def leader(self) -> bool:
        return self._conn is not None

    def _hold_lock(self) -> bool:
        if self._conn is not None:
            try:
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return True
            except Exception:  # the connection died: the lock is gone with it
                self.release()
        conn = db.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (TICK_LOCK_KEY,))
            got = cur.fetchone()[0]
        if got:
            self._conn = conn
            log.info("tick: this process ticks (advisory lock %s)", TICK_LOCK_KEY)
        else:
            conn.close()
        return bool(got)

    def maybe_tick(self) -> dict | None:
        """Tick when a minute has passed and this process holds the lock; else None."""
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every:
            return None
        self._last = now
        try:
            if not self._hold_lock():
                return None
            out = self._tick()
        except DatabaseUnavailable as exc:
            log.warning("tick: database unavailable: %s", exc.user_msg)
            self.release()
            return None
        self.ticks += 1
        if out.get("overdue_marked") or out.get("deferrals_ended"):
            log.info("tick: %s", out)
        return out

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already closed
                pass
            self._conn = None


def run(config: SimConfig = SimConfig(), *, simulate: bool = True, tick: bool = True,
        seconds: float | None = None, stop: threading.Event | None = None) -> dict:
    """The foreground loop: simulator steps and the minute tick until stopped.

    Parameters
    ----------
    simulate, tick:
        Which parts run (``DEMO_SIMULATOR=0``: the tick only).
    seconds:
        Stop after this long (None: until SIGTERM/SIGINT or ``stop`` is set).

    Returns
    -------
    dict
        The simulator's counts and the number of ticks.
    """
    if stop is None and threading.current_thread() is threading.main_thread():
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    stop = stop or threading.Event()
    sim = Simulator(config) if simulate else None
    leader = TickLeader() if tick else None
    pause = max(0.2, min(5.0, 30.0 / max(config.speed, 0.01)))
    end = time.monotonic() + seconds if seconds is not None else None
    log.info("demo: simulator %s (speed %g), tick %s", "on" if sim else "off", config.speed,
             "on" if leader else "off")
    try:
        while not stop.is_set() and (end is None or time.monotonic() < end):
            try:
                if sim is not None:
                    sim.step()
                if leader is not None:
                    leader.maybe_tick()
            except DatabaseUnavailable as exc:  # keep running: the database may come back
                log.warning("demo: database unavailable: %s", exc.user_msg)
            stop.wait(pause if end is None else min(pause, max(0.0, end - time.monotonic())))
    finally:
        if leader is not None:
            leader.release()
    return {**(sim.counts if sim else {}), "ticks": leader.ticks if leader else 0}
