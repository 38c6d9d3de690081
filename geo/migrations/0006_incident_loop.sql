-- The incident loop: optimistic concurrency, events with a kind, photos in the database,
-- routing overrides per street, deferral requests, duplicates, and KPI indexes.

-- A department account is tied to its department.
ALTER TABLE users ADD COLUMN department_id integer REFERENCES departments (id);

-- 'duplicate': an open case merged into another one (closed, linked, out of the KPIs).
ALTER TABLE incidents DROP CONSTRAINT incidents_state_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_state_check CHECK (state IN (
    'reported', 'escalated', 'resolved', 'filed', 'dispatched', 'accepted', 'handled',
    'verified', 'closed', 'evaluated', 'returned', 'deferred', 'duplicate'));

ALTER TABLE incidents
    -- bumped by every write of the service: a writer that saw another version lost a race
    ADD COLUMN version integer NOT NULL DEFAULT 0,
    ADD COLUMN reported_by text,
    ADD COLUMN duplicate_of bigint REFERENCES incidents (id),
    ADD COLUMN possible_duplicate_of bigint REFERENCES incidents (id),
    -- the deadline an 'overdue' event was written for (a deadline moved by a deferral can
    -- be overdue once more)
    ADD COLUMN overdue_marked_due timestamptz,
    ADD COLUMN evaluation text
        CHECK (evaluation IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    ADD COLUMN evaluation_comment text,
    ADD CONSTRAINT incidents_duplicate_closed
        CHECK (duplicate_of IS NULL OR (state = 'duplicate' AND closed_at IS NOT NULL));

CREATE SEQUENCE incident_code_seq;

CREATE TABLE incident_photos (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size_bytes   integer NOT NULL CHECK (size_bytes > 0),
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    uploaded_by  text NOT NULL,
    at           timestamptz NOT NULL,
    source       data_source NOT NULL DEFAULT 'imported'
);
CREATE INDEX incident_photos_incident ON incident_photos (incident_id);

-- Non-transition actions are events with a kind; they keep from_state = to_state.
ALTER TABLE incident_events
    ADD COLUMN kind text NOT NULL DEFAULT 'transition' CHECK (kind IN (
        'transition', 'urge', 'comment', 'photo', 'duplicate_report', 'possible_duplicate',
        'merged', 'overdue', 'deferral_requested', 'deferral_rejected')),
    ADD COLUMN actor_role text,
    ADD COLUMN photo_id bigint REFERENCES incident_photos (id),
    ADD COLUMN detail jsonb;
CREATE INDEX incident_events_returned ON incident_events (at)
    WHERE kind = 'transition' AND to_state = 'returned';
CREATE INDEX incident_events_deferred ON incident_events (incident_id, at)
    WHERE kind = 'transition' AND (to_state = 'deferred' OR from_state = 'deferred');

-- Routing: category + street > department overrides the category's default department.
CREATE TABLE incident_routes (
    category_id   integer NOT NULL REFERENCES incident_categories (id),
    street_id     integer NOT NULL REFERENCES streets (id),
    department_id integer NOT NULL REFERENCES departments (id),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    source        data_source NOT NULL DEFAULT 'imported',
    PRIMARY KEY (category_id, street_id)
);

-- Deferral (缓办): requested by the department, decided by the district operator.
CREATE TABLE incident_deferrals (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL REFERENCES incidents (id),
    reason          text NOT NULL CHECK (length(btrim(reason)) > 0),
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    requested_until timestamptz NOT NULL CHECK (requested_until > requested_at),
    decided_by      text,
    decided_at      timestamptz,
    approved        boolean,
    decision_note   text,
    ended_at        timestamptz,
    source          data_source NOT NULL DEFAULT 'imported',
    CHECK ((decided_at IS NULL) = (approved IS NULL)),
    CHECK (ended_at IS NULL OR approved)
);
CREATE UNIQUE INDEX incident_deferrals_one_pending ON incident_deferrals (incident_id)
    WHERE decided_at IS NULL;
CREATE INDEX incident_deferrals_running ON incident_deferrals (requested_until)
    WHERE approved AND ended_at IS NULL;

-- KPIs for a district and a period; every KPI query filters by district first.
CREATE INDEX incidents_kpi_due ON incidents (district_id, due_at)
    WHERE due_at IS NOT NULL AND duplicate_of IS NULL;
CREATE INDEX incidents_kpi_closed ON incidents (district_id, closed_at)
    WHERE closed_at IS NOT NULL AND duplicate_of IS NULL;
CREATE INDEX incidents_kpi_reported ON incidents (district_id, reported_at)
    WHERE duplicate_of IS NULL;
CREATE INDEX incidents_open_due ON incidents (district_id, due_at)
    WHERE closed_at IS NULL AND due_at IS NOT NULL;
CREATE INDEX incidents_open_category ON incidents (category_id) WHERE closed_at IS NULL;
