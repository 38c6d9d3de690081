-- Rules every grid version obeys, enforced by the database itself:
--  * a grid lies inside its community (ST_CoveredBy with 1 cm tolerance);
--  * a grid belongs to the community of its version;
--  * the grids of a version tile their community: no overlaps, no gaps; checked when the
--    transaction that wrote them commits, naming the offending grids.

-- UTM zone of a geometry's centre, to measure in metres.
CREATE FUNCTION gridatlas_utm_srid(g geometry) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN ST_Y(ST_Centroid(g)) >= 0 THEN 32600 ELSE 32700 END
           + least(60, greatest(1, floor((ST_X(ST_Centroid(g)) + 180) / 6)::integer + 1))
$$;

CREATE FUNCTION grid_inside_community() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c        record;
    v_comm   integer;
    srid     integer;
    outside  double precision;
BEGIN
    SELECT community_id INTO v_comm FROM grid_versions WHERE id = NEW.version_id;
    IF v_comm IS DISTINCT FROM NEW.community_id THEN
        RAISE EXCEPTION 'grid % belongs to community id % but its version % is of community id %',
            NEW.code, NEW.community_id, NEW.version_id, v_comm
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT code, geom INTO c FROM communities WHERE id = NEW.community_id;
    IF ST_CoveredBy(NEW.geom, c.geom) THEN
        RETURN NULL;
    END IF;
    srid := gridatlas_utm_srid(c.geom);
    IF ST_CoveredBy(ST_Transform(NEW.geom, srid), ST_Buffer(ST_Transform(c.geom, srid), 0.01)) THEN
        RETURN NULL;
    END IF;
    outside := ST_Area(ST_Transform(ST_Difference(NEW.geom, c.geom), srid));
    RAISE EXCEPTION 'grid % extends outside its community % (% m² outside, tolerance 1 cm)',
        NEW.code, c.code, round(outside::numeric, 2)
        USING ERRCODE = 'check_violation';
END $$;

CREATE CONSTRAINT TRIGGER grid_inside_community
    AFTER INSERT OR UPDATE OF geom, community_id, version_id ON grids
    FOR EACH ROW EXECUTE FUNCTION grid_inside_community();

-- Problems of a version's coverage: overlaps between its grids and gaps in its community.
-- Areas are in m²; slivers under tol_m2 are floating-point noise and ignored.
CREATE FUNCTION grid_version_coverage_problems(p_version integer, tol_m2 double precision DEFAULT 1.0)
RETURNS TABLE (problem text, grid_codes text[], area_m2 double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_comm geometry;
    srid   integer;
BEGIN
    SELECT c.geom INTO v_comm
      FROM grid_versions v JOIN communities c ON c.id = v.community_id
     WHERE v.id = p_version;
    IF v_comm IS NULL THEN
        RETURN;
    END IF;
    srid := gridatlas_utm_srid(v_comm);
    RETURN QUERY
    SELECT 'overlap'::text, ARRAY[a.code, b.code],
           ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), srid))
      FROM grids a JOIN grids b
        ON a.version_id = b.version_id AND a.id < b.id AND a.geom && b.geom
     WHERE a.version_id = p_version
       AND ST_Relate(a.geom, b.geom, '2********')
       AND ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), srid)) > tol_m2;
    RETURN QUERY
    WITH u AS (
        SELECT ST_Union(geom) AS g FROM grids WHERE version_id = p_version
    ), gap AS (
        SELECT (ST_Dump(ST_Difference(v_comm, coalesce(u.g, 'GEOMETRYCOLLECTION EMPTY'::geometry)))).geom AS g
          FROM u
    )
    SELECT 'gap'::text,
           coalesce((SELECT array_agg(gr.code ORDER BY gr.code) FROM grids gr
                      WHERE gr.version_id = p_version AND ST_DWithin(gr.geom, gap.g, 1e-6)),
                    ARRAY[]::text[]),
           ST_Area(ST_Transform(gap.g, srid))
      FROM gap
     WHERE ST_Dimension(gap.g) = 2 AND ST_Area(ST_Transform(gap.g, srid)) > tol_m2;
END $$;

CREATE FUNCTION check_grid_version_coverage(p_version integer) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    msg text;
BEGIN
    SELECT string_agg(format('%s of %s m² at grid(s) %s', problem, round(area_m2::numeric, 1),
                             coalesce(nullif(array_to_string(grid_codes, ', '), ''), '(none)')),
                      '; ')
      INTO msg
      FROM grid_version_coverage_problems(p_version);
    IF msg IS NOT NULL THEN
        RAISE EXCEPTION 'grid version % does not tile its community: %', p_version, msg
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

-- Deferred: runs when the writing transaction commits, once per version touched.
CREATE FUNCTION grid_version_coverage_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v   integer;
    key text;
BEGIN
    IF TG_TABLE_NAME = 'grid_versions' THEN
        v := NEW.id;
    ELSE
        v := coalesce(NEW.version_id, OLD.version_id);
    END IF;
    key := 'gridatlas.coverage_checked_' || v;
    IF current_setting(key, true) = 'yes' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(key, 'yes', true);
    PERFORM check_grid_version_coverage(v);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER grid_version_coverage
    AFTER INSERT ON grid_versions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION grid_version_coverage_trigger();
CREATE CONSTRAINT TRIGGER grid_coverage
    AFTER INSERT OR UPDATE OF geom ON grids DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION grid_version_coverage_trigger();
