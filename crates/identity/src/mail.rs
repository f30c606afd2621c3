//! Outgoing mail through a transactional outbox: [`enqueue`] writes the message and its
//! delivery job in the same transaction as the change that needs it (and logs it), so mail is
//! never sent for a change that rolled back. Without SMTP configured the outbox and the log
//! are the delivery; with SMTP, the `mail.deliver` job sends it, retried with backoff.

use crate::Result;
use async_trait::async_trait;
use fanz_core::clock::now_micros;
use fanz_jobs::{Job, JobContext, JobError, Registry};
use fanz_store::{sqlx, Db};
use sqlx::Row;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxMail {
    pub id: i64,
    pub created_at: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub sent_at: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

pub async fn enqueue(db: &mut Db, mail: &Mail) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO mail_outbox (created_at, to_addr, subject, body) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(now_micros())
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.body)
    .fetch_one(&mut *db)
    .await?
    .get(0);
    fanz_jobs::enqueue(db, &DeliverMail { outbox_id: id }).await?;
    tracing::info!(outbox_id = id, to = %mail.to, subject = %mail.subject, "mail queued in outbox");
    Ok(id)
}

/// The columns `recent` and the mail job read, in this order.
fn outbox_mail(r: &sqlx::any::AnyRow) -> OutboxMail {
    OutboxMail {
        id: r.get(0),
        created_at: r.get(1),
        to: r.get(2),
        subject: r.get(3),
        body: r.get(4),
        sent_at: r.get(5),
        attempts: r.get(6),
        last_error: r.get(7),
    }
}

/// The newest messages, newest first.
pub async fn recent(db: &mut Db, limit: i64) -> Result<Vec<OutboxMail>> {
    let rows = sqlx::query(
        "SELECT id, created_at, to_addr, subject, body, sent_at, attempts, last_error \
         FROM mail_outbox ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.iter().map(outbox_mail).collect())
}

/// Something that can deliver a message.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn deliver(&self, mail: &OutboxMail) -> std::result::Result<(), String>;
}

/// SMTP through lettre: `smtp://` uses STARTTLS, `smtps://` implicit TLS.
pub struct SmtpTransport {
    inner: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpTransport {
    /// `smtp://` requires STARTTLS unless the URL says otherwise (`?tls=opportunistic`, or
    /// `?tls=none` for a relay on the same host); `smtps://` is TLS from the start.
    pub fn new(url: &str, from: &str) -> std::result::Result<Self, String> {
        let url = smtp_url(url);
        let inner = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .build();
        let from = from.parse().map_err(|e| format!("smtp_from: {e}"))?;
        Ok(Self { inner, from })
    }
}

/// lettre reads `smtp://` without a `tls` parameter as plain text: make STARTTLS the default
/// and `tls=none` the explicit way to ask for plain text.
fn smtp_url(url: &str) -> String {
    if !url.starts_with("smtp://") {
        return url.to_owned();
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if params.contains(&"tls=none") {
        params.retain(|p| *p != "tls=none");
    } else if !params.iter().any(|p| p.starts_with("tls=")) {
        params.push("tls=required");
    }
    if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn deliver(&self, mail: &OutboxMail) -> std::result::Result<(), String> {
        use lettre::AsyncTransport;
        let msg = lettre::Message::builder()
            .from(self.from.clone())
            .to(mail.to.parse().map_err(|e| format!("to: {e}"))?)
            .subject(mail.subject.clone())
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.inner
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Deliver one outbox message: the job [`enqueue`] writes beside it (queue `mail`; retried
/// with backoff by the job runner, then `dead` with the SMTP error kept).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeliverMail {
    pub outbox_id: i64,
}

impl Job for DeliverMail {
    const KIND: &'static str = "mail.deliver";
    const QUEUE: &'static str = "mail";
    const MAX_ATTEMPTS: i64 = 8;
}

/// Register the mail job. Without a transport (no SMTP configured) the outbox and the log are
/// the delivery and the job only finishes.
pub fn register_jobs(registry: &mut Registry, transport: Option<Arc<dyn MailTransport>>) {
    registry.register(move |ctx: JobContext, job: DeliverMail| {
        let transport = transport.clone();
        async move { deliver_one(&ctx, job.outbox_id, transport.as_deref()).await }
    });
}

async fn deliver_one(
    ctx: &JobContext,
    outbox_id: i64,
    transport: Option<&dyn MailTransport>,
) -> std::result::Result<(), JobError> {
    let Some(transport) = transport else {
        return Ok(());
    };
    let mail = {
        let mut db = ctx.store().conn().await?;
        let row = sqlx::query(
            "SELECT id, created_at, to_addr, subject, body, sent_at, attempts, last_error \
             FROM mail_outbox WHERE id = $1",
        )
        .bind(outbox_id)
        .fetch_optional(&mut *db)
        .await?;
        let Some(r) = row else {
            return Err(JobError::permanent(format!(
                "no outbox message {outbox_id}"
            )));
        };
        outbox_mail(&r)
    };
    if mail.sent_at.is_some() {
        return Ok(());
    }
    match transport.deliver(&mail).await {
        Ok(()) => {
            let mut tx = ctx.begin().await?;
            sqlx::query(
                "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
            )
            .bind(now_micros())
            .bind(mail.id)
            .execute(&mut *tx)
            .await?;
            tx.complete().await?;
            tracing::info!(outbox_id = mail.id, "mail delivered");
            Ok(())
        }
        Err(e) => {
            let mut tx = ctx.store().begin().await?;
            sqlx::query(
                "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
            )
            .bind(&e)
            .bind(mail.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Err(JobError::retry(format!("SMTP: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smtp_urls_default_to_starttls() {
        assert_eq!(super::smtp_url("smtp://h:587"), "smtp://h:587?tls=required");
        assert_eq!(super::smtp_url("smtp://h:25?tls=none"), "smtp://h:25");
        assert_eq!(
            super::smtp_url("smtp://h?tls=opportunistic"),
            "smtp://h?tls=opportunistic"
        );
        assert_eq!(super::smtp_url("smtps://h:465"), "smtps://h:465");
    }
}
