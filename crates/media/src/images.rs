//! Image processing: decode an untrusted upload within limits, apply its orientation, and
//! re-encode renditions and a blurred teaser. Re-encoding is what strips metadata: no EXIF,
//! GPS, XMP or comment of the original reaches a rendition.
//!
//! Limits, in the order they bite: the dimensions are read from the header and an image with
//! more than `max_pixels` is refused before anything is decoded (decompression bombs); the
//! decoder's allocations are capped; at most `process_concurrency` images decode at once per
//! node; and the whole render has `decode_timeout` (the job gives up at the deadline, and the
//! worker thread checks it between steps). A decoder panic fails the item, not the server.

use crate::{Limits, Media, Rendition};
use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, GenericImageView, ImageDecoder, ImageEncoder};
use image::{ImageFormat, ImageReader};
use std::io::Cursor;
use std::time::{Duration, Instant};

/// JPEG quality of the renditions.
const JPEG_QUALITY: u8 = 82;
/// Width of the blurred teaser (narrower sources keep their width).
const TEASER_WIDTH: u32 = 320;

/// Why an image could not be processed; the item ends `failed` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageFailure {
    #[error("the image is {width}×{height} pixels, more than the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the image could not be decoded: {0}")]
    Undecodable(String),
    #[error("the image took longer than {0:?} to process")]
    Timeout(Duration),
}

/// The outcome of a successful render.
#[derive(Debug)]
pub struct Rendered {
    /// After orientation.
    pub width: u32,
    pub height: u32,
    pub blurhash: Option<String>,
    /// The PDQ hash of the oriented image and its quality (none for an image under 5 pixels
    /// a side).
    pub pdq: Option<(crate::pdq::Pdq, u8)>,
    pub files: Vec<(Rendition, Vec<u8>)>,
}

/// Render `bytes` on the blocking pool, within the node's limits; with `watermark`, every
/// rendition but the teaser carries that text ([`crate::watermark`]).
pub async fn render(
    media: &Media,
    bytes: Bytes,
    watermark: Option<String>,
) -> Result<Rendered, ImageFailure> {
    let permit = media
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ImageFailure::Undecodable("the node is shutting down".into()))?;
    let limits = media.limits.clone();
    let timeout = limits.decode_timeout;
    let deadline = Instant::now() + timeout;
    let work = tokio::task::spawn_blocking(move || {
        // The slot is held until the thread is done, even when the job stopped waiting.
        let _permit = permit;
        render_blocking(&bytes, &limits, deadline, watermark.as_deref())
    });
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(ImageFailure::Timeout(timeout)),
        Ok(Err(join)) => {
            tracing::warn!(error = %join, "an image decoder panicked");
            Err(ImageFailure::Undecodable("the decoder failed".into()))
        }
        Ok(Ok(result)) => result,
    }
}

fn undecodable(e: impl std::fmt::Display) -> ImageFailure {
    ImageFailure::Undecodable(e.to_string())
}

fn check(deadline: Instant, limits: &Limits) -> Result<(), ImageFailure> {
    if Instant::now() > deadline {
        return Err(ImageFailure::Timeout(limits.decode_timeout));
    }
    Ok(())
}

/// The whole render, synchronously (the job runs it on the blocking pool through [`render`]).
pub fn render_blocking(
    bytes: &[u8],
    limits: &Limits,
    deadline: Instant,
    watermark: Option<&str>,
) -> Result<Rendered, ImageFailure> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(undecodable)
    };
    let probe = reader()?;
    if !matches!(
        probe.format(),
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP)
    ) {
        return Err(ImageFailure::Undecodable(
            "not a JPEG, PNG, GIF or WebP image".into(),
        ));
    }
    // Only the header is read here: a bomb is refused before any pixel is allocated.
    let (w, h) = probe.into_dimensions().map_err(undecodable)?;
    if w == 0 || h == 0 {
        return Err(ImageFailure::Undecodable("the image has no pixels".into()));
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ImageFailure::TooManyPixels {
            width: w,
            height: h,
            max: limits.max_pixels,
        });
    }
    let mut r = reader()?;
    let mut caps = image::Limits::default();
    caps.max_image_width = Some(w);
    caps.max_image_height = Some(h);
    // Room for the decoded image at 16 bits per RGBA channel, and the decoder's own buffers.
    caps.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
    r.limits(caps);
    let mut decoder = r.into_decoder().map_err(undecodable)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    img.apply_orientation(orientation);
    check(deadline, limits)?;
    let pdq = crate::pdq::hash_image(&img);
    check(deadline, limits)?;

    let (sw, sh) = img.dimensions();
    let alpha = img.color().has_alpha();
    // Slots are the configured widths; a slot at or above the source's width holds the
    // source's width, and larger slots are left out.
    let mut targets: Vec<(u32, u32)> = Vec::new();
    for &slot in &limits.rendition_widths {
        targets.push((slot, slot.min(sw)));
        if slot >= sw {
            break;
        }
    }
    let mut files = Vec::new();
    let mut current = img;
    for &(slot, tw) in targets.iter().rev() {
        let th = scaled_height(sw, sh, tw);
        if current.width() >= 2 * tw {
            // A large step down (a camera's 6000 pixels to 1280): averaging each output
            // pixel's area in integers needs no buffer beyond the output, where the triangle
            // filter kept a floating-point copy of the whole intermediate (78 MiB for 24 MP).
            current = current.thumbnail_exact(tw, th);
        } else if current.width() != tw {
            current = current.resize_exact(tw, th, FilterType::Triangle);
        }
        let name = format!("w{slot}");
        // The watermark goes on a copy: the next (smaller) rendition is scaled from the
        // clean picture, and gets a watermark of its own size.
        let marked = watermark.map(|t| crate::watermark::apply(&current, t));
        let shown = marked.as_ref().unwrap_or(&current);
        files.push(jpeg(shown, &format!("{name}.jpg"), false)?);
        files.push(webp(shown, &format!("{name}.webp"), alpha)?);
        check(deadline, limits)?;
    }
    files.push(teaser(&current, sw, sh)?);
    let thumb = current.thumbnail(32, 32).to_rgba8();
    let blurhash = blurhash::encode(4, 3, thumb.width(), thumb.height(), thumb.as_raw()).ok();
    Ok(Rendered {
        width: sw,
        height: sh,
        blurhash,
        pdq,
        files,
    })
}

/// A still frame (a video's poster) made ready for pages: `poster.jpg` at its size, the
/// blurred `teaser.jpg`, a blurhash and the PDQ hash.
pub struct Still {
    pub width: u32,
    pub height: u32,
    pub blurhash: Option<String>,
    pub pdq: Option<(crate::pdq::Pdq, u8)>,
    pub files: Vec<(Rendition, Vec<u8>)>,
}

/// Make a [`Still`] of a PNG that ffmpeg wrote (already scaled to at most 1280 wide); with
/// `watermark`, the poster carries it (the teaser and the hashes are of the clean frame).
pub fn still(png: &[u8], watermark: Option<&str>) -> Result<Still, ImageFailure> {
    let img = image::load_from_memory_with_format(png, ImageFormat::Png).map_err(undecodable)?;
    let (width, height) = img.dimensions();
    let pdq = crate::pdq::hash_image(&img);
    let marked = watermark.map(|t| crate::watermark::apply(&img, t));
    let files = vec![
        jpeg(marked.as_ref().unwrap_or(&img), "poster.jpg", false)?,
        teaser(&img, width, height)?,
    ];
    let thumb = img.thumbnail(32, 32).to_rgba8();
    let blurhash = blurhash::encode(4, 3, thumb.width(), thumb.height(), thumb.as_raw()).ok();
    Ok(Still {
        width,
        height,
        blurhash,
        pdq,
        files,
    })
}

fn scaled_height(sw: u32, sh: u32, tw: u32) -> u32 {
    ((u64::from(sh) * u64::from(tw) + u64::from(sw) / 2) / u64::from(sw)).max(1) as u32
}

fn jpeg(
    img: &DynamicImage,
    name: &str,
    teaser: bool,
) -> Result<(Rendition, Vec<u8>), ImageFailure> {
    let rgb = img.to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(undecodable)?;
    Ok((
        Rendition {
            name: name.to_owned(),
            format: "jpeg".into(),
            width: rgb.width(),
            height: rgb.height(),
            bytes: out.len() as u64,
            teaser,
        },
        out,
    ))
}

/// WebP through the image crate's encoder, which writes lossless WebP only.
fn webp(img: &DynamicImage, name: &str, alpha: bool) -> Result<(Rendition, Vec<u8>), ImageFailure> {
    let mut out = Vec::new();
    let (w, h) = img.dimensions();
    if alpha {
        let px = img.to_rgba8();
        WebPEncoder::new_lossless(&mut out)
            .write_image(px.as_raw(), w, h, ExtendedColorType::Rgba8)
            .map_err(undecodable)?;
    } else {
        let px = img.to_rgb8();
        WebPEncoder::new_lossless(&mut out)
            .write_image(px.as_raw(), w, h, ExtendedColorType::Rgb8)
            .map_err(undecodable)?;
    }
    Ok((
        Rendition {
            name: name.to_owned(),
            format: "webp".into(),
            width: w,
            height: h,
            bytes: out.len() as u64,
            teaser: false,
        },
        out,
    ))
}

/// A strongly blurred stand-in: shrunk to 16 pixels wide (nothing recognisable survives),
/// blurred, and enlarged again.
fn teaser(small: &DynamicImage, sw: u32, sh: u32) -> Result<(Rendition, Vec<u8>), ImageFailure> {
    let tiny_w = 16.min(sw);
    let tiny = small.resize_exact(tiny_w, scaled_height(sw, sh, tiny_w), FilterType::Triangle);
    let blurred = image::imageops::blur(&tiny.to_rgb8(), 1.5);
    let tw = TEASER_WIDTH.min(sw);
    let up = DynamicImage::ImageRgb8(blurred).resize_exact(
        tw,
        scaled_height(sw, sh, tw),
        FilterType::Triangle,
    );
    let up = DynamicImage::ImageRgb8(image::imageops::blur(&up.to_rgb8(), 4.0));
    jpeg(&up, "teaser.jpg", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from_config(&fanz_config::media::MediaConfig::default())
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A valid PNG signature and IHDR chunk (with its CRC) for `w`×`h`, and almost no data.
    fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&w.to_be_bytes());
        chunk.extend_from_slice(&h.to_be_bytes());
        chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
        // The start of the pixel data (an empty zlib stream), as a real bomb has.
        let mut idat = b"IDAT".to_vec();
        idat.extend_from_slice(&[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        out.extend_from_slice(&8u32.to_be_bytes());
        out.extend_from_slice(&idat);
        out.extend_from_slice(&crc32(&idat).to_be_bytes());
        out
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn renditions_at_the_configured_widths() {
        let r = render_blocking(&png(1000, 500), &limits(), later(), None).unwrap();
        assert_eq!((r.width, r.height), (1000, 500));
        let sizes: Vec<(String, u32, u32)> = r
            .files
            .iter()
            .map(|(r, _)| (r.name.clone(), r.width, r.height))
            .collect();
        assert!(sizes.contains(&("w320.jpg".into(), 320, 160)), "{sizes:?}");
        assert!(sizes.contains(&("w640.webp".into(), 640, 320)), "{sizes:?}");
        assert!(
            sizes.contains(&("w1280.jpg".into(), 1000, 500)),
            "{sizes:?}"
        );
        assert!(
            sizes.contains(&("teaser.jpg".into(), 320, 160)),
            "{sizes:?}"
        );
        assert!(r.blurhash.is_some());
        assert!(r.pdq.is_some());
        let small = render_blocking(&png(100, 80), &limits(), later(), None).unwrap();
        let names: Vec<&str> = small.files.iter().map(|(r, _)| r.name.as_str()).collect();
        assert_eq!(names, ["w320.jpg", "w320.webp", "teaser.jpg"]);
    }

    #[test]
    fn the_deadline_is_kept() {
        let past = Instant::now() - Duration::from_millis(1);
        assert!(matches!(
            render_blocking(&png(64, 64), &limits(), past, None),
            Err(ImageFailure::Timeout(_))
        ));
    }

    #[test]
    fn orientation_is_applied_and_metadata_dropped() {
        // A JPEG with an EXIF block saying "turn 90° clockwise" (orientation 6).
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(image::RgbImage::new(40, 20))
            .write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
            .unwrap();
        let tiff: &[u8] = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let mut jpeg = plain[..2].to_vec();
        jpeg.extend_from_slice(&[0xFF, 0xE1]);
        jpeg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(tiff);
        jpeg.extend_from_slice(&plain[2..]);
        let r = render_blocking(&jpeg, &limits(), later(), None).unwrap();
        assert_eq!((r.width, r.height), (20, 40));
        for (rendition, bytes) in &r.files {
            assert!(
                !bytes.windows(4).any(|w| w == b"Exif"),
                "{}",
                rendition.name
            );
        }
    }

    #[test]
    fn bombs_and_garbage_fail() {
        // A PNG header claiming 100000×100000 pixels, with no image data behind it.
        let bomb = png_claiming(100_000, 100_000);
        assert!(matches!(
            render_blocking(&bomb, &limits(), later(), None),
            Err(ImageFailure::TooManyPixels { width: 100_000, .. })
        ));
        let full = png(64, 64);
        let truncated = &full[..full.len() / 2];
        assert!(matches!(
            render_blocking(truncated, &limits(), later(), None),
            Err(ImageFailure::Undecodable(_))
        ));
        assert!(render_blocking(b"not an image", &limits(), later(), None).is_err());
    }
}
