-- media_settings: a creator's media settings (fanz_media::watermark). `watermark` (0 or 1):
-- photos and videos processed while it is on carry "@handle · host" visibly;
-- `watermark_cluster`: whose host (a cluster slug of theirs; empty: their first).
-- media.watermark: the text an item's renditions carry (NULL: none).
CREATE TABLE media_settings (
    owner_id           INTEGER PRIMARY KEY,
    watermark          INTEGER NOT NULL DEFAULT 0,
    watermark_cluster  TEXT NOT NULL DEFAULT '',
    updated_at         INTEGER NOT NULL
);
ALTER TABLE media ADD COLUMN watermark TEXT;
-- Forensic mark keys (fanz_media::markkey): each item's secret, sealed by the server's
-- keyring; and how each delivered mark was seeded (1: from the ids, as before this
-- migration; 2: keyed by the item's secret).
ALTER TABLE media ADD COLUMN mark_secret TEXT;
ALTER TABLE media_marks ADD COLUMN scheme INTEGER NOT NULL DEFAULT 1;
