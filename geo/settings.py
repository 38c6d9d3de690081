"""Settings, read once from the environment, validated, failing fast.

Every setting has a default that works for ``make run`` on a developer machine; a
deployment overrides them through environment variables.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from geo.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def _header_name(name: str) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", raw):
        raise ConfigError(f"{name} must be an HTTP header name such as X-Forwarded-For, got {raw!r}")
    return raw


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1/0 (or true/false), got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Validated runtime settings.

    Attributes
    ----------
    database_url:
        libpq URI of the server to use; ``None`` means the embedded cluster.
    host, port:
        Where the web app listens.
    timezone:
        IANA zone defining "today" and reporting periods (default Asia/Shanghai).
    refresh_seconds:
        Auto-refresh period of the command-centre screen.
    wall_cache_seconds:
        Walls of the same scope and filter share one read of their figures for this many
        seconds, per process (0: every refresh reads).
    basemap_url:
        Optional XYZ tile URL; no basemap by default (intranets have no internet).
    basemap_gcj02:
        True when the basemap uses GCJ-02 coordinates (AMap, Tencent).
    pool_max:
        Database connections per app process (``DB_POOL_MAX``).
    pool_timeout:
        Seconds a request waits for a free pooled connection before it is answered
        "busy" (``DB_POOL_TIMEOUT``, default 10).
    workers, threads:
        gunicorn worker processes and threads per worker (``WORKERS``, ``THREADS``;
        defaults sized for the machine, see :func:`default_workers`).
    database_read_url:
        libpq URI of a streaming replica for the wall's and review's reads
        (``DATABASE_READ_URL``); ``None`` reads from the primary.
    replica_max_lag_seconds:
        A replica further behind than this is treated as down: the wall shows its stale
        banner (``REPLICA_MAX_LAG_SECONDS``, default 30).
    gil_switch_ms:
        How long a thread of a web process may hold Python's interpreter lock before another
        thread gets it (``GIL_SWITCH_MS``, default 0.5; Python's own is 5). A threaded web
        process serves requests that mostly wait for the database beside a few that compute
        (a planner's map, a PDF): each wait gives the lock up and each answer must take it
        back, so at 5 ms a wall's refresh of a few queries waited 100 ms and more behind one
        computing request of its process (see :func:`geo.serve.apply_gil_switch`).
    """

    database_url: str | None
    host: str = "127.0.0.1"
    port: int = 8050
    timezone: str = "Asia/Shanghai"
    refresh_seconds: int = 15
    wall_cache_seconds: float = 5.0
    basemap_url: str | None = None
    basemap_gcj02: bool = False
    wall_alert_sound: bool = False  # WALL_ALERT_SOUND: the wall beeps on a new alert
    pool_max: int = 8
    debug: bool = False
    default_language: str = "zh"
    secret_key: str | None = field(default=None, repr=False)
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_lock_seconds: int = 15 * 60
    anonymous_wall: bool = False
    # sign-in and sessions: HTTPS-only cookie, per-address throttle, proxy header
    session_cookie_secure: bool = False
    login_max_failures_per_address: int = 30
    trusted_proxy_header: str | None = None
    # overload: how long a request waits for a pooled connection
    pool_timeout: float = 10.0
    # incidents: the SLA clock (limits per severity, calendar or working hours), photos,
    # duplicates (see geo/incidents/sla.py)
    incident_limits: dict = field(default_factory=dict)
    incident_clock: str = "calendar"
    incident_work_hours: str = "09:00-18:00"
    incident_photo_max_bytes: int = 5 * 1024 * 1024
    incident_duplicate_radius_m: int = 50
    # whistles (吹哨报到) and patrols: time to report per whistle kind, patrol limits
    # (see geo/incidents/whistles.py, geo/patrols/)
    whistle_limits: dict = field(default_factory=dict)
    patrol_max_hours: int = 12
    patrol_grid_tolerance_m: int = 100
    patrol_coverage_m: int = 50
    # web tier and read replica (see docs/SCALING.md)
    workers: int = 2
    threads: int = 8
    database_read_url: str | None = None
    replica_max_lag_seconds: float = 30.0
    gil_switch_ms: float = 0.5


def load_settings() -> Settings:
    """Read and validate settings from the environment (no caching)."""
    tz = os.environ.get("TIMEZONE") or "Asia/Shanghai"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE {tz!r} is not a known IANA time zone") from None
    url = os.environ.get("DATABASE_URL") or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL must be a libpq URI starting with postgresql://")
    lang = os.environ.get("GRIDATLAS_LANG") or "zh"
    if lang not in {"zh", "en"}:
        raise ConfigError(f"GRIDATLAS_LANG must be zh or en, got {lang!r}")
    return Settings(
        database_url=url,
        host=os.environ.get("HOST") or "127.0.0.1",
        port=_int("PORT", 8050, 1, 65535),
        timezone=tz,
        refresh_seconds=_int("REFRESH_SECONDS", 15, 2, 3600),
        wall_cache_seconds=_float("WALL_CACHE_SECONDS", 5.0, 0.0, 60.0),
        basemap_url=os.environ.get("BASEMAP_URL") or None,
        basemap_gcj02=_bool("BASEMAP_GCJ02", False),
        wall_alert_sound=_bool("WALL_ALERT_SOUND", False),
        pool_max=_int("DB_POOL_MAX", 8, 1, 100),
        debug=_bool("DEBUG", False),
        default_language=lang,
        secret_key=os.environ.get("SECRET_KEY") or None,
        session_idle_seconds=_int("SESSION_IDLE_SECONDS", 30 * 60, 1, 7 * 86400),
        session_max_seconds=_int("SESSION_MAX_SECONDS", 12 * 3600, 1, 30 * 86400),
        login_max_failures=_int("LOGIN_MAX_FAILURES", 5, 1, 100),
        login_lock_seconds=_int("LOGIN_LOCK_SECONDS", 15 * 60, 1, 7 * 86400),
        anonymous_wall=_bool("ANONYMOUS_WALL", False),
        # sign-in and sessions
        session_cookie_secure=_bool("SESSION_COOKIE_SECURE", False),
        login_max_failures_per_address=_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 30, 1, 10000),
        trusted_proxy_header=_header_name("TRUSTED_PROXY_HEADER"),
        # overload: how long a request waits for a pooled connection
        pool_timeout=_float("DB_POOL_TIMEOUT", 10.0, 0.01, 300.0),
        # incidents (validated in geo/incidents/sla.py)
        **_incident_settings(),
        **_whistle_patrol_settings(),
        **_web_tier_settings(),
    )


def default_workers() -> int:
    """gunicorn workers for this machine: two per core, at least 2 and at most 8.

    Each worker holds up to ``DB_POOL_MAX`` connections, so 8 workers of 8 stay under the
    embedded cluster's 100 connections with room for the command line.
    """
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


def _web_tier_settings() -> dict:
    """``WORKERS``, ``THREADS`` (default ``DB_POOL_MAX``), ``DATABASE_READ_URL``,
    ``REPLICA_MAX_LAG_SECONDS`` and ``GIL_SWITCH_MS``."""
    read_url = os.environ.get("DATABASE_READ_URL") or None
    if read_url is not None and not read_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("DATABASE_READ_URL must be a libpq URI starting with postgresql://")
    return {
        "workers": _int("WORKERS", default_workers(), 1, 64),
        "threads": _int("THREADS", _int("DB_POOL_MAX", 8, 1, 100), 1, 256),
        "database_read_url": read_url,
        "replica_max_lag_seconds": _float("REPLICA_MAX_LAG_SECONDS", 30.0, 0.1, 86400.0),
        "gil_switch_ms": _float("GIL_SWITCH_MS", 0.5, 0.1, 100.0),
    }


def _incident_settings() -> dict:
    from geo.incidents.sla import settings_from_env

    return settings_from_env(
        os.environ,
        photo_max_bytes=_int("INCIDENT_PHOTO_MAX_BYTES", 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
        duplicate_radius_m=_int("INCIDENT_DUPLICATE_RADIUS_M", 50, 1, 1000),
    )


WHISTLE_DEFAULTS = {"emergency": "30m", "quick": "2h", "tough": "1d"}


def _whistle_patrol_settings() -> dict:
    """``WHISTLE_LIMIT_EMERGENCY|QUICK|TOUGH`` (durations) and the ``PATROL_*`` numbers."""
    from geo.incidents.states import _parse_duration

    limits = {kind: _parse_duration(f"WHISTLE_LIMIT_{kind.upper()}",
                                    os.environ.get(f"WHISTLE_LIMIT_{kind.upper()}") or default)
              for kind, default in WHISTLE_DEFAULTS.items()}
    return {
        "whistle_limits": limits,
        "patrol_max_hours": _int("PATROL_MAX_HOURS", 12, 1, 72),
        "patrol_grid_tolerance_m": _int("PATROL_GRID_TOLERANCE_M", 100, 0, 5000),
        "patrol_coverage_m": _int("PATROL_COVERAGE_M", 50, 1, 1000),
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once."""
    return load_settings()
