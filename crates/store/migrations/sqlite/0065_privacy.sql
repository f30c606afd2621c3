-- Privacy requests: a person's exports of their own data (GDPR art. 15 and 20). The ZIP is
-- an object in the media store under `object_key` until `expires_at`. state: pending | ready
-- | failed | expired. Erasures leave no row here: the audit log records them.
CREATE TABLE privacy_exports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    object_key    TEXT,
    bytes         INTEGER NOT NULL DEFAULT 0,
    media_skipped INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    completed_at  INTEGER,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX privacy_exports_user ON privacy_exports (user_id, created_at);
CREATE INDEX privacy_exports_expiry ON privacy_exports (state, expires_at);
