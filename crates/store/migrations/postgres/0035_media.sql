-- media: the items creators upload. Processing jobs move `state` from processing to ready or
-- failed; content attaches items to posts by id.
CREATE TABLE media (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX media_owner ON media (owner_id, id);
