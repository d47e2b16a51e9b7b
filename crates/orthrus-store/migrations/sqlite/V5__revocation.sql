-- Each user's session epoch: a password change sets a new random one, and a web UI session
-- opened under another epoch is over. Users from before start at 0 (their sessions, in the
-- center's memory, did not survive the upgrade's restart anyway).
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
