//! A real SMTP listener for the tests: speaks enough ESMTP (EHLO/HELO, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT) for lettre to deliver to it, and hands
//! each message, parsed, to the test. Also a peer that accepts and never answers.
#![allow(dead_code)]

use mail_parser::{MessageParser, MimeHeaders};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

/// One message as the listener received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

/// What a test reads from a message: headers and both bodies, decoded.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `multipart/alternative` at the top.
    pub alternative: bool,
}

impl Mail {
    /// Parses an RFC 5322 message (as sent, or as an `.eml` file).
    pub fn parse(raw: &[u8]) -> Mail {
        let m = MessageParser::default()
            .parse(raw)
            .expect("an RFC 5322 message");
        let alternative = m
            .content_type()
            .is_some_and(|ct| ct.ctype() == "multipart" && ct.subtype() == Some("alternative"));
        let first = |list: Option<&mail_parser::Address>| {
            list.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        Mail {
            to: first(m.to()),
            from: first(m.from()),
            subject: m.subject().unwrap_or_default().to_owned(),
            text: m.body_text(0).unwrap_or_default().into_owned(),
            html: m.body_html(0).unwrap_or_default().into_owned(),
            alternative,
        }
    }

    /// The emailed code: the first 43-character base64url word of the text body.
    pub fn token(&self) -> String {
        self.text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .find(|w| w.len() == 43)
            .unwrap_or_else(|| panic!("no token in the message: {}", self.text))
            .to_owned()
    }
}

pub struct SmtpSink {
    pub port: u16,
    inbox: Mutex<mpsc::UnboundedReceiver<Received>>,
    task: tokio::task::JoinHandle<()>,
    /// Messages whose subject starts with this are received and then passed over.
    ignored: Option<&'static str>,
}

impl SmtpSink {
    /// A sink for notification emails: the tickets email that follows a confirmed
    /// booking is passed over.
    pub async fn notices() -> SmtpSink {
        Self::start_ignoring(Some("Your tickets")).await
    }

    pub async fn start() -> SmtpSink {
        Self::start_ignoring(None).await
    }

    async fn start_ignoring(ignored: Option<&'static str>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = session(socket, tx).await;
                });
            }
        });
        SmtpSink {
            port,
            inbox: Mutex::new(rx),
            task,
            ignored,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next message not passed over, parsed; `None` after `wait`.
    async fn receive(&self, wait: Duration) -> Option<(Received, Mail)> {
        let mut inbox = self.inbox.lock().await;
        tokio::time::timeout(wait, async {
            loop {
                let got = inbox.recv().await.expect("the listener runs");
                let mail = Mail::parse(&got.data);
                if !self.ignored.is_some_and(|p| mail.subject.starts_with(p)) {
                    return (got, mail);
                }
            }
        })
        .await
        .ok()
    }

    /// The next message, parsed; fails the test after `wait`.
    pub async fn next(&self, wait: Duration) -> (Received, Mail) {
        self.receive(wait).await.expect("a message arrives in time")
    }

    /// Whether no message arrives within `wait`.
    pub async fn nothing_within(&self, wait: Duration) -> bool {
        self.receive(wait).await.is_none()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(socket: TcpStream, inbox: mpsc::UnboundedSender<Received>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let arg = |prefix: &str| {
            command[prefix.len().min(command.len())..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        };
        match verb.as_str() {
            "EHLO" => {
                write
                    .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    .await?
            }
            "HELO" => write.write_all(b"250 sink.test\r\n").await?,
            "MAIL" => {
                mail_from = arg("MAIL FROM:");
                write.write_all(b"250 OK\r\n").await?;
            }
            "RCPT" => {
                rcpt_to.push(arg("RCPT TO:"));
                write.write_all(b"250 OK\r\n").await?;
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    if lines.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let unstuffed = if raw.starts_with(b"..") {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                let _ = inbox.send(Received {
                    mail_from: std::mem::take(&mut mail_from),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                write.write_all(b"250 queued\r\n").await?;
            }
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 not implemented\r\n").await?,
        }
    }
}

/// A peer that accepts connections and never says a word: a hung mail server.
pub struct SilentPeer {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SilentPeer {
    pub async fn start() -> SilentPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentPeer { port, task }
    }
}

impl Drop for SilentPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
