//! PDQ, the perceptual image hash Meta published in 2019 for sharing hashes of known harmful
//! images between platforms ("The TMK+PDQF Video-Hashing Algorithm and the PDQ
//! Image Similarity Algorithm", ThreatExchange). Two images that look alike (re-encoded,
//! resized, lightly cropped or watermarked) have hashes a small Hamming distance apart; the
//! convention is that a distance of at most 31 of the 256 bits is a match.
//!
//! The steps, as the reference implementation does them:
//! 1. luminance `0.299 R + 0.587 G + 0.114 B` per pixel (images larger than 512 pixels on a
//!    side are first shrunk to at most 512, as the reference's photo hasher does);
//! 2. two passes of a Jarosz tent filter (box filters along rows, then columns) with windows
//!    of `ceil(side / 128)`, then decimation to 64×64 at the centres of the cells;
//! 3. the 16×16 corner (without the DC row and column) of the 2-D DCT of that 64×64 block;
//! 4. each of the 256 coefficients above their median is a 1 bit;
//! 5. a quality score (0–100) from the sum of gradients of the 64×64 block: flat images score
//!    low and their hashes say little (the reference suggests ignoring hashes below 50).
//!
//! The hex form is the reference's: 64 hex digits, the last coefficient's bit first.

use image::{DynamicImage, GenericImageView};

/// The conventional match threshold: at most this many differing bits.
pub const MATCH_THRESHOLD: u32 = 31;
/// Below this quality a hash is not reliable (a flat or nearly flat image).
pub const MIN_QUALITY: u8 = 50;
/// Images are shrunk to at most this many pixels a side before hashing.
const DOWNSAMPLE: u32 = 512;
/// Images smaller than this on a side are not hashed.
const MIN_SIDE: u32 = 5;
const BLOCK: usize = 64;
const DCT: usize = 16;

/// A 256-bit PDQ hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pdq(pub [u8; 32]);

impl Pdq {
    /// The number of bits in which two hashes differ (0–256).
    pub fn distance(&self, other: &Pdq) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// The 64 lower-case hex digits of the reference's text form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex digits (either case, surrounding space ignored).
    pub fn parse(s: &str) -> Option<Pdq> {
        let s = s.trim();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Pdq(out))
    }
}

impl std::fmt::Display for Pdq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The hash and quality (0–100) of an image, shrinking it first when it is large; `None` for
/// an image too small to hash.
pub fn hash_image(img: &DynamicImage) -> Option<(Pdq, u8)> {
    let (w, h) = img.dimensions();
    if w < MIN_SIDE || h < MIN_SIDE {
        return None;
    }
    if w > DOWNSAMPLE || h > DOWNSAMPLE {
        let small = img.thumbnail_exact(w.min(DOWNSAMPLE), h.min(DOWNSAMPLE));
        Some(hash_full(&small))
    } else {
        Some(hash_full(img))
    }
}

/// The hash of an image at its full size (the reference's exact steps; slower on large
/// images than [`hash_image`]).
pub fn hash_full(img: &DynamicImage) -> (Pdq, u8) {
    let rgb = img.to_rgb8();
    let (cols, rows) = (rgb.width() as usize, rgb.height() as usize);
    let mut luma: Vec<f32> = rgb
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    hash_luma(&mut luma, rows, cols)
}

fn hash_luma(luma: &mut [f32], rows: usize, cols: usize) -> (Pdq, u8) {
    let win_rows = window(cols);
    let win_cols = window(rows);
    let mut tmp = vec![0f32; luma.len()];
    for _ in 0..2 {
        for i in 0..rows {
            box_1d(luma, i * cols, &mut tmp, cols, 1, win_rows);
        }
        for j in 0..cols {
            box_1d(&tmp, j, luma, rows, cols, win_cols);
        }
    }
    let mut block = [[0f32; BLOCK]; BLOCK];
    for (oi, row) in block.iter_mut().enumerate() {
        let ii = ((oi * 2 + 1) * rows) / (BLOCK * 2);
        for (oj, v) in row.iter_mut().enumerate() {
            let ij = ((oj * 2 + 1) * cols) / (BLOCK * 2);
            *v = luma[ii * cols + ij];
        }
    }
    let quality = quality(&block);
    let coeffs = dct16(&block);
    let median = median(&coeffs);
    let mut hash = [0u8; 32];
    for (i, chunk) in coeffs.chunks(8).enumerate() {
        let mut byte = 0u8;
        for (j, v) in chunk.iter().enumerate() {
            if *v > median {
                byte |= 1 << j;
            }
        }
        hash[31 - i] = byte;
    }
    (Pdq(hash), quality)
}

/// The Jarosz filter's window for shrinking `old` pixels to 64: `ceil(old / 128)`.
fn window(old: usize) -> usize {
    old.div_ceil(2 * BLOCK)
}

/// A box filter of `window` along one row or column (`len` values `stride` apart from
/// `start`), written at the same positions of `out`; the window is cut short at the edges.
/// The reference's four phases, with positions instead of pointers.
fn box_1d(input: &[f32], start: usize, out: &mut [f32], len: usize, stride: usize, window: usize) {
    let half = (window + 2) / 2;
    let phase1 = half - 1;
    let phase2 = window - half + 1;
    let at = |p: usize| start + p * stride;
    let (mut sum, mut n) = (0f32, 0f32);
    // 1: accumulate the first half-window, no writes.
    for p in 0..phase1 {
        sum += input[at(p)];
        n += 1.0;
    }
    // 2: grow the window to full size while writing.
    for p in phase1..window {
        sum += input[at(p)];
        n += 1.0;
        out[at(p - phase1)] = sum / n;
    }
    // 3: slide the full window.
    for p in window..len {
        let o = p - phase1;
        sum += input[at(p)];
        sum -= input[at(o - phase2)];
        out[at(o)] = sum / n;
    }
    // 4: shrink it at the far edge.
    for o in len - phase1..len {
        sum -= input[at(o - phase2)];
        n -= 1.0;
        out[at(o)] = sum / n;
    }
}

/// The 16×16 DCT coefficients 1..=16 along both axes of the 64×64 block, row-major.
fn dct16(block: &[[f32; BLOCK]; BLOCK]) -> [f32; DCT * DCT] {
    let scale = (2.0f64 / BLOCK as f64).sqrt();
    let mut d = [[0f32; BLOCK]; DCT];
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (scale
                * (std::f64::consts::PI / 2.0 / BLOCK as f64 * (i + 1) as f64 * (2 * j + 1) as f64)
                    .cos()) as f32;
        }
    }
    let mut mid = [[0f32; BLOCK]; DCT];
    for i in 0..DCT {
        for j in 0..BLOCK {
            let mut s = 0f32;
            for k in 0..BLOCK {
                s += d[i][k] * block[k][j];
            }
            mid[i][j] = s;
        }
    }
    let mut out = [0f32; DCT * DCT];
    for i in 0..DCT {
        for j in 0..DCT {
            let mut s = 0f32;
            for k in 0..BLOCK {
                s += mid[i][k] * d[j][k];
            }
            out[i * DCT + j] = s;
        }
    }
    out
}

/// Torben's median (the reference's): the value with half the others at most and half at
/// least, without sorting.
fn median(m: &[f32]) -> f32 {
    let mut min = m.iter().copied().fold(f32::INFINITY, f32::min);
    let mut max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let half = m.len().div_ceil(2);
    loop {
        let guess = (min + max) / 2.0;
        let (mut less, mut greater, mut equal) = (0, 0, 0);
        let (mut max_lt, mut min_gt) = (min, max);
        for &v in m {
            if v < guess {
                less += 1;
                if v > max_lt {
                    max_lt = v;
                }
            } else if v > guess {
                greater += 1;
                if v < min_gt {
                    min_gt = v;
                }
            } else {
                equal += 1;
            }
        }
        if less <= half && greater <= half {
            return if less >= half {
                max_lt
            } else if less + equal >= half {
                guess
            } else {
                min_gt
            };
        } else if less > greater {
            max = max_lt;
        } else {
            min = min_gt;
        }
    }
}

/// The reference's quality: the sum of absolute gradients of the 64×64 block (in units of
/// the full luminance range) over 90, capped at 1, as a percentage.
fn quality(block: &[[f32; BLOCK]; BLOCK]) -> u8 {
    let mut sum = 0f32;
    for (upper, lower) in block.iter().zip(block.iter().skip(1)) {
        for (u, v) in upper.iter().zip(lower.iter()) {
            sum += ((u - v) / 255.0).abs();
        }
    }
    for row in block.iter() {
        for j in 0..BLOCK - 1 {
            sum += ((row[j] - row[j + 1]) / 255.0).abs();
        }
    }
    ((sum / 90.0).min(1.0) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::imageops::FilterType;
    use image::{ImageFormat, RgbImage};
    use std::io::Cursor;

    /// Meta's published hash of the reference test image `bridge-1-original.jpg` (the
    /// ThreatExchange PDQ test data, 1600×1004), hashed at full size.
    const BRIDGE: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    fn bridge() -> DynamicImage {
        image::load_from_memory(include_bytes!("../testdata/pdq-bridge.jpg")).unwrap()
    }

    /// A picture with structure: soft gradients, a disc and bars, different per `seed`.
    pub(crate) fn scene(w: u32, h: u32, seed: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let (cx, cy) = (0.3 + 0.1 * (seed % 4) as f32, 0.6 - 0.1 * (seed % 3) as f32);
            let disc = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() < 0.2;
            let bars = ((fx * (3 + seed) as f32 * 2.0) as u32) & 1 == 0;
            let r = if disc { 230.0 } else { 40.0 + 150.0 * fx };
            let g = if bars { 200.0 * fy } else { 60.0 };
            let b = 255.0 * ((fx * 7.0 + seed as f32).sin() * 0.5 + 0.5);
            image::Rgb([r as u8, g as u8, b as u8])
        }))
    }

    fn reencode(img: &DynamicImage, quality: u8) -> DynamicImage {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img.to_rgb8())
            .unwrap();
        image::load_from_memory_with_format(&out, ImageFormat::Jpeg).unwrap()
    }

    #[test]
    fn the_reference_vector() {
        let (hash, quality) = hash_full(&bridge());
        let expected = Pdq::parse(BRIDGE).unwrap();
        let d = hash.distance(&expected);
        // Measured: 0 (bit for bit). JPEG decoders may differ in their last bits of
        // rounding, so allow a few flipped bits, far below the match threshold.
        assert!(d <= 4, "distance {d} from the reference: {hash}");
        assert_eq!(quality, 100);
        // The shrunk path used in processing stays a match (measured: 8 bits).
        let (small, _) = hash_image(&bridge()).unwrap();
        assert!(small.distance(&expected) <= MATCH_THRESHOLD);
    }

    #[test]
    fn copies_match_and_other_images_do_not() {
        // A photo, shrunk and re-encoded as a lower-quality JPEG: measured 2 to 4 bits away
        // (10 at 300 pixels wide and quality 40).
        let photo = bridge();
        let (hp, _) = hash_image(&photo).unwrap();
        for (w, q) in [(800, 75), (400, 50)] {
            let h = photo.height() * w / photo.width();
            let copy = reencode(&photo.resize_exact(w, h, FilterType::Triangle), q);
            let d = hp.distance(&hash_image(&copy).unwrap().0);
            assert!(d <= 8, "a {w} px copy at quality {q} is {d} bits away");
        }
        // A drawn picture and its copy match; other pictures are far (measured 116 to 132).
        let a = scene(900, 600, 0);
        let (ha, qa) = hash_image(&a).unwrap();
        assert!(qa >= MIN_QUALITY, "quality {qa}");
        let copy = reencode(&a.resize_exact(540, 360, FilterType::Triangle), 60);
        let d_copy = ha.distance(&hash_image(&copy).unwrap().0);
        assert!(d_copy <= MATCH_THRESHOLD, "re-encoded copy at {d_copy}");
        for other in [scene(900, 600, 3), photo] {
            let d = ha.distance(&hash_image(&other).unwrap().0);
            assert!(d > 3 * MATCH_THRESHOLD, "a different image at {d}");
        }
        // Through PNG (lossless) the hash is the same.
        let mut png = Vec::new();
        a.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let (hpng, _) = hash_image(&image::load_from_memory(&png).unwrap()).unwrap();
        assert_eq!(hpng, ha);
    }

    #[test]
    fn hex_round_trips_and_distance_counts_bits() {
        let h = Pdq::parse(BRIDGE).unwrap();
        assert_eq!(h.to_hex(), BRIDGE);
        assert_eq!(Pdq::parse(&BRIDGE.to_uppercase()), Some(h));
        assert_eq!(Pdq::parse("abc"), None);
        assert_eq!(Pdq::parse(&"g".repeat(64)), None);
        let mut flipped = h;
        flipped.0[0] ^= 0b1011;
        assert_eq!(h.distance(&flipped), 3);
        assert!(hash_image(&DynamicImage::new_rgb8(4, 100)).is_none());
        let (_, flat) = hash_image(&DynamicImage::new_rgb8(100, 100)).unwrap();
        assert!(flat < MIN_QUALITY);
    }
}
