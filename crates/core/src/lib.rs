//! Shared domain types for every Fanz module: parsed values that can only hold valid data
//! (`Email`, `Handle`, `Password`, `Role`), opaque tokens, the clock, and seedable draws for
//! made-up data (`sample`).
//!
//! This crate owns no tables and performs no I/O; it must never depend on another Fanz crate.

pub mod clock;
pub mod sample;
pub mod token;
pub mod types;

pub use types::{check_text, Email, Handle, Password, Role, ValidationError};
