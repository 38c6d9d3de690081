-- GridAtlas core schema: the place hierarchy, grids with versions, assets, incidents,
-- users and the audit log. Geometry is typed EPSG:4326, valid and GiST-indexed.
-- Codes follow the Beijing unit-grid style: 6-digit county code + 3-digit street +
-- 3-digit community + 3-digit grid sequence.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE DOMAIN data_source AS text
    CHECK (VALUE IN ('osm', 'derived', 'synthetic', 'imported'));

-- ------------------------------------------------------------------ place hierarchy
CREATE TABLE districts (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{6}$'),
    name        text NOT NULL,
    name_en     text,
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source      data_source NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX districts_geom_gist ON districts USING gist (geom);

CREATE TABLE streets (
    id          serial PRIMARY KEY,
    district_id integer NOT NULL REFERENCES districts (id),
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{9}$'),
    name        text NOT NULL,
    name_en     text,
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source      data_source NOT NULL
);
CREATE INDEX streets_geom_gist ON streets USING gist (geom);
CREATE INDEX streets_district ON streets (district_id);

CREATE TABLE communities (
    id              serial PRIMARY KEY,
    street_id       integer NOT NULL REFERENCES streets (id),
    district_id     integer NOT NULL REFERENCES districts (id),
    code            text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{12}$'),
    name            text NOT NULL,
    name_en         text,
    -- per-community grid sizing (rural or commercial grids differ)
    target_households integer NOT NULL DEFAULT 400 CHECK (target_households > 0),
    min_households    integer NOT NULL DEFAULT 300 CHECK (min_households >= 0),
    max_households    integer NOT NULL DEFAULT 500,
    geom            geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source          data_source NOT NULL,
    CHECK (min_households <= target_households AND target_households <= max_households)
);
CREATE INDEX communities_geom_gist ON communities USING gist (geom);
CREATE INDEX communities_street ON communities (street_id);

-- ------------------------------------------------------------------ grids, versioned
CREATE TABLE grid_versions (
    id           serial PRIMARY KEY,
    community_id integer NOT NULL REFERENCES communities (id),
    version_no   integer NOT NULL CHECK (version_no > 0),
    parent_id    integer REFERENCES grid_versions (id),
    is_current   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    note         text,
    source       data_source NOT NULL,
    UNIQUE (community_id, version_no)
);
CREATE UNIQUE INDEX grid_versions_one_current ON grid_versions (community_id) WHERE is_current;

CREATE TABLE grids (
    id           serial PRIMARY KEY,
    version_id   integer NOT NULL REFERENCES grid_versions (id),
    community_id integer NOT NULL REFERENCES communities (id),
    code         text NOT NULL CHECK (code ~ '^[0-9]{15}$'),
    seq          integer NOT NULL CHECK (seq BETWEEN 1 AND 999),
    kind         text NOT NULL DEFAULT 'basic' CHECK (kind IN ('basic', 'dedicated')),
    name         text,
    households   integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    valid_from   timestamptz NOT NULL DEFAULT now(),
    valid_to     timestamptz,
    geom         geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source       data_source NOT NULL,
    UNIQUE (version_id, code),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);
CREATE INDEX grids_version ON grids (version_id);
CREATE INDEX grids_code ON grids (code);

-- Coarse copies for the map at low zoom, simplified as a coverage (neighbours never gap).
CREATE TABLE grid_coarse (
    grid_id     integer NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    tolerance_m integer NOT NULL CHECK (tolerance_m > 0),
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    source      data_source NOT NULL DEFAULT 'derived',
    PRIMARY KEY (grid_id, tolerance_m)
);
CREATE INDEX grid_coarse_geom_gist ON grid_coarse USING gist (geom);

-- Lineage: which old grids became which new ones in a redraw.
CREATE TABLE grid_lineage (
    old_grid_id integer NOT NULL REFERENCES grids (id),
    new_grid_id integer NOT NULL REFERENCES grids (id),
    version_id  integer NOT NULL REFERENCES grid_versions (id),
    households_moved integer NOT NULL DEFAULT 0 CHECK (households_moved >= 0),
    source      data_source NOT NULL DEFAULT 'derived',
    PRIMARY KEY (old_grid_id, new_grid_id)
);

-- ------------------------------------------------------------------ compounds, buildings
CREATE TABLE compounds (
    id           serial PRIMARY KEY,
    community_id integer NOT NULL REFERENCES communities (id),
    code         text NOT NULL UNIQUE,
    name         text,
    name_en      text,
    geom         geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source       data_source NOT NULL
);
CREATE INDEX compounds_geom_gist ON compounds USING gist (geom);
CREATE INDEX compounds_community ON compounds (community_id);

CREATE TABLE buildings (
    id           serial PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    osm_id       bigint,
    name         text,
    address      text,
    households   integer NOT NULL DEFAULT 0 CHECK (households >= 0),
    floors       integer CHECK (floors IS NULL OR floors > 0),
    use          text,
    community_id integer NOT NULL REFERENCES communities (id),
    compound_id  integer REFERENCES compounds (id),
    grid_id      integer REFERENCES grids (id),
    geom         geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    -- point on surface: what places a building in exactly one grid
    pt           geometry(Point, 4326) NOT NULL,
    source       data_source NOT NULL
);
CREATE INDEX buildings_geom_gist ON buildings USING gist (geom);
CREATE INDEX buildings_pt_gist ON buildings USING gist (pt);
CREATE INDEX buildings_grid ON buildings (grid_id);
CREATE INDEX buildings_community ON buildings (community_id);
CREATE INDEX buildings_compound ON buildings (compound_id);

-- A building's grid in every version (the current one is mirrored in buildings.grid_id).
CREATE TABLE building_grid (
    version_id  integer NOT NULL REFERENCES grid_versions (id),
    building_id integer NOT NULL REFERENCES buildings (id),
    grid_id     integer NOT NULL REFERENCES grids (id),
    source      data_source NOT NULL DEFAULT 'derived',
    PRIMARY KEY (version_id, building_id)
);
CREATE INDEX building_grid_grid ON building_grid (grid_id);

-- The tessellation grid polygons are built from: one cell per building.
CREATE TABLE building_cells (
    building_id  integer PRIMARY KEY REFERENCES buildings (id) ON DELETE CASCADE,
    community_id integer NOT NULL REFERENCES communities (id),
    method       text NOT NULL DEFAULT 'voronoi' CHECK (method IN ('voronoi', 'roads')),
    geom         geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source       data_source NOT NULL DEFAULT 'derived'
);
CREATE INDEX building_cells_geom_gist ON building_cells USING gist (geom);
CREATE INDEX building_cells_community ON building_cells (community_id);

CREATE TABLE grid_workers (
    id         serial PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    phone      text,
    grid_id    integer REFERENCES grids (id),  -- NULL: not assigned
    active     boolean NOT NULL DEFAULT true,
    source     data_source NOT NULL
);
CREATE INDEX grid_workers_grid ON grid_workers (grid_id);

-- ------------------------------------------------------------------ assets
CREATE TABLE cameras (
    id             serial PRIMARY KEY,
    code           text NOT NULL UNIQUE,
    name           text,
    type           text NOT NULL DEFAULT 'fixed',
    status         text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline', 'fault')),
    owner          text,
    last_heartbeat timestamptz,
    stream_url     text,
    district_id    integer REFERENCES districts (id),
    grid_id        integer REFERENCES grids (id),
    geom           geometry(Point, 4326) NOT NULL,
    source         data_source NOT NULL
);
CREATE INDEX cameras_geom_gist ON cameras USING gist (geom);
CREATE INDEX cameras_grid ON cameras (grid_id);

CREATE TABLE police_rooms (
    id           serial PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    name         text NOT NULL,
    name_en      text,
    address      text,
    phone        text,
    community_id integer REFERENCES communities (id),
    geom         geometry(Point, 4326) NOT NULL,
    source       data_source NOT NULL
);
CREATE INDEX police_rooms_geom_gist ON police_rooms USING gist (geom);

CREATE TABLE departments (
    id      serial PRIMARY KEY,
    code    text NOT NULL UNIQUE,
    name    text NOT NULL,
    name_en text,
    phone   text,
    source  data_source NOT NULL
);

-- ------------------------------------------------------------------ incidents
CREATE TABLE incident_categories (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    parent_id   integer REFERENCES incident_categories (id),
    class       text NOT NULL CHECK (class IN ('event', 'component')),  -- 事件 / 部件
    name        text NOT NULL,
    name_en     text NOT NULL,
    department_id integer REFERENCES departments (id),
    source      data_source NOT NULL
);

CREATE TABLE incidents (
    id            bigserial PRIMARY KEY,
    code          text NOT NULL UNIQUE,
    category_id   integer NOT NULL REFERENCES incident_categories (id),
    title         text NOT NULL,
    description   text,
    severity      text NOT NULL CHECK (severity IN ('ordinary', 'major', 'complex')),
    state         text NOT NULL CHECK (state IN (
                      'reported', 'escalated', 'resolved', 'filed', 'dispatched', 'accepted',
                      'handled', 'verified', 'closed', 'evaluated', 'returned', 'deferred')),
    level         text NOT NULL CHECK (level IN ('grid', 'community', 'street', 'district')),
    reported_at   timestamptz NOT NULL,
    dispatched_at timestamptz,
    due_at        timestamptz,
    handled_at    timestamptz,
    closed_at     timestamptz,
    closed_level  text CHECK (closed_level IN ('grid', 'community', 'street', 'district')),
    department_id integer REFERENCES departments (id),
    district_id   integer NOT NULL REFERENCES districts (id),
    street_id     integer REFERENCES streets (id),
    community_id  integer REFERENCES communities (id),
    grid_id       integer REFERENCES grids (id),
    reporter_name  text,
    reporter_phone text,
    geom          geometry(Point, 4326) NOT NULL,
    source        data_source NOT NULL,
    CHECK (closed_at IS NULL OR closed_level IS NOT NULL),
    CHECK (due_at IS NULL OR dispatched_at IS NOT NULL)
);
CREATE INDEX incidents_geom_gist ON incidents USING gist (geom);
CREATE INDEX incidents_open ON incidents (district_id, state) WHERE closed_at IS NULL;
CREATE INDEX incidents_grid ON incidents (grid_id);
CREATE INDEX incidents_reported ON incidents (reported_at);

CREATE TABLE incident_events (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id),
    at          timestamptz NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    level       text NOT NULL CHECK (level IN ('grid', 'community', 'street', 'district')),
    actor       text,
    note        text,
    source      data_source NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at);
CREATE INDEX incident_events_at ON incident_events (at DESC);

-- History of an incident's grid when grids are redrawn.
CREATE TABLE incident_grid_history (
    incident_id bigint NOT NULL REFERENCES incidents (id),
    version_id  integer NOT NULL REFERENCES grid_versions (id),
    old_grid_id integer REFERENCES grids (id),
    new_grid_id integer REFERENCES grids (id),
    moved_at    timestamptz NOT NULL DEFAULT now(),
    source      data_source NOT NULL DEFAULT 'derived',
    PRIMARY KEY (incident_id, version_id)
);

-- ------------------------------------------------------------------ people and accountability
CREATE TABLE users (
    id            serial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'leader', 'operator', 'street_operator',
                      'community_staff', 'department', 'grid_worker', 'planner')),
    scope_code    text,
    disabled      boolean NOT NULL DEFAULT false,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    source        data_source NOT NULL DEFAULT 'imported',
    CHECK (role = 'admin' OR scope_code IS NOT NULL)
);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    role       text,
    action     text NOT NULL,
    scope_code text,
    target     text,
    before_ids jsonb,
    after_ids  jsonb,
    detail     jsonb,
    source     data_source NOT NULL DEFAULT 'derived'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
