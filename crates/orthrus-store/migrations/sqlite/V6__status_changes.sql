-- Who changed an alert's status, when, to what; closing, how they classified it and why.
CREATE TABLE alert_status_changes (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    alert TEXT NOT NULL,
    time INTEGER NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL,
    classification TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX alert_status_changes_by_alert ON alert_status_changes (tenant, alert, time);

-- Each alert's incident, beside its record: the incident listing groups alerts by it.
ALTER TABLE alerts ADD COLUMN incident TEXT;
-- Covering: the listing reads every alert of a tenant's incidents from the index alone.
CREATE INDEX alerts_by_incident ON alerts (tenant, incident, last_seen, first_seen, severity, status);
-- An alert's entities by alert: the dashboard's entities of the latest open alerts, and the
-- replacement of an updated alert's entities.
CREATE INDEX alert_entities_by_alert ON alert_entities (tenant, alert);
