-- The schema's conventions for the tables added by 0007 and 0011: every geometry column is
-- typed, and every table says where its rows come from (domain data_source).
--
-- network_grid_parts holds ST_Subdivide pieces of the network polygons (a search index of
-- polygons with few vertices each): typed Polygon, derived.
ALTER TABLE network_grid_parts
    ALTER COLUMN geom TYPE geometry(Polygon, 4326) USING geom::geometry(Polygon, 4326);
ALTER TABLE network_grid_parts ADD COLUMN source data_source NOT NULL DEFAULT 'derived';
-- which old grid holds each building: computed from the buildings and the network
ALTER TABLE network_grid_buildings ADD COLUMN source data_source NOT NULL DEFAULT 'derived';
-- an operator's acknowledgement of a wall alert: written through the app
ALTER TABLE wall_alert_acks ADD COLUMN source data_source NOT NULL DEFAULT 'imported';
