-- Review before publication (issue 14, item 4). Times are Unix microseconds.

-- media: each image's PDQ perceptual hash (64 hex digits) and its quality (0-100), computed
-- when the image is processed. An item whose hash matches a loaded hash list is moved to
-- state 'quarantined' (never delivered, attached or published) with the reason.
ALTER TABLE media ADD COLUMN pdq TEXT;
ALTER TABLE media ADD COLUMN pdq_quality BIGINT;
ALTER TABLE media ADD COLUMN quarantine_reason TEXT;
CREATE INDEX media_pdq ON media (id) WHERE pdq IS NOT NULL;

-- safety: hash lists loaded by compliance (one row per list, replaced whole on each load)
-- and their hashes.
CREATE TABLE safety_hash_lists (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    hash_count  BIGINT  NOT NULL DEFAULT 0,
    loaded_at   BIGINT  NOT NULL,
    loaded_by   BIGINT
);
CREATE TABLE safety_hashes (
    list_id     BIGINT  NOT NULL REFERENCES safety_hash_lists (id),
    hash        TEXT    NOT NULL,
    PRIMARY KEY (list_id, hash)
);

-- A case may be about a media item (a hash match) rather than a post.
ALTER TABLE safety_cases ADD COLUMN media_id BIGINT;

-- The review queue: a post a cluster's policy holds for a person's approval. status:
-- pending | approved | rejected. fingerprint: what was approved (text, teaser, tags, media,
-- clusters, visibility, price); a change needs a new review. At most one pending per post.
CREATE TABLE safety_reviews (
    id            BIGSERIAL PRIMARY KEY,
    post_id       BIGINT  NOT NULL,
    author_id     BIGINT  NOT NULL,
    status        TEXT    NOT NULL,
    priority      BIGINT  NOT NULL DEFAULT 0,
    clusters      TEXT    NOT NULL DEFAULT '',
    paid          BIGINT  NOT NULL DEFAULT 0,
    new_creator   BIGINT  NOT NULL DEFAULT 0,
    fingerprint   TEXT,
    reason        TEXT,
    requested_at  BIGINT  NOT NULL,
    decided_at    BIGINT,
    decided_by    BIGINT,
    updated_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX safety_reviews_pending ON safety_reviews (post_id) WHERE status = 'pending';
CREATE INDEX safety_reviews_queue ON safety_reviews (status, priority, requested_at);
CREATE INDEX safety_reviews_post ON safety_reviews (post_id, id);
CREATE INDEX safety_reviews_author ON safety_reviews (author_id, id);
