//! Outgoing mail through a transactional outbox: [`enqueue`] writes the message in the same
//! transaction as the change that needs it (and logs it), so mail is never sent for a change
//! that rolled back. Without SMTP configured the outbox and the log are the delivery; with
//! SMTP, [`deliver_pending`] sends what is waiting, retrying failures up to five times.

use crate::Result;
use async_trait::async_trait;
use fanz_core::clock::now_micros;
use fanz_store::{sqlx, Db, Store};
use sqlx::Row;

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
    tracing::info!(outbox_id = id, to = %mail.to, subject = %mail.subject, "mail queued in outbox");
    Ok(id)
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
    Ok(rows
        .into_iter()
        .map(|r| OutboxMail {
            id: r.get(0),
            created_at: r.get(1),
            to: r.get(2),
            subject: r.get(3),
            body: r.get(4),
            sent_at: r.get(5),
            attempts: r.get(6),
            last_error: r.get(7),
        })
        .collect())
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
    pub fn new(url: &str, from: &str) -> std::result::Result<Self, String> {
        let inner = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .build();
        let from = from.parse().map_err(|e| format!("smtp_from: {e}"))?;
        Ok(Self { inner, from })
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

const MAX_ATTEMPTS: i64 = 5;

/// Send up to `batch` waiting messages; returns how many were sent.
pub async fn deliver_pending(
    store: &Store,
    transport: &dyn MailTransport,
    batch: i64,
) -> Result<usize> {
    let pending = {
        let mut db = store.conn().await?;
        let rows = sqlx::query(
            "SELECT id, created_at, to_addr, subject, body, sent_at, attempts, last_error FROM mail_outbox \
             WHERE sent_at IS NULL AND attempts < $1 ORDER BY id LIMIT $2",
        )
        .bind(MAX_ATTEMPTS)
        .bind(batch)
        .fetch_all(&mut *db)
        .await?;
        rows.into_iter()
            .map(|r| OutboxMail {
                id: r.get(0),
                created_at: r.get(1),
                to: r.get(2),
                subject: r.get(3),
                body: r.get(4),
                sent_at: r.get(5),
                attempts: r.get(6),
                last_error: r.get(7),
            })
            .collect::<Vec<_>>()
    };
    let mut sent = 0;
    for mail in pending {
        let outcome = transport.deliver(&mail).await;
        let mut tx = store.begin().await?;
        match &outcome {
            Ok(()) => {
                sent += 1;
                sqlx::query("UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
                    .bind(now_micros())
                    .bind(mail.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Err(e) => {
                tracing::warn!(outbox_id = mail.id, error = %e, "mail delivery failed");
                sqlx::query(
                    "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
                )
                .bind(e)
                .bind(mail.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
    }
    Ok(sent)
}
