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
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|e| anyhow::anyhow!("SMTP delivery failed: {}", describe(&e)))
    }

    async fn probe(&self) -> Option<anyhow::Result<()>> {
        Some(match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!("the SMTP server did not answer NOOP")),
            Err(e) => Err(anyhow::anyhow!("SMTP connection failed: {}", describe(&e))),
        })
    }
}

/// What went wrong, by kind and reply code only: a server's reply text may quote
/// the recipient's address, which logs never show.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_permanent() {
        "rejected permanently"
    } else if e.is_transient() {
        "rejected for now"
    } else if e.is_tls() {
        "TLS failure"
    } else if e.is_response() {
        "unreadable reply"
    } else if e.is_client() {
        "client error"
    } else {
        "connection failure"
    };
    match e.status() {
        Some(code) => format!("{kind} (reply {code})"),
        None => kind.to_owned(),
    }
}
