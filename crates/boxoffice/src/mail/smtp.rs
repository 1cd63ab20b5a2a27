//! The production transport: SMTP through lettre on tokio, TLS by rustls.
//! `smtps://` is TLS from the first byte, `smtp://…?tls=required` upgrades with
//! STARTTLS, plain `smtp://` sends in the clear (a local relay or a test listener).
use super::{build_message, MailMessage, Mailer};
use crate::config::SecretUrl;
use anyhow::Context;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

pub struct SmtpMailer {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// A transport for `url` (`smtp://user:pass@host:port`); each network step gives
    /// up after `timeout`.
    pub fn new(url: &SecretUrl, from: Mailbox, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .with_context(|| format!("smtp_url {url} is not a valid SMTP URL"))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { from, transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &MailMessage) -> anyhow::Result<()> {
        let email = build_message(&self.from, message)?;
        // lettre's errors name the stage and the server's reply, not the message.
        self.transport
            .send(email)
            .await
            .map(drop)
            .context("SMTP delivery failed")
    }
}
