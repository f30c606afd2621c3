//! What happens to profiles, as events other modules can subscribe to (docs/events.md).

use fanz_events::{Catalogue, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProfileEvent {
    #[serde(rename = "profiles.followed")]
    Followed { follower_id: i64, followee_id: i64 },
    #[serde(rename = "profiles.unfollowed")]
    Unfollowed { follower_id: i64, followee_id: i64 },
    #[serde(rename = "profiles.became_creator")]
    BecameCreator { user_id: i64, clusters: Vec<String> },
    /// The owner changed what the profile shows (name, bio, images, links, clusters).
    #[serde(rename = "profiles.updated")]
    Updated { user_id: i64 },
    /// The account was erased at its owner's request: its profile is cleared.
    #[serde(rename = "profiles.erased")]
    Erased { user_id: i64 },
}

impl Event for ProfileEvent {
    fn subject(&self) -> String {
        match self {
            ProfileEvent::Followed { followee_id, .. }
            | ProfileEvent::Unfollowed { followee_id, .. } => format!("user:{followee_id}"),
            ProfileEvent::BecameCreator { user_id, .. }
            | ProfileEvent::Updated { user_id }
            | ProfileEvent::Erased { user_id } => format!("user:{user_id}"),
        }
    }
}

impl Catalogue for ProfileEvent {
    fn catalogue() -> Vec<(Self, &'static str)> {
        vec![
            (
                ProfileEvent::Followed {
                    follower_id: 2,
                    followee_id: 1,
                },
                "A fan followed a profile (subject: the followed account).",
            ),
            (
                ProfileEvent::Unfollowed {
                    follower_id: 2,
                    followee_id: 1,
                },
                "A fan stopped following a profile.",
            ),
            (
                ProfileEvent::BecameCreator {
                    user_id: 1,
                    clusters: vec!["boyfanz".into()],
                },
                "An account became a creator on the listed clusters.",
            ),
            (
                ProfileEvent::Updated { user_id: 1 },
                "A profile's name, bio, images, links or clusters changed (search re-reads it).",
            ),
            (
                ProfileEvent::Erased { user_id: 1 },
                "An account was erased at its owner's request; its profile is cleared.",
            ),
        ]
    }
}
