//! The benchmark ceiling: the stack of `boxoffice serve` (tokio, hyper, axum, serde) with no
//! auth, inventory or database, so its req/s bounds what the real reserve can reach here.
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reserve {
    show_id: uuid::Uuid,
    zone_id: uuid::Uuid,
    quantity: i64,
}

#[derive(Serialize)]
struct Held {
    id: u64,
    show_id: uuid::Uuid,
    zone_id: uuid::Uuid,
    quantity: i64,
    status: &'static str,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn reserve(Json(r): Json<Reserve>) -> (StatusCode, Json<Held>) {
    (
        StatusCode::CREATED,
        Json(Held {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            show_id: r.show_id,
            zone_id: r.zone_id,
            quantity: r.quantity,
            status: "held",
        }),
    )
}

/// `--addr HOST:PORT`, or the address as the first argument (default 127.0.0.1:18090).
fn address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let raw = match args.next().as_deref() {
        None => return Ok(SocketAddr::from(([127, 0, 0, 1], 18090))),
        Some("--addr") => args.next().ok_or("--addr needs HOST:PORT")?,
        Some(other) => other.to_string(),
    };
    raw.parse()
        .map_err(|e| format!("invalid address {raw}: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = address()?;
    let app = Router::new().route("/reserve", post(reserve));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
