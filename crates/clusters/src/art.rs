//! Procedural art: SVG drawn from a seed and a palette, so every cluster, avatar and banner has
//! a picture without anything being uploaded or downloaded.
//!
//! Deterministic: the same input gives the same bytes on every machine and release (FNV-1a and
//! a fixed generator, never std's hasher, whose output may change between Rust releases), so
//! the pictures can be cached for long. The only text taken from a request is an avatar's
//! initials, escaped; nothing else a visitor sends reaches the SVG.

use crate::{contrast_ratio, Cluster, Motif, Theme};
use std::f64::consts::PI;
use std::fmt::Write;

/// The colours a picture is drawn with, as `#rrggbb`.
#[derive(Debug, Clone)]
pub struct Palette {
    pub background: String,
    pub surface: String,
    pub primary: String,
    pub accent: String,
    pub text: String,
}

impl From<&Theme> for Palette {
    fn from(t: &Theme) -> Self {
        Self {
            background: t.background.clone(),
            surface: t.surface.clone(),
            primary: t.primary.clone(),
            accent: t.accent.clone(),
            text: t.text.clone(),
        }
    }
}

/// A cluster's hero: its motif in its colours, 1200×600.
pub fn hero(c: &Cluster) -> String {
    scene(
        &Palette::from(&c.theme),
        c.theme.motif,
        &c.slug,
        1200.0,
        600.0,
    )
}

/// The motifs a profile banner may get.
const BANNER_MOTIFS: [Motif; 8] = [
    Motif::Waves,
    Motif::Stars,
    Motif::Bubbles,
    Motif::Hex,
    Motif::Diamonds,
    Motif::Orbits,
    Motif::Peaks,
    Motif::Stripes,
];

/// A profile banner for `handle`, 1500×500, its hue and motif chosen by the handle's hash.
pub fn banner(handle: &str) -> String {
    let h = fnv1a(handle);
    let hue = (h % 360) as f64;
    let palette = Palette {
        background: hsl(hue, 0.45, 0.09),
        surface: hsl(hue + 25.0, 0.4, 0.2),
        primary: hsl(hue, 0.95, 0.62),
        accent: hsl(hue + 140.0, 0.9, 0.66),
        text: "#ffffff".into(),
    };
    let motif = BANNER_MOTIFS[((h >> 20) % BANNER_MOTIFS.len() as u64) as usize];
    scene(&palette, motif, handle, 1500.0, 500.0)
}

/// The colour of an avatar's initials.
const INK: &str = "#ffffff";

/// An avatar for `handle`, 96×96: its initials in white on a gradient from the handle's hash.
pub fn avatar(handle: &str) -> String {
    let h = fnv1a(handle);
    let hue = (h % 360) as f64;
    // Start bright, then darken each stop until white initials reach 4.5:1 on it (yellows
    // need far more darkening than blues).
    let stop = |hue: f64, s: f64, mut l: f64| {
        let mut c = hsl(hue, s, l);
        while l > 0.1 && contrast_ratio(INK, &c).unwrap_or(21.0) < 4.5 {
            l -= 0.02;
            c = hsl(hue, s, l);
        }
        c
    };
    let c1 = stop(hue, 0.72, 0.5);
    let c2 = stop(hue + 40.0 + ((h >> 9) % 50) as f64, 0.78, 0.4);
    let deco = match (h >> 24) % 3 {
        0 => r##"<circle cx="80" cy="14" r="34" fill="#ffffff" fill-opacity=".16"/>"##,
        1 => {
            r##"<path d="M-10 70 L70 -10 L96 -10 L96 6 L6 96 L-10 96Z" fill="#ffffff" fill-opacity=".13"/>"##
        }
        _ => {
            r##"<circle cx="48" cy="48" r="40" fill="none" stroke="#ffffff" stroke-opacity=".18" stroke-width="7"/>"##
        }
    };
    let initials = escape(&initials(handle));
    let size = if initials.chars().count() > 1 { 36 } else { 44 };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96"><defs><linearGradient id="a" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{c1}"/><stop offset="1" stop-color="{c2}"/></linearGradient></defs><rect width="96" height="96" fill="url(#a)"/>{deco}<text x="48" y="49" text-anchor="middle" dominant-baseline="central" font-family="system-ui,-apple-system,'Segoe UI',Roboto,sans-serif" font-size="{size}" font-weight="700" fill="{INK}">{initials}</text></svg>"##
    )
}

/// Up to two letters or digits: the first of each of the first two words of a handle
/// (`neon_nate` → `NN`), upper-cased; `?` when there are none.
pub fn initials(handle: &str) -> String {
    let out: String = handle
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if out.is_empty() {
        "?".into()
    } else {
        out
    }
}

/// XML-escape text for an SVG text node or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 64-bit FNV-1a: small, stable everywhere.
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The art's draws: SplitMix64 seeded by a string's hash.
type Rng = fanz_core::sample::SplitMix64;

fn rng_for(seed: &str) -> Rng {
    fanz_core::sample::SplitMix64(fnv1a(seed))
}

/// `#rrggbb` from hue (degrees), saturation and lightness (0 to 1).
fn hsl(h: f64, s: f64, l: f64) -> String {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", to(r), to(g), to(b))
}

/// Background, two soft glows, then the motif under a neon glow filter.
fn scene(p: &Palette, motif: Motif, seed: &str, w: f64, h: f64) -> String {
    let mut r = rng_for(seed);
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" preserveAspectRatio="xMidYMid slice"><defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{bg}"/><stop offset="1" stop-color="{sf}"/></linearGradient><radialGradient id="gp"><stop offset="0" stop-color="{pr}" stop-opacity=".55"/><stop offset="1" stop-color="{pr}" stop-opacity="0"/></radialGradient><radialGradient id="ga"><stop offset="0" stop-color="{ac}" stop-opacity=".45"/><stop offset="1" stop-color="{ac}" stop-opacity="0"/></radialGradient><linearGradient id="sun" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="{ac}"/><stop offset="1" stop-color="{pr}"/></linearGradient><filter id="glow" x="-20%" y="-20%" width="140%" height="140%"><feGaussianBlur stdDeviation="{blur}" result="b"/><feMerge><feMergeNode in="b"/><feMergeNode in="SourceGraphic"/></feMerge></filter></defs><rect width="{w}" height="{h}" fill="url(#bg)"/>"##,
        bg = p.background,
        sf = p.surface,
        pr = p.primary,
        ac = p.accent,
        blur = (h / 120.0).round(),
    );
    for glow in ["gp", "ga"] {
        let _ = write!(
            s,
            r#"<circle cx="{:.0}" cy="{:.0}" r="{:.0}" fill="url(#{glow})"/>"#,
            r.range(0.0, w),
            r.range(0.0, h),
            r.range(h * 0.5, h * 0.9),
        );
    }
    s.push_str(r#"<g filter="url(#glow)">"#);
    draw(motif, &mut s, &mut r, p, w, h);
    s.push_str("</g></svg>");
    s
}

fn draw(motif: Motif, s: &mut String, r: &mut Rng, p: &Palette, w: f64, h: f64) {
    let cols = [p.primary.as_str(), p.accent.as_str(), p.text.as_str()];
    let bright = [p.primary.as_str(), p.accent.as_str()];
    match motif {
        Motif::Waves => {
            let step = w / 3.0;
            for i in 0..8 {
                let y0 = h * (0.2 + 0.085 * i as f64) + r.range(-h * 0.04, h * 0.04);
                let amp = r.range(h * 0.05, h * 0.16);
                let x0 = -r.range(40.0, step);
                let mut d = format!(
                    "M{x0:.0} {y0:.0} C{:.0} {:.0} {:.0} {:.0} {:.0} {y0:.0}",
                    x0 + step / 2.0,
                    y0 - amp,
                    x0 + step / 2.0,
                    y0 + amp,
                    x0 + step
                );
                for k in 2..6 {
                    let x = x0 + step * k as f64;
                    let _ = write!(d, " S{:.0} {:.0} {x:.0} {y0:.0}", x - step / 2.0, y0 + amp);
                }
                let _ = write!(
                    s,
                    r#"<path d="{d}" fill="none" stroke="{}" stroke-width="{:.0}" stroke-opacity="{:.2}" stroke-linecap="round"/>"#,
                    cols[i % 3],
                    r.range(3.0, 14.0),
                    r.range(0.4, 0.95)
                );
                if i == 5 {
                    let _ = write!(
                        s,
                        r#"<path d="{d} L{:.0} {:.0} L{x0:.0} {:.0}Z" fill="{}" fill-opacity=".14"/>"#,
                        x0 + step * 5.0,
                        h + 40.0,
                        h + 40.0,
                        p.primary
                    );
                }
            }
        }
        Motif::Grid => {
            let hz = h * 0.6;
            let (cx, rad) = (w * r.range(0.35, 0.65), h * 0.3);
            let _ = write!(
                s,
                r#"<circle cx="{cx:.0}" cy="{hz:.0}" r="{rad:.0}" fill="url(#sun)"/>"#
            );
            for k in 1..7 {
                let _ = write!(
                    s,
                    r#"<rect x="{:.0}" y="{:.0}" width="{:.0}" height="{:.1}" fill="{}"/>"#,
                    cx - rad,
                    hz - k as f64 * rad * 0.11,
                    rad * 2.0,
                    k as f64 * 1.8,
                    p.background
                );
            }
            let _ = write!(
                s,
                r#"<rect y="{hz:.0}" width="{w}" height="{:.0}" fill="{}" fill-opacity=".92"/>"#,
                h - hz,
                p.background
            );
            let mut lines = String::new();
            for i in -16..=16 {
                let _ = write!(
                    lines,
                    "M{:.0} {hz:.0}L{:.0} {h} ",
                    w / 2.0 + i as f64 * w / 50.0,
                    w / 2.0 + i as f64 * w / 9.0
                );
            }
            for k in 0..10 {
                let y = hz + (h - hz) * (k as f64 / 9.0).powi(2);
                let _ = write!(lines, "M0 {y:.1}H{w} ");
            }
            let _ = write!(
                s,
                r#"<path d="{lines}" stroke="{}" stroke-width="2.5" stroke-opacity=".85" fill="none"/>"#,
                p.primary
            );
            stars(s, r, p, w, hz * 0.9, 60);
        }
        Motif::Stars => {
            stars(s, r, p, w, h, 120);
            for _ in 0..34 {
                let (x, y) = (r.range(0.0, w), r.range(0.0, h));
                let k = r.range(6.0, 18.0) * if r.chance(0.15) { 3.0 } else { 1.0 };
                let _ = write!(
                    s,
                    r#"<path d="M{x:.0} {:.0}Q{x:.0} {y:.0} {:.0} {y:.0}Q{x:.0} {y:.0} {x:.0} {:.0}Q{x:.0} {y:.0} {:.0} {y:.0}Q{x:.0} {y:.0} {x:.0} {:.0}Z" fill="{}" fill-opacity="{:.2}"/>"#,
                    y - k,
                    x + k * 0.8,
                    y + k,
                    x - k * 0.8,
                    y - k,
                    r.pick(&cols),
                    r.range(0.6, 1.0)
                );
            }
        }
        Motif::Bubbles => {
            for _ in 0..30 {
                let (x, y, rad) = (r.range(0.0, w), r.range(0.0, h), r.range(8.0, h * 0.2));
                let c = r.pick(&cols);
                let _ = write!(
                    s,
                    r##"<circle cx="{x:.0}" cy="{y:.0}" r="{rad:.0}" fill="{c}" fill-opacity="{:.2}" stroke="{c}" stroke-opacity=".75" stroke-width="2.5"/><circle cx="{:.0}" cy="{:.0}" r="{:.0}" fill="#ffffff" fill-opacity=".45"/>"##,
                    r.range(0.08, 0.3),
                    x - rad * 0.4,
                    y - rad * 0.4,
                    rad * 0.14
                );
            }
        }
        Motif::Stripes => {
            let _ = write!(
                s,
                r#"<g transform="rotate(-22 {:.0} {:.0})">"#,
                w / 2.0,
                h / 2.0
            );
            let mut x = -w * 0.4;
            while x < w * 1.4 {
                let thick = r.range(30.0, 90.0);
                for (dx, width, c, o) in [
                    (0.0, thick, p.primary.as_str(), r.range(0.55, 0.95)),
                    (thick + 12.0, 12.0, p.accent.as_str(), 0.9),
                    (thick + 34.0, 5.0, p.text.as_str(), 0.7),
                ] {
                    let _ = write!(
                        s,
                        r#"<rect x="{:.0}" y="{:.0}" width="{width:.0}" height="{:.0}" fill="{c}" fill-opacity="{o:.2}"/>"#,
                        x + dx,
                        -h,
                        h * 3.0
                    );
                }
                x += thick + r.range(120.0, 260.0);
            }
            s.push_str("</g>");
        }
        Motif::Paws => {
            let n = 12;
            let angle = (-(h * 0.7) / w).atan();
            for i in 0..n {
                let t = i as f64 / (n - 1) as f64;
                let side = if i % 2 == 0 { 1.0 } else { -1.0 };
                let x = -40.0 + t * (w + 80.0) + side * 30.0 * angle.sin();
                let y = h * 0.88 - t * h * 0.72 + side * 30.0 * angle.cos();
                paw(s, x, y, angle.to_degrees() + 90.0, 1.4, &p.primary, 0.95);
            }
            for _ in 0..14 {
                let (x, y) = (r.range(0.0, w), r.range(0.0, h));
                let (rot, c) = (r.range(-40.0, 40.0), *r.pick(&bright));
                paw(s, x, y, rot, r.range(0.6, 1.1), c, 0.3);
            }
        }
        Motif::Hearts => {
            for i in 0..26 {
                let (x, y) = (r.range(0.0, w), r.range(0.0, h));
                let k = r.range(0.8, 2.6) * if i < 3 { 2.6 } else { 1.0 };
                let c = r.pick(&cols);
                let paint = if r.chance(0.35) {
                    format!(r#"fill="none" stroke="{c}" stroke-width="{:.1}""#, 3.0 / k)
                } else {
                    format!(r#"fill="{c}" fill-opacity="{:.2}""#, r.range(0.35, 0.95))
                };
                let _ = write!(
                    s,
                    r#"<path transform="translate({x:.0} {y:.0}) rotate({:.0}) scale({k:.2})" d="M0 -8C-4 -16 -20 -16 -20 -2C-20 10 -6 18 0 24C6 18 20 10 20 -2C20 -16 4 -16 0 -8Z" {paint}/>"#,
                    r.range(-25.0, 25.0)
                );
            }
        }
        Motif::Bolts => {
            for _ in 0..14 {
                let (x1, y1) = (r.range(0.0, w), r.range(0.0, h));
                let _ = write!(
                    s,
                    r#"<path d="M{x1:.0} {y1:.0}l{:.0} {:.0}" stroke="{}" stroke-opacity=".35" stroke-width="3" stroke-linecap="round"/>"#,
                    r.range(120.0, 320.0),
                    r.range(-40.0, -90.0),
                    p.text
                );
            }
            for i in 0..12 {
                let (x, y) = (r.range(0.0, w), r.range(0.0, h));
                let k = r.range(0.9, 2.0) * if i < 2 { 2.4 } else { 1.0 };
                let _ = write!(
                    s,
                    r#"<path transform="translate({x:.0} {y:.0}) rotate({:.0}) scale({k:.2})" d="M6 -40L-14 4L-2 4L-8 40L14 -6L2 -6Z" fill="{}" fill-opacity="{:.2}"/>"#,
                    r.range(-20.0, 30.0),
                    r.pick(&bright),
                    r.range(0.6, 1.0)
                );
            }
        }
        Motif::Rings => {
            for (y0, y1, stroke, c) in [
                (h * 0.85, h * 0.2, 11.0, p.primary.as_str()),
                (h * 0.35, h * 1.0, 6.0, p.accent.as_str()),
            ] {
                let (dx, dy) = (w + 120.0, y1 - y0);
                let len = (dx * dx + dy * dy).sqrt();
                let angle = dy.atan2(dx).to_degrees();
                let links = (len / 68.0) as usize;
                for i in 0..links {
                    let t = i as f64 / links as f64;
                    let (x, y) = (-60.0 + t * dx, y0 + t * dy);
                    let ry = if i % 2 == 0 { 26.0 } else { 9.0 };
                    let _ = write!(
                        s,
                        r#"<ellipse transform="translate({x:.0} {y:.0}) rotate({angle:.1})" rx="46" ry="{ry}" fill="none" stroke="{c}" stroke-width="{stroke}"/>"#
                    );
                }
            }
            stars(s, r, p, w, h, 40);
        }
        Motif::Hex => {
            let k = h / 11.0;
            let (dx, dy) = (k * 3f64.sqrt(), k * 1.5);
            let mut outline = String::new();
            let mut row = 0;
            let mut y = 0.0;
            while y < h + k {
                let mut x = if row % 2 == 0 { 0.0 } else { dx / 2.0 };
                while x < w + k {
                    let mut d = String::new();
                    for j in 0..6 {
                        let a = PI / 6.0 + j as f64 * PI / 3.0;
                        let _ = write!(
                            d,
                            "{}{:.0} {:.0}",
                            if j == 0 { "M" } else { "L" },
                            x + k * 0.92 * a.cos(),
                            y + k * 0.92 * a.sin()
                        );
                    }
                    d.push('Z');
                    if r.chance(0.16) {
                        let _ = write!(
                            s,
                            r#"<path d="{d}" fill="{}" fill-opacity="{:.2}"/>"#,
                            r.pick(&bright),
                            r.range(0.25, 0.7)
                        );
                    }
                    outline.push_str(&d);
                    x += dx;
                }
                y += dy;
                row += 1;
            }
            let _ = write!(
                s,
                r#"<path d="{outline}" fill="none" stroke="{}" stroke-opacity=".45" stroke-width="2"/>"#,
                p.primary
            );
        }
        Motif::Play => {
            for i in 0..11 {
                let tw = r.range(120.0, 260.0) * if i == 0 { 1.8 } else { 1.0 };
                let th = tw * 9.0 / 16.0;
                let (x, y) = (
                    r.range(-tw / 2.0, w - tw / 2.0),
                    r.range(-th / 2.0, h - th / 2.0),
                );
                let c = r.pick(&bright);
                let t = th * 0.22;
                let (cx, cy) = (x + tw / 2.0, y + th / 2.0);
                let _ = write!(
                    s,
                    r#"<g transform="rotate({:.0} {cx:.0} {cy:.0})"><rect x="{x:.0}" y="{y:.0}" width="{tw:.0}" height="{th:.0}" rx="{:.0}" fill="{c}" fill-opacity=".14" stroke="{c}" stroke-width="3"/><path d="M{:.0} {:.0}L{:.0} {cy:.0}L{:.0} {:.0}Z" fill="{c}" stroke="{c}" stroke-width="6" stroke-linejoin="round"/></g>"#,
                    r.range(-12.0, 12.0),
                    th * 0.12,
                    cx - t * 0.7,
                    cy - t,
                    cx + t,
                    cx - t * 0.7,
                    cy + t,
                );
            }
        }
        Motif::Moons => {
            stars(s, r, p, w, h, 110);
            for i in 0..7 {
                let (x, y) = if i == 0 {
                    (w * r.range(0.6, 0.8), h * 0.42)
                } else {
                    (r.range(0.0, w), r.range(0.0, h))
                };
                let rad = if i == 0 { h * 0.3 } else { r.range(14.0, 40.0) };
                let c = if i == 0 {
                    p.primary.as_str()
                } else {
                    *r.pick(&cols)
                };
                // A crescent: half of a circle, closed by half of a narrower ellipse.
                let _ = write!(
                    s,
                    r#"<path transform="translate({x:.0} {y:.0}) rotate({:.0})" d="M0 {:.1}A{rad:.1} {rad:.1} 0 0 0 0 {rad:.1}A{:.1} {rad:.1} 0 0 1 0 {:.1}Z" fill="{c}" fill-opacity="{:.2}"/>"#,
                    r.range(-30.0, 30.0),
                    -rad,
                    rad * 0.45,
                    -rad,
                    if i == 0 { 0.95 } else { r.range(0.5, 0.9) }
                );
            }
        }
        Motif::Pixels => {
            let k = h / 20.0;
            let mut y = 0.0;
            while y < h {
                let mut x = 0.0;
                while x < w {
                    if r.chance(0.5 * (x / w).powf(1.6)) {
                        let _ = write!(
                            s,
                            r#"<rect x="{x:.0}" y="{y:.0}" width="{:.0}" height="{:.0}" fill="{}" fill-opacity="{:.2}"/>"#,
                            k - 3.0,
                            k - 3.0,
                            r.pick(&cols),
                            r.range(0.15, 0.8)
                        );
                    }
                    x += k;
                }
                y += k;
            }
            const HEART: [&str; 7] = [
                ".##...##.",
                "####.####",
                "#########",
                ".#######.",
                "..#####..",
                "...###...",
                "....#....",
            ];
            let c = k * 1.3;
            let (ox, oy) = (w * 0.16, h * 0.3);
            for (j, line) in HEART.iter().enumerate() {
                for (i, b) in line.bytes().enumerate() {
                    if b == b'#' {
                        let _ = write!(
                            s,
                            r#"<rect x="{:.0}" y="{:.0}" width="{:.0}" height="{:.0}" fill="{}"/>"#,
                            ox + i as f64 * c,
                            oy + j as f64 * c,
                            c - 4.0,
                            c - 4.0,
                            p.primary
                        );
                    }
                }
            }
        }
        Motif::Peaks => {
            let _ = write!(
                s,
                r#"<circle cx="{:.0}" cy="{:.0}" r="{:.0}" fill="url(#sun)"/>"#,
                w * r.range(0.2, 0.8),
                h * 0.3,
                h * 0.16
            );
            let layers = [
                (p.accent.as_str(), 0.35),
                (p.primary.as_str(), 0.35),
                (p.primary.as_str(), 0.6),
                (p.surface.as_str(), 0.95),
            ];
            for (i, (c, o)) in layers.iter().enumerate() {
                let base = h * (0.42 + 0.14 * i as f64);
                let mut d = format!("M0 {h}L0 {base:.0}");
                let n = 7 + i * 2;
                for j in 0..=n {
                    let x = w * j as f64 / n as f64;
                    let y = if j % 2 == 1 {
                        base - r.range(h * 0.08, h * 0.24)
                    } else {
                        base + r.range(0.0, h * 0.05)
                    };
                    let _ = write!(d, "L{x:.0} {y:.0}");
                }
                let _ = write!(
                    s,
                    r#"<path d="{d}L{w} {h}Z" fill="{c}" fill-opacity="{o}" stroke="{}" stroke-opacity=".5" stroke-width="2"/>"#,
                    p.primary
                );
            }
        }
        Motif::Sunburst => {
            let (cx, cy) = (w / 2.0, h * 1.02);
            let rays = 26;
            for i in 0..rays {
                let a0 = PI + PI * i as f64 / rays as f64;
                let a1 = a0 + PI / rays as f64 * 0.55;
                let big = h * 1.6;
                let _ = write!(
                    s,
                    r#"<path d="M{cx:.0} {cy:.0}L{:.0} {:.0}L{:.0} {:.0}Z" fill="{}" fill-opacity="{}"/>"#,
                    cx + big * a0.cos(),
                    cy + big * a0.sin(),
                    cx + big * a1.cos(),
                    cy + big * a1.sin(),
                    p.primary,
                    if i % 2 == 0 { ".32" } else { ".16" }
                );
            }
            for (k, c) in [
                (0.22, &p.accent),
                (0.36, &p.primary),
                (0.5, &p.accent),
                (0.7, &p.primary),
            ] {
                let rad = h * k * 1.4;
                let _ = write!(
                    s,
                    r#"<path d="M{:.0} {cy:.0}A{rad:.0} {rad:.0} 0 0 1 {:.0} {cy:.0}" fill="none" stroke="{c}" stroke-width="4"/>"#,
                    cx - rad,
                    cx + rad
                );
            }
            let _ = write!(
                s,
                r#"<circle cx="{cx:.0}" cy="{cy:.0}" r="{:.0}" fill="url(#sun)"/>"#,
                h * 0.2
            );
        }
        Motif::Diamonds => {
            let (dw, dh) = (w / 14.0, h / 5.0);
            let mut outline = String::new();
            for row in 0..7 {
                for col in 0..16 {
                    let x = col as f64 * dw + if row % 2 == 0 { 0.0 } else { dw / 2.0 };
                    let y = row as f64 * dh / 2.0 * 2.0 - dh / 2.0;
                    let d = format!(
                        "M{x:.0} {:.0}L{:.0} {y:.0}L{x:.0} {:.0}L{:.0} {y:.0}Z",
                        y - dh / 2.0,
                        x + dw / 2.0,
                        y + dh / 2.0,
                        x - dw / 2.0
                    );
                    if (row + col) % 2 == 0 || r.chance(0.12) {
                        let c = if r.chance(0.2) { &p.accent } else { &p.primary };
                        let _ = write!(
                            s,
                            r#"<path d="{d}" fill="{c}" fill-opacity="{:.2}"/>"#,
                            r.range(0.1, 0.45)
                        );
                    }
                    outline.push_str(&d);
                }
            }
            let _ = write!(
                s,
                r#"<path d="{outline}" fill="none" stroke="{}" stroke-opacity=".55" stroke-width="1.5"/>"#,
                p.accent
            );
        }
        Motif::Glitch => {
            let mut lines = String::new();
            let mut y = 0.0;
            while y < h {
                let _ = write!(lines, "M0 {y:.0}H{w} ");
                y += 7.0;
            }
            let _ = write!(
                s,
                r#"<path d="{lines}" stroke="{}" stroke-opacity=".06" stroke-width="2"/>"#,
                p.text
            );
            for _ in 0..16 {
                let _ = write!(
                    s,
                    r#"<rect x="{:.0}" y="{:.0}" width="{:.0}" height="{:.0}" fill="{}" fill-opacity="{:.2}"/>"#,
                    r.range(-50.0, w),
                    r.range(0.0, h),
                    r.range(60.0, 420.0),
                    r.range(3.0, 20.0),
                    r.pick(&bright),
                    r.range(0.4, 0.85)
                );
            }
            let (cx, cy, k) = (w * 0.7, h * 0.5, h * 0.26);
            for (dx, dy, c) in [
                (-9.0, -6.0, p.primary.as_str()),
                (9.0, 6.0, p.accent.as_str()),
                (0.0, 0.0, p.text.as_str()),
            ] {
                let _ = write!(
                    s,
                    r#"<path transform="translate({:.0} {:.0})" d="M{:.0} {:.0}L{:.0} {cy:.0}L{:.0} {:.0}Z" fill="{c}" stroke="{c}" stroke-width="{:.0}" stroke-linejoin="round"/>"#,
                    dx,
                    dy,
                    cx - k * 0.7,
                    cy - k,
                    cx + k,
                    cx - k * 0.7,
                    cy + k,
                    k * 0.25
                );
            }
        }
        Motif::Orbits => {
            stars(s, r, p, w, h, 90);
            let (cx, cy) = (w * 0.5, h * 0.55);
            let _ = write!(s, r#"<g transform="rotate(-12 {cx:.0} {cy:.0})">"#);
            for i in 0..5 {
                let rx = w * (0.13 + 0.1 * i as f64);
                let ry = rx * 0.3;
                let c = if i == 2 { &p.primary } else { &p.text };
                let _ = write!(
                    s,
                    r#"<ellipse cx="{cx:.0}" cy="{cy:.0}" rx="{rx:.0}" ry="{ry:.0}" fill="none" stroke="{c}" stroke-opacity="{}" stroke-width="2"/>"#,
                    if i == 2 { ".8" } else { ".3" }
                );
                let t = r.range(0.0, 2.0 * PI);
                let _ = write!(
                    s,
                    r#"<circle cx="{:.0}" cy="{:.0}" r="{:.0}" fill="{}"/>"#,
                    cx + rx * t.cos(),
                    cy + ry * t.sin(),
                    r.range(8.0, 26.0),
                    r.pick(&cols)
                );
            }
            s.push_str("</g>");
            let _ = write!(
                s,
                r#"<circle cx="{cx:.0}" cy="{cy:.0}" r="{:.0}" fill="url(#sun)"/>"#,
                h * 0.09
            );
        }
    }
}

/// Small dots of light across the top `h` of the picture.
fn stars(s: &mut String, r: &mut Rng, p: &Palette, w: f64, h: f64, n: usize) {
    let mut d = String::new();
    for _ in 0..n {
        let (x, y, k) = (r.range(0.0, w), r.range(0.0, h), r.range(0.8, 2.4));
        let _ = write!(d, "M{x:.0} {y:.0}h{k:.1}v{k:.1}h-{k:.1}Z");
    }
    let _ = write!(s, r#"<path d="{d}" fill="{}" fill-opacity=".7"/>"#, p.text);
}

fn paw(s: &mut String, x: f64, y: f64, rot: f64, k: f64, c: &str, o: f64) {
    let _ = write!(
        s,
        r#"<g transform="translate({x:.0} {y:.0}) rotate({rot:.0}) scale({k:.2})" fill="{c}" fill-opacity="{o:.2}"><ellipse cy="12" rx="22" ry="18"/><circle cx="-22" cy="-12" r="8"/><circle cx="-8" cy="-26" r="8"/><circle cx="8" cy="-26" r="8"/><circle cx="22" cy="-12" r="8"/></g>"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clusters;

    #[test]
    fn deterministic_and_distinct() {
        let c = Clusters::builtin("fanzlab").unwrap();
        let boy = c.get("boyfanz").unwrap();
        assert_eq!(hero(boy), hero(boy));
        assert_ne!(hero(boy), hero(c.get("girlfanz").unwrap()));
        assert_eq!(avatar("neon_nate"), avatar("neon_nate"));
        assert_ne!(avatar("neon_nate"), avatar("pink_pixel"));
        assert_eq!(banner("neon_nate"), banner("neon_nate"));
        // Pinned, so a change of generator (which would show everyone new pictures under
        // long-cached URLs) is a deliberate one.
        assert_eq!(fnv1a("neon_nate"), 6_826_546_401_043_850_272);
        // And the pictures themselves, by their hash.
        assert_eq!(fnv1a(&hero(boy)), 4_647_598_969_567_526_459);
        assert_eq!(fnv1a(&avatar("neon_nate")), 4_137_124_379_151_154_527);
        assert_eq!(fnv1a(&banner("neon_nate")), 14_247_482_157_235_871_428);
    }

    #[test]
    fn every_motif_draws_well_formed_svg() {
        let c = Clusters::builtin("fanzlab").unwrap();
        let mut theme = c.get("fanzlab").unwrap().theme.clone();
        for m in Motif::ALL {
            theme.motif = m;
            let svg = scene(&Palette::from(&theme), m, m.name(), 1200.0, 600.0);
            assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{m:?}");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{m:?}");
            assert_eq!(
                svg.matches("<g").count(),
                svg.matches("</g>").count(),
                "{m:?}"
            );
            assert!(svg.len() < 64 * 1024, "{m:?} is {} bytes", svg.len());
        }
    }

    #[test]
    fn initials_and_escaping() {
        assert_eq!(initials("neon_nate"), "NN");
        assert_eq!(initials("ops"), "O");
        assert_eq!(initials("__"), "?");
        assert_eq!(initials("élodie.x"), "ÉX");
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = avatar(r#""><script>alert(1)</script>"#);
        assert!(!svg.contains("script") && !svg.contains("alert"), "{svg}");
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
        assert!(svg.contains(">SA</text>"));
    }

    #[test]
    fn avatar_text_is_readable() {
        for i in 0..400 {
            let svg = avatar(&format!("user{i}"));
            for part in svg.split("stop-color=\"").skip(1) {
                let c = &part[..7];
                let ratio = contrast_ratio(INK, c).unwrap();
                assert!(ratio >= 4.5, "user{i}: {c} {ratio:.2}");
            }
        }
    }

    #[test]
    fn hsl_reference_values() {
        assert_eq!(hsl(0.0, 1.0, 0.5), "#ff0000");
        assert_eq!(hsl(120.0, 1.0, 0.5), "#00ff00");
        assert_eq!(hsl(240.0, 1.0, 0.25), "#000080");
        assert_eq!(hsl(-120.0, 1.0, 0.5), "#0000ff");
    }
}
