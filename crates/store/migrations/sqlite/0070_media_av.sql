-- media: video and audio processing. `duration_ms` is the probed length of a video or audio
-- item; `error_code` is a stable code beside `error` when processing failed
-- (`video_processing_unavailable`, `media_too_long`, `media_malformed`, …).
ALTER TABLE media ADD COLUMN duration_ms INTEGER;
ALTER TABLE media ADD COLUMN error_code TEXT;
