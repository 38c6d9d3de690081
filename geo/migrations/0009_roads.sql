-- Roads: a quiet basemap drawn under the wall's layers where no tile server is reachable
-- (command centres often run on an intranet). Lines with a name and a class, imported with
-- `python -m geo import roads FILE` or loaded with the demo (OpenStreetMap, ODbL).
--
-- class is the road's class as the file spells it, lower case: OSM highway values
-- (motorway, trunk, primary, secondary, tertiary, *_link, unclassified, residential,
-- living_street, service, ...) or the importer's mapping of Chinese urban road classes
-- (快速路 > trunk, 主干路 > primary, 次干路 > secondary, 支路 > tertiary). The read by zoom
-- (geo/repository/roads.py) ranks the classes it knows and shows others only close in.

CREATE TABLE roads (
    id       bigserial PRIMARY KEY,
    osm_id   bigint,                -- OpenStreetMap way id; a way cut in pieces repeats it
    name     text,                  -- as the source has it (the demo's are Russian/Kazakh)
    name_en  text,
    class    text NOT NULL CHECK (class ~ '^[a-z][a-z0-9_]{0,31}$'),
    geom     geometry(MultiLineString, 4326) NOT NULL
             CHECK (NOT ST_IsEmpty(geom) AND ST_IsValid(geom)),
    source   data_source NOT NULL
);
CREATE INDEX roads_geom_gist ON roads USING gist (geom);
CREATE INDEX roads_osm_id ON roads (osm_id) WHERE osm_id IS NOT NULL;
