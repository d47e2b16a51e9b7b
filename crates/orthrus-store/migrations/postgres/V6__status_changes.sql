-- Who changed an alert's status, when, to what; closing, how they classified it and why.
CREATE TABLE alert_status_changes (
    id BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    alert TEXT NOT NULL,
    time BIGINT NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL,
    classification TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX alert_status_changes_by_alert ON alert_status_changes (tenant, alert, time);
