"""API keys for machine clients (Open311 intake and other data-creating endpoints)."""

from __future__ import annotations

import hashlib
import secrets

from geo import db
from geo.access import audit
from geo.access.roles import Principal, scope_level
from geo.errors import GridAtlasError

KEY_PREFIX = "ga_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(actor: Principal, name: str, scope_code: str | None = None) -> str:
    """Create a key and return it; only its hash is stored, so it is shown once."""
    if scope_code:
        try:
            scope_level(scope_code)
        except ValueError as exc:
            raise GridAtlasError(str(exc)) from None
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as cur:
        cur.execute("SELECT 1 FROM api_keys WHERE name = %s", (name,))
        if cur.fetchone():
            raise GridAtlasError(f"an API key named {name!r} exists already")
        cur.execute(
            """INSERT INTO api_keys (name, prefix, key_hash, scope_code, created_by)
               VALUES (%s, %s, %s, %s, %s) RETURNING id""",
            (name, key[:8], _hash(key), scope_code, actor.username),
        )
        key_id = cur.fetchone()["id"]
        audit.record(cur, actor, "apikey.create", target=name, scope_code=scope_code,
                     after_ids=[key_id])
    return key


def verify(key: str | None) -> Principal | None:
    """The principal a valid, unrevoked key acts as, else None."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    row = db.fetch_one(
        "SELECT name, scope_code FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
        (_hash(key),),
    )
    if not row:
        return None
    return Principal(f"apikey:{row['name']}", "api", row["scope_code"])
