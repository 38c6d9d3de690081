"""Users: creation, listing, disabling, and password sign-in with lock-out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from geo import db
from geo.access import audit
from geo.access.roles import ROLES, Principal, scope_level
from geo.errors import GridAtlasError
from geo.settings import get_settings

MIN_PASSWORD_LENGTH = 10
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


class AuthError(GridAtlasError):
    """Sign-in refused (wrong credentials, locked or disabled)."""


@dataclass(frozen=True)
class User:
    """A stored user, without its password hash."""

    id: int
    username: str
    role: str
    scope_code: str | None
    display_name: str | None
    disabled: bool
    locked_until: datetime | None

    def principal(self) -> Principal:
        return Principal(self.username, self.role, self.scope_code, self.display_name)


def check_password_policy(password: str) -> None:
    """Refuse passwords shorter than ten characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise GridAtlasError(
            f"password too short: at least {MIN_PASSWORD_LENGTH} characters are required"
        )


def _validate(username: str, role: str, scope_code: str | None) -> None:
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise GridAtlasError(
            f"user name {username!r} may hold only letters, digits, '_', '-' and '.'"
        )
    if role not in ROLES:
        raise GridAtlasError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    if role != "admin" and not scope_code:
        raise GridAtlasError(f"role {role} needs a --scope (district, street, community or grid code)")
    if scope_code:
        try:
            scope_level(scope_code)
        except ValueError as exc:
            raise GridAtlasError(str(exc)) from None


def add_user(
    actor: Principal,
    username: str,
    role: str,
    password: str,
    scope_code: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a user (audited). The scope must name an existing place."""
    _validate(username, role, scope_code)
    check_password_policy(password)
    with db.transaction() as cur:
        if scope_code and not _place_exists(cur, scope_code):
            raise GridAtlasError(f"scope {scope_code} names no district, street, community or grid")
        cur.execute("SELECT 1 FROM users WHERE username = %s", (username,))
        if cur.fetchone():
            raise GridAtlasError(f"user {username!r} exists already")
        cur.execute(
            """INSERT INTO users (username, display_name, password_hash, role, scope_code)
               VALUES (%s, %s, %s, %s, %s)
               RETURNING id, username, role, scope_code, display_name, disabled, locked_until""",
            (username, display_name, generate_password_hash(password), role, scope_code),
        )
        user = User(**cur.fetchone())
        audit.record(cur, actor, "user.add", target=username, scope_code=scope_code,
                     after_ids=[user.id], detail={"role": role})
    return user


def _place_exists(cur, code: str) -> bool:
    table = {"district": "districts", "street": "streets", "community": "communities"}.get(
        scope_level(code)
    )
    if table is None:  # grids: any version
        cur.execute("SELECT 1 FROM grids WHERE code = %s LIMIT 1", (code,))
    else:
        cur.execute(f"SELECT 1 FROM {table} WHERE code = %s", (code,))  # table from a fixed map
    return cur.fetchone() is not None


def list_users() -> list[User]:
    rows = db.fetch_all(
        """SELECT id, username, role, scope_code, display_name, disabled, locked_until
             FROM users ORDER BY username"""
    )
    return [User(**r) for r in rows]


def get_user(username: str) -> User | None:
    row = db.fetch_one(
        """SELECT id, username, role, scope_code, display_name, disabled, locked_until
             FROM users WHERE username = %s""",
        (username,),
    )
    return User(**row) if row else None


def set_disabled(actor: Principal, username: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user; audited."""
    with db.transaction() as cur:
        cur.execute(
            """UPDATE users SET disabled = %s WHERE username = %s
               RETURNING id, username, role, scope_code, display_name, disabled, locked_until""",
            (disabled, username),
        )
        row = cur.fetchone()
        if not row:
            raise GridAtlasError(f"no user {username!r}")
        audit.record(cur, actor, "user.disable" if disabled else "user.enable",
                     target=username, scope_code=row["scope_code"], before_ids=[row["id"]])
    return User(**row)


def authenticate(username: str, password: str) -> User:
    """Check a password; count failures and lock the account after too many.

    Raises
    ------
    AuthError
        With a message fit for the sign-in form (it does not reveal whether the user
        exists, except for a locked or disabled account).
    """
    settings = get_settings()
    now = datetime.now(UTC)
    wrong = "用户名或密码错误 / wrong user name or password"
    locked_msg = "账号已锁定，请稍后再试 / account locked after repeated failures; try again later"
    refusal = None
    # Failures are counted in a transaction that commits; the refusal is raised after it.
    with db.transaction() as cur:
        cur.execute(
            """SELECT id, username, role, scope_code, display_name, disabled, locked_until,
                      password_hash, failed_logins
                 FROM users WHERE username = %s FOR UPDATE""",
            (username,),
        )
        row = cur.fetchone()
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            refusal = wrong
        elif row["disabled"]:
            refusal = "账号已停用 / this account is disabled"
        elif row["locked_until"] and row["locked_until"] > now:
            refusal = locked_msg
        elif not check_password_hash(row["password_hash"], password):
            failures = row["failed_logins"] + 1
            locked = None
            refusal = wrong
            if failures >= settings.login_max_failures:
                locked = now + timedelta(seconds=settings.login_lock_seconds)
                failures = 0
                refusal = locked_msg
                audit.record(cur, Principal(username, row["role"], row["scope_code"]),
                             "user.locked", target=username)
            cur.execute(
                "UPDATE users SET failed_logins = %s, locked_until = %s WHERE id = %s",
                (failures, locked, row["id"]),
            )
        else:
            cur.execute(
                """UPDATE users SET failed_logins = 0, locked_until = NULL,
                                    last_login_at = now()
                    WHERE id = %s""",
                (row["id"],),
            )
    if refusal:
        raise AuthError(refusal)
    fields = {k: row[k] for k in ("id", "username", "role", "scope_code", "display_name",
                                  "disabled", "locked_until")}
    return User(**fields)


def ensure_admin(password: str | None = None) -> tuple[bool, str | None]:
    """Create the first admin ``admin`` when no admin exists.

    Returns (created, password shown once): the password comes from ``password`` (e.g. the
    environment), else a random one is generated and returned to be printed once.
    """
    row = db.fetch_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")
    if row and row["n"]:
        return False, None
    generated = password is None
    pw = password or secrets.token_urlsafe(12)
    from geo.access.roles import SYSTEM

    add_user(SYSTEM, "admin", "admin", pw, None, "系统管理员")
    return True, pw if generated else None
