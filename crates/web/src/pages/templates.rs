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
}

pub struct CreatorCard {
    pub handle: String,
    pub display_name: String,
    pub initial: String,
    pub followers: i64,
}

impl From<Profile> for CreatorCard {
    fn from(p: Profile) -> Self {
        Self {
            initial: super::initial(&p.display_name),
            handle: p.handle,
            display_name: p.display_name,
            followers: p.followers,
        }
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub layout: Layout,
    pub creators: Vec<CreatorCard>,
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
    pub follows: bool,
    pub can_follow: bool,
    pub cluster_names: Vec<(String, String)>,
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
