//! What happens to content, as events other modules subscribe to (docs/events.md). Search
//! keeps its index current from these.

use fanz_events::{Catalogue, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ContentEvent {
    #[serde(rename = "content.post_published")]
    PostPublished {
        post_id: i64,
        author_id: i64,
        clusters: Vec<String>,
    },
    #[serde(rename = "content.post_updated")]
    PostUpdated { post_id: i64 },
    #[serde(rename = "content.post_removed")]
    PostRemoved { post_id: i64 },
    #[serde(rename = "content.subscribed")]
    Subscribed {
        viewer_id: i64,
        creator_id: i64,
        tier_id: i64,
    },
}

impl Event for ContentEvent {
    fn subject(&self) -> String {
        match self {
            ContentEvent::PostPublished { post_id, .. }
            | ContentEvent::PostUpdated { post_id }
            | ContentEvent::PostRemoved { post_id } => format!("post:{post_id}"),
            ContentEvent::Subscribed { creator_id, .. } => format!("user:{creator_id}"),
        }
    }
}

impl Catalogue for ContentEvent {
    fn catalogue() -> Vec<(Self, &'static str)> {
        vec![
            (
                ContentEvent::PostPublished {
                    post_id: 7,
                    author_id: 1,
                    clusters: vec!["boyfanz".into()],
                },
                "A post or story passed the publish gate and became visible (now, on schedule \
                 or un-hidden).",
            ),
            (
                ContentEvent::PostUpdated { post_id: 7 },
                "A post was edited (a published one passed the gate again).",
            ),
            (
                ContentEvent::PostRemoved { post_id: 7 },
                "A post was hidden or deleted: take it out of derived views.",
            ),
            (
                ContentEvent::Subscribed {
                    viewer_id: 2,
                    creator_id: 1,
                    tier_id: 3,
                },
                "A fan was granted a subscription to a creator's tier (subject: the creator).",
            ),
        ]
    }
}
