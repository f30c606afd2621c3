-- media: the items creators upload. Processing jobs move `state` from processing to ready or
-- failed; content attaches items to posts by id. Objects live in the media store under
-- `object_prefix` (generated, never from user input): `original` and the renditions listed
-- in `renditions` (JSON). `bytes` is the original's size, `derived_bytes` the renditions'.
CREATE TABLE media (
    id             BIGSERIAL PRIMARY KEY,
    owner_id       BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    mime           TEXT    NOT NULL DEFAULT '',
    object_prefix  TEXT    NOT NULL DEFAULT '',
    bytes          BIGINT  NOT NULL DEFAULT 0,
    derived_bytes  BIGINT  NOT NULL DEFAULT 0,
    width          BIGINT,
    height         BIGINT,
    blurhash       TEXT,
    renditions     TEXT    NOT NULL DEFAULT '[]',
    error          TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
CREATE INDEX media_owner ON media (owner_id, id);

-- Resumable (tus) uploads in progress. Each PATCH stores its bytes as one part object; the
-- parts are joined into the original when the upload is complete.
CREATE TABLE media_uploads (
    id             TEXT    PRIMARY KEY,
    owner_id       BIGINT  NOT NULL,
    length         BIGINT  NOT NULL,
    upload_offset  BIGINT  NOT NULL,
    metadata       TEXT    NOT NULL,
    media_id       BIGINT,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL
);
CREATE INDEX media_uploads_owner ON media_uploads (owner_id);
CREATE INDEX media_uploads_expiry ON media_uploads (expires_at);

CREATE TABLE media_upload_parts (
    upload_id      TEXT    NOT NULL,
    part_offset    BIGINT  NOT NULL,
    length         BIGINT  NOT NULL,
    object_key     TEXT    NOT NULL,
    PRIMARY KEY (upload_id, part_offset)
);
