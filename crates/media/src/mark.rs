//! Forensic marks: a faint pattern, different for every viewer, added to a paid picture as it
//! is delivered to them, so a leaked copy names the account it was delivered to.
//!
//! The picture is seen as a 64×64 grid of cells in its own proportions (so resizing does not
//! move them). Each viewer's mark on each picture is a pseudo-random sign per cell (seeded by
//! both ids): a cell's luminance is raised or lowered by [`STRENGTH`] levels (out of 255),
//! smoothly interpolated between cell centres. Two viewers' patterns are unrelated, so a copy
//! correlates with its own viewer's pattern and with no one else's.
//!
//! Tracing compares a leaked copy with the item's unmarked rendition at the copy's size (the
//! picture is found by its PDQ hash): the difference, averaged per cell, is correlated with
//! the pattern of each viewer the picture was delivered to (`media_marks`). The patterns are
//! derived from public ids, not a secret: someone who knows this code and holds the unmarked
//! picture could remove a mark; a leaker holds only their marked copy.
//! Re-encoding (JPEG quality 70) and resizing (to 80 %) leave cell averages nearly intact,
//! which is why the mark lives there. Cropping, rotation or heavy filtering defeat it; the
//! trace then says it cannot tell.

use crate::markkey::Seed;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

/// Cells per side.
pub const GRID: usize = 64;
/// Luminance change of a cell, in levels of 255.
pub const STRENGTH: f32 = 2.5;

/// The ±1 cell values of `viewer_id`'s mark on `media_id`: pseudo-random from both, so two
/// viewers' marks (and two pictures' marks of one viewer) are unrelated.
fn expected(seed: &Seed, media_id: i64, viewer_id: i64) -> Vec<f32> {
    let mut s = seed.state("fanz-mark", media_id, viewer_id);
    (0..GRID * GRID)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if s >> 63 == 1 {
                1.0
            } else {
                -1.0
            }
        })
        .collect()
}

/// Add `viewer_id`'s mark for `media_id` (seeded by `seed`) to `img`.
pub fn embed(img: &mut RgbImage, seed: &Seed, media_id: i64, viewer_id: i64) {
    let field = expected(seed, media_id, viewer_id);
    let (w, h) = img.dimensions();
    let at = |cx: isize, cy: isize| -> f32 {
        let cx = cx.clamp(0, GRID as isize - 1) as usize;
        let cy = cy.clamp(0, GRID as isize - 1) as usize;
        field[cy * GRID + cx]
    };
    for y in 0..h {
        let fy = (y as f32 + 0.5) * GRID as f32 / h as f32 - 0.5;
        let y0 = fy.floor();
        let ty = fy - y0;
        for x in 0..w {
            let fx = (x as f32 + 0.5) * GRID as f32 / w as f32 - 0.5;
            let x0 = fx.floor();
            let tx = fx - x0;
            let (x0, y0i) = (x0 as isize, y0 as isize);
            let v = (1.0 - ty) * ((1.0 - tx) * at(x0, y0i) + tx * at(x0 + 1, y0i))
                + ty * ((1.0 - tx) * at(x0, y0i + 1) + tx * at(x0 + 1, y0i + 1));
            let d = v * STRENGTH;
            let p = img.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (f32::from(*c) + d).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

fn luma(p: &image::Rgb<u8>) -> f32 {
    0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2])
}

/// The mean luminance difference of `copy` over `original` (resized to the copy's size), per
/// cell.
pub fn residual(copy: &DynamicImage, original: &DynamicImage) -> Vec<f32> {
    let copy = copy.to_rgb8();
    let (w, h) = copy.dimensions();
    let original = original.resize_exact(w, h, FilterType::Triangle).to_rgb8();
    let mut sum = vec![0f32; GRID * GRID];
    let mut n = vec![0u32; GRID * GRID];
    for y in 0..h {
        let cy = (y as usize * GRID / h as usize).min(GRID - 1);
        for x in 0..w {
            let cx = (x as usize * GRID / w as usize).min(GRID - 1);
            let d = luma(copy.get_pixel(x, y)) - luma(original.get_pixel(x, y));
            sum[cy * GRID + cx] += d;
            n[cy * GRID + cx] += 1;
        }
    }
    sum.iter()
        .zip(&n)
        .map(|(s, &k)| if k == 0 { 0.0 } else { s / k as f32 })
        .collect()
}

/// How well a residual matches `viewer_id`'s mark: the normalised correlation, from −1 to 1
/// (about 0 for someone else's copy or an unmarked one).
pub fn score(residual: &[f32], seed: &Seed, media_id: i64, viewer_id: i64) -> f32 {
    let e = expected(seed, media_id, viewer_id);
    let dot: f32 = residual.iter().zip(&e).map(|(r, e)| r * e).sum();
    let norm = residual.iter().map(|r| r * r).sum::<f32>().sqrt() * (e.len() as f32).sqrt();
    if norm == 0.0 {
        0.0
    } else {
        dot / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Shapes at several scales and some fine texture, like a photograph.
    pub(crate) fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let t = ((x * 7 + y * 13) % 23) as f32 * 0.3;
            let v = 110.0
                + 50.0 * (fx / 61.0 + 1.3).sin() * (fy / 47.0).cos()
                + 35.0 * ((fx + 2.0 * fy) / 97.0).sin()
                + 25.0 * ((3.0 * fx - fy) / 151.0 + 0.7).cos();
            image::Rgb([
                (v + t).clamp(0.0, 255.0) as u8,
                (v * 0.8 + 30.0 * (fy / 300.0)).clamp(0.0, 255.0) as u8,
                (255.0 - v + t).clamp(0.0, 255.0) as u8,
            ])
        })
    }

    fn leak(img: &RgbImage) -> DynamicImage {
        // Resized to 80 % and saved as JPEG quality 70.
        let small = DynamicImage::ImageRgb8(img.clone()).resize_exact(
            img.width() * 4 / 5,
            img.height() * 4 / 5,
            FilterType::Triangle,
        );
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70)
            .encode_image(&small)
            .unwrap();
        image::load(Cursor::new(out), image::ImageFormat::Jpeg).unwrap()
    }

    #[test]
    fn a_leak_names_its_viewer() {
        let original = photo(800, 600);
        let mut marked = original.clone();
        let k = Seed::Keyed([5; 32]);
        embed(&mut marked, &k, 77, 4242);
        // Faint: no pixel moves by more than the strength.
        let most = marked
            .pixels()
            .zip(original.pixels())
            .flat_map(|(a, b)| {
                a.0.iter()
                    .zip(b.0)
                    .map(|(x, y)| (*x as i16 - y as i16).abs())
            })
            .max()
            .unwrap();
        assert!(most <= STRENGTH.ceil() as i16, "{most}");
        let r = residual(&leak(&marked), &DynamicImage::ImageRgb8(original.clone()));
        let mine = score(&r, &k, 77, 4242);
        for other in [1, 4241, 4243, 99_999] {
            assert!(score(&r, &k, 77, other) < mine / 2.0, "{other}");
        }
        assert!(mine > 0.5, "{mine}");
        // The same viewer's mark on another picture is another pattern; so is their mark
        // under another key, or from the ids alone.
        assert!(score(&r, &k, 78, 4242) < mine / 2.0);
        assert!(score(&r, &Seed::Keyed([6; 32]), 77, 4242) < mine / 2.0);
        assert!(score(&r, &Seed::Ids, 77, 4242) < mine / 2.0);
        // An unmarked copy matches nobody.
        let r = residual(&leak(&original), &DynamicImage::ImageRgb8(original));
        assert!(score(&r, &k, 77, 4242).abs() < 0.2);
    }

    /// A leaked marked copy of a smooth synthetic picture (whose hash moves the most) is
    /// still found by its hash and its looks, whatever the mark.
    #[test]
    fn a_leak_stays_near_its_picture() {
        let original = DynamicImage::ImageRgb8(photo(1000, 750));
        let (hash, _) = crate::pdq::hash_image(&original).unwrap();
        for k in 0..8u8 {
            let mut marked = original.to_rgb8();
            embed(&mut marked, &Seed::Keyed([k; 32]), 1, 2);
            let copy = leak(&marked);
            let (h, _) = crate::pdq::hash_image(&copy).unwrap();
            assert!(hash.distance(&h) <= NEAR - 16, "{k}: {}", hash.distance(&h));
            assert!(similarity(&copy, &original) >= SAME_PICTURE);
        }
    }
}

// ---- marked copies and tracing ----

use crate::{Media, MediaError, MediaItem, MediaKind, MediaState, Rendition, Result};
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db, Store};

/// Whether a rendition is delivered marked to a viewer other than its owner: the pictures
/// posts show in full (JPEG, not the public teaser).
pub fn applies(item: &MediaItem, r: &Rendition, viewer_id: i64) -> bool {
    item.kind == MediaKind::Image && r.format == "jpeg" && !r.teaser && viewer_id != item.owner_id
}

/// Where `viewer_id`'s marked copies of an item (under `object_prefix`) are kept.
pub(crate) fn copies_prefix(object_prefix: &str, viewer_id: i64) -> String {
    format!("{object_prefix}/fx/{viewer_id}")
}

/// JPEG quality of marked copies (the renditions' own).
const MARKED_QUALITY: u8 = 82;

impl Media {
    /// The object key and size of `viewer_id`'s marked copy of `r`, made (and recorded) on
    /// first delivery: decoded, marked and encoded on the blocking pool within the node's
    /// image limits, then kept under the item's prefix.
    pub async fn marked_copy(
        &self,
        store: &Store,
        item: &MediaItem,
        r: &Rendition,
        viewer_id: i64,
    ) -> Result<(String, u64)> {
        let key = format!(
            "{}/{}",
            copies_prefix(&item.object_prefix, viewer_id),
            r.name
        );
        if let Ok(size) = self.objects.size(&key).await {
            return Ok((key, size));
        }
        let bytes = self
            .objects
            .read_all(&item.rendition_key(r), self.limits.max_upload_bytes)
            .await?;
        let permit = self
            .decode_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| MediaError::Storage("the node is shutting down".into()))?;
        let media_id = item.id;
        let seed = {
            let mut db = store.conn().await?;
            self.delivery_seed(&mut db, media_id, viewer_id).await?
        };
        let scheme = seed.scheme();
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut img = image::load_from_memory(&bytes)
                .map_err(|e| MediaError::Storage(format!("a rendition does not decode: {e}")))?
                .to_rgb8();
            embed(&mut img, &seed, media_id, viewer_id);
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, MARKED_QUALITY)
                .encode_image(&img)
                .map_err(|e| MediaError::Storage(e.to_string()))?;
            Ok::<_, MediaError>(out)
        });
        let out = tokio::time::timeout(self.limits.decode_timeout, work)
            .await
            .map_err(|_| MediaError::Storage("marking a picture took too long".into()))?
            .map_err(|_| MediaError::Storage("marking a picture failed".into()))??;
        let size = out.len() as u64;
        self.objects.put(&key, out.into()).await?;
        let mut db = store.conn().await?;
        sqlx::query(
            "INSERT INTO media_marks (media_id, viewer_id, rendition, object_key, created_at, scheme) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(item.id)
        .bind(viewer_id)
        .bind(&r.name)
        .bind(&key)
        .bind(now_micros())
        .bind(scheme)
        .execute(&mut *db)
        .await?;
        Ok((key, size))
    }
}

/// What a trace found.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    /// No picture of this server looks like the copy (by PDQ hash).
    UnknownPicture,
    /// The picture is `media_id`, but no viewer's mark stands out.
    NoViewer {
        media_id: i64,
        /// Viewers it was delivered to, and the best correlation among them.
        candidates: usize,
        best: f32,
    },
    /// The copy carries `viewer_id`'s mark.
    Viewer {
        media_id: i64,
        viewer_id: i64,
        /// The normalised correlation with their mark, and how many standard deviations of
        /// an unmarked copy's correlation that is.
        correlation: f32,
        sigmas: f32,
        /// The next best viewer's correlation (0 when there was one candidate).
        runner_up: f32,
        /// 0 to 1: how sure the trace is.
        confidence: f32,
    },
}

/// The PDQ distance up to which a picture is looked at as the copy's source; whether it is
/// the source is then decided by [`similarity`]. Re-encoding and resizing move a photograph's
/// hash by a few bits, a smooth or synthetic picture's by far more (the synthetic photograph
/// of the tests: 44 to 66 bits over 300 marks, median 50); unrelated pictures are about 128
/// apart with a standard deviation of 8, so 96 is 4 deviations from chance and past any
/// re-encoding seen.
pub(crate) const NEAR: u32 = 96;
/// The correlation of 32×32 greyscale thumbnails above which a copy is of the picture.
pub(crate) const SAME_PICTURE: f32 = 0.9;

/// How alike two pictures look: the correlation of their 32×32 greyscale thumbnails.
pub(crate) fn similarity(a: &image::DynamicImage, b: &image::DynamicImage) -> f32 {
    let thumb = |i: &image::DynamicImage| -> Vec<f32> {
        let t = i.resize_exact(32, 32, FilterType::Triangle).to_luma8();
        let v: Vec<f32> = t.pixels().map(|p| f32::from(p.0[0])).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        v.into_iter().map(|x| x - mean).collect()
    };
    let (x, y) = (thumb(a), thumb(b));
    let dot: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
    let n = (x.iter().map(|a| a * a).sum::<f32>() * y.iter().map(|b| b * b).sum::<f32>()).sqrt();
    if n == 0.0 {
        0.0
    } else {
        dot / n
    }
}

/// Find whose marked copy `copy` is.
pub async fn trace(media: &Media, db: &mut Db, copy: &image::DynamicImage) -> Result<Trace> {
    let Some((hash, _)) = crate::pdq::hash_image(copy) else {
        return Ok(Trace::UnknownPicture);
    };
    // Pictures whose hash is near, nearest first; the closest in content among a few wins.
    let mut near: Vec<(u32, i64)> = Vec::new();
    let mut after = 0i64;
    loop {
        let rows = crate::hashed_after(db, after, 1000).await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (id, _, hex) in rows {
            if let Some(p) = crate::Pdq::parse(&hex) {
                let d = p.distance(&hash);
                if d <= NEAR {
                    near.push((d, id));
                }
            }
        }
    }
    near.sort_unstable();
    near.truncate(5);
    let mut found: Option<(f32, MediaItem, image::DynamicImage)> = None;
    for (_, id) in near {
        let item = crate::get(db, id).await?;
        if item.kind != MediaKind::Image || item.state == MediaState::Processing {
            continue;
        }
        let Some(r) = item
            .renditions
            .iter()
            .filter(|r| !r.teaser && r.format == "jpeg")
            .max_by_key(|r| r.width)
        else {
            continue;
        };
        let bytes = media
            .objects
            .read_all(&item.rendition_key(r), media.limits.max_upload_bytes)
            .await?;
        let original = image::load_from_memory(&bytes)
            .map_err(|e| MediaError::Storage(format!("a rendition does not decode: {e}")))?;
        let sim = similarity(copy, &original);
        if sim >= SAME_PICTURE && found.as_ref().is_none_or(|f| sim > f.0) {
            found = Some((sim, item, original));
        }
    }
    let Some((_, item, original)) = found else {
        return Ok(Trace::UnknownPicture);
    };
    let media_id = item.id;
    let viewers = media.traced_viewers(db, media_id, "%").await?;
    let copy = copy.clone();
    let scores = tokio::task::spawn_blocking(move || {
        let residual = residual(&copy, &original);
        let mut scores: Vec<(i64, f32)> = viewers
            .iter()
            .map(|(v, seed)| (*v, score(&residual, seed, media_id, *v)))
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        scores
    })
    .await
    .map_err(|_| MediaError::Storage("tracing failed".into()))?;
    Ok(verdict(media_id, &scores))
}

/// Decide from the candidates' scores (best first).
fn verdict(media_id: i64, scores: &[(i64, f32)]) -> Trace {
    // An unmarked copy's correlation with a pattern of ±1 cells has a standard deviation of
    // about 1/√cells.
    let sd = 1.0 / ((GRID * GRID) as f32).sqrt();
    let Some(&(viewer_id, correlation)) = scores.first() else {
        return Trace::NoViewer {
            media_id,
            candidates: 0,
            best: 0.0,
        };
    };
    let runner_up = scores.get(1).map_or(0.0, |s| s.1);
    let sigmas = correlation / sd;
    let margin = (correlation - runner_up) / sd;
    if sigmas < 6.0 || margin < 4.0 {
        return Trace::NoViewer {
            media_id,
            candidates: scores.len(),
            best: correlation,
        };
    }
    // Past 6 standard deviations chance is out of the question; what is left to doubt is
    // a copy mixed from several viewers', which the runner-up's share measures.
    let confidence = (1.0 - runner_up.max(0.0) / correlation).clamp(0.0, 1.0);
    Trace::Viewer {
        media_id,
        viewer_id,
        correlation,
        sigmas,
        runner_up,
        confidence,
    }
}

/// [`trace`] a file's bytes: a JPEG, PNG, WebP or GIF within the node's pixel limit.
pub async fn trace_bytes(media: &Media, db: &mut Db, bytes: Vec<u8>) -> Result<Trace> {
    let max = media.limits.max_pixels;
    let copy = tokio::task::spawn_blocking(move || {
        let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| MediaError::Invalid(e.to_string()))?;
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| MediaError::Invalid(format!("not a picture: {e}")))?;
        if u64::from(w) * u64::from(h) > max {
            return Err(MediaError::Invalid(format!(
                "the picture is {w}×{h}, more than {max} pixels"
            )));
        }
        image::load_from_memory(&bytes)
            .map_err(|e| MediaError::Invalid(format!("not a picture: {e}")))
    })
    .await
    .map_err(|_| MediaError::Invalid("the picture does not decode".into()))??;
    trace(media, db, &copy).await
}
