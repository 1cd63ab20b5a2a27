//! The development transport: each message becomes an `.eml` file (RFC 5322, both
//! bodies) in a folder, so the embedded default sends mail with nothing to configure
//! and a developer opens what was "sent" in any mail client.
use super::{build_message, MailMessage, Mailer};
use anyhow::Context;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use std::path::{Path, PathBuf};

pub struct FolderMailer {
    dir: PathBuf,
    from: Mailbox,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FolderMailer {
    /// Writes into `dir`, created with the first message (a server that sends no
    /// mail leaves no folder behind).
    pub fn new(dir: &Path, from: Mailbox) -> anyhow::Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            from,
            transport: AsyncFileTransport::new(dir),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, message: &MailMessage) -> anyhow::Result<()> {
        let email = build_message(&self.from, message)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .with_context(|| format!("creating the mail folder {}", self.dir.display()))?;
        let id = self
            .transport
            .send(email)
            .await
            .context("writing the message file")?;
        tracing::info!(template = %message.template, file = %format!("{id}.eml"), "mail written to the mail folder");
        Ok(())
    }
}
