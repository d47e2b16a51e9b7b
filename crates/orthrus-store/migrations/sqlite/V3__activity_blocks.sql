-- Activities in blocks (see src/blocks.rs): up to 1024 of one batch per row, zstd-compressed
-- JSON lines, and one timeline row per entity a block names. Rows of the first schema are
-- carried over as blocks of one (plain JSON) with their timeline rows.
CREATE TABLE activity_blocks (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    first_time INTEGER NOT NULL,
    last_time INTEGER NOT NULL,
    count INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX activity_blocks_by_time ON activity_blocks (tenant, last_time);

CREATE TABLE block_entities (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    last_time INTEGER NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (tenant, entity, last_time, block)
) WITHOUT ROWID;

INSERT INTO activity_blocks (id, tenant, first_time, last_time, count, encoding, data)
    SELECT id, tenant, time, time, 1, 'json', CAST(record AS BLOB) FROM activities;
INSERT OR IGNORE INTO block_entities (tenant, entity, last_time, block)
    SELECT tenant, entity, time, activity FROM activity_entities;
DROP TABLE activity_entities;
DROP TABLE activities;
