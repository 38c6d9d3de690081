-- Department networks (一张网): other departments' old grid layers (城管, 综治, 公安, 党建 ...)
-- kept beside the unified grids, so every department can read a crosswalk from its own
-- grid codes to the unified ones. And the reform's roles on each unified grid: its grid
-- leader (网格长) and its party organisation (党支部 or 党小组).

CREATE TABLE networks (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (btrim(name) <> '' AND length(name) <= 64),
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text,
    source_file text NOT NULL,
    crs         text,
    source      data_source NOT NULL DEFAULT 'imported'
);

CREATE TABLE network_grids (
    id          serial PRIMARY KEY,
    network_id  integer NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (btrim(code) <> ''),
    name        text,
    geom        geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    source      data_source NOT NULL DEFAULT 'imported',
    UNIQUE (network_id, code)
);
CREATE INDEX network_grids_geom_gist ON network_grids USING gist (geom);

-- The same polygons cut into pieces of at most 64 vertices (ST_Subdivide), written with
-- them: small boxes mean few candidate points and short point-in-polygon tests, which keeps
-- the crosswalk of a 2,500-polygon network over a million buildings within seconds.
CREATE TABLE network_grid_parts (
    network_grid_id integer NOT NULL REFERENCES network_grids (id) ON DELETE CASCADE,
    network_id      integer NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    code            text NOT NULL,
    geom            geometry(Geometry, 4326) NOT NULL
);
CREATE INDEX network_grid_parts_geom_gist ON network_grid_parts USING gist (geom);
CREATE INDEX network_grid_parts_grid ON network_grid_parts (network_grid_id);

-- One holder per grid and slot: 'leader' (网格长, a person) and 'party' (the grid's party
-- organisation: party_kind 'branch' 党支部 or 'group' 党小组). A redraw moves each row to the
-- new grid that received most of its old grid's households; a row that finds no free grid
-- is kept with grid_id NULL (and last_grid_code) for an administrator to place.
CREATE TABLE grid_roles (
    id             serial PRIMARY KEY,
    grid_id        integer REFERENCES grids (id),
    role           text NOT NULL CHECK (role IN ('leader', 'party')),
    name           text NOT NULL CHECK (btrim(name) <> ''),
    party_kind     text CHECK (party_kind IN ('branch', 'group')),
    phone          text,
    last_grid_code text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text,
    source         data_source NOT NULL DEFAULT 'imported',
    CHECK ((role = 'party') = (party_kind IS NOT NULL))
);
CREATE UNIQUE INDEX grid_roles_one_per_slot ON grid_roles (grid_id, role) WHERE grid_id IS NOT NULL;

-- Each building's old grid in each network, kept by the database: written in bulk when a
-- network is imported (geo/networks/assign.py) and by a trigger when a building is added or
-- its point moves. The rule (network_grid_of): the building's point in a polygon piece,
-- lowest code when in several; else the nearest polygon within the network's gap tolerance
-- (metres on the spheroid), lowest code on a tie; else no row.
ALTER TABLE networks ADD COLUMN gap_tolerance_m double precision NOT NULL DEFAULT 20
    CHECK (gap_tolerance_m >= 0 AND gap_tolerance_m <= 1000);

CREATE TABLE network_grid_buildings (
    network_grid_id integer PRIMARY KEY REFERENCES network_grids (id) ON DELETE CASCADE,
    network_id      integer NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    -- one array per old grid rather than a million rows per network: the import writes
    -- 2,500 rows, not 1,000,000 rows with their index entries and foreign-key checks. A
    -- deleted building's id stays behind and joins to nothing.
    building_ids    integer[] NOT NULL DEFAULT '{}'
);
CREATE INDEX network_grid_buildings_network ON network_grid_buildings (network_id);

CREATE FUNCTION network_grid_of(p_network integer, p_pt geometry, p_tol_m double precision)
RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT p.network_grid_id FROM network_grid_parts p
          WHERE p.network_id = p_network AND ST_Intersects(p.geom, p_pt)
          ORDER BY p.code LIMIT 1),
        (SELECT p.network_grid_id FROM network_grid_parts p
          WHERE p.network_id = p_network AND p.geom && ST_Expand(p_pt, p_tol_m / 50000.0)
            AND ST_DWithin(p.geom::geography, p_pt::geography, p_tol_m)
          ORDER BY ST_Distance(p.geom::geography, p_pt::geography), p.code LIMIT 1))
$$;

CREATE FUNCTION network_buildings_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n record;
    g integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE network_grid_buildings SET building_ids = array_remove(building_ids, NEW.id)
         WHERE building_ids @> ARRAY[NEW.id];
    END IF;
    FOR n IN SELECT id, gap_tolerance_m FROM networks LOOP
        g := network_grid_of(n.id, NEW.pt, n.gap_tolerance_m);
        IF g IS NOT NULL THEN
            UPDATE network_grid_buildings SET building_ids = building_ids || NEW.id
             WHERE network_grid_id = g;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER network_buildings_follow
    AFTER INSERT OR UPDATE OF pt ON buildings
    FOR EACH ROW EXECUTE FUNCTION network_buildings_follow();
