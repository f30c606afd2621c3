//! Page templates (askama, compiled into the binary; HTML auto-escaped).

use askama::Template;
use fanz_clusters::Cluster;
use fanz_profiles::Profile;

/// What every page's frame shows.
pub struct Layout {
    pub cluster: Cluster,
    /// Path prefix for links: `""` when the Host header chose the cluster, `/c/{slug}` otherwise.
    pub base: String,
    pub viewer: Option<String>,
    pub csrf: String,
    pub feed: &'static str,
    /// The signed-in viewer may open the creator studio.
    pub creator: bool,
    /// The signed-in viewer may open the operator pages.
    pub admin: bool,
    /// The footer's report link: `/report?url=<this page>`, encoded.
    pub report_href: String,
}

pub struct CreatorCard {
    pub handle: String,
    pub display_name: String,
    /// Shown while the avatar loads, and if it cannot.
    pub initial: String,
    pub avatar: String,
    pub banner: String,
    pub followers: i64,
}

impl From<Profile> for CreatorCard {
    fn from(p: Profile) -> Self {
        Self {
            initial: super::initial(&p.display_name),
            avatar: super::art::or_generated(&p.avatar_url, "avatar", &p.handle),
            banner: super::art::or_generated(&p.banner_url, "banner", &p.handle),
            handle: p.handle,
            display_name: p.display_name,
            followers: p.followers,
        }
    }
}

/// A cluster as the portal shows it: a card in its own colours with its hero art.
pub struct ClusterCard {
    pub slug: String,
    pub name: String,
    pub tagline: String,
    /// Asks for an explicit 18+ confirmation first.
    pub gated: bool,
    /// Its feed is the vertical short-video one.
    pub vertical: bool,
}

impl From<&Cluster> for ClusterCard {
    fn from(c: &Cluster) -> Self {
        Self {
            slug: c.slug.clone(),
            name: c.name.clone(),
            tagline: c.tagline.clone(),
            gated: c.policy.extra_gating,
            vertical: c.policy.feed == fanz_clusters::Feed::Vertical,
        }
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub layout: Layout,
    pub creators: Vec<CreatorCard>,
    /// On the portal (the default cluster): every other cluster, to choose from.
    pub clusters: Vec<ClusterCard>,
}

#[derive(Template)]
#[template(path = "gate.html")]
pub struct GatePage {
    pub layout: Layout,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub layout: Layout,
    pub error: Option<String>,
    pub email: String,
    pub handle: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub email: String,
}

#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    pub layout: Layout,
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub layout: Layout,
    pub error: Option<String>,
    pub token: String,
}

pub struct ClusterChoice {
    pub slug: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub layout: Layout,
    pub p: Profile,
    pub links_text: String,
    pub clusters: Vec<ClusterChoice>,
    pub totp_enabled: bool,
    pub enrolment: Option<fanz_identity::TotpEnrolment>,
    pub recovery_codes: Vec<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub p: Profile,
    pub initial: String,
    /// The profile's pictures, or generated ones when it has none.
    pub avatar: String,
    pub banner: String,
    pub follows: bool,
    pub can_follow: bool,
    pub cluster_names: Vec<(String, String)>,
    /// Tiers and posts, for a creator's page.
    pub creator: Option<super::content::CreatorSection>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub text: String,
}

pub struct DocOp {
    pub method: String,
    pub path: String,
    pub tag: String,
    pub summary: String,
    pub responses: String,
}

#[derive(Template)]
#[template(path = "docs.html")]
pub struct DocsPage {
    pub ops: Vec<DocOp>,
}
