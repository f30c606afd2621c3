//! The gateway's configuration is the `[gateway]` section of the platform's typed config.

pub use fanz_config::gateway::*;
