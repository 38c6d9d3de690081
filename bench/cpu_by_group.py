"""Where a phase's CPU went, by group of processes: printed by ``bench/load.py`` after each
phase, so a slower phase shows which part of the stack took the cores (and at which
priority), instead of leaving it to guesswork.

Groups are named from each process's command line: the web tier (gunicorn or ``app.py``),
the job worker, PostgreSQL backends of the primary and of the replica (by data folder) and
their background processes (WAL replay, writer, checkpointer...), Redis, the headless
browser, and this benchmark's own client. CPU seconds are user + system from ``/proc``,
summed over the phase (a process that ended during the phase is not counted).
"""

from __future__ import annotations

import os

import psutil

__all__ = ["Sampler", "group_of"]


def group_of(cmdline: list[str], name: str, parent_cmdline: list[str], replica_dir: str | None,
             own_pid: int, pid: int) -> str:
    """The group a process belongs to (see the module's docstring)."""
    line = " ".join(cmdline)
    if name.startswith("postgres") or line.startswith("postgres"):
        where = line if not line.startswith("postgres:") else " ".join(parent_cmdline)
        kind = "replica" if replica_dir and replica_dir in where else "primary"
        if not line.startswith("postgres:"):
            return f"{kind}: postmaster"
        title = line.split(":", 1)[1].split()
        if title and title[0] in ("walsender", "walreceiver", "startup", "checkpointer", "walwriter",
                                  "background", "autovacuum", "logical", "archiver", "stats"):
            return f"{kind}: {title[0]}"
        return f"{kind}: backends"
    if "-m geo worker" in line or "celery" in line:
        return "job worker"
    if "gunicorn" in line or "app.py" in line:
        return "web tier"
    if "redis-server" in line:
        return "redis"
    if "chrom" in name.lower():
        return "planner's browser"
    if pid == own_pid:
        return "bench client"
    return "other"


class Sampler:
    """CPU seconds per group between :meth:`start` and :meth:`stop`."""

    def __init__(self, replica_dir: str | None = None) -> None:
        self.replica_dir = replica_dir
        self._t0: dict[int, tuple[str, float, int]] = {}

    def _snap(self) -> dict[int, tuple[str, float, int]]:
        procs = {}
        for p in psutil.process_iter(["pid", "ppid", "name", "cmdline", "nice", "cpu_times"]):
            procs[p.info["pid"]] = p.info
        out = {}
        me = os.getpid()
        for pid, info in procs.items():
            ct = info.get("cpu_times")
            if ct is None:
                continue
            parent = procs.get(info.get("ppid") or 0) or {}
            grp = group_of(info.get("cmdline") or [], info.get("name") or "", parent.get("cmdline") or [],
                           self.replica_dir, me, pid)
            out[pid] = (grp, ct.user + ct.system, info.get("nice") or 0)
        return out

    def start(self) -> None:
        self._t0 = self._snap()

    def stop(self) -> dict[str, dict[str, float]]:
        """Per group: CPU seconds spent at nice 0 and above it."""
        now = self._snap()
        groups: dict[str, dict[str, float]] = {}
        for pid, (grp, cpu, nice) in now.items():
            before = self._t0.get(pid)
            spent = cpu - (before[1] if before and before[0] == grp else 0.0)
            if spent <= 0.005:
                continue
            g = groups.setdefault(grp, {"nice0_s": 0.0, "niced_s": 0.0})
            g["niced_s" if nice > 0 else "nice0_s"] += spent
        return {k: {kk: round(vv, 1) for kk, vv in v.items()}
                for k, v in sorted(groups.items(), key=lambda kv: -sum(kv[1].values()))}
