//! Outgoing email. Accounts (verification, password reset) and later payments and
//! tickets send through one port, so the transport is chosen once in configuration.
//!
//! Sending never blocks or fails the request that triggers it: [`MailService`] renders
//! the message at once (a template error is the caller's bug and is returned), then
//! hands it to a supervised background sender that retries with exponential backoff
//! and jitter, each attempt bounded by a timeout. An SMTP peer that is slow or down
//! costs the request nothing; a message still undelivered after the last attempt is
//! logged by template name and id, never with its recipient, body or token. The queue
//! lives in memory: messages queued when the process stops are lost (their tokens
//! can be requested again), which is the trade made for not writing mail bodies
//! with secrets in them to the database.
mod folder;
mod sender;
mod smtp;
mod templates;

pub use folder::FolderMailer;
pub use sender::{MailService, RetryPolicy};

pub use smtp::SmtpMailer;
pub use templates::Templates;

use crate::config::{Config, MailTransport};
use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use std::sync::Arc;

/// One message to one recipient, with a plain-text and an HTML body.
#[derive(Clone)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The template it was rendered from, for logs (which never show the bodies).
    pub template: String,
    /// Files sent along (tickets as PDF).
    pub attachments: Vec<Attachment>,
}

/// A file attached to a message.
#[derive(Clone)]
pub struct Attachment {
    pub filename: String,
    /// MIME type (`application/pdf`).
    pub content_type: String,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies carry tokens and recipients are personal data: neither prints.
        f.debug_struct("MailMessage")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// The mail port: delivers one message or says why it could not.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: &MailMessage) -> anyhow::Result<()>;
    /// Whether the server behind the transport takes messages now (readiness);
    /// `None` for a transport with no server (the folder).
    async fn probe(&self) -> Option<anyhow::Result<()>> {
        None
    }
}

pub type DynMailer = Arc<dyn Mailer>;

/// The RFC 5322 message (multipart/alternative: text, then HTML) for `message`.
pub fn build_message(from: &Mailbox, message: &MailMessage) -> anyhow::Result<lettre::Message> {
    let to: Mailbox = message
        .to
        .parse()
        .context("the recipient is not a valid address")?;
    let bodies = MultiPart::alternative_plain_html(message.text.clone(), message.html.clone());
    let body = if message.attachments.is_empty() {
        bodies
    } else {
        let mut mixed = MultiPart::mixed().multipart(bodies);
        for a in &message.attachments {
            let kind = ContentType::parse(&a.content_type)
                .with_context(|| format!("attachment type {:?}", a.content_type))?;
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(a.filename.clone()).body(a.body.clone(), kind),
            );
        }
        mixed
    };
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .multipart(body)
        .context("building the message")
}

/// The transport the configuration names: SMTP, or `.eml` files in a folder.
pub fn mailer_from_config(config: &Config) -> anyhow::Result<DynMailer> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .with_context(|| format!("mail_from {:?} is not a mailbox", config.mail_from))?;
    Ok(match config.mail_transport {
        MailTransport::Folder => Arc::new(FolderMailer::new(&config.mail_dir, from)?),
        MailTransport::Smtp => {
            let url = config
                .smtp_url
                .as_ref()
                .context("mail_transport = \"smtp\" needs smtp_url")?;
            Arc::new(SmtpMailer::new(
                url,
                from,
                std::time::Duration::from_secs(config.smtp_timeout_secs.max(1)),
            )?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> MailMessage {
        MailMessage {
            to: "ana@example.com".into(),
            subject: "Reset your password".into(),
            text: "code: secret-token-123".into(),
            html: "<p>secret-token-123</p>".into(),
            template: "password_reset".into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn messages_print_without_recipient_or_bodies() {
        let printed = format!("{:?}", message());
        assert!(printed.contains("password_reset"));
        assert!(!printed.contains("secret-token-123"), "{printed}");
        assert!(!printed.contains("ana@example.com"), "{printed}");
    }

    #[test]
    fn messages_are_multipart_alternative_with_both_bodies() {
        let from: Mailbox = "boxoffice <no-reply@boxoffice.local>".parse().unwrap();
        let raw = String::from_utf8(build_message(&from, &message()).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        assert!(raw.contains("To: ana@example.com"), "{raw}");
        let mut bad = message();
        bad.to = "not an address".into();
        assert!(build_message(&from, &bad).is_err());
    }
}
