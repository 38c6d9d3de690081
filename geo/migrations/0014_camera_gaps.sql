-- Buildings with no online camera within 300 m (the review's camera-coverage figure; the
-- distance is geo.repository.review.CAMERA_DISTANCE_M), kept current by the database.
--
-- Counting them on demand tests every building against the cameras: about a minute for the
-- city-scale bench (1,000,000 buildings, 45,000 online cameras), where a few thousand
-- buildings are uncovered. Coverage depends only on a building's point and on the multiset
-- of online camera positions, so statement triggers recheck just the buildings within 300 m
-- of an online camera position that appeared or disappeared (a camera inserted, deleted,
-- moved, or going online/offline: a heartbeat changes nothing), and the buildings inserted
-- or moved. A statement that changes more than 1,000 positions refreshes the whole table
-- instead (cheaper than rechecking every neighbourhood). Bulk loads that switch triggers
-- off (session_replication_role = replica) call refresh_camera_gaps() afterwards.

CREATE TABLE camera_gaps (
    building_id integer PRIMARY KEY REFERENCES buildings(id) ON DELETE CASCADE,
    source data_source NOT NULL DEFAULT 'derived'
);

COMMENT ON TABLE camera_gaps IS
    'buildings with no online camera within 300 m (derived; kept by triggers on buildings and cameras)';

-- true when no online camera lies within 300 m of p (on the spheroid). The index box is a
-- little larger than 300 m in degrees at p's latitude; the exact test runs on the few
-- cameras inside it.
CREATE FUNCTION camera_gap_at(p geometry) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM cameras c
         WHERE c.status = 'online'
           AND c.geom && ST_Expand(p, 306.0 / 111320 / cos(radians(ST_Y(p))), 306.0 / 110574)
           AND ST_DWithin(c.geom::geography, p::geography, 300))
$$;

-- the whole table again (after a bulk load with triggers off, or a large camera change)
CREATE FUNCTION refresh_camera_gaps() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM camera_gaps;
    INSERT INTO camera_gaps (building_id) SELECT b.id FROM buildings b WHERE camera_gap_at(b.pt);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- recheck the buildings within 300 m of the given points
CREATE FUNCTION camera_gaps_recheck(pts geometry[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ids integer[];
BEGIN
    SELECT array_agg(DISTINCT b.id) INTO ids
      FROM unnest(pts) AS m(geom)
      JOIN buildings b
        ON b.pt && ST_Expand(m.geom, 306.0 / 111320 / cos(radians(ST_Y(m.geom))), 306.0 / 110574)
       AND ST_DWithin(b.pt::geography, m.geom::geography, 300);
    IF ids IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM camera_gaps x
     USING buildings b
     WHERE x.building_id = ANY(ids) AND b.id = x.building_id AND NOT camera_gap_at(b.pt);
    INSERT INTO camera_gaps (building_id)
    SELECT b.id FROM buildings b WHERE b.id = ANY(ids) AND camera_gap_at(b.pt)
    ON CONFLICT (building_id) DO NOTHING;
END $$;

CREATE FUNCTION camera_gaps_cameras() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pts geometry[];
BEGIN
    -- the online positions that appeared or disappeared (multiset difference)
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(geom) INTO pts FROM new_cams WHERE status = 'online';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(geom) INTO pts FROM old_cams WHERE status = 'online';
    ELSE
        SELECT array_agg(ST_GeomFromEWKB(w)) INTO pts FROM (
            (SELECT ST_AsEWKB(geom) AS w FROM old_cams WHERE status = 'online'
             EXCEPT ALL SELECT ST_AsEWKB(geom) FROM new_cams WHERE status = 'online')
            UNION ALL
            (SELECT ST_AsEWKB(geom) FROM new_cams WHERE status = 'online'
             EXCEPT ALL SELECT ST_AsEWKB(geom) FROM old_cams WHERE status = 'online')) d;
    END IF;
    IF pts IS NULL THEN
        RETURN NULL;
    END IF;
    IF cardinality(pts) > 1000 THEN
        PERFORM refresh_camera_gaps();
    ELSE
        PERFORM camera_gaps_recheck(pts);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER camera_gaps_cameras_ins AFTER INSERT ON cameras
    REFERENCING NEW TABLE AS new_cams FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_cameras();
CREATE TRIGGER camera_gaps_cameras_upd AFTER UPDATE ON cameras
    REFERENCING OLD TABLE AS old_cams NEW TABLE AS new_cams
    FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_cameras();
CREATE TRIGGER camera_gaps_cameras_del AFTER DELETE ON cameras
    REFERENCING OLD TABLE AS old_cams FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_cameras();
CREATE FUNCTION camera_gaps_cameras_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_camera_gaps();
    RETURN NULL;
END $$;
CREATE TRIGGER camera_gaps_cameras_trunc AFTER TRUNCATE ON cameras
    FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_cameras_truncate();

CREATE FUNCTION camera_gaps_buildings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO camera_gaps (building_id)
        SELECT n.id FROM new_bld n WHERE camera_gap_at(n.pt)
        ON CONFLICT (building_id) DO NOTHING;
        RETURN NULL;
    END IF;
    -- UPDATE: only the rows whose point (or id) changed
    DELETE FROM camera_gaps x
     USING old_bld o
     WHERE x.building_id = o.id
       AND NOT EXISTS (SELECT 1 FROM new_bld n WHERE n.id = o.id AND ST_AsEWKB(n.pt) = ST_AsEWKB(o.pt));
    INSERT INTO camera_gaps (building_id)
    SELECT n.id FROM new_bld n
     WHERE NOT EXISTS (SELECT 1 FROM old_bld o WHERE o.id = n.id AND ST_AsEWKB(n.pt) = ST_AsEWKB(o.pt))
       AND camera_gap_at(n.pt)
    ON CONFLICT (building_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER camera_gaps_buildings_ins AFTER INSERT ON buildings
    REFERENCING NEW TABLE AS new_bld FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_buildings();
CREATE TRIGGER camera_gaps_buildings_upd AFTER UPDATE ON buildings
    REFERENCING OLD TABLE AS old_bld NEW TABLE AS new_bld
    FOR EACH STATEMENT EXECUTE FUNCTION camera_gaps_buildings();

SELECT refresh_camera_gaps();
