//! Parse, don't validate: each constructor refuses bad input with a stable error code, so the
//! rest of the code never checks again.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused. `code` is stable and becomes the API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

/// Refuse text longer than `max` characters, or holding control characters other than line
/// breaks and tabs: what every free-text field (bios, posts, comments) accepts.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "invalid_characters",
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

impl ValidationError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

/// A syntactically valid e-mail address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |msg: &str| ValidationError::new("email", "invalid_email", msg);
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(bad("email is required"));
        }
        if s.len() > 254 {
            return Err(bad("email must be at most 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad("email must contain @"));
        };
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad("email is not a valid address"));
        }
        // The local part in RFC 5321's dot-atom form, ASCII only: no emoji, no bidirectional
        // controls such as U+202E that make an address display as another, no quoting.
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || "!#$%&'*+/=?^_`{|}~-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(bad(
                "email may contain only letters a-z, digits and . ! # $ % & ' * + / = ? ^ _ ` { | } ~ - before the @",
            ));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err(bad("email must not contain spaces or angle brackets"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A public handle: 3–30 characters of a–z, 0–9 and `_`, stored lower-case, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Handle(String);

/// Handles that would collide with routes or impersonate the platform.
const RESERVED_HANDLES: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "assets",
    "c",
    "fanz",
    "help",
    "login",
    "logout",
    "me",
    "metrics",
    "moderator",
    "root",
    "settings",
    "signup",
    "static",
    "support",
    "system",
];

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |msg: &str| ValidationError::new("handle", "invalid_handle", msg);
        let s = raw.trim().trim_start_matches('@').to_lowercase();
        if s.len() < 3 || s.len() > 30 {
            return Err(bad("handle must be 3 to 30 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(bad("handle may contain only letters, digits and _"));
        }
        // `erased_<id>` is what an erased account's handle becomes.
        if RESERVED_HANDLES.contains(&s.as_str()) || s.starts_with("erased_") {
            return Err(bad("this handle is reserved"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the policy: 10–256 characters, not all one character.
/// Never serialized, never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |msg: &str| ValidationError::new("password", "weak_password", msg);
        let n = raw.chars().count();
        if n < Self::MIN_LEN {
            return Err(bad("password must be at least 10 characters"));
        }
        if n > 256 {
            return Err(bad("password must be at most 256 characters"));
        }
        let first = raw.chars().next().unwrap_or(' ');
        if raw.chars().all(|c| c == first) {
            return Err(bad("password must not repeat a single character"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What a person may do. One account may hold several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Fan,
    Creator,
    Moderator,
    Compliance,
    Finance,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Fan,
        Role::Creator,
        Role::Moderator,
        Role::Compliance,
        Role::Finance,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Fan => "fan",
            Role::Creator => "creator",
            Role::Moderator => "moderator",
            Role::Compliance => "compliance",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == raw.trim().to_lowercase())
            .ok_or_else(|| {
                ValidationError::new(
                    "role",
                    "invalid_role",
                    "role must be one of fan, creator, moderator, compliance, finance, admin",
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        assert!(Email::parse("o'brien+tag@mail.example.com").is_ok());
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "ann@x..com",
            "ann@.x.com",
            "ann\u{1F600}@x.com",
            "ann\u{202E}moc.x@evil.com",
            "\"ann\"@x.com",
            ".ann@x.com",
            "a..nn@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn handles() {
        assert_eq!(Handle::parse("@Neon_Pup").unwrap().as_str(), "neon_pup");
        for bad in [
            "ab",
            "has space",
            "dash-ed",
            "admin",
            "erased_42",
            &"x".repeat(31),
            "émile",
        ] {
            assert!(Handle::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse").is_ok());
        assert_eq!(Password::parse("short").unwrap_err().code, "weak_password");
        assert!(Password::parse("aaaaaaaaaaaa").is_err());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse").unwrap()),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("superuser").is_err());
    }
}
