-- content: what creators publish and who may see it.
-- Timestamps are microseconds; money is integer minor units with an ISO currency code.

-- A creator's subscription tiers (the catalogue payments sells). price_amount 0 = free tier.
CREATE TABLE tiers (
    id            BIGSERIAL PRIMARY KEY,
    creator_id    BIGINT  NOT NULL,
    name          TEXT    NOT NULL,
    price_amount  BIGINT  NOT NULL,
    currency      TEXT    NOT NULL,
    period_days   BIGINT  NOT NULL,
    benefits      TEXT    NOT NULL DEFAULT '',
    archived      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX tiers_creator ON tiers (creator_id, id);

-- Posts and stories. state: draft | scheduled | published | hidden | deleted.
-- visibility: public | followers | subscribers | ppv. `tiers` is a JSON array of tier ids a
-- subscribers post is limited to (empty: any tier).
CREATE TABLE posts (
    id              BIGSERIAL PRIMARY KEY,
    author_id       BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    visibility      TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    teaser          TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    sensitive       BIGINT  NOT NULL DEFAULT 0,
    tiers           TEXT    NOT NULL DEFAULT '[]',
    price_amount    BIGINT,
    currency        TEXT,
    pinned          BIGINT  NOT NULL DEFAULT 0,
    has_video       BIGINT  NOT NULL DEFAULT 0,
    publish_at      BIGINT,
    published_at    BIGINT,
    expires_at      BIGINT,
    deleted_at      BIGINT,
    likes_count     BIGINT  NOT NULL DEFAULT 0,
    comments_count  BIGINT  NOT NULL DEFAULT 0,
    revision        BIGINT  NOT NULL DEFAULT 1,
    refusal         TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX posts_author ON posts (author_id, published_at);
CREATE INDEX posts_published ON posts (published_at);

-- The clusters a post appears on. `published_at` is copied while the post is visible (NULL
-- otherwise) so a cluster feed is one index range.
CREATE TABLE post_clusters (
    post_id       BIGINT  NOT NULL REFERENCES posts (id),
    cluster_slug  TEXT    NOT NULL,
    published_at  BIGINT,
    PRIMARY KEY (post_id, cluster_slug)
);
CREATE INDEX post_clusters_feed ON post_clusters (cluster_slug, published_at, post_id);

CREATE TABLE post_tags (
    post_id       BIGINT  NOT NULL REFERENCES posts (id),
    tag           TEXT    NOT NULL,
    published_at  BIGINT,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_tags_feed ON post_tags (tag, published_at, post_id);

CREATE TABLE post_media (
    post_id   BIGINT  NOT NULL REFERENCES posts (id),
    position  BIGINT  NOT NULL,
    media_id  BIGINT  NOT NULL,
    PRIMARY KEY (post_id, position)
);
CREATE INDEX post_media_media ON post_media (media_id);

-- Every earlier version of an edited post.
CREATE TABLE post_revisions (
    post_id     BIGINT  NOT NULL REFERENCES posts (id),
    revision    BIGINT  NOT NULL,
    text        TEXT    NOT NULL,
    teaser      TEXT    NOT NULL,
    visibility  TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    edited_by   BIGINT,
    edited_at   BIGINT  NOT NULL,
    PRIMARY KEY (post_id, revision)
);

-- Entitlements. kind: subscription (subject = creator id, with tier and end) | unlock
-- (subject = post id) | staff (subject = creator id, 0 for every creator).
CREATE TABLE grants (
    id          BIGSERIAL PRIMARY KEY,
    viewer_id   BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    subject_id  BIGINT  NOT NULL,
    tier_id     BIGINT,
    starts_at   BIGINT  NOT NULL,
    ends_at     BIGINT,
    revoked_at  BIGINT,
    source      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX grants_key ON grants (viewer_id, kind, subject_id);
CREATE INDEX grants_subject ON grants (kind, subject_id, viewer_id);

-- A creator blocks a fan: the fan sees nothing of the creator.
CREATE TABLE blocks (
    creator_id  BIGINT  NOT NULL,
    blocked_id  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (creator_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, creator_id);

CREATE TABLE likes (
    post_id     BIGINT  NOT NULL REFERENCES posts (id),
    user_id     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user ON likes (user_id, created_at);

CREATE TABLE bookmarks (
    user_id     BIGINT  NOT NULL,
    post_id     BIGINT  NOT NULL REFERENCES posts (id),
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, post_id)
);

-- state: visible | hidden | deleted.
CREATE TABLE comments (
    id          BIGSERIAL PRIMARY KEY,
    post_id     BIGINT  NOT NULL REFERENCES posts (id),
    author_id   BIGINT  NOT NULL,
    parent_id   BIGINT,
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX comments_post ON comments (post_id, id);
CREATE INDEX comments_author ON comments (author_id, created_at);
