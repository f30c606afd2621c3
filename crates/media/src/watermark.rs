//! The visible watermark a creator can choose for their photos and videos: their handle and
//! their cluster's address ("@handle · boyfanz.example"), semi-transparent, in the bottom-right
//! corner, sized by the width of each rendition.
//!
//! The text is drawn once per size into an RGBA picture with a real font (DejaVu Sans Bold, a
//! subset vendored in `crates/media/assets` with its licence, drawn by `ab_glyph`): white
//! letters at 70 % over a soft dark shadow at 45 %, so it reads on light and dark pictures.
//! Image renditions get it composited by [`apply`]; video rungs, the preview clip and the
//! poster get the same picture through ffmpeg's `overlay` filter ([`crate::av`]), once per rung
//! before the A/B split, so both variants carry the same watermark and stay interchangeable.
//! The owner's original is never changed, nor the blurred teaser.
//!
//! Whether an item gets it is the owner's setting (`media_settings`) when the item is
//! processed; the text applied is recorded on the item (`media.watermark`).

use ab_glyph::{point, Font, FontRef, Glyph, PxScale, ScaleFont};
use fanz_audit::Actor;
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db};
use image::{DynamicImage, Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// DejaVu Sans Bold, printable ASCII and Latin-1 (see `assets/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Bold-subset.ttf");

/// The longest text drawn, in characters (a handle and a host name fit well within it).
pub const MAX_CHARS: usize = 80;
/// Letter height as a share of the rendition's width.
const SIZE_OF_WIDTH: f32 = 0.032;
/// Smallest and largest letter heights, in pixels.
const MIN_PX: f32 = 11.0;
const MAX_PX: f32 = 72.0;
/// Opacity of the letters and of their shadow.
const TEXT_ALPHA: f32 = 0.70;
const SHADOW_ALPHA: f32 = 0.45;

/// The letter height, in pixels, on a rendition `width` pixels wide.
pub fn px_for(width: u32) -> f32 {
    (width as f32 * SIZE_OF_WIDTH).clamp(MIN_PX, MAX_PX)
}

/// The margin from the right and bottom edges, in pixels.
pub fn margin_for(width: u32) -> u32 {
    (px_for(width) * 0.6).round() as u32
}

/// `text` without control characters, cut to [`MAX_CHARS`]; characters the font lacks are
/// drawn as nothing.
fn clean(text: &str) -> String {
    let t: String = text.chars().filter(|c| !c.is_control()).collect();
    let t = t.trim();
    if t.chars().count() > MAX_CHARS {
        let mut s: String = t.chars().take(MAX_CHARS - 1).collect();
        s.push('…');
        s
    } else {
        t.to_owned()
    }
}

/// The watermark for a rendition `width` pixels wide: `text` with its shadow on a transparent
/// picture just large enough for it (never wider than `width` less the margins; a longer text
/// is drawn smaller).
pub fn render(text: &str, width: u32) -> RgbaImage {
    let font = FontRef::try_from_slice(FONT).expect("the vendored font parses");
    let text = clean(text);
    let mut px = px_for(width);
    let room = width.saturating_sub(2 * margin_for(width)).max(8) as f32;
    let mut laid = layout(&font, &text, px);
    if laid.1 > room {
        px = (px * room / laid.1).max(1.0);
        laid = layout(&font, &text, px);
    }
    let (glyphs, text_w) = laid;
    let scaled = font.as_scaled(PxScale::from(px));
    let shadow = (px / 14.0).max(1.0);
    let pad = shadow.ceil() as u32 + 1;
    let w = text_w.ceil() as u32 + 2 * pad;
    let h = (scaled.ascent() - scaled.descent()).ceil() as u32 + 2 * pad;
    // Coverage of the letters and of the shadow (the letters moved by `shadow` and widened
    // by a pixel around, for a soft edge).
    let mut letters = vec![0f32; (w * h) as usize];
    for g in &glyphs {
        let Some(outlined) = font.outline_glyph(g.clone()) else {
            continue;
        };
        let b = outlined.px_bounds();
        outlined.draw(|x, y, c| {
            let (x, y) = (
                b.min.x as i64 + x as i64 + pad as i64,
                b.min.y as i64 + y as i64 + pad as i64,
            );
            if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                let i = (y as u32 * w + x as u32) as usize;
                letters[i] = (letters[i] + c).min(1.0);
            }
        });
    }
    let mut shade = vec![0f32; (w * h) as usize];
    let off = shadow.round() as i64;
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let mut c = 0f32;
            for (dx, dy, weight) in [
                (0, 0, 1.0),
                (-1, 0, 0.5),
                (1, 0, 0.5),
                (0, -1, 0.5),
                (0, 1, 0.5),
            ] {
                let (sx, sy) = (x - off + dx, y - off + dy);
                if sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64 {
                    c = f32::max(c, letters[(sy * w as i64 + sx) as usize] * weight);
                }
            }
            shade[(y * w as i64 + x) as usize] = c;
        }
    }
    RgbaImage::from_fn(w, h, |x, y| {
        let i = (y * w + x) as usize;
        let a_text = letters[i] * TEXT_ALPHA;
        let a_shadow = shade[i] * SHADOW_ALPHA;
        // White letters over a black shadow ("over" compositing, straight alpha).
        let a = a_text + a_shadow * (1.0 - a_text);
        let v = if a > 0.0 { a_text / a } else { 0.0 };
        Rgba([
            (v * 255.0).round() as u8,
            (v * 255.0).round() as u8,
            (v * 255.0).round() as u8,
            (a * 255.0).round() as u8,
        ])
    })
}

/// The glyphs of `text` at `px`, placed on a baseline at the font's ascent, and the width.
fn layout(font: &FontRef<'_>, text: &str, px: f32) -> (Vec<Glyph>, f32) {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut x = 0f32;
    let mut last = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(prev) = last {
            x += scaled.kern(prev, id);
        }
        glyphs.push(id.with_scale_and_position(px, point(x, scaled.ascent())));
        x += scaled.h_advance(id);
        last = Some(id);
    }
    (glyphs, x)
}

/// Where the watermark of a `mark_w`×`mark_h` picture goes on a `w`×`h` rendition: the
/// bottom-right corner, inside the margin (never off the picture).
pub fn position(w: u32, h: u32, mark_w: u32, mark_h: u32) -> (i64, i64) {
    let m = margin_for(w);
    (
        (i64::from(w) - i64::from(mark_w) - i64::from(m)).max(0),
        (i64::from(h) - i64::from(mark_h) - i64::from(m)).max(0),
    )
}

/// `img` with `text` drawn in its bottom-right corner.
pub fn apply(img: &DynamicImage, text: &str) -> DynamicImage {
    let mark = render(text, img.width());
    let (x0, y0) = position(img.width(), img.height(), mark.width(), mark.height());
    if img.color().has_alpha() {
        let mut out = img.to_rgba8();
        image::imageops::overlay(&mut out, &mark, x0, y0);
        DynamicImage::ImageRgba8(out)
    } else {
        let mut out = img.to_rgb8();
        let (w, h) = out.dimensions();
        for (mx, my, p) in mark.enumerate_pixels() {
            let (x, y) = (x0 + i64::from(mx), y0 + i64::from(my));
            if x >= i64::from(w) || y >= i64::from(h) {
                continue;
            }
            let a = f32::from(p.0[3]) / 255.0;
            if a == 0.0 {
                continue;
            }
            let d = out.get_pixel_mut(x as u32, y as u32);
            for c in 0..3 {
                d.0[c] = (f32::from(d.0[c]) * (1.0 - a) + f32::from(p.0[c]) * a).round() as u8;
            }
        }
        DynamicImage::ImageRgb8(out)
    }
}

// ---- the creator's setting ----

/// A creator's media settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaSettings {
    /// Whether photos and videos processed from now on carry the visible watermark.
    pub watermark: bool,
    /// The cluster whose address the watermark shows (a slug of the creator's clusters);
    /// empty: the first of them.
    #[serde(default)]
    pub watermark_cluster: String,
}

/// Who writes the watermark's text: the handle and the cluster's address live outside
/// media (profiles and the clusters file), so the server wires this in, as it does
/// [`crate::Screen`].
#[async_trait::async_trait]
pub trait Byline: Send + Sync {
    /// `@handle · host` for `owner_id` on `cluster` (empty: their first cluster); `None`
    /// when there is no such account any more.
    async fn text(
        &self,
        db: &mut Db,
        owner_id: i64,
        cluster: &str,
    ) -> crate::Result<Option<String>>;
}

/// `owner_id`'s settings (the defaults when they never saved any).
pub async fn settings(db: &mut Db, owner_id: i64) -> crate::Result<MediaSettings> {
    let row =
        sqlx::query("SELECT watermark, watermark_cluster FROM media_settings WHERE owner_id = $1")
            .bind(owner_id)
            .fetch_optional(&mut *db)
            .await?;
    Ok(match row {
        Some(r) => MediaSettings {
            watermark: r.try_get::<i64, _>(0)? != 0,
            watermark_cluster: r.try_get(1)?,
        },
        None => MediaSettings::default(),
    })
}

/// Save `owner_id`'s settings; audited (`media.settings_changed`) when they change.
pub async fn save_settings(
    db: &mut Db,
    owner_id: i64,
    new: &MediaSettings,
    actor: &Actor,
) -> crate::Result<MediaSettings> {
    let old = settings(db, owner_id).await?;
    if &old == new {
        return Ok(old);
    }
    sqlx::query(
        "INSERT INTO media_settings (owner_id, watermark, watermark_cluster, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (owner_id) DO UPDATE SET \
         watermark = excluded.watermark, watermark_cluster = excluded.watermark_cluster, \
         updated_at = excluded.updated_at",
    )
    .bind(owner_id)
    .bind(i64::from(new.watermark))
    .bind(&new.watermark_cluster)
    .bind(now_micros())
    .execute(&mut *db)
    .await?;
    fanz_audit::record(
        db,
        actor,
        "media.settings_changed",
        Some(&format!("user:{owner_id}")),
        serde_json::json!({"watermark": new.watermark, "watermark_cluster": new.watermark_cluster,
                           "was": {"watermark": old.watermark, "watermark_cluster": old.watermark_cluster}}),
    )
    .await?;
    Ok(new.clone())
}

/// The text to draw on `owner_id`'s items processed now, when their setting is on.
pub async fn text_for(
    byline: Option<&dyn Byline>,
    db: &mut Db,
    owner_id: i64,
) -> crate::Result<Option<String>> {
    let s = settings(db, owner_id).await?;
    match byline {
        Some(b) if s.watermark => Ok(b
            .text(db, owner_id, &s.watermark_cluster)
            .await?
            .map(|t| clean(&t))
            .filter(|t| !t.is_empty())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            w,
            h,
            image::Rgb([120, 120, 120]),
        ))
    }

    #[test]
    fn drawn_in_the_corner_only() {
        let img = grey(640, 360);
        let out = apply(&img, "@pat · boyfanz.example").to_rgb8();
        let mark = render("@pat · boyfanz.example", 640);
        let (x0, y0) = position(640, 360, mark.width(), mark.height());
        assert!(x0 > 320 && y0 > 300, "{x0},{y0}");
        let mut changed_in = 0;
        for (x, y, p) in out.enumerate_pixels() {
            let inside = i64::from(x) >= x0 && i64::from(y) >= y0;
            if p.0 != [120, 120, 120] {
                assert!(inside, "{x},{y} changed outside the watermark");
                changed_in += 1;
            }
        }
        assert!(changed_in > 500, "{changed_in}");
        // Both lighter (letters) and darker (shadow) pixels.
        assert!(out.pixels().any(|p| p.0[0] > 180));
        assert!(out.pixels().any(|p| p.0[0] < 90));
    }

    #[test]
    fn sized_by_the_width_and_kept_inside() {
        let small = render("@pat · boyfanz.example", 320);
        let large = render("@pat · boyfanz.example", 1280);
        assert!(
            large.height() > small.height() * 3,
            "{} {}",
            small.height(),
            large.height()
        );
        // A very long text is drawn smaller, never wider than the picture.
        let long = render(&"w".repeat(200), 320);
        assert!(long.width() <= 320, "{}", long.width());
        // Control characters are dropped.
        assert_eq!(clean("a\u{7}b\n"), "ab");
    }
}
