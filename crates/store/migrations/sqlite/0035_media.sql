-- media: the items creators upload. Processing jobs move `state` from processing to ready or
-- failed; content attaches items to posts by id. Objects live in the media store under
-- `object_prefix` (generated, never from user input): `original` and the renditions listed
-- in `renditions` (JSON). `bytes` is the original's size, `derived_bytes` the renditions'.
CREATE TABLE media (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id       INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    mime           TEXT    NOT NULL DEFAULT '',
    object_prefix  TEXT    NOT NULL DEFAULT '',
    bytes          INTEGER NOT NULL DEFAULT 0,
    derived_bytes  INTEGER NOT NULL DEFAULT 0,
    width          INTEGER,
    height         INTEGER,
    blurhash       TEXT,
    renditions     TEXT    NOT NULL DEFAULT '[]',
    error          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX media_owner ON media (owner_id, id);

-- Resumable (tus) uploads in progress. Each PATCH stores its bytes as one part object; the
-- parts are joined into the original when the upload is complete.
CREATE TABLE media_uploads (
    id             TEXT    PRIMARY KEY,
    owner_id       INTEGER NOT NULL,
    length         INTEGER NOT NULL,
    upload_offset  INTEGER NOT NULL,
    metadata       TEXT    NOT NULL,
    media_id       INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX media_uploads_owner ON media_uploads (owner_id);
CREATE INDEX media_uploads_expiry ON media_uploads (expires_at);

CREATE TABLE media_upload_parts (
    upload_id      TEXT    NOT NULL,
    part_offset    INTEGER NOT NULL,
    length         INTEGER NOT NULL,
    object_key     TEXT    NOT NULL,
    PRIMARY KEY (upload_id, part_offset)
);
