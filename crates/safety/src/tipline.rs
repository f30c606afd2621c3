//! NCMEC's CyberTipline behind a trait: [`CyberTipline::submit`] files a report with its
//! files and answers the report id NCMEC assigned. [`SandboxTipline`] (tests and the demo)
//! keeps what it was given in memory and answers ids of its own, `SANDBOX-…`, so nothing
//! filed through it can be mistaken for a real report.
//!
//! The live client against NCMEC's Reporting API (`POST /submit` of the report's XML, then
//! each file, then `/finish`, with the credentials NCMEC issues to the operator; test
//! environment `https://exttest.cybertip.org/ispws`) is not built yet: until it is, the
//! operator files through NCMEC's web form and records the id by hand (docs/compliance.md).

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What the CyberTipline asks of an electronic service provider's report.
#[derive(Debug, Clone, Serialize)]
pub struct TiplineReport {
    /// Our id of the report record.
    pub record_id: i64,
    /// When the content was reported or matched (RFC 3339, UTC).
    pub incident_time: String,
    /// Where it was (an absolute URL when the host is known).
    pub url: String,
    /// The uploader's account: id, handle, e-mail.
    pub uploader: Option<serde_json::Value>,
    /// The uploader's IP addresses with the times and what they did.
    pub ip_events: Vec<serde_json::Value>,
    /// What the reporter or the hash match said.
    pub details: String,
}

/// One preserved file and its hashes.
#[derive(Debug, Clone, Serialize)]
pub struct TiplineFile {
    pub media_id: i64,
    pub mime: String,
    pub md5: String,
    pub sha1: String,
    pub pdq: Option<String>,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TiplineError {
    #[error("the CyberTipline refused the report: {0}")]
    Refused(String),
    #[error("the CyberTipline is unreachable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait CyberTipline: Send + Sync {
    /// The client's name as recorded on a filed report (`sandbox`, `ncmec`).
    fn name(&self) -> &'static str;
    /// File `report` with `files`; NCMEC's report id.
    async fn submit(
        &self,
        report: &TiplineReport,
        files: &[TiplineFile],
    ) -> Result<String, TiplineError>;
}

/// The sandbox: accepts every report with at least one file, keeps it, and answers
/// `SANDBOX-{n}`.
#[derive(Debug, Default)]
pub struct SandboxTipline {
    next: AtomicU64,
    /// What was filed: (report id, report, file count).
    pub filed: Mutex<Vec<(String, TiplineReport, usize)>>,
}

#[async_trait::async_trait]
impl CyberTipline for SandboxTipline {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn submit(
        &self,
        report: &TiplineReport,
        files: &[TiplineFile],
    ) -> Result<String, TiplineError> {
        if files.is_empty() {
            return Err(TiplineError::Refused(
                "a report needs at least one file".into(),
            ));
        }
        if files
            .iter()
            .any(|f| f.md5.len() != 32 || f.sha1.len() != 40)
        {
            return Err(TiplineError::Refused("a file's hashes are missing".into()));
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("SANDBOX-{}-{n}", fanz_core::clock::now_micros() / 1_000_000);
        self.filed
            .lock()
            .expect("sandbox lock")
            .push((id.clone(), report.clone(), files.len()));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(md5: &str) -> TiplineFile {
        TiplineFile {
            media_id: 1,
            mime: "image/png".into(),
            md5: md5.into(),
            sha1: "0".repeat(40),
            pdq: None,
            bytes: vec![1, 2, 3],
        }
    }

    #[tokio::test]
    async fn the_sandbox_files_reports_with_files_and_hashes() {
        let t = SandboxTipline::default();
        let r = TiplineReport {
            record_id: 7,
            incident_time: "2026-12-06T12:00:00Z".into(),
            url: "/p/1".into(),
            uploader: None,
            ip_events: vec![],
            details: "reported".into(),
        };
        assert!(t.submit(&r, &[]).await.is_err());
        assert!(t.submit(&r, &[file("short")]).await.is_err());
        let a = t.submit(&r, &[file(&"a".repeat(32))]).await.unwrap();
        let b = t.submit(&r, &[file(&"a".repeat(32))]).await.unwrap();
        assert!(a.starts_with("SANDBOX-") && a != b, "{a} {b}");
        assert_eq!(t.filed.lock().unwrap().len(), 2);
        assert_eq!(t.name(), "sandbox");
    }
}
