-- Server-side sessions and the sign-in throttle. Both live in the database so that every
-- app process (several gunicorn workers) sees the same sign-outs, disables and locks.

-- One row per signed-in browser. The cookie carries a random id; only its sha256 is kept.
-- Sign-out deletes the row; disabling a user or resetting a password deletes its rows.
CREATE TABLE sessions (
    id_hash     text PRIMARY KEY,
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    client_addr text,
    source      data_source NOT NULL DEFAULT 'derived'
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-ins by the name as typed (known or not, the same) and the client address.
-- Rows older than the lock window are deleted as new ones arrive.
CREATE TABLE login_failures (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    username    text NOT NULL,
    client_addr text NOT NULL,
    source      data_source NOT NULL DEFAULT 'derived'
);
CREATE INDEX login_failures_addr ON login_failures (client_addr, at);
CREATE INDEX login_failures_name ON login_failures (username, client_addr, at);
CREATE INDEX login_failures_at ON login_failures (at);
