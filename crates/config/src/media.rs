//! The `[media]` section: where uploaded media is stored, the limits on uploads and on image
//! processing, and the keys that sign delivery URLs. Every field has a default.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// `file:///absolute/dir` or `s3://bucket[/prefix]`; empty: `file://<data_dir>/media`.
    pub store: String,
    /// The S3 endpoint (`http://127.0.0.1:9000` for MinIO); empty: AWS for `s3_region`.
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Allow an `http://` endpoint (a store on the same host or network).
    pub s3_allow_http: bool,
    /// The largest file `POST /api/v1/media` (multipart) accepts.
    pub max_upload_bytes: u64,
    /// The largest file a resumable (tus) upload may announce.
    pub max_resumable_bytes: u64,
    /// Storage one creator may use (originals, renditions and unfinished uploads).
    pub quota_bytes: u64,
    /// An unfinished resumable upload is deleted this long after its creation.
    pub upload_expiry_hours: u64,
    /// Images with more pixels are refused before they are decoded (decompression bombs).
    pub max_pixels: u64,
    /// An image that takes longer to decode and render fails.
    pub decode_timeout_secs: u64,
    /// Images processed at once on this node.
    pub process_concurrency: u32,
    /// Widths of the image renditions (narrower sources get one at their own width).
    pub rendition_widths: Vec<u32>,
    /// Lifetime of the delivery URLs the vault hands out.
    pub url_ttl_secs: u64,
    /// The key that signs delivery URLs, `id:base64` of 32 random bytes; empty: generated
    /// into `<data_dir>/media-url.key`. Nodes that share a store must share the key.
    pub url_key: String,
    /// Earlier keys, still accepted for URLs signed before a rotation.
    pub url_old_keys: Vec<String>,
    /// The ffmpeg and ffprobe programs (a name looked up on PATH, or a path) that process
    /// video and audio; empty, or not found at start: video and audio processing is
    /// unavailable and such uploads are refused with `video_processing_unavailable`.
    pub ffmpeg: String,
    pub ffprobe: String,
    /// Video and audio longer than this fail.
    pub max_duration_secs: u64,
    /// Video frames with more pixels than this fail (4096×2160 by default).
    pub max_video_pixels: u64,
    /// Files with more streams (video, audio, subtitles, data) than this fail.
    pub max_streams: u32,
    /// One ffmpeg or ffprobe run is killed after this long, and the item fails.
    pub transcode_timeout_secs: u64,
    /// The address space each ffmpeg or ffprobe run may have, in MiB (`RLIMIT_AS`, set in
    /// the child before it starts): past it, its allocations fail and the item fails with
    /// `processing_out_of_memory`; the server is untouched. 0: no limit.
    pub ffmpeg_memory_mb: u64,
    /// ffmpeg runs at once on this node (each uses up to `transcode_threads` threads).
    pub transcode_concurrency: u32,
    pub transcode_threads: u32,
    /// The heights of the HLS ladder; a source gets the rungs up to its own height (its
    /// shorter side, for portrait video), at least the lowest.
    pub hls_heights: Vec<u32>,
    /// Length of the muted preview clip.
    pub preview_secs: u32,
    /// Length of an HLS segment (1 to 10 s). Each segment of a marked video carries one bit
    /// of the viewer's A/B mark, so shorter segments trace shorter recordings.
    pub hls_segment_secs: u32,
    /// Encode every video twice (variants A and B of each segment, B with a faint pattern),
    /// so each viewer gets a sequence of them that a recording can be traced back by
    /// (`fanz media trace`). Costs about twice the transcode time and storage of the ladder.
    pub video_marks: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            store: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_allow_http: false,
            max_upload_bytes: 100 * 1024 * 1024,
            max_resumable_bytes: 20 * 1024 * 1024 * 1024,
            quota_bytes: 50 * 1024 * 1024 * 1024,
            upload_expiry_hours: 24,
            max_pixels: 60_000_000,
            decode_timeout_secs: 30,
            process_concurrency: 2,
            rendition_widths: vec![320, 640, 1280],
            url_ttl_secs: 15 * 60,
            url_key: String::new(),
            url_old_keys: Vec::new(),
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            max_duration_secs: 4 * 3600,
            max_video_pixels: 4096 * 2160,
            max_streams: 8,
            transcode_timeout_secs: 3 * 3600,
            ffmpeg_memory_mb: 4096,
            transcode_concurrency: 1,
            transcode_threads: 2,
            hls_heights: vec![240, 360, 480, 720, 1080],
            preview_secs: 4,
            hls_segment_secs: 4,
            video_marks: true,
        }
    }
}

impl MediaConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let s = self.store.trim();
        if !(s.is_empty() || s.starts_with("file:///") || s.starts_with("s3://")) {
            return Err((
                "media.store",
                "must be file:///absolute/dir or s3://bucket (or empty for <data_dir>/media)"
                    .into(),
            ));
        }
        if s.starts_with("s3://") && s.trim_start_matches("s3://").is_empty() {
            return Err(("media.store", "s3:// needs a bucket name".into()));
        }
        for (key, v) in [
            ("media.max_upload_bytes", self.max_upload_bytes),
            ("media.max_resumable_bytes", self.max_resumable_bytes),
            ("media.upload_expiry_hours", self.upload_expiry_hours),
            ("media.max_pixels", self.max_pixels),
            ("media.decode_timeout_secs", self.decode_timeout_secs),
            ("media.url_ttl_secs", self.url_ttl_secs),
            ("media.max_duration_secs", self.max_duration_secs),
            ("media.max_video_pixels", self.max_video_pixels),
            ("media.transcode_timeout_secs", self.transcode_timeout_secs),
            ("media.max_streams", u64::from(self.max_streams)),
            (
                "media.transcode_concurrency",
                u64::from(self.transcode_concurrency),
            ),
            ("media.transcode_threads", u64::from(self.transcode_threads)),
            ("media.preview_secs", u64::from(self.preview_secs)),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if self.process_concurrency == 0 {
            return Err(("media.process_concurrency", "must be at least 1".into()));
        }
        if self.rendition_widths.is_empty()
            || self
                .rendition_widths
                .iter()
                .any(|&w| !(16..=8192).contains(&w))
        {
            return Err((
                "media.rendition_widths",
                "list one or more widths from 16 to 8192".into(),
            ));
        }
        if !(1..=10).contains(&self.hls_segment_secs) {
            return Err((
                "media.hls_segment_secs",
                "must be from 1 to 10 seconds".into(),
            ));
        }
        if self.hls_heights.is_empty()
            || self.hls_heights.iter().any(|&h| !(64..=4320).contains(&h))
        {
            return Err((
                "media.hls_heights",
                "list one or more heights from 64 to 4320".into(),
            ));
        }
        Ok(())
    }
}
