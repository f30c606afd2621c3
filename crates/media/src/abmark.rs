//! A/B segment marks: a video is encoded twice, A as it is and B with a faint pattern, and
//! every viewer other than its owner gets a rung playlist that takes each segment from A or
//! from B by a bit sequence of their own, so a recording of what they were served names them.
//!
//! - **Encoding** ([`b_filter`], used by [`crate::av`]): each rung is scaled once and split;
//!   the B copy gets a fixed 16×9 grid of cells, each raised or lowered by [`STRENGTH`] levels
//!   of luminance, smoothly interpolated (ffmpeg's `blend` in `grainmerge` mode over a
//!   pattern made by `geq` and scaled up). Both are encoded with the same settings and forced
//!   keyframes, so their segments start at the same instants and are interchangeable. The
//!   pattern has no mean, so a leaker's brightness change moves A and B alike.
//! - **Delivery** ([`Media::rung_playlist`]): segment *k* of a rung comes from B when bit *k*
//!   of the viewer's sequence ([`bits`], pseudo-random from the item's and the viewer's ids,
//!   the same in every rung) is set. Each segment's URL is signed for its own bytes of its
//!   own variant (`delivery::sign_slice`), so a viewer cannot read the other variant of a
//!   segment, nor other bytes of the file. The delivery is recorded in `media_marks`.
//! - **Tracing** ([`trace_file`]): the recording is matched to an item by duration and the
//!   PDQ hash of its poster frame; it is decoded at a few frames a second into 64-pixel-wide
//!   greyscale, as are the lowest rung's A and B files; each segment is read as A or B by
//!   projecting (recording − A) on (B − A); every viewer the item was delivered to is scored
//!   by how many segments agree with their sequence, and the chance that a random sequence
//!   agrees as well (a binomial tail) is the evidence.
//!
//! Limits: several viewers who mix their copies segment by segment produce a sequence close
//! to none of theirs (the trace then names nobody, or one of them with less confidence);
//! cropping or rotating moves the cells; a clip of a few segments carries a few bits only.

use crate::markkey::Seed;
use crate::{av, Media, MediaError, MediaItem, MediaKind, MediaState, Rendition, Result};
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db, Store};
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Luminance change of a B cell, in levels of 255.
pub const STRENGTH: u32 = 3;

/// The filter graph piece that makes `[output]`, the B variant of `[input]` (a `w`×`h`
/// yuv420p rung): a faint fixed pattern of 16×9 cells, ±[`STRENGTH`] levels of luminance,
/// added to every frame.
pub fn b_filter(input: &str, output: &str, w: u32, h: u32) -> String {
    format!(
        "color=c=black:s=16x9:d=1:r=1,format=yuv420p,\
         geq=lum='128+{STRENGTH}*(2*gte(mod(sin(X*12.9898+Y*78.233)*43758.5453\\,1)\\,0.5)-1)':cb=128:cr=128,\
         scale={w}:{h}:flags=bicubic,setsar=1[p{output}];\
         [{input}][p{output}]blend=all_mode=grainmerge[{output}]"
    )
}

/// `viewer_id`'s bits for the first `n` segments of `media_id` (`true`: B). Pseudo-random
/// from both ids under the item's key ([`crate::markkey`]), so two viewers' sequences (and
/// one viewer's on two items) are unrelated, and nobody without the key can compute one.
pub fn bits(seed: &Seed, media_id: i64, viewer_id: i64, n: usize) -> Vec<bool> {
    let mut s = seed.state("fanz-abmark", media_id, viewer_id);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s >> 63 == 1
        })
        .collect()
}

/// The B variant's name of an A rung file: `hls/v0.m3u8` → `hls/v0b.m3u8`, `hls/v2.mp4` →
/// `hls/v2b.mp4`; `None` for anything else.
pub fn b_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix("hls/v")?;
    let (num, ext) = rest.split_once('.')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || !matches!(ext, "m3u8" | "mp4")
    {
        return None;
    }
    Some(format!("hls/v{num}b.{ext}"))
}

/// A master playlist without the B variants ffmpeg listed in it.
pub fn without_b(master: &str) -> String {
    let lines: Vec<&str> = master.lines().collect();
    let mut out = String::with_capacity(master.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("#EXT-X-STREAM-INF") {
            if let Some(uri) = lines.get(i + 1) {
                if uri.trim().ends_with("b.m3u8") {
                    i += 2;
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

/// A rung playlist cut into its header, its segments (each from its `#EXTINF` to its URI)
/// and what follows the last segment.
struct Parsed<'a> {
    head: Vec<&'a str>,
    segments: Vec<Vec<&'a str>>,
    tail: Vec<&'a str>,
}

fn parse(text: &str) -> Parsed<'_> {
    let mut p = Parsed {
        head: Vec::new(),
        segments: Vec::new(),
        tail: Vec::new(),
    };
    let mut cur: Option<Vec<&str>> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("#EXTINF") {
            cur = Some(vec![line]);
            p.tail.clear();
        } else if let Some(seg) = cur.as_mut() {
            seg.push(line);
            if !line.is_empty() && !line.starts_with('#') {
                p.segments.push(cur.take().expect("some"));
            }
        } else if p.segments.is_empty() {
            p.head.push(line);
        } else {
            p.tail.push(line);
        }
    }
    p
}

/// The segment durations of a rung playlist, in seconds.
pub fn durations(text: &str) -> Vec<f64> {
    parse(text)
        .segments
        .iter()
        .filter_map(|s| {
            s[0].strip_prefix("#EXTINF:")
                .and_then(|d| d.split(',').next())
                .and_then(|d| d.trim().parse::<f64>().ok())
        })
        .collect()
}

/// The rung playlist that takes segment *k* from `b` when `pick[k]`, else from `a`; `None`
/// when the two do not have the same segments at the same instants (never for playlists
/// made together by [`crate::av`]), or a segment's byte range has no explicit offset.
pub fn merge(a: &str, b: &str, pick: impl Fn(usize) -> bool) -> Option<String> {
    let (pa, pb) = (parse(a), parse(b));
    if pa.segments.len() != pb.segments.len() || pa.segments.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(a.len());
    for l in &pa.head {
        out.push_str(l);
        out.push('\n');
    }
    for (k, (sa, sb)) in pa.segments.iter().zip(&pb.segments).enumerate() {
        if sa[0] != sb[0] {
            return None;
        }
        let seg = if pick(k) { sb } else { sa };
        for l in seg {
            if let Some(r) = l.strip_prefix("#EXT-X-BYTERANGE:") {
                if !r.contains('@') {
                    return None;
                }
            }
            out.push_str(l);
            out.push('\n');
        }
    }
    for l in &pa.tail {
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

/// Whether `r` is delivered to `viewer_id` as their own A/B sequence: a rung playlist of a
/// video that has B variants, for anyone but its owner.
pub fn applies(item: &MediaItem, r: &Rendition, viewer_id: Option<i64>) -> bool {
    item.kind == MediaKind::Video
        && viewer_id.is_some_and(|v| v != item.owner_id)
        && b_of(&r.name).is_some_and(|b| item.rendition(&b).is_some())
}

/// The largest playlist read (a ladder's playlists are a few KiB per hour of video).
pub const MAX_PLAYLIST_BYTES: u64 = 4 << 20;

impl Media {
    /// The stored playlist `r` as `viewer_id` gets it before its URIs are signed: a rung
    /// playlist of a marked video is their own sequence of A and B segments, and the
    /// delivery is recorded in `media_marks`; anything else is the stored text.
    pub async fn rung_playlist(
        &self,
        store: &Store,
        item: &MediaItem,
        r: &Rendition,
        viewer_id: Option<i64>,
    ) -> Result<String> {
        let read = |name: String| async move {
            let bytes = self.objects.read_all(&name, MAX_PLAYLIST_BYTES).await?;
            String::from_utf8(bytes.to_vec()).map_err(|_| MediaError::NotFound)
        };
        let a = read(item.rendition_key(r)).await?;
        let Some(viewer) = viewer_id.filter(|_| applies(item, r, viewer_id)) else {
            return Ok(a);
        };
        let b_name = b_of(&r.name).expect("applies");
        let b_r = item.rendition(&b_name).expect("applies");
        let b = read(item.rendition_key(b_r)).await?;
        let n = durations(&a).len();
        let mut db = store.conn().await?;
        let seed = self.delivery_seed(&mut db, item.id, viewer).await?;
        let seq = bits(&seed, item.id, viewer, n);
        let Some(merged) = merge(&a, &b, |k| seq[k]) else {
            tracing::error!(media_id = item.id, rung = %r.name, "the A and B playlists differ: delivered unmarked");
            return Ok(a);
        };
        sqlx::query(
            "INSERT INTO media_marks (media_id, viewer_id, rendition, object_key, created_at, scheme) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(item.id)
        .bind(viewer)
        .bind(&r.name)
        .bind("")
        .bind(now_micros())
        .bind(seed.scheme())
        .execute(&mut *db)
        .await?;
        Ok(merged)
    }
}

// ---- tracing a recording ----

/// One viewer's agreement with what a recording's segments were read as.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub viewer_id: i64,
    /// Segments read whose variant matches this viewer's sequence.
    pub agree: usize,
    /// The chance that a random sequence agrees on `agree` or more of the segments read.
    pub p_value: f64,
}

/// What a trace of a recording found.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoTrace {
    /// No video of this server looks like the recording (length and poster frame).
    UnknownVideo,
    /// The recording is of `media_id`, which has no B variants (processed without marks).
    NotMarked { media_id: i64 },
    /// The recording is of `media_id`, but no viewer's sequence stands out.
    NoViewer {
        media_id: i64,
        /// Viewers it was delivered to marked.
        candidates: usize,
        /// Segments of the recording read as A or B.
        segments: usize,
        best: Option<Score>,
    },
    /// The recording is of what `best.viewer_id` was served.
    Viewer {
        media_id: i64,
        candidates: usize,
        segments: usize,
        best: Score,
        runner_up: Option<Score>,
        /// 1 − the chance that any of the candidates' sequences agrees as well at random.
        confidence: f64,
    },
}

/// The longest a trace may take (ffmpeg runs are killed past it).
const TRACE_TIMEOUT: Duration = Duration::from_secs(600);
/// Width of the greyscale thumbnails compared (the pattern has 16 cells across).
const THUMB_W: u32 = 64;
/// Frames decoded per file at most (64×36 bytes each: about 14 MB).
const MAX_FRAMES: f64 = 6000.0;
/// A family-wise chance below which a viewer is named.
const NAME_BELOW: f64 = 1e-3;

/// `P(X ≥ k)` for `X ~ Binomial(n, 1/2)`.
pub fn binomial_tail(n: usize, k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let mut ln_fact = vec![0f64; n + 1];
    for i in 1..=n {
        ln_fact[i] = ln_fact[i - 1] + (i as f64).ln();
    }
    let terms: Vec<f64> = (k..=n)
        .map(|j| ln_fact[n] - ln_fact[j] - ln_fact[n - j] - n as f64 * std::f64::consts::LN_2)
        .collect();
    let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
}

/// Score the candidates against `read` (the variant each segment was read as, `None` when
/// it could not be told) and decide.
pub fn verdict(media_id: i64, read: &[Option<bool>], viewers: &[(i64, Seed)]) -> VideoTrace {
    let segments = read.iter().filter(|r| r.is_some()).count();
    let mut scores: Vec<Score> = viewers
        .iter()
        .map(|(v, seed)| {
            let v = *v;
            let seq = bits(seed, media_id, v, read.len());
            let agree = read
                .iter()
                .zip(&seq)
                .filter(|(r, s)| **r == Some(**s))
                .count();
            Score {
                viewer_id: v,
                agree,
                p_value: binomial_tail(segments, agree),
            }
        })
        .collect();
    scores.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(b.agree.cmp(&a.agree)));
    let candidates = scores.len();
    let mut it = scores.into_iter();
    let best = it.next();
    let runner_up = it.next();
    match best {
        Some(best)
            if segments > 0
                && (best.p_value * candidates as f64) <= NAME_BELOW
                && runner_up.as_ref().is_none_or(|r| r.agree < best.agree) =>
        {
            VideoTrace::Viewer {
                media_id,
                candidates,
                segments,
                confidence: 1.0 - (best.p_value * candidates as f64).min(1.0),
                best,
                runner_up,
            }
        }
        best => VideoTrace::NoViewer {
            media_id,
            candidates,
            segments,
            best,
        },
    }
}

/// Read each segment of a recording as A (`false`) or B (`true`), or `None` when it cannot
/// be told. `rec`, `a` and `b` are greyscale frames of `len` bytes, `fps` a second from
/// each file's first frame; `segments` are the durations of the item's segments.
pub fn read_segments(
    rec: &[u8],
    a: &[u8],
    b: &[u8],
    len: usize,
    fps: f64,
    segments: &[f64],
) -> Vec<Option<bool>> {
    let frames = |x: &[u8]| -> Vec<Vec<f32>> {
        x.chunks_exact(len)
            .map(|f| {
                let mean = f.iter().map(|&p| f32::from(p)).sum::<f32>() / len as f32;
                f.iter().map(|&p| f32::from(p) - mean).collect()
            })
            .collect()
    };
    let (rec, a, b) = (frames(rec), frames(a), frames(b));
    let n = a.len().min(b.len());
    // The recording may start a little later or earlier: the shift (up to a second) at
    // which it looks most like A.
    let reach = fps.ceil() as isize;
    let mut shift = 0isize;
    let mut best = f32::INFINITY;
    for o in -reach..=reach {
        let (mut sum, mut count) = (0f32, 0usize);
        for (i, r) in rec.iter().enumerate() {
            let j = i as isize + o;
            if j < 0 || j as usize >= n {
                continue;
            }
            sum += r
                .iter()
                .zip(&a[j as usize])
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>();
            count += 1;
        }
        if count > 0 && sum / (count as f32) < best {
            best = sum / count as f32;
            shift = o;
        }
    }
    let mut start = 0f64;
    segments
        .iter()
        .map(|&d| {
            let (from, to) = (start, start + d);
            start = to;
            let margin = (d / 4.0).min(0.2);
            let (mut num, mut den) = (0f64, 0f64);
            for j in 0..n {
                let t = j as f64 / fps;
                if t < from + margin || t > to - margin {
                    continue;
                }
                let i = j as isize - shift;
                let Some(r) = usize::try_from(i).ok().and_then(|i| rec.get(i)) else {
                    continue;
                };
                for ((r, a), b) in r.iter().zip(&a[j]).zip(&b[j]) {
                    let d = f64::from(b - a);
                    num += f64::from(r - a) * d;
                    den += d * d;
                }
            }
            // B and A must differ by more than rounding for the segment to tell anything.
            if den < 0.25 * len as f64 {
                return None;
            }
            let x = num / den;
            if (x - 0.5).abs() < 0.15 {
                None
            } else {
                Some(x > 0.5)
            }
        })
        .collect()
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn av_error(f: av::AvFailure) -> MediaError {
    match f {
        av::AvFailure::Unavailable => MediaError::AvUnavailable,
        f => MediaError::Invalid(f.to_string()),
    }
}

/// Decode a picture off the async threads.
async fn decode(bytes: Vec<u8>) -> Result<image::DynamicImage> {
    tokio::task::spawn_blocking(move || image::load_from_memory(&bytes))
        .await
        .map_err(|_| MediaError::Invalid("a frame does not decode".into()))?
        .map_err(|e| MediaError::Invalid(format!("a frame does not decode: {e}")))
}

/// The item a recording (`path`, read with the demuxer `format`, `duration_ms` long) is of:
/// a ready video of about the same length whose poster frame looks like the recording's
/// frame at the same instant.
async fn find_item(
    media: &Media,
    db: &mut Db,
    av: &av::Av,
    path: &Path,
    format: &str,
    duration_ms: i64,
    deadline: tokio::time::Instant,
) -> Result<Option<MediaItem>> {
    let slack = (duration_ms / 20).max(2000);
    let ids: Vec<i64> = sqlx::query(
        "SELECT id FROM media WHERE kind = 'video' AND state = 'ready' AND pdq IS NOT NULL \
         AND duration_ms BETWEEN $1 AND $2 ORDER BY id DESC LIMIT 50",
    )
    .bind(duration_ms - slack)
    .bind(duration_ms + slack)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| r.try_get::<i64, _>(0))
    .collect::<std::result::Result<_, _>>()?;
    let mut frames: Vec<(i64, image::DynamicImage, crate::Pdq)> = Vec::new();
    let mut found: Option<(f32, MediaItem)> = None;
    for id in ids {
        let item = crate::get(db, id).await?;
        let (Some(pdq), Some(poster)) = (
            item.pdq.as_deref().and_then(crate::Pdq::parse),
            item.rendition("poster.jpg"),
        ) else {
            continue;
        };
        let at = av::poster_at(Duration::from_millis(
            item.duration_ms.unwrap_or(0).max(0) as u64
        ));
        let at_ms = at.as_millis() as i64;
        if !frames.iter().any(|f| f.0 == at_ms) {
            let png = av
                .frame_png(path, format, at, deadline)
                .await
                .map_err(av_error)?;
            let img = decode(png).await?;
            let Some((hash, _)) = crate::pdq::hash_image(&img) else {
                continue;
            };
            frames.push((at_ms, img, hash));
        }
        let (_, frame, hash) = frames.iter().find(|f| f.0 == at_ms).expect("pushed");
        if pdq.distance(hash) > crate::mark::NEAR {
            continue;
        }
        let bytes = media
            .objects
            .read_all(&item.rendition_key(poster), media.limits.max_upload_bytes)
            .await?;
        let poster = decode(bytes.to_vec()).await?;
        let sim = crate::mark::similarity(frame, &poster);
        if sim >= crate::mark::SAME_PICTURE && found.as_ref().is_none_or(|f| sim > f.0) {
            found = Some((sim, item));
        }
    }
    Ok(found.map(|f| f.1))
}

/// Trace a recording of a video (an MP4, MOV or WebM file): which item it is of and which
/// viewer's sequence of A and B segments it carries. ffmpeg runs within a deadline; frames
/// are decoded small and few.
pub async fn trace_file(media: &Media, db: &mut Db, path: &Path) -> Result<VideoTrace> {
    let av = media.av.clone().ok_or(MediaError::AvUnavailable)?;
    let head = {
        use tokio::io::AsyncReadExt;
        let mut f = tokio::fs::File::open(path)
            .await
            .map_err(|e| MediaError::Invalid(format!("{}: {e}", path.display())))?;
        let mut head = vec![0u8; crate::sniff::SNIFF_BYTES];
        let mut got = 0;
        while got < head.len() {
            let n = f
                .read(&mut head[got..])
                .await
                .map_err(|e| MediaError::Invalid(e.to_string()))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        head.truncate(got);
        head
    };
    let format = crate::sniff::sniff(&head)
        .filter(|s| s.kind == MediaKind::Video)
        .and_then(|s| av::demuxer(s.mime))
        .ok_or_else(|| {
            MediaError::Invalid("not a video this server reads (MP4, MOV or WebM)".into())
        })?;
    let deadline = tokio::time::Instant::now() + TRACE_TIMEOUT.min(av.limits.timeout);
    let probe = av.probe(path, format, deadline).await.map_err(av_error)?;
    av.check(&probe, true).map_err(av_error)?;
    let Some(item) = find_item(media, db, &av, path, format, probe.duration_ms, deadline).await?
    else {
        return Ok(VideoTrace::UnknownVideo);
    };
    let media_id = item.id;
    // The lowest rung: the pattern is the same in every rung, and it is the cheapest.
    let (Some(a_pl), Some(a_mp4), Some(b_mp4)) = (
        item.rendition("hls/v0.m3u8"),
        item.rendition("hls/v0.mp4"),
        item.rendition("hls/v0b.mp4"),
    ) else {
        return Ok(VideoTrace::NotMarked { media_id });
    };
    if item.state != MediaState::Ready {
        return Ok(VideoTrace::NotMarked { media_id });
    }
    let text = media
        .objects
        .read_all(&item.rendition_key(a_pl), MAX_PLAYLIST_BYTES)
        .await?;
    let segments = durations(&String::from_utf8_lossy(&text));
    let scratch = Scratch(media.work_dir.join(format!(
        "trace-{media_id}-{}",
        crate::objects::new_prefix("t").replace('/', "-")
    )));
    tokio::fs::create_dir_all(&scratch.0)
        .await
        .map_err(|e| MediaError::Storage(format!("{}: {e}", scratch.0.display())))?;
    let (fa, fb) = (scratch.0.join("a.mp4"), scratch.0.join("b.mp4"));
    media
        .objects
        .download(&item.rendition_key(a_mp4), &fa)
        .await?;
    media
        .objects
        .download(&item.rendition_key(b_mp4), &fb)
        .await?;
    let total: f64 = segments.iter().sum::<f64>().max(1.0);
    let fps = (MAX_FRAMES / total).clamp(0.5, 8.0);
    let th = ((THUMB_W * a_mp4.height / a_mp4.width.max(1)) / 2 * 2).clamp(8, 128);
    let size = (THUMB_W, th);
    let rec = av
        .gray_frames(path, format, size, fps, deadline)
        .await
        .map_err(av_error)?;
    let a = av
        .gray_frames(&fa, "mov", size, fps, deadline)
        .await
        .map_err(av_error)?;
    let b = av
        .gray_frames(&fb, "mov", size, fps, deadline)
        .await
        .map_err(av_error)?;
    drop(scratch);
    let len = (size.0 * size.1) as usize;
    let read =
        tokio::task::spawn_blocking(move || read_segments(&rec, &a, &b, len, fps, &segments))
            .await
            .map_err(|_| MediaError::Invalid("reading the recording failed".into()))?;
    let viewers = media.traced_viewers(db, media_id, "hls/%").await?;
    Ok(verdict(media_id, &read, &viewers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masters() {
        assert_eq!(b_of("hls/v0.m3u8").as_deref(), Some("hls/v0b.m3u8"));
        assert_eq!(b_of("hls/v12.mp4").as_deref(), Some("hls/v12b.mp4"));
        for no in ["hls/master.m3u8", "hls/v0b.m3u8", "poster.jpg", "hls/v.mp4"] {
            assert_eq!(b_of(no), None, "{no}");
        }
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=2\nv1.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0b.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=2\nv1b.m3u8\n\n";
        let got = without_b(master);
        assert!(!got.contains("b.m3u8"), "{got}");
        assert_eq!(got.matches("#EXT-X-STREAM-INF").count(), 2);
        assert!(got.contains("v0.m3u8") && got.contains("v1.m3u8"));
    }

    #[test]
    fn playlists_merge_segment_by_segment() {
        let pl = |v: &str, offs: &[(u64, u64)]| {
            let mut s = format!("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI=\"{v}.mp4\",BYTERANGE=\"100@0\"\n");
            for (o, l) in offs {
                s.push_str(&format!(
                    "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:{l}@{o}\n{v}.mp4\n"
                ));
            }
            s.push_str("#EXT-X-ENDLIST\n");
            s
        };
        let a = pl("v0", &[(100, 10), (110, 20), (130, 30)]);
        let b = pl("v0b", &[(100, 11), (111, 21), (132, 31)]);
        let got = merge(&a, &b, |k| k == 1).unwrap();
        assert_eq!(
            got,
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI=\"v0.mp4\",BYTERANGE=\"100@0\"\n\
             #EXTINF:1.000000,\n#EXT-X-BYTERANGE:10@100\nv0.mp4\n\
             #EXTINF:1.000000,\n#EXT-X-BYTERANGE:21@111\nv0b.mp4\n\
             #EXTINF:1.000000,\n#EXT-X-BYTERANGE:30@130\nv0.mp4\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(durations(&got), [1.0, 1.0, 1.0]);
        // Different segments: no merge.
        let short = pl("v0b", &[(100, 11)]);
        assert_eq!(merge(&a, &short, |_| true), None);
    }

    #[test]
    fn sequences_differ_and_tails_are_right() {
        let key = Seed::Keyed([9; 32]);
        let x = bits(&key, 5, 1, 64);
        let y = bits(&key, 5, 2, 64);
        assert_eq!(x, bits(&key, 5, 1, 64));
        // The sequence depends on the key: another key, or the ids alone, give another.
        for other in [Seed::Keyed([8; 32]), Seed::Ids] {
            let z = bits(&other, 5, 1, 64);
            let same = x.iter().zip(&z).filter(|(a, b)| a == b).count();
            assert!((16..=48).contains(&same), "{same}");
        }
        let same = x.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!((16..=48).contains(&same), "{same}");
        assert!(x.iter().any(|b| *b) && x.iter().any(|b| !*b));
        assert!((binomial_tail(20, 20) - 0.5f64.powi(20)).abs() < 1e-12);
        assert!((binomial_tail(2, 1) - 0.75).abs() < 1e-12);
        assert_eq!(binomial_tail(10, 0), 1.0);
        // Large counts stay finite: more than half of 4000 is a little under a half.
        let half = binomial_tail(4000, 2001);
        assert!((0.49..0.5).contains(&half), "{half}");
    }

    #[test]
    fn the_viewer_whose_sequence_was_read_is_named() {
        let key = Seed::Keyed([3; 32]);
        let seq = bits(&key, 9, 77, 24);
        let viewers =
            |ids: &[i64]| -> Vec<(i64, Seed)> { ids.iter().map(|&v| (v, key.clone())).collect() };
        let read: Vec<Option<bool>> = seq
            .iter()
            .enumerate()
            .map(|(k, b)| if k == 3 { None } else { Some(*b) })
            .collect();
        match verdict(9, &read, &viewers(&[76, 77, 78])) {
            VideoTrace::Viewer {
                best,
                segments,
                confidence,
                ..
            } => {
                assert_eq!((best.viewer_id, best.agree, segments), (77, 23, 23));
                assert!(confidence > 0.999, "{confidence}");
            }
            other => panic!("{other:?}"),
        }
        // All A (an unmarked copy): nobody.
        let plain = vec![Some(false); 24];
        assert!(matches!(
            verdict(9, &plain, &viewers(&[76, 77, 78])),
            VideoTrace::NoViewer { .. }
        ));
        // Too few segments to be sure of anyone.
        let short: Vec<Option<bool>> = seq[..6].iter().map(|b| Some(*b)).collect();
        assert!(matches!(
            verdict(9, &short, &viewers(&[76, 77])),
            VideoTrace::NoViewer { .. }
        ));
    }
}
