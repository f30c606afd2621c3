-- media: the items creators upload. Processing jobs move `state` from processing to ready or
-- failed; content attaches items to posts by id.
CREATE TABLE media (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX media_owner ON media (owner_id, id);
