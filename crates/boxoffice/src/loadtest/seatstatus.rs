//! Read load on a show's live seat status after a seated sale: how many full answers
//! and how many `304`s (a client polling with the ETag it has) the server gives a
//! second, the figure that says whether seat maps can be polled by a crowd.
use super::client::{Conn, Target};
use hyper::http::HeaderValue;
use hyper::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Requests a second with `clients` connections for `duration`.
pub struct StatusFigures {
    pub full_per_sec: f64,
    pub not_modified_per_sec: f64,
    pub body_bytes: usize,
    pub errors: u64,
}

async fn hammer(
    target: &Target,
    path: &str,
    etag: Option<HeaderValue>,
    expect: StatusCode,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(f64, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut conn = Conn::new(target.clone(), Duration::from_secs(30));
        conn.warm().await?;
        let (path, etag) = (path.to_owned(), etag.clone());
        let (done, errors) = (done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < duration {
                match conn.get_public(&path, etag.as_ref()).await {
                    Ok(a) if a.status == expect => done.fetch_add(1, Relaxed),
                    _ => errors.fetch_add(1, Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    Ok((done.load(Relaxed) as f64 / secs, errors.load(Relaxed)))
}

pub async fn measure(
    target: &Target,
    show_id: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<StatusFigures> {
    let path = format!("/api/v1/shows/{show_id}/seats");
    let mut conn = Conn::new(target.clone(), Duration::from_secs(30));
    let first = conn.get_public(&path, None).await.map_err(|f| f.error)?;
    #[derive(serde::Deserialize)]
    struct Version {
        version: String,
    }
    let version: Version = serde_json::from_slice(&first.body)?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", version.version))?;
    let (full, e1) = hammer(target, &path, None, StatusCode::OK, clients, duration).await?;
    let (not_modified, e2) = hammer(
        target,
        &path,
        Some(etag),
        StatusCode::NOT_MODIFIED,
        clients,
        duration,
    )
    .await?;
    Ok(StatusFigures {
        full_per_sec: full,
        not_modified_per_sec: not_modified,
        body_bytes: first.body.len(),
        errors: e1 + e2,
    })
}
