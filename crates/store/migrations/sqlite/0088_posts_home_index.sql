-- The home feed reads each followed creator's newest published posts (`feeds::home`). With only
-- `posts_author` (author, published_at) every candidate row was read from the table to check
-- its state, kind and expiry. This partial index holds exactly the published posts, with the
-- expiry in the index, so a creator's newest page is read from the index alone.
CREATE INDEX posts_home ON posts (author_id, published_at, id, expires_at)
    WHERE state = 'published' AND kind = 'post';
