//! Clusters: the branded sites one Fanz server runs (BoyFanz, GirlFanz, …). A cluster is data
//! read from `clusters.toml`: slug, name, host names, theme tokens and content policy.
//!
//! This crate resolves a request's Host header or `/c/{slug}` path to a cluster. It owns no
//! tables and must never hold per-brand code paths: behaviour differences are policy flags.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

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

/// Colour tokens, as `#rrggbb`.
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
}

fn default_max_post_chars() -> u32 {
    5000
}

fn default_true() -> bool {
    true
}

impl Policy {
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

    /// The CSS custom properties the page style sheet reads.
    pub fn css_variables(&self) -> String {
        format!(
            ":root{{--primary:{};--accent:{};--bg:{};--surface:{};--text:{};--muted:{};--on-primary:{};}}\n",
            self.primary, self.accent, self.background, self.surface, self.text, self.muted, self.on_primary
        )
    }
}

fn parse_hex(c: &str) -> Option<(u8, u8, u8)> {
    let h = c.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
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
            ] {
                let r = contrast_ratio(fg, bg).unwrap();
                assert!(r >= 4.5, "{}: {what} contrast {r:.2} < 4.5", c.slug);
            }
        }
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
