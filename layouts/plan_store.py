"""Server-side keeping of plan proposals and the signed principal a background job acts as.

Proposals stay on the server; the browser holds only an opaque id. Without ``REDIS_URL``
they live in a disk cache under ``.cache/plans``, shared by the web process and the jobs
it forks (one machine). With ``REDIS_URL`` they live in that Redis as JSON under
``gridatlas:plans:`` (:class:`RedisPlans`), so a proposal computed by a worker on another
machine is read by any web process; Redis down is a
:class:`~geo.jobs.QueueUnavailable` with a message for the page. A background job runs in another process with
no request: it acts as the principal captured when the job was submitted, carried in a
token signed with the app's secret key and valid for one hour.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from functools import lru_cache

import diskcache
from itsdangerous import BadSignature, URLSafeTimedSerializer

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.jobs import QueueUnavailable, job_settings
from geo.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

TOKEN_MAX_AGE_S = 3600
_PLAN_TTL_S = 24 * 3600
#: The prefix of every proposal key in Redis.
REDIS_PREFIX = "gridatlas:plans:"


class RedisPlans:
    """The part of ``diskcache.Cache``'s interface the proposals use (``get``,
    ``set(expire=)``), on Redis: values as JSON under :data:`REDIS_PREFIX`.

    Parameters
    ----------
    url:
        A ``REDIS_URL`` (validated by :mod:`geo.jobs.queue`). Connects on first use.
    """

    def __init__(self, url: str) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                           health_check_interval=30)

    def get(self, key: str, default=None):
        try:
            raw = self.client.get(REDIS_PREFIX + key)
        except self._errors as exc:
            raise _down(exc) from None
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value, expire: float | None = None) -> bool:
        try:
            self.client.set(REDIS_PREFIX + key, json.dumps(value, ensure_ascii=False),
                            ex=max(1, int(expire)) if expire else None)
        except self._errors as exc:
            raise _down(exc) from None
        return True


def _down(exc: Exception) -> QueueUnavailable:
    log.warning("proposal store: Redis unavailable: %s", exc)
    return QueueUnavailable(str(exc))


@lru_cache(maxsize=1)
def _cache() -> diskcache.Cache | RedisPlans:
    url = job_settings().redis_url
    if url is not None:
        return RedisPlans(url)
    return diskcache.Cache(str(PROJECT_ROOT / ".cache" / "plans"))


_ID = re.compile(r"[0-9a-f]{32}")


def valid_id(key) -> bool:
    """True for a proposal id as :func:`put` makes them (32 hex digits)."""
    return isinstance(key, str) and _ID.fullmatch(key) is not None


def put(proposal_json: str) -> str:
    """Keep a proposal; returns its id."""
    key = uuid.uuid4().hex
    _cache().set(key, proposal_json, expire=_PLAN_TTL_S)
    return key


def replace(key: str, proposal_json: str) -> None:
    if not valid_id(key):
        raise ValueError("not a proposal id")
    _cache().set(key, proposal_json, expire=_PLAN_TTL_S)


#: Most manual moves kept for undo.
HISTORY_MAX = 50


def _stack(key: str, which: str) -> list[str]:
    return list(_cache().get(f"{key}:{which}") or [])


def _set_stack(key: str, which: str, items: list[str]) -> None:
    _cache().set(f"{key}:{which}", items[-HISTORY_MAX:], expire=_PLAN_TTL_S)


def record(key: str, proposal_json: str) -> None:
    """Replace the proposal after a manual move, keeping the previous one for undo (the redo
    list is emptied, as in any editor)."""
    if not valid_id(key):
        raise ValueError("not a proposal id")
    before = _cache().get(key)
    if before is not None:
        _set_stack(key, "undo", [*_stack(key, "undo"), before])
    _set_stack(key, "redo", [])
    replace(key, proposal_json)


def step(key, direction: str) -> bool:
    """Undo (``direction="undo"``) or redo one manual move; False when there is none."""
    if not valid_id(key) or direction not in ("undo", "redo"):
        return False
    other = "redo" if direction == "undo" else "undo"
    items = _stack(key, direction)
    now = _cache().get(key)
    if not items or now is None:
        return False
    _set_stack(key, other, [*_stack(key, other), now])
    _set_stack(key, direction, items[:-1])
    replace(key, items[-1])
    return True


def depth(key) -> tuple[int, int]:
    """How many moves can be undone and redone."""
    if not valid_id(key):
        return 0, 0
    return len(_stack(key, "undo")), len(_stack(key, "redo"))


def get(key) -> str | None:
    """The proposal kept under ``key``; ``None`` for no id, a malformed id or an expired
    one. Whose it is, is checked by the caller (:func:`geo.planning.api.load_proposal`)."""
    if not valid_id(key):
        return None
    return _cache().get(key)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="gridatlas-background-job")


def sign(principal: Principal, secret: str) -> str:
    """A token naming the principal, for a background job submitted now."""
    return _serializer(secret).dumps(
        [principal.username, principal.role, principal.scope_code, principal.display_name]
    )


def principal_from(token: str | None, secret: str) -> Principal:
    """The principal captured at submission; refuses a forged or expired token."""
    if not token or not isinstance(token, str):
        raise PermissionDenied("no signed user with this job: refused")
    try:
        username, role, scope, display = _serializer(secret).loads(
            token, max_age=TOKEN_MAX_AGE_S
        )
    except BadSignature:
        raise PermissionDenied("the job's user token is invalid or expired: refused") from None
    return Principal(username, role, scope, display)
