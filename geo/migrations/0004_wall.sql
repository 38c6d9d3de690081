-- The command-centre wall: label points kept with every boundary, coarse copies of the
-- upper boundary levels, and indexes behind the live queries.

ALTER TABLE districts   ADD COLUMN label_pt geometry(Point, 4326);
ALTER TABLE streets     ADD COLUMN label_pt geometry(Point, 4326);
ALTER TABLE communities ADD COLUMN label_pt geometry(Point, 4326);
ALTER TABLE grids       ADD COLUMN label_pt geometry(Point, 4326);

CREATE FUNCTION set_label_pt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.label_pt := ST_PointOnSurface(NEW.geom);
    RETURN NEW;
END $$;

CREATE TRIGGER districts_label_pt BEFORE INSERT OR UPDATE OF geom ON districts
    FOR EACH ROW EXECUTE FUNCTION set_label_pt();
CREATE TRIGGER streets_label_pt BEFORE INSERT OR UPDATE OF geom ON streets
    FOR EACH ROW EXECUTE FUNCTION set_label_pt();
CREATE TRIGGER communities_label_pt BEFORE INSERT OR UPDATE OF geom ON communities
    FOR EACH ROW EXECUTE FUNCTION set_label_pt();
CREATE TRIGGER grids_label_pt BEFORE INSERT OR UPDATE OF geom ON grids
    FOR EACH ROW EXECUTE FUNCTION set_label_pt();

UPDATE districts SET label_pt = ST_PointOnSurface(geom);
UPDATE streets SET label_pt = ST_PointOnSurface(geom);
UPDATE communities SET label_pt = ST_PointOnSurface(geom);
UPDATE grids SET label_pt = ST_PointOnSurface(geom);

-- Coarse copies of districts, streets and communities (grids have grid_coarse), cut from
-- one coverage simplification of all current grids, so no level ever gaps or overlaps.
CREATE TABLE place_coarse (
    level       text NOT NULL CHECK (level IN ('district', 'street', 'community')),
    code        text NOT NULL,
    tolerance_m integer NOT NULL CHECK (tolerance_m > 0),
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    source      data_source NOT NULL DEFAULT 'derived',
    PRIMARY KEY (level, code, tolerance_m)
);

CREATE INDEX incidents_state ON incidents (state);
CREATE INDEX incidents_closed_at ON incidents (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX incidents_dispatched_at ON incidents (dispatched_at) WHERE dispatched_at IS NOT NULL;
CREATE INDEX incidents_due_at ON incidents (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX incidents_street ON incidents (street_id);
CREATE INDEX incidents_community ON incidents (community_id);
CREATE INDEX cameras_status ON cameras (status);
CREATE INDEX grid_versions_current ON grid_versions (id) WHERE is_current;

CREATE INDEX districts_label_pt_gist ON districts USING gist (label_pt);
CREATE INDEX streets_label_pt_gist ON streets USING gist (label_pt);
CREATE INDEX communities_label_pt_gist ON communities USING gist (label_pt);
CREATE INDEX grids_label_pt_gist ON grids USING gist (label_pt);
CREATE INDEX place_coarse_geom_gist ON place_coarse USING gist (geom);
