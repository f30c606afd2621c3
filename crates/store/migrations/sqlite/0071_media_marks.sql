-- media_marks: the viewers each picture was delivered to with a forensic mark of their own
-- (fanz_media::mark), so that `fanz media trace` knows whom to test a leaked copy against.
-- `object_key` is the marked copy, kept under the item's prefix (deleted with it).
CREATE TABLE media_marks (
    media_id    INTEGER NOT NULL,
    viewer_id   INTEGER NOT NULL,
    rendition   TEXT NOT NULL,
    object_key  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (media_id, viewer_id, rendition)
);
