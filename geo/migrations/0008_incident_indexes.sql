-- Incident lists at city scale (geo/incidents/listing.py) and the Open311 intake's
-- idempotency keys (geo/incidents/open311.py).

-- The default order of every list: newest first within a district (keyset-friendly).
CREATE INDEX incidents_list_recent ON incidents (district_id, reported_at DESC, id DESC);
-- Filters that had no index of their own (category had one for open cases only).
CREATE INDEX incidents_category ON incidents (category_id, reported_at DESC);
CREATE INDEX incidents_department ON incidents (department_id, reported_at DESC)
    WHERE department_id IS NOT NULL;

-- A retried POST with the same Idempotency-Key returns the case the first one created.
-- Written in the same transaction as the case: either both exist or neither.
CREATE TABLE open311_requests (
    api_key         text NOT NULL,   -- the key's name (api_keys.name)
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_sha256  text NOT NULL,   -- the request's fields: a reused key with other fields is refused
    incident_id     bigint NOT NULL REFERENCES incidents (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    source          data_source NOT NULL DEFAULT 'imported',
    PRIMARY KEY (api_key, idempotency_key)
);
CREATE INDEX open311_requests_incident ON open311_requests (incident_id);
