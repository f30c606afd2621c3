-- audit: how far the hash chain has been verified, so that reading the log re-hashes only the
-- rows appended since (a full walk stays available on demand and in `fanz audit verify`).
CREATE TABLE audit_checkpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    through_id  INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    entries     INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX audit_checkpoints_through ON audit_checkpoints (through_id);
