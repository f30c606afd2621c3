-- profiles: public fan and creator profiles, the clusters a creator appears on, follows.
-- `handle` is copied from identity when the profile is made so pages read one table.
CREATE TABLE profiles (
    user_id          INTEGER PRIMARY KEY,
    handle           TEXT    NOT NULL UNIQUE,
    display_name     TEXT    NOT NULL,
    bio              TEXT    NOT NULL DEFAULT '',
    avatar_url       TEXT    NOT NULL DEFAULT '',
    banner_url       TEXT    NOT NULL DEFAULT '',
    links            TEXT    NOT NULL DEFAULT '[]',
    is_creator       INTEGER NOT NULL DEFAULT 0,
    followers_count  INTEGER NOT NULL DEFAULT 0,
    following_count  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE profile_clusters (
    user_id       INTEGER NOT NULL REFERENCES profiles (user_id),
    cluster_slug  TEXT    NOT NULL,
    PRIMARY KEY (user_id, cluster_slug)
);
CREATE INDEX profile_clusters_slug ON profile_clusters (cluster_slug, user_id);

CREATE TABLE follows (
    follower_id  INTEGER NOT NULL REFERENCES profiles (user_id),
    followee_id  INTEGER NOT NULL REFERENCES profiles (user_id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, follower_id);
