//! Clusters: the branded sites one Fanz server runs (BoyFanz, GirlFanz, …). A cluster is data
//! read from `clusters.toml`: slug, name, host names, theme tokens and content policy.
//!
//! This crate resolves a request's Host header or `/c/{slug}` path to a cluster. It owns no
//! tables and must never hold per-brand code paths: behaviour differences are policy flags.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub mod art;

/// The clusters file shipped with Fanz; used when no other is configured.
pub const BUILTIN: &str = include_str!("../../../clusters.toml");

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Lower-case identifier used in URLs, e.g. `boyfanz`.
    pub slug: String,
    /// Display name, e.g. `BoyFanz`.
    pub name: String,
    pub tagline: String,
    /// Host header values (without port) that select this cluster.
    pub hosts: Vec<String>,
    /// The port the original service catalogue assigned the brand.
    pub port: u16,
    pub theme: Theme,
    pub policy: Policy,
}

/// A brand's look: colour tokens (`#rrggbb`), type, backdrop, hero motif and corner radius.
/// Everything but the colours has a default, so older clusters files still load.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    pub primary: String,
    pub accent: String,
    pub background: String,
    pub surface: String,
    pub text: String,
    pub muted: String,
    pub on_primary: String,
    /// Headings, the brand name and the hero.
    #[serde(default = "default_display_font")]
    pub display_font: FontStack,
    /// Running text. `condensed` and `script` are refused here: they are for display only.
    #[serde(default)]
    pub body_font: FontStack,
    /// What is painted behind the page.
    #[serde(default)]
    pub backdrop: Backdrop,
    /// The shapes of the brand's generated art (hero, portal card).
    #[serde(default)]
    pub motif: Motif,
    /// Corner radius of cards, fields and panels, in CSS pixels (0 to 32).
    #[serde(default = "default_radius")]
    pub radius: u8,
}

fn default_display_font() -> FontStack {
    FontStack::Geometric
}

fn default_radius() -> u8 {
    12
}

/// A font stack by name. Only `condensed` (Bebas Neue) and `script` (Pacifico) ship a font
/// with Fanz; the others use what the reader's system has, so pages stay light.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FontStack {
    #[default]
    System,
    Geometric,
    Humanist,
    Rounded,
    Serif,
    Didone,
    Mono,
    Condensed,
    Script,
}

impl FontStack {
    /// The CSS `font-family` value.
    pub fn css(self) -> &'static str {
        match self {
            FontStack::System => {
                "system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif"
            }
            FontStack::Geometric => {
                "\"Avenir Next\",Avenir,Montserrat,\"Century Gothic\",Futura,system-ui,sans-serif"
            }
            FontStack::Humanist => {
                "Seravek,\"Gill Sans Nova\",Ubuntu,Calibri,\"Source Sans 3\",\"DejaVu Sans\",sans-serif"
            }
            FontStack::Rounded => {
                "ui-rounded,\"SF Pro Rounded\",Nunito,\"Varela Round\",Quicksand,\"Arial Rounded MT Bold\",system-ui,sans-serif"
            }
            FontStack::Serif => {
                "\"Iowan Old Style\",\"Palatino Linotype\",Palatino,Charter,Georgia,\"DejaVu Serif\",serif"
            }
            FontStack::Didone => {
                "Didot,\"Bodoni 72\",\"Bodoni MT\",\"Playfair Display\",Georgia,\"DejaVu Serif\",serif"
            }
            FontStack::Mono => {
                "ui-monospace,\"SF Mono\",\"Cascadia Code\",\"JetBrains Mono\",Menlo,Consolas,\"DejaVu Sans Mono\",monospace"
            }
            FontStack::Condensed => {
                "\"Bebas Neue\",Oswald,Impact,\"Arial Narrow\",sans-serif"
            }
            FontStack::Script => "Pacifico,\"Brush Script MT\",\"Segoe Script\",cursive",
        }
    }

    /// How much larger than the page's other fonts this stack is set for the same visual
    /// weight (Bebas Neue is narrow capitals; monospace runs wide).
    pub fn scale(self) -> f32 {
        match self {
            FontStack::Condensed => 1.3,
            FontStack::Mono => 0.9,
            _ => 1.0,
        }
    }

    /// Whether the stack is readable as running text.
    pub fn fit_for_body(self) -> bool {
        !matches!(self, FontStack::Condensed | FontStack::Script)
    }
}

/// What is painted behind a brand's pages, drawn in its own colours.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Backdrop {
    Solid,
    #[default]
    Glow,
    Gradient,
    Grain,
    Dots,
    Lines,
    Grid,
}

/// The shapes a brand's generated art is made of.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Motif {
    #[default]
    Waves,
    Grid,
    Stars,
    Bubbles,
    Stripes,
    Paws,
    Hearts,
    Bolts,
    Rings,
    Hex,
    Play,
    Moons,
    Pixels,
    Peaks,
    Sunburst,
    Diamonds,
    Glitch,
    Orbits,
}

impl Motif {
    pub const ALL: [Motif; 18] = [
        Motif::Waves,
        Motif::Grid,
        Motif::Stars,
        Motif::Bubbles,
        Motif::Stripes,
        Motif::Paws,
        Motif::Hearts,
        Motif::Bolts,
        Motif::Rings,
        Motif::Hex,
        Motif::Play,
        Motif::Moons,
        Motif::Pixels,
        Motif::Peaks,
        Motif::Sunburst,
        Motif::Diamonds,
        Motif::Glitch,
        Motif::Orbits,
    ];

    /// The lower-case name used in the clusters file and in CSS class names.
    pub fn name(self) -> &'static str {
        match self {
            Motif::Waves => "waves",
            Motif::Grid => "grid",
            Motif::Stars => "stars",
            Motif::Bubbles => "bubbles",
            Motif::Stripes => "stripes",
            Motif::Paws => "paws",
            Motif::Hearts => "hearts",
            Motif::Bolts => "bolts",
            Motif::Rings => "rings",
            Motif::Hex => "hex",
            Motif::Play => "play",
            Motif::Moons => "moons",
            Motif::Pixels => "pixels",
            Motif::Peaks => "peaks",
            Motif::Sunburst => "sunburst",
            Motif::Diamonds => "diamonds",
            Motif::Glitch => "glitch",
            Motif::Orbits => "orbits",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub feed: Feed,
    /// Ask for an explicit adult-content confirmation before anything is shown.
    #[serde(default)]
    pub extra_gating: bool,
    /// The content categories a post may carry to appear here; empty allows every category.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The longest post text this cluster shows, in characters.
    #[serde(default = "default_max_post_chars")]
    pub max_post_chars: u32,
    /// Search and discovery hide posts their creators marked sensitive unless a signed-in
    /// viewer turns safe search off.
    #[serde(default = "default_true")]
    pub safe_search: bool,
    /// Terms refused here in post text, teasers, tags and search queries, on top of the
    /// platform's `[review] banned_terms`.
    #[serde(default)]
    pub banned_terms: Vec<String>,
    /// Whether a person approves posts before they are published here.
    #[serde(default)]
    pub review: ReviewPolicy,
    /// With `review = "new_creators"`: a creator's posts are reviewed until they have this
    /// many live posts.
    #[serde(default = "default_review_first_posts")]
    pub review_first_posts: u32,
    /// Added to the priority of this cluster's reviews (higher is reviewed sooner).
    #[serde(default)]
    pub review_priority: i64,
    /// Viewer age assurance by place, on top of the platform's `[age_assurance] rules`:
    /// `"GB" = "assure: facial_estimation, photo_id"`, `"US-UT" = "block"`, `"*" = "allow"`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub age_rules: std::collections::BTreeMap<String, String>,
}

/// Human review before publication on a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewPolicy {
    /// Automated checks only.
    #[default]
    None,
    /// A creator's first `review_first_posts` posts.
    NewCreators,
    /// Every post.
    All,
}

fn default_review_first_posts() -> u32 {
    3
}

fn default_max_post_chars() -> u32 {
    5000
}

fn default_true() -> bool {
    true
}

impl Policy {
    /// Whether posts marked sensitive are shown: always without safe search; with it, only
    /// when a signed-in viewer turned it off.
    pub fn shows_sensitive(&self, safe_search_off_by_viewer: bool) -> bool {
        !self.safe_search || safe_search_off_by_viewer
    }

    /// Whether a post of `category` may appear on this cluster.
    pub fn allows_category(&self, category: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|c| c == category)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    Grid,
    Vertical,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read clusters file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid clusters file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid clusters file: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cluster: Vec<Cluster>,
}

/// Every configured cluster, indexed by slug and by host.
#[derive(Debug, Clone)]
pub struct Clusters {
    list: Vec<Cluster>,
    by_slug: HashMap<String, usize>,
    by_host: HashMap<String, usize>,
    default: usize,
}

impl Clusters {
    pub fn builtin(default_slug: &str) -> Result<Self, ClusterError> {
        Self::parse(BUILTIN, default_slug)
    }

    pub fn from_file(path: &Path, default_slug: &str) -> Result<Self, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, default_slug)
    }

    pub fn parse(text: &str, default_slug: &str) -> Result<Self, ClusterError> {
        let file: File = toml::from_str(text)?;
        let mut by_slug = HashMap::new();
        let mut by_host = HashMap::new();
        for (i, c) in file.cluster.iter().enumerate() {
            let slug_ok = !c.slug.is_empty()
                && c.slug
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
            if !slug_ok {
                return Err(ClusterError::Invalid(format!(
                    "slug {:?} must be lower-case letters and digits",
                    c.slug
                )));
            }
            if by_slug.insert(c.slug.clone(), i).is_some() {
                return Err(ClusterError::Invalid(format!("duplicate slug {}", c.slug)));
            }
            for colour in c.theme.colours() {
                parse_hex(colour).ok_or_else(|| {
                    ClusterError::Invalid(format!("{}: colour {colour:?} is not #rrggbb", c.slug))
                })?;
            }
            if !c.theme.body_font.fit_for_body() {
                return Err(ClusterError::Invalid(format!(
                    "{}: body_font {:?} is for display only",
                    c.slug, c.theme.body_font
                )));
            }
            if c.theme.radius > 32 {
                return Err(ClusterError::Invalid(format!(
                    "{}: radius {} is over 32",
                    c.slug, c.theme.radius
                )));
            }
            for h in &c.hosts {
                if by_host.insert(h.to_ascii_lowercase(), i).is_some() {
                    return Err(ClusterError::Invalid(format!("host {h} is used twice")));
                }
            }
        }
        let default = *by_slug.get(default_slug).ok_or_else(|| {
            ClusterError::Invalid(format!("default cluster {default_slug:?} is not defined"))
        })?;
        Ok(Self {
            list: file.cluster,
            by_slug,
            by_host,
            default,
        })
    }

    pub fn all(&self) -> &[Cluster] {
        &self.list
    }

    pub fn get(&self, slug: &str) -> Option<&Cluster> {
        self.by_slug.get(slug).map(|&i| &self.list[i])
    }

    pub fn default_cluster(&self) -> &Cluster {
        &self.list[self.default]
    }

    /// The cluster a Host header selects (port and case ignored), if any.
    pub fn by_host(&self, host: &str) -> Option<&Cluster> {
        let name = host_without_port(host).to_ascii_lowercase();
        self.by_host.get(&name).map(|&i| &self.list[i])
    }

    /// The cluster for a request: by host, else the default.
    pub fn resolve_host(&self, host: Option<&str>) -> &Cluster {
        host.and_then(|h| self.by_host(h))
            .unwrap_or_else(|| self.default_cluster())
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

impl Theme {
    fn colours(&self) -> [&str; 7] {
        [
            &self.primary,
            &self.accent,
            &self.background,
            &self.surface,
            &self.text,
            &self.muted,
            &self.on_primary,
        ]
    }

    /// The CSS custom properties the page style sheet reads, for the whole page.
    pub fn css_variables(&self) -> String {
        self.css_rule(":root")
    }

    /// The same custom properties scoped to `selector` (the portal's cards wear every
    /// cluster's theme on one page). The one place the properties are written.
    pub fn css_rule(&self, selector: &str) -> String {
        format!(
            "{selector}{{--primary:{};--accent:{};--bg:{};--surface:{};--text:{};--muted:{};--on-primary:{};\
             --font-display:{};--display-scale:{};--font-body:{};--radius:{}px;--backdrop:{};--backdrop-size:{};}}\n",
            self.primary,
            self.accent,
            self.background,
            self.surface,
            self.text,
            self.muted,
            self.on_primary,
            self.display_font.css(),
            self.display_font.scale(),
            self.body_font.css(),
            self.radius,
            self.backdrop_css(),
            match self.backdrop {
                Backdrop::Dots => "22px 22px,auto",
                Backdrop::Grid => "44px 44px,44px 44px,auto",
                Backdrop::Grain => "180px 180px,auto,auto",
                _ => "auto",
            },
        )
    }

    /// The `background-image` layers of [`Backdrop`], in this theme's colours (literal values,
    /// so a scoped rule never picks up the page's own colours).
    fn backdrop_css(&self) -> String {
        let (p, a) = (&self.primary, &self.accent);
        let glow = format!(
            "radial-gradient(60rem 36rem at 8% -8%,{p}33,transparent 70%),\
             radial-gradient(50rem 32rem at 105% 0%,{a}26,transparent 70%)"
        );
        match self.backdrop {
            Backdrop::Solid => "none".into(),
            Backdrop::Glow => glow,
            Backdrop::Gradient => format!(
                "linear-gradient(165deg,{p}2e 0,{a}14 28rem,transparent 56rem)"
            ),
            Backdrop::Grain => format!("{GRAIN},{glow}"),
            Backdrop::Dots => format!(
                "radial-gradient({p}30 1.2px,transparent 1.8px),\
                 radial-gradient(50rem 30rem at 50% -10%,{p}24,transparent 70%)"
            ),
            Backdrop::Lines => format!(
                "repeating-linear-gradient(125deg,{p}14 0 2px,transparent 2px 18px),\
                 radial-gradient(50rem 30rem at 0% -10%,{a}22,transparent 70%)"
            ),
            Backdrop::Grid => format!(
                "linear-gradient({p}1c 1px,transparent 1px),linear-gradient(90deg,{p}1c 1px,transparent 1px),\
                 radial-gradient(50rem 30rem at 50% -10%,{p}26,transparent 70%)"
            ),
        }
    }
}

/// Film grain: fractal noise as a tiny SVG (CSP allows `data:` images).
const GRAIN: &str = "url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='180' height='180'%3E\
%3Cfilter id='n'%3E%3CfeTurbulence type='fractalNoise' baseFrequency='.85' numOctaves='3' stitchTiles='stitch'/%3E\
%3CfeColorMatrix values='0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 0 0 0 .09 0'/%3E%3C/filter%3E\
%3Crect width='100%25' height='100%25' filter='url(%23n)'/%3E%3C/svg%3E\")";

fn parse_hex(c: &str) -> Option<(u8, u8, u8)> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

/// The smallest CIE76 distance allowed between two clusters' primary colours: below it two
/// brands read as the same colour (the old BoyFanz and FanzCock reds were 9 apart).
pub const MIN_PRIMARY_DISTANCE: f64 = 15.0;

/// CIE76 colour difference (Euclidean distance in CIELAB, D65) between two `#rrggbb` colours:
/// about 2.3 is just noticeable, 100 is black to white.
pub fn delta_e(a: &str, b: &str) -> Option<f64> {
    fn lab((r, g, b): (u8, u8, u8)) -> [f64; 3] {
        let lin = |c: u8| {
            let c = c as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let (r, g, b) = (lin(r), lin(g), lin(b));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        let (fx, fy, fz) = (f(x), f(y), f(z));
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
    }
    let (p, q) = (lab(parse_hex(a)?), lab(parse_hex(b)?));
    Some(
        p.iter()
            .zip(q)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt(),
    )
}

/// WCAG 2 contrast ratio between two `#rrggbb` colours (1.0 to 21.0).
pub fn contrast_ratio(a: &str, b: &str) -> Option<f64> {
    fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
        let lin = |c: u8| {
            let c = c as f64 / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }
    let (la, lb) = (luminance(parse_hex(a)?), luminance(parse_hex(b)?));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    Some((hi + 0.05) / (lo + 0.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_BRANDS: [&str; 21] = [
        "FanzLab",
        "BoyFanz",
        "GirlFanz",
        "DaddyFanz",
        "PupFanz",
        "TabooFanz",
        "TransFanz",
        "CougarFanz",
        "FanzCock",
        "FanzClips",
        "FanzTube",
        "BearFanz",
        "TwinkFanz",
        "JockFanz",
        "NerdFanz",
        "GothFanz",
        "E-BoyFanz",
        "E-GirlFanz",
        "MILFFanz",
        "DILFFanz",
        "FemdomFanz",
    ];

    fn builtin() -> Clusters {
        Clusters::builtin("fanzlab").expect("built-in clusters parse")
    }

    #[test]
    fn every_seed_brand_is_present() {
        let c = builtin();
        for name in SEED_BRANDS {
            assert!(c.all().iter().any(|x| x.name == name), "{name} missing");
        }
        assert_eq!(c.all().len(), SEED_BRANDS.len());
        assert_eq!(c.get("eboyfanz").unwrap().name, "E-BoyFanz");
    }

    #[test]
    fn policies_from_the_seeds() {
        let c = builtin();
        assert_eq!(c.get("fanzcock").unwrap().policy.feed, Feed::Vertical);
        assert!(c.get("taboofanz").unwrap().policy.extra_gating);
        assert!(!c.get("boyfanz").unwrap().policy.extra_gating);
    }

    #[test]
    fn resolves_hosts() {
        let c = builtin();
        assert_eq!(
            c.resolve_host(Some("boyfanz.localhost:8080")).slug,
            "boyfanz"
        );
        assert_eq!(c.resolve_host(Some("GirlFanz.COM")).slug, "girlfanz");
        assert_eq!(c.resolve_host(Some("127.0.0.1:8080")).slug, "fanzlab");
        assert_eq!(c.resolve_host(None).slug, "fanzlab");
        assert_eq!(host_without_port("[::1]:8080"), "::1");
    }

    #[test]
    fn themes_meet_wcag_aa() {
        for c in builtin().all() {
            let t = &c.theme;
            for (fg, bg, what) in [
                (&t.text, &t.background, "text on background"),
                (&t.text, &t.surface, "text on surface"),
                (&t.muted, &t.background, "muted on background"),
                (&t.muted, &t.surface, "muted on surface"),
                (&t.primary, &t.background, "primary on background"),
                (&t.primary, &t.surface, "primary on surface"),
                (&t.on_primary, &t.primary, "on_primary on primary"),
                (&t.accent, &t.background, "accent on background"),
                (&t.accent, &t.surface, "accent on surface"),
                (
                    &t.on_primary,
                    &t.accent,
                    "on_primary on accent (buttons on hover)",
                ),
            ] {
                let r = contrast_ratio(fg, bg).unwrap();
                assert!(r >= 4.5, "{}: {what} contrast {r:.2} < 4.5", c.slug);
            }
        }
    }

    #[test]
    fn primaries_are_distinct() {
        let all = builtin();
        let list = all.all();
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let d = delta_e(&a.theme.primary, &b.theme.primary).unwrap();
                assert!(
                    d >= MIN_PRIMARY_DISTANCE,
                    "{} {} and {} {} are only {d:.1} apart",
                    a.slug,
                    a.theme.primary,
                    b.slug,
                    b.theme.primary
                );
            }
        }
        assert!(delta_e("#ff3355", "#ff1f5a").unwrap() < MIN_PRIMARY_DISTANCE);
        assert!((delta_e("#000000", "#ffffff").unwrap() - 100.0).abs() < 0.1);
    }

    #[test]
    fn brands_differ_beyond_colour() {
        let all = builtin();
        let motifs: std::collections::HashSet<_> =
            all.all().iter().map(|c| c.theme.motif).collect();
        assert!(motifs.len() >= 15, "only {} motifs in use", motifs.len());
        let looks: std::collections::HashSet<_> = all
            .all()
            .iter()
            .map(|c| (c.theme.display_font, c.theme.backdrop, c.theme.motif))
            .collect();
        assert_eq!(
            looks.len(),
            all.all().len(),
            "two clusters share font, backdrop and motif"
        );
        for c in all.all() {
            assert!(c.theme.body_font.fit_for_body(), "{}", c.slug);
        }
    }

    #[test]
    fn css_variables_carry_every_token() {
        let c = builtin();
        let css = c.get("pupfanz").unwrap().theme.css_variables();
        assert!(css.starts_with(":root{--primary:#39ff14;"));
        for var in [
            "--font-display:",
            "--font-body:",
            "--radius:20px",
            "--backdrop:",
            "--backdrop-size:",
        ] {
            assert!(css.contains(var), "{var} missing from {css}");
        }
        let scoped = c.get("boyfanz").unwrap().theme.css_rule(".theme-boyfanz");
        assert!(scoped.starts_with(".theme-boyfanz{--primary:#ff3b4e;"));
        assert!(scoped.contains("Bebas Neue"));
    }

    #[test]
    fn older_files_get_theme_defaults() {
        let old = "[[cluster]]\nslug=\"ok\"\nname=\"X\"\ntagline=\"t\"\nhosts=[]\nport=1\n\
                   [cluster.theme]\nprimary=\"#ffffff\"\naccent=\"#000000\"\nbackground=\"#000000\"\n\
                   surface=\"#000000\"\ntext=\"#ffffff\"\nmuted=\"#ffffff\"\non_primary=\"#000000\"\n\
                   [cluster.policy]\nfeed=\"grid\"\n";
        let c = Clusters::parse(old, "ok").unwrap();
        let t = &c.get("ok").unwrap().theme;
        assert_eq!(
            (t.display_font, t.body_font, t.backdrop, t.motif, t.radius),
            (
                FontStack::Geometric,
                FontStack::System,
                Backdrop::Glow,
                Motif::Waves,
                12
            )
        );
        let script_body = old.replace("[cluster.policy]", "body_font=\"script\"\n[cluster.policy]");
        assert!(Clusters::parse(&script_body, "ok").is_err());
        let round = old.replace("[cluster.policy]", "radius=40\n[cluster.policy]");
        assert!(Clusters::parse(&round, "ok").is_err());
        let unknown = old.replace("[cluster.policy]", "motif=\"unicorns\"\n[cluster.policy]");
        assert!(Clusters::parse(&unknown, "ok").is_err());
    }

    #[test]
    fn contrast_reference_values() {
        assert!((contrast_ratio("#000000", "#ffffff").unwrap() - 21.0).abs() < 0.01);
        assert!((contrast_ratio("#777777", "#ffffff").unwrap() - 4.48).abs() < 0.01);
    }

    #[test]
    fn refuses_bad_files() {
        let one = |slug: &str, colour: &str| {
            format!(
                "[[cluster]]\nslug=\"{slug}\"\nname=\"X\"\ntagline=\"t\"\nhosts=[]\nport=1\n\
                 [cluster.theme]\nprimary=\"{colour}\"\naccent=\"#000000\"\nbackground=\"#000000\"\n\
                 surface=\"#000000\"\ntext=\"#ffffff\"\nmuted=\"#ffffff\"\non_primary=\"#000000\"\n\
                 [cluster.policy]\nfeed=\"grid\"\n"
            )
        };
        assert!(Clusters::parse(&one("ok", "#ffffff"), "ok").is_ok());
        assert!(Clusters::parse(&one("Bad", "#ffffff"), "Bad").is_err());
        assert!(Clusters::parse(&one("ok", "red"), "ok").is_err());
        assert!(Clusters::parse(&one("ok", "#ffffff"), "missing").is_err());
        let twice = format!("{}{}", one("ok", "#ffffff"), one("ok", "#ffffff"));
        assert!(Clusters::parse(&twice, "ok").is_err());
    }
}
