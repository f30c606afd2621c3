//! The publish gate's automated checks of review before publication: every attached image
//! was screened against the hash lists (it has a PDQ hash; a quarantined item is refused by
//! content's own media check), and no banned term of any of the post's clusters appears in
//! its text, teaser or tags.

use crate::terms::Banned;
use fanz_content::{Content, GateCheck, Post, Refusal};
use fanz_store::Db;
use std::sync::Arc;

/// Banned terms and screened media.
pub struct AutomatedChecks {
    pub banned: Arc<Banned>,
}

/// The refusals for banned terms in `post` on its clusters.
pub fn banned_terms(banned: &Banned, env: &Content, post: &Post) -> Vec<Refusal> {
    let mut out: Vec<Refusal> = Vec::new();
    for slug in &post.clusters {
        let terms = banned.for_cluster(slug);
        let name = env
            .clusters
            .get(slug)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| slug.clone());
        let tags = post.tags.join(" , ");
        for (field, text) in [
            ("text", post.text.as_str()),
            ("teaser", post.teaser.as_str()),
            ("tags", tags.as_str()),
        ] {
            if let Some(term) = terms.find(text) {
                let r = Refusal::new(
                    "banned_term",
                    format!("{term:?} is not allowed on {name} (in the {field})"),
                );
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl GateCheck for AutomatedChecks {
    fn name(&self) -> &'static str {
        "automated_checks"
    }

    async fn check(
        &self,
        db: &mut Db,
        env: &Content,
        post: &Post,
    ) -> fanz_content::Result<Vec<Refusal>> {
        let mut out = banned_terms(&self.banned, env, post);
        for m in fanz_media::screening(db, &post.media).await? {
            if m.kind == fanz_media::MediaKind::Image
                && m.state == fanz_media::MediaState::Ready
                && m.pdq.is_none()
            {
                out.push(Refusal::new(
                    "media_unchecked",
                    format!(
                        "media {} has not been screened yet; try again shortly",
                        m.id
                    ),
                ));
            }
        }
        Ok(out)
    }
}
