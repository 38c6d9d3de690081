-- Accountable access: API keys for machine clients, sign-in bookkeeping.

ALTER TABLE users ADD COLUMN last_login_at timestamptz;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE api_keys (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    prefix      text NOT NULL,          -- first characters, to recognise a key in lists
    key_hash    text NOT NULL UNIQUE,   -- sha256 of the key; the key itself is never stored
    scope_code  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    revoked_at  timestamptz,
    source      data_source NOT NULL DEFAULT 'imported'
);

-- Entries are kept at least 180 days: nothing deletes them (see the append-only trigger).
COMMENT ON TABLE audit_log IS 'append-only; kept at least 180 days';
