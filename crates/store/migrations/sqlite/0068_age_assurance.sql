-- Viewer age assurance: each check a viewer starts with a provider, and the passes remembered
-- on accounts. Only the outcome is kept (status, method), never what the viewer showed the
-- provider. status: pending | passed | failed. `id` is a random secret only its viewer holds.
CREATE TABLE safety_age_checks (
    id         TEXT    PRIMARY KEY,
    provider   TEXT    NOT NULL,
    method     TEXT    NOT NULL,
    cluster    TEXT    NOT NULL,
    user_id    INTEGER,
    status     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX safety_age_checks_created ON safety_age_checks (created_at);

CREATE TABLE safety_age_passes (
    user_id    INTEGER NOT NULL,
    method     TEXT    NOT NULL,
    passed_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, method)
);
