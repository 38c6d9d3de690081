-- Camera gaps (0014) follow a building's point only when the point changes.
--
-- The statement trigger on UPDATE of buildings captured every updated row, geometry and
-- all, in two transition tables and compared their points, whatever the statement
-- changed. A grid version's commit updates grid_id for every building of its community:
-- on the city-scale bench that was about 0.45 s of the primary's CPU per community of
-- 18,000 buildings, to find that no point had moved. A row trigger that fires only when
-- pt is set to another point (its WHEN clause is checked before anything is queued)
-- costs nothing there, and rechecks just the moved building otherwise.

DROP TRIGGER camera_gaps_buildings_upd ON buildings;

CREATE FUNCTION camera_gaps_building_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM camera_gaps WHERE building_id = OLD.id;
    IF camera_gap_at(NEW.pt) THEN
        INSERT INTO camera_gaps (building_id) VALUES (NEW.id)
        ON CONFLICT (building_id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER camera_gaps_buildings_moved AFTER UPDATE OF pt, id ON buildings
    FOR EACH ROW
    WHEN (OLD.id IS DISTINCT FROM NEW.id OR ST_AsEWKB(OLD.pt) IS DISTINCT FROM ST_AsEWKB(NEW.pt))
    EXECUTE FUNCTION camera_gaps_building_moved();

-- what is left of the statement trigger's function: new buildings
CREATE OR REPLACE FUNCTION camera_gaps_buildings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO camera_gaps (building_id)
    SELECT n.id FROM new_bld n WHERE camera_gap_at(n.pt)
    ON CONFLICT (building_id) DO NOTHING;
    RETURN NULL;
END $$;
