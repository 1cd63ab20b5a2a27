//! One keep-alive HTTP/1.1 connection on hyper's low-level client (no pool, no
//! redirects), so the load generator spends its CPU on the server's answers, not itself.
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::HeaderValue;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Where and how to reach the server: resolved once, shared by every connection.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: HeaderValue,
}

impl Target {
    /// Resolves a plain-HTTP base URL.
    pub async fn resolve(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid --url {url}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                bail!("--url: only http:// is supported by the load generator, not {other}://")
            }
            None => bail!("--url must start with http://"),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("--url {url} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .with_context(|| format!("cannot resolve {}", authority.host()))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", authority.host()))?;
        Ok(Self {
            addr,
            host: HeaderValue::from_str(authority.as_str())?,
        })
    }
}

/// An answer: status and the whole body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Why a request got no answer: `connect`, `timeout` or `transport`.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub error: anyhow::Error,
}

/// A connection that reconnects when the server closed it.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
    /// Connections opened, including the first.
    pub connects: u64,
}

/// Answered by every boxoffice server without auth or database work.
const WARM_PATH: &str = "/health/live";
const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Conn {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Self {
            target,
            sender: None,
            timeout,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .with_context(|| format!("connecting to {}", self.target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the peer closes or the sender is dropped; nothing to report.
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// A sender ready for the next request, reconnecting when needed.
    async fn ready(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.connect().await?;
        }
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.connect().await?;
            if let Some(s) = self.sender.as_mut() {
                s.ready().await.context("the new connection is not ready")?;
            }
        }
        self.sender.as_mut().ok_or_else(|| anyhow!("no connection"))
    }

    /// Opens the connection and has one request answered on it (`GET /health/live`),
    /// so the measured requests find a connection the server has accepted and serves.
    pub async fn warm(&mut self) -> anyhow::Result<()> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(WARM_PATH)
            .header(HOST, self.target.host.clone())
            .body(Full::new(Bytes::new()))?;
        let answer = self.send(req).await.map_err(|f| f.error)?;
        if !answer.status.is_success() {
            bail!("GET {WARM_PATH} answered {}", answer.status);
        }
        Ok(())
    }

    /// Sends one POST and reads the answer. On any error the connection is dropped,
    /// and the next call opens a new one; the request is not retried.
    pub async fn post(
        &mut self,
        path: &str,
        token: &HeaderValue,
        body: Bytes,
    ) -> Result<Answer, Failure> {
        self.post_as(path, Some(token), body, None).await
    }

    /// A POST with credentials and one more header (`Prefer: wait=N` …).
    pub async fn post_with(
        &mut self,
        path: &str,
        token: &HeaderValue,
        body: Bytes,
        header: (HeaderName, HeaderValue),
    ) -> Result<Answer, Failure> {
        self.post_as(path, Some(token), body, Some(header)).await
    }

    /// Sends one GET with credentials and reads the answer.
    pub async fn get(&mut self, path: &str, token: &HeaderValue) -> Result<Answer, Failure> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.target.host.clone())
            .header(AUTHORIZATION, token.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Failure {
                kind: "transport",
                error: e.into(),
            })?;
        self.send(req).await
    }

    /// A public GET, conditional on `etag` when given (`If-None-Match`).
    pub async fn get_public(
        &mut self,
        path: &str,
        etag: Option<&HeaderValue>,
    ) -> Result<Answer, Failure> {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.target.host.clone());
        if let Some(tag) = etag {
            req = req.header(hyper::header::IF_NONE_MATCH, tag.clone());
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| Failure {
            kind: "transport",
            error: e.into(),
        })?;
        self.send(req).await
    }

    /// A POST without credentials (login).
    pub async fn post_anonymous(&mut self, path: &str, body: Bytes) -> Result<Answer, Failure> {
        self.post_as(path, None, body, None).await
    }

    async fn post_as(
        &mut self,
        path: &str,
        token: Option<&HeaderValue>,
        body: Bytes,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Answer, Failure> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.target.host.clone());
        if let Some(token) = token {
            req = req.header(AUTHORIZATION, token.clone());
        }
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, JSON);
        }
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let req = req.body(Full::new(body)).map_err(|e| Failure {
            kind: "transport",
            error: e.into(),
        })?;
        self.send(req).await
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, async {
            let sender = self.ready().await.map_err(|error| Failure {
                kind: "connect",
                error,
            })?;
            let transport = |e: hyper::Error| Failure {
                kind: "transport",
                error: e.into(),
            };
            let res = sender.send_request(req).await.map_err(transport)?;
            let status = res.status();
            let body = res.into_body().collect().await.map_err(transport)?;
            Ok(Answer {
                status,
                body: body.to_bytes(),
            })
        })
        .await;
        let outcome = result.unwrap_or_else(|_| {
            Err(Failure {
                kind: "timeout",
                error: anyhow!("no answer within {timeout:?}"),
            })
        });
        if outcome.is_err() {
            self.sender = None;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_are_plain_http_with_a_port() {
        let t = Target::resolve("http://127.0.0.1:18081").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:18081".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:18081");
        let t = Target::resolve("http://127.0.0.1").await.unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(Target::resolve("https://127.0.0.1").await.is_err());
        assert!(Target::resolve("127.0.0.1:80").await.is_err());
    }
}
