-- The city level above the district: a city is the 4-digit prefix of its districts' codes
-- (990100 lies in city 9901). A city exists while one of its districts does; this table only
-- names cities. The reads derive the cities from the districts and join this table for the
-- name, so a city without a row (or without a name) is shown by its code.
--
-- A district inserted with a new prefix adds its city's row (no name) through the trigger
-- below, whoever writes it (the importer, the demo loader); bulk loads that switch triggers
-- off (session_replication_role = replica) leave it to the reads' fallback. A name is set by
-- an administrator: UPDATE cities SET name = '…', name_en = '…' WHERE code = '…'.

CREATE TABLE cities (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
    name        text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 100),
    name_en     text CHECK (name_en IS NULL OR length(name_en) BETWEEN 1 AND 100),
    source      data_source NOT NULL DEFAULT 'derived',
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE cities IS
    'city names by 4-digit code prefix of the districts (a city is its districts; the name is optional)';

INSERT INTO cities (code)
SELECT DISTINCT left(code, 4) FROM districts
ON CONFLICT DO NOTHING;

CREATE FUNCTION district_adds_city() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cities (code) VALUES (left(NEW.code, 4)) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;

CREATE TRIGGER districts_add_city AFTER INSERT ON districts
    FOR EACH ROW EXECUTE FUNCTION district_adds_city();
