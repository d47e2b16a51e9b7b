-- The directory snapshot each tenant's sync last uploaded (zstd-compressed JSON, as the
-- center received it), for enrichment and entity profiles.
CREATE TABLE directories (
    tenant TEXT PRIMARY KEY REFERENCES tenants(id),
    snapshot BLOB NOT NULL,
    updated INTEGER NOT NULL
);
