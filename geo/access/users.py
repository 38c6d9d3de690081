"""Users: creation, listing, disabling, passwords, sign-in with a throttle, and sessions.

* Passwords follow one rule (:func:`check_password_policy`): at least 8 characters from at
  least 3 of upper-case, lower-case, digits and symbols.
* Sign-in (:func:`authenticate`) is throttled in the database, per typed name and client
  address, and per client address; a name that does not exist is answered exactly like
  one that does (same message, status and work), so the user list cannot be enumerated,
  and nobody can lock an account out for anyone else's address.
* Sessions are rows of ``sessions`` keyed by the hash of a random id the cookie carries:
  signing out, disabling the user or resetting the password deletes them, which every app
  process sees on its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from werkzeug.security import generate_password_hash

from geo import db
from geo.access import audit, pwhash
from geo.access.roles import ROLES, Principal, scope_level
from geo.errors import GridAtlasError
from geo.settings import get_settings

MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_CLASSES = 3
MAX_PASSWORD_LENGTH = 1024  # hashing a megabyte per guess would be a denial of service
MAX_USERNAME_LENGTH = 150
_THROTTLE_LOCK = 727_002  # advisory lock class: one sign-in check per client address at a time
# A hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


class AuthError(GridAtlasError):
    """Sign-in refused (wrong credentials, locked or disabled).

    ``status`` is the HTTP status to answer with: 401, or 429 while locked or throttled.
    """

    def __init__(self, user_msg: str, status: int = 401) -> None:
        super().__init__(user_msg)
        self.status = status


WRONG = "用户名或密码错误 / wrong user name or password"
LOCKED = ("尝试次数过多，请稍后再试 / too many failed sign-ins from this address; "
          "account locked, try again later")


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


def password_classes(password: str) -> int:
    """How many of the four classes (upper, lower, digit, symbol) the password uses.

    Letters and digits count only in ASCII; any other character counts as a symbol.
    """
    upper = any("A" <= c <= "Z" for c in password)
    lower = any("a" <= c <= "z" for c in password)
    digit = any("0" <= c <= "9" for c in password)
    symbol = any(not (c.isascii() and c.isalnum()) for c in password)
    return upper + lower + digit + symbol


def check_password_policy(password: str) -> None:
    """Refuse a password shorter than 8 characters or from fewer than 3 classes.

    Raises
    ------
    GridAtlasError
        Saying the rule, in Chinese and English.
    """
    if (len(password) < MIN_PASSWORD_LENGTH or len(password) > MAX_PASSWORD_LENGTH
            or password_classes(password) < MIN_PASSWORD_CLASSES):
        raise GridAtlasError(
            f"密码至少{MIN_PASSWORD_LENGTH}位，且含大写字母、小写字母、数字、符号中的至少三类 / "
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters from at least "
            "3 of: upper-case letters, lower-case letters, digits, symbols"
        )


def _validate(username: str, role: str, scope_code: str | None) -> None:
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise GridAtlasError(
            f"user name {username!r} may hold only letters, digits, '_', '-' and '.'"
        )
    if role not in ROLES:
        raise GridAtlasError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    if role != "admin" and not scope_code:
        raise GridAtlasError(f"role {role} needs a --scope (city, district, street, community or grid code)")
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
            raise GridAtlasError(
                f"scope {scope_code} names no district, street, community or grid (nor a city: "
                "no district code starts with it)")
        cur.execute("SELECT 1 FROM users WHERE username = %s", (username,))
        if cur.fetchone():
            raise GridAtlasError(f"user {username!r} exists already")
        cur.execute(
            """INSERT INTO users (username, display_name, password_hash, role, scope_code)
               VALUES (%s, %s, %s, %s, %s)
               RETURNING id, username, role, scope_code, display_name, disabled, locked_until""",
            (username, display_name, pwhash.generate(password), role, scope_code),
        )
        user = User(**cur.fetchone())
        audit.record(cur, actor, "user.add", target=username, scope_code=scope_code,
                     after_ids=[user.id], detail={"role": role})
    return user


def _place_exists(cur, code: str) -> bool:
    level = scope_level(code)
    if level == "city":  # a city exists while one of its districts does
        cur.execute("SELECT 1 FROM districts WHERE left(code, 4) = %s LIMIT 1", (code,))
        return cur.fetchone() is not None
    table = {"district": "districts", "street": "streets", "community": "communities"}.get(level)
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
    """Disable (or re-enable) a user; audited. Disabling ends the user's sessions at once."""
    with db.transaction() as cur:
        cur.execute(
            """UPDATE users SET disabled = %s WHERE username = %s
               RETURNING id, username, role, scope_code, display_name, disabled, locked_until""",
            (disabled, username),
        )
        row = cur.fetchone()
        if not row:
            raise GridAtlasError(f"no user {username!r}")
        ended = _end_user_sessions(cur, row["id"]) if disabled else 0
        audit.record(cur, actor, "user.disable" if disabled else "user.enable",
                     target=username, scope_code=row["scope_code"], before_ids=[row["id"]],
                     detail={"sessions_ended": ended} if disabled else None)
    return User(**row)


# ----------------------------------------------------------------------------- passwords


def reset_password(actor: Principal, username: str, new_password: str) -> int:
    """An administrator sets a user's password (audited); returns the sessions ended.

    Every session of the user ends, and the user's sign-in failures are forgotten.
    """
    check_password_policy(new_password)
    with db.transaction() as cur:
        cur.execute(
            """UPDATE users SET password_hash = %s, password_changed_at = now(),
                                failed_logins = 0, locked_until = NULL
                WHERE username = %s RETURNING id, scope_code""",
            (pwhash.generate(new_password), username),
        )
        row = cur.fetchone()
        if not row:
            raise GridAtlasError(f"no user {username!r}")
        ended = _end_user_sessions(cur, row["id"])
        cur.execute("DELETE FROM login_failures WHERE username = %s", (username,))
        audit.record(cur, actor, "user.password_reset", target=username,
                     scope_code=row["scope_code"], before_ids=[row["id"]],
                     detail={"sessions_ended": ended})
    return ended


def change_password(username: str, old_password: str, new_password: str, client_addr: str,
                    keep_session: str | None = None) -> int:
    """A user changes their own password (audited); returns the other sessions ended.

    The old password is checked like a sign-in (same throttle), so the form cannot be used
    to guess it. The session ``keep_session`` (the one making the change) stays signed in.

    Raises
    ------
    AuthError
        The old password is wrong (or the address is throttled).
    GridAtlasError
        The new password breaks the rule or equals the old one.
    """
    check_password_policy(new_password)
    if new_password == old_password:
        raise GridAtlasError("新密码不能与旧密码相同 / the new password must differ from the old one")
    user = _verify(username, old_password, client_addr)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE users SET password_hash = %s, password_changed_at = now() WHERE id = %s",
            (pwhash.generate(new_password), user.id),
        )
        ended = _end_user_sessions(cur, user.id, keep=keep_session)
        audit.record(cur, user.principal(), "user.password", target=username,
                     before_ids=[user.id], detail={"sessions_ended": ended})
    return ended


# ----------------------------------------------------------------------------- sign-in


def authenticate(username: str, password: str, client_addr: str = "-") -> User:
    """Check a password, behind the sign-in throttle; the user on success.

    Every attempt is first written down as a failure for (typed name, client address),
    in a short transaction serialised per address; a success deletes that pair's rows.
    While the pair has ``LOGIN_MAX_FAILURES`` rows, or the address
    ``LOGIN_MAX_FAILURES_PER_ADDRESS``, within ``LOGIN_LOCK_SECONDS``, attempts are refused
    unchecked. Names that exist and names that do not take the same path: a password hash
    is checked either way (a dummy one for unknown names).

    Raises
    ------
    AuthError
        With a message fit for the sign-in form and its status; whether the user exists
        is never told (a disabled account is named only to whoever knows its password).
    """
    user = _verify(username, password, client_addr)
    with db.transaction() as cur:
        cur.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user.id,))
    return user


def _verify(username: str, password: str, client_addr: str) -> User:
    settings = get_settings()
    name = username[:MAX_USERNAME_LENGTH]
    window = settings.login_lock_seconds
    with db.transaction() as cur:
        # one address at a time: the count and the new row cannot interleave
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_THROTTLE_LOCK, client_addr))
        cur.execute(
            """SELECT count(*) AS from_addr,
                      count(*) FILTER (WHERE username = %s) AS for_name
                 FROM login_failures
                WHERE client_addr = %s AND at > now() - make_interval(secs => %s)""",
            (name, client_addr, window),
        )
        counts = cur.fetchone()
        blocked = (counts["for_name"] >= settings.login_max_failures
                   or counts["from_addr"] >= settings.login_max_failures_per_address)
        if not blocked:
            cur.execute("DELETE FROM login_failures WHERE at < now() - make_interval(secs => %s)",
                        (window,))
            cur.execute("INSERT INTO login_failures (username, client_addr) VALUES (%s, %s)",
                        (name, client_addr))
    if blocked:
        raise AuthError(LOCKED, 429)
    row = None
    if len(password) <= MAX_PASSWORD_LENGTH:
        row = db.fetch_one(
            """SELECT id, username, role, scope_code, display_name, disabled, locked_until,
                      password_hash
                 FROM users WHERE username = %s""",
            (name,),
        )
    if row is None:
        pwhash.check(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        ok = False
    else:
        ok = pwhash.check(row.pop("password_hash"), password)
    if ok and not row["disabled"]:
        with db.transaction() as cur:
            cur.execute("DELETE FROM login_failures WHERE username = %s AND client_addr = %s",
                        (name, client_addr))
        return User(**row)
    if ok:
        raise AuthError("账号已停用 / this account is disabled")
    if counts["for_name"] + 1 >= settings.login_max_failures:
        actor = Principal(name, row["role"] if row else "unknown", row["scope_code"] if row else None)
        with db.transaction() as cur:
            audit.record(cur, actor, "user.locked", target=name,
                         detail={"client_addr": client_addr, "seconds": window})
        raise AuthError(LOCKED, 429)
    raise AuthError(WRONG)


def ensure_admin(password: str | None = None) -> tuple[bool, str | None]:
    """Create the first admin ``admin`` when no admin exists.

    Returns (created, password shown once): the password comes from ``password`` (e.g. the
    environment), else a random one is generated and returned to be printed once.
    """
    row = db.fetch_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")
    if row and row["n"]:
        return False, None
    generated = password is None
    pw = password
    while pw is None or (generated and password_classes(pw) < MIN_PASSWORD_CLASSES):
        pw = secrets.token_urlsafe(12)
    from geo.access.roles import SYSTEM

    add_user(SYSTEM, "admin", "admin", pw, None, "系统管理员")
    return True, pw if generated else None


# ----------------------------------------------------------------------------- sessions


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(user: User, client_addr: str | None, lifetime_seconds: int) -> str:
    """Record a new session for ``user``; returns its random id (for the cookie only).

    Sessions past their lifetime are deleted on the way.
    """
    session_id = secrets.token_urlsafe(32)
    with db.transaction() as cur:
        cur.execute("DELETE FROM sessions WHERE expires_at < now()")
        cur.execute(
            """INSERT INTO sessions (id_hash, user_id, expires_at, client_addr)
               VALUES (%s, %s, now() + make_interval(secs => %s), %s)""",
            (_session_hash(session_id), user.id, lifetime_seconds, client_addr),
        )
    return session_id


def session_user(session_id: str) -> User | None:
    """The user of a live session (None: ended, expired, or the user is disabled).

    One indexed query; raises :class:`geo.errors.DatabaseUnavailable` when the database
    cannot be reached (the caller decides what an outage allows).
    """
    row = db.fetch_one(
        """SELECT u.id, u.username, u.role, u.scope_code, u.display_name, u.disabled,
                  u.locked_until
             FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id_hash = %s AND s.expires_at > now() AND NOT u.disabled""",
        (_session_hash(session_id),),
    )
    return User(**row) if row else None


def end_session(session_id: str) -> None:
    """Sign one session out (its cookie is refused from now on, by every process)."""
    with db.transaction() as cur:
        cur.execute("DELETE FROM sessions WHERE id_hash = %s", (_session_hash(session_id),))


def _end_user_sessions(cur, user_id: int, keep: str | None = None) -> int:
    keep_hash = _session_hash(keep) if keep else ""
    cur.execute("DELETE FROM sessions WHERE user_id = %s AND id_hash <> %s", (user_id, keep_hash))
    return cur.rowcount
