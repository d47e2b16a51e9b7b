-- Orthrus center store, PostgreSQL: the same schema as SQLite's, in PostgreSQL's types.
-- Times are microseconds since the Unix epoch, UTC.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT,
    created BIGINT NOT NULL
);

CREATE TABLE grants (
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_name, tenant)
);

CREATE TABLE api_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE sensors (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    last_seen BIGINT,
    version TEXT,
    status TEXT,
    UNIQUE (tenant, name)
);

CREATE TABLE batches (
    sensor_id TEXT NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    sequence BIGINT NOT NULL,
    received BIGINT NOT NULL,
    activities BIGINT NOT NULL,
    PRIMARY KEY (sensor_id, sequence)
);

CREATE TABLE activities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL,
    time BIGINT NOT NULL,
    sensor TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX activities_by_time ON activities (tenant, time);

CREATE TABLE activity_entities (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    time BIGINT NOT NULL,
    activity BIGINT NOT NULL,
    PRIMARY KEY (tenant, entity, time, activity)
);
CREATE INDEX activity_entities_by_time ON activity_entities (tenant, time);

CREATE TABLE alerts (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    detection TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX alerts_by_last_seen ON alerts (tenant, last_seen);

CREATE TABLE alert_entities (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (tenant, entity, alert)
);

CREATE TABLE alert_comments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL,
    alert TEXT NOT NULL,
    time BIGINT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX alert_comments_by_alert ON alert_comments (tenant, alert, time);

CREATE TABLE exclusions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    detection TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (tenant, detection, kind, value)
);
