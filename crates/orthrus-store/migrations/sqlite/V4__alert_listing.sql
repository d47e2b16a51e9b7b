-- The web UI lists, counts and charts alerts by these columns (status, severity, detection,
-- time) in tenants of 100 000 alerts and more: this index covers those queries, so they read
-- narrow index entries instead of the wide alert records. One per alert's entity side too:
-- an entity's alerts are ordered by time without reading the records.
CREATE INDEX alerts_listing ON alerts (tenant, status, severity, detection, last_seen, first_seen, id);
CREATE INDEX alerts_by_id_time ON alerts (tenant, id, last_seen, status);
