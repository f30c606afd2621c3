//! What happens in identity, as events other modules can subscribe to (docs/events.md).

use fanz_events::{Catalogue, Event};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IdentityEvent {
    #[serde(rename = "identity.user_registered")]
    UserRegistered {
        user_id: i64,
        handle: String,
        roles: Vec<String>,
    },
    #[serde(rename = "identity.role_granted")]
    RoleGranted { user_id: i64, role: String },
    #[serde(rename = "identity.account_disabled")]
    AccountDisabled { user_id: i64, disabled: bool },
    #[serde(rename = "identity.password_reset")]
    PasswordReset { user_id: i64 },
}

impl Event for IdentityEvent {
    fn subject(&self) -> String {
        let id = match self {
            IdentityEvent::UserRegistered { user_id, .. }
            | IdentityEvent::RoleGranted { user_id, .. }
            | IdentityEvent::AccountDisabled { user_id, .. }
            | IdentityEvent::PasswordReset { user_id } => user_id,
        };
        format!("user:{id}")
    }
}

impl Catalogue for IdentityEvent {
    fn catalogue() -> Vec<(Self, &'static str)> {
        vec![
            (
                IdentityEvent::UserRegistered {
                    user_id: 1,
                    handle: "ann".into(),
                    roles: vec!["fan".into()],
                },
                "An account was created (sign-up, `fanz user create`, the demo).",
            ),
            (
                IdentityEvent::RoleGranted {
                    user_id: 1,
                    role: "creator".into(),
                },
                "A role was added to an account.",
            ),
            (
                IdentityEvent::AccountDisabled {
                    user_id: 1,
                    disabled: true,
                },
                "An account was disabled (its sessions ended) or enabled again.",
            ),
            (
                IdentityEvent::PasswordReset { user_id: 1 },
                "A password was set through a reset link.",
            ),
        ]
    }
}
