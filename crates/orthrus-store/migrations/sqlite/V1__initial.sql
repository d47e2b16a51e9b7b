-- Orthrus center store, SQLite. Every tenant-owned row carries its tenant; every query the
-- store makes names it. Times are microseconds since the Unix epoch, UTC.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT,
    created INTEGER NOT NULL
);

CREATE TABLE grants (
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_name, tenant)
);

CREATE TABLE api_tokens (
    token_hash BLOB PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE sensors (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    last_seen INTEGER,
    version TEXT,
    status TEXT,
    UNIQUE (tenant, name)
);

-- One row per accepted batch: a retried batch finds its row and is not stored twice.
CREATE TABLE batches (
    sensor_id TEXT NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    sequence INTEGER NOT NULL,
    received INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (sensor_id, sequence)
);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    time INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX activities_by_time ON activities (tenant, time);

-- Entity keys (`account:bob`, `ip:10.0.0.5`, `computer:ws01`) → activities: timelines.
CREATE TABLE activity_entities (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    time INTEGER NOT NULL,
    activity INTEGER NOT NULL,
    PRIMARY KEY (tenant, entity, time, activity)
) WITHOUT ROWID;
CREATE INDEX activity_entities_by_time ON activity_entities (tenant, time);

CREATE TABLE alerts (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    detection TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX alerts_by_last_seen ON alerts (tenant, last_seen);

CREATE TABLE alert_entities (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (tenant, entity, alert)
) WITHOUT ROWID;

CREATE TABLE alert_comments (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    alert TEXT NOT NULL,
    time INTEGER NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX alert_comments_by_alert ON alert_comments (tenant, alert, time);

CREATE TABLE exclusions (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    detection TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (tenant, detection, kind, value)
);
