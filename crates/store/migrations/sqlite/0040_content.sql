-- content: what creators publish and who may see it.
-- Timestamps are microseconds; money is integer minor units with an ISO currency code.

-- A creator's subscription tiers (the catalogue payments sells). price_amount 0 = free tier.
CREATE TABLE tiers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id    INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    price_amount  INTEGER NOT NULL,
    currency      TEXT    NOT NULL,
    period_days   INTEGER NOT NULL,
    benefits      TEXT    NOT NULL DEFAULT '',
    archived      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX tiers_creator ON tiers (creator_id, id);

-- Posts and stories. state: draft | scheduled | published | hidden | deleted.
-- visibility: public | followers | subscribers | ppv. `tiers` is a JSON array of tier ids a
-- subscribers post is limited to (empty: any tier).
CREATE TABLE posts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id       INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    visibility      TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    teaser          TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    sensitive       INTEGER NOT NULL DEFAULT 0,
    tiers           TEXT    NOT NULL DEFAULT '[]',
    price_amount    INTEGER,
    currency        TEXT,
    pinned          INTEGER NOT NULL DEFAULT 0,
    has_video       INTEGER NOT NULL DEFAULT 0,
    publish_at      INTEGER,
    published_at    INTEGER,
    expires_at      INTEGER,
    deleted_at      INTEGER,
    likes_count     INTEGER NOT NULL DEFAULT 0,
    comments_count  INTEGER NOT NULL DEFAULT 0,
    revision        INTEGER NOT NULL DEFAULT 1,
    refusal         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX posts_author ON posts (author_id, published_at);
CREATE INDEX posts_published ON posts (published_at);

-- The clusters a post appears on. `published_at` is copied while the post is visible (NULL
-- otherwise) so a cluster feed is one index range.
CREATE TABLE post_clusters (
    post_id       INTEGER NOT NULL REFERENCES posts (id),
    cluster_slug  TEXT    NOT NULL,
    published_at  INTEGER,
    PRIMARY KEY (post_id, cluster_slug)
);
CREATE INDEX post_clusters_feed ON post_clusters (cluster_slug, published_at, post_id);

CREATE TABLE post_tags (
    post_id       INTEGER NOT NULL REFERENCES posts (id),
    tag           TEXT    NOT NULL,
    published_at  INTEGER,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_tags_feed ON post_tags (tag, published_at, post_id);

CREATE TABLE post_media (
    post_id   INTEGER NOT NULL REFERENCES posts (id),
    position  INTEGER NOT NULL,
    media_id  INTEGER NOT NULL,
    PRIMARY KEY (post_id, position)
);
CREATE INDEX post_media_media ON post_media (media_id);

-- Every earlier version of an edited post.
CREATE TABLE post_revisions (
    post_id     INTEGER NOT NULL REFERENCES posts (id),
    revision    INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    teaser      TEXT    NOT NULL,
    visibility  TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    edited_by   INTEGER,
    edited_at   INTEGER NOT NULL,
    PRIMARY KEY (post_id, revision)
);

-- Entitlements. kind: subscription (subject = creator id, with tier and end) | unlock
-- (subject = post id) | staff (subject = creator id, 0 for every creator).
CREATE TABLE grants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    viewer_id   INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    subject_id  INTEGER NOT NULL,
    tier_id     INTEGER,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER,
    revoked_at  INTEGER,
    source      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX grants_key ON grants (viewer_id, kind, subject_id);
CREATE INDEX grants_subject ON grants (kind, subject_id, viewer_id);

-- A creator blocks a fan: the fan sees nothing of the creator.
CREATE TABLE blocks (
    creator_id  INTEGER NOT NULL,
    blocked_id  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (creator_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, creator_id);

CREATE TABLE likes (
    post_id     INTEGER NOT NULL REFERENCES posts (id),
    user_id     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user ON likes (user_id, created_at);

CREATE TABLE bookmarks (
    user_id     INTEGER NOT NULL,
    post_id     INTEGER NOT NULL REFERENCES posts (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
);

-- state: visible | hidden | deleted.
CREATE TABLE comments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id     INTEGER NOT NULL REFERENCES posts (id),
    author_id   INTEGER NOT NULL,
    parent_id   INTEGER,
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX comments_post ON comments (post_id, id);
CREATE INDEX comments_author ON comments (author_id, created_at);
