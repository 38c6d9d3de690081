-- 吹哨报到 and the grid worker's day: whistles on a case and the departments' reports,
-- 三事分流 (the triage of every case), patrols with their check-ins.

-- ------------------------------------------------------------------ triage (三事分流)
-- public: 公共事务 (government departments); shared: 互助事务 (residents, property managers,
-- social organisations together); self: 自我事务 (the residents themselves, in the community:
-- never dispatched). A category proposes one; NULL inherits the parent's, else 'public'.
ALTER TABLE incident_categories
    ADD COLUMN triage text CHECK (triage IN ('public', 'shared', 'self'));
ALTER TABLE incidents
    ADD COLUMN triage text NOT NULL DEFAULT 'public' CHECK (triage IN ('public', 'shared', 'self'));

-- ------------------------------------------------------------------ patrols
-- A grid worker's walk through their grid: at most one open patrol per account.
CREATE TABLE patrols (
    id           bigserial PRIMARY KEY,
    username     text NOT NULL,
    grid_id      integer NOT NULL REFERENCES grids (id),
    grid_code    text NOT NULL,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    -- 'worker': ended on the phone; 'timeout': ended by the tick after PATROL_MAX_HOURS
    ended_reason text CHECK (ended_reason IN ('worker', 'timeout')),
    source       data_source NOT NULL DEFAULT 'imported',
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL)),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX patrols_one_open ON patrols (username) WHERE ended_at IS NULL;
CREATE INDEX patrols_open_started ON patrols (started_at) WHERE ended_at IS NULL;
CREATE INDEX patrols_grid_code ON patrols (grid_code, started_at);

-- The phone's positions along the way (WGS-84). 'flagged': farther than
-- PATROL_GRID_TOLERANCE_M outside the worker's grid (kept, shown, left out of coverage).
CREATE TABLE patrol_checkins (
    id         bigserial PRIMARY KEY,
    patrol_id  bigint NOT NULL REFERENCES patrols (id),
    at         timestamptz NOT NULL,
    geom       geometry(Point, 4326) NOT NULL,
    flagged    boolean NOT NULL DEFAULT false,
    outside_m  double precision NOT NULL DEFAULT 0 CHECK (outside_m >= 0),
    source     data_source NOT NULL DEFAULT 'imported'
);
CREATE INDEX patrol_checkins_patrol ON patrol_checkins (patrol_id, at, id);
CREATE INDEX patrol_checkins_at ON patrol_checkins (at);
CREATE INDEX patrol_checkins_geom_gist ON patrol_checkins USING gist (geom);

-- A case reported during a patrol links to it.
ALTER TABLE incidents ADD COLUMN patrol_id bigint REFERENCES patrols (id);
CREATE INDEX incidents_patrol ON incidents (patrol_id) WHERE patrol_id IS NOT NULL;

-- ------------------------------------------------------------------ whistles (吹哨报到)
CREATE TABLE incident_whistles (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id),
    kind        text NOT NULL CHECK (kind IN ('emergency', 'quick', 'tough')),
    -- who blew it: a street (street operator) or a community (community staff) whistle
    level       text NOT NULL CHECK (level IN ('street', 'community')),
    blown_by    text NOT NULL,
    blown_at    timestamptz NOT NULL,
    due_at      timestamptz NOT NULL CHECK (due_at > blown_at),
    note        text,
    source      data_source NOT NULL DEFAULT 'imported'
);
CREATE INDEX incident_whistles_incident ON incident_whistles (incident_id, blown_at);
CREATE INDEX incident_whistles_blown ON incident_whistles (blown_at);

-- Each department summoned, and its report (报到) once it came.
CREATE TABLE incident_whistle_departments (
    whistle_id    bigint NOT NULL REFERENCES incident_whistles (id),
    department_id integer NOT NULL REFERENCES departments (id),
    reported_at   timestamptz,
    reported_by   text,
    note          text,
    source        data_source NOT NULL DEFAULT 'imported',
    PRIMARY KEY (whistle_id, department_id),
    CHECK ((reported_at IS NULL) = (reported_by IS NULL))
);
CREATE INDEX incident_whistle_departments_dep ON incident_whistle_departments (department_id);

ALTER TABLE incident_events DROP CONSTRAINT incident_events_kind_check;
ALTER TABLE incident_events ADD CONSTRAINT incident_events_kind_check CHECK (kind IN (
    'transition', 'urge', 'comment', 'photo', 'duplicate_report', 'possible_duplicate',
    'merged', 'overdue', 'deferral_requested', 'deferral_rejected',
    'whistle', 'report_in', 'triage'));
