//! The slow, careful part of a load test: signing in, creating the show and its buyers
//! and reading the sales report, all through the public JSON API like any client.
use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Most buyers the server provisions per call.
pub const BULK_MAX: u32 = 10_000;

pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Deserialize)]
struct Login {
    access_token: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Named {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct ShowView {
    id: String,
    per_user_limit: u32,
    zones: Vec<ZoneView>,
}

#[derive(Deserialize)]
struct ZoneView {
    id: String,
    capacity: u32,
    available: u32,
    held: u32,
    sold: u32,
}

/// An existing show to sell, as the server describes it.
pub struct Existing {
    pub show: Show,
    pub capacity: u32,
    pub per_user_limit: u32,
}

#[derive(Deserialize)]
struct Bulk {
    buyers: Vec<Buyer>,
}

#[derive(Deserialize)]
pub struct Buyer {
    pub access_token: String,
}

/// `GET /shows/{id}/sales`, as the server defines it.
pub use crate::booking::SalesReport as Sales;

/// The show created for the run.
#[derive(Clone, Debug)]
pub struct Show {
    pub id: String,
    pub zone_id: String,
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")
}

/// Turns an error answer into a sentence with the problem's `detail`.
fn failure(what: &str, status: StatusCode, body: &[u8]) -> anyhow::Error {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let detail = v.get("detail")?.as_str()?.to_string();
            Some(match v.get("type").and_then(Value::as_str) {
                Some(t) => format!("{detail} [{t}]"),
                None => detail,
            })
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    anyhow!("{what} failed ({status}): {detail}")
}

impl Api {
    /// Signs in as the admin.
    pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<Self> {
        let mut api = Self {
            http: client()?,
            base: base.to_string(),
            token: String::new(),
        };
        let login: Login = api
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({ "email": email, "password": password })),
                "admin login",
            )
            .await?;
        api.token = login.access_token;
        Ok(api)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<T> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach {}", self.base))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        if !status.is_success() {
            return Err(failure(what, status, &bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: unexpected answer"))
    }

    /// The admin's organization that load-test events belong to, created once.
    async fn load_test_organization(&self) -> anyhow::Result<String> {
        const NAME: &str = "Load tests";
        let mine: Vec<Named> = self
            .call(
                Method::GET,
                "/api/v1/organizations",
                None,
                "listing the admin's organizations",
            )
            .await?;
        if let Some(org) = mine.into_iter().find(|o| o.name == NAME) {
            return Ok(org.id);
        }
        let org: Named = self
            .call(
                Method::POST,
                "/api/v1/organizations",
                Some(json!({ "name": NAME })),
                "creating the load-test organization",
            )
            .await?;
        Ok(org.id)
    }

    /// Creates an event with one show of one general-admission zone.
    pub async fn create_show(&self, capacity: u32, per_user_limit: u32) -> anyhow::Result<Show> {
        let stamp = time::OffsetDateTime::now_utc();
        let organization = self.load_test_organization().await?;
        let event: Created = self
            .call(
                Method::POST,
                "/api/v1/events",
                Some(json!({
                    "title": format!("Load test {}", stamp.unix_timestamp()),
                    "description": "Flash sale generated by boxoffice loadtest.",
                    "category": "concert",
                    "city": "Loadville",
                    "organization_id": organization,
                })),
                "creating the event",
            )
            .await?;
        let starts = (stamp + time::Duration::days(30))
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the show date")?;
        let show: ShowView = self
            .call(
                Method::POST,
                &format!("/api/v1/events/{}/shows", event.id),
                Some(json!({
                    "venue": "Load Arena",
                    "starts_at": starts,
                    "hold_ttl_secs": 3600,
                    "per_user_limit": per_user_limit,
                    "zones": [{
                        "name": "GA",
                        "price_minor": 5000,
                        "currency": "EUR",
                        "capacity": capacity,
                    }],
                })),
                "creating the show",
            )
            .await?;
        let zone = show
            .zones
            .first()
            .ok_or_else(|| anyhow!("the created show has no zone"))?;
        Ok(Show {
            zone_id: zone.id.clone(),
            id: show.id,
        })
    }

    /// An existing show's first zone with the show's capacity and limit; refused when
    /// the zone already has tickets out, since the checks compare the sale with a
    /// fresh zone.
    pub async fn existing_show(&self, id: &str) -> anyhow::Result<Existing> {
        let view: ShowView = self
            .call(
                Method::GET,
                &format!("/api/v1/shows/{id}"),
                None,
                "reading the show to sell",
            )
            .await?;
        let zone = view
            .zones
            .first()
            .ok_or_else(|| anyhow!("show {id} has no zone to sell"))?;
        if zone.held + zone.sold > 0 || zone.available != zone.capacity {
            bail!(
                "show {id}: its first zone already has {} held and {} sold; the checks need a zone with nothing out",
                zone.held,
                zone.sold
            );
        }
        Ok(Existing {
            show: Show {
                id: view.id.clone(),
                zone_id: zone.id.clone(),
            },
            capacity: zone.capacity,
            per_user_limit: view.per_user_limit,
        })
    }

    /// Seats `show` with a new layout of `capacity` seats in rows of 100 (row 1
    /// nearest the stage), all in its one zone; the seat ids in map order.
    pub async fn seat_show(&self, show: &Show, capacity: u32) -> anyhow::Result<Vec<String>> {
        let organization = self.load_test_organization().await?;
        let rows: Vec<Value> = (0..capacity.div_ceil(100))
            .map(|r| {
                json!({"section": "Arena", "row": (r + 1).to_string(), "first": 1,
                    "count": (capacity - r * 100).min(100), "x": 0, "y": 10 * (r + 1),
                    "category": "GA"})
            })
            .collect();
        #[derive(Deserialize)]
        struct Seat {
            id: String,
        }
        #[derive(Deserialize)]
        struct Layout {
            id: String,
            seats: Vec<Seat>,
        }
        let layout: Layout = self
            .call(
                Method::POST,
                "/api/v1/layouts",
                Some(json!({"organization_id": organization, "name": "Load Arena", "rows": rows})),
                "creating the arena layout",
            )
            .await?;
        let _: Value = self
            .call(
                Method::PUT,
                &format!("/api/v1/shows/{}/seating", show.id),
                Some(json!({"layout_id": layout.id,
                    "categories": [{"category": "GA", "zone_id": show.zone_id}]})),
                "seating the show",
            )
            .await?;
        Ok(layout.seats.into_iter().map(|s| s.id).collect())
    }

    /// Provisions `count` buyers in chunks the server accepts; returns their tokens.
    pub async fn provision(
        &self,
        count: u32,
        mut progress: impl FnMut(usize),
    ) -> anyhow::Result<Vec<String>> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("lt-{}", &run[..12]);
        let password = format!("lt-{run}");
        let mut tokens = Vec::with_capacity(count as usize);
        let mut left = count;
        let mut chunk_no = 0;
        while left > 0 {
            let n = left.min(BULK_MAX);
            let bulk: Bulk = self
                .call(
                    Method::POST,
                    "/api/v1/admin/users/bulk",
                    Some(json!({
                        "count": n,
                        "prefix": format!("{prefix}-{chunk_no}"),
                        "password": password,
                    })),
                    "provisioning buyers",
                )
                .await?;
            if bulk.buyers.len() != n as usize {
                bail!(
                    "provisioning buyers: asked for {n}, got {}",
                    bulk.buyers.len()
                );
            }
            tokens.extend(bulk.buyers.into_iter().map(|b| b.access_token));
            left -= n;
            chunk_no += 1;
            progress(tokens.len());
        }
        Ok(tokens)
    }

    /// `PUT` a JSON document; the answer as JSON.
    pub async fn put_json(&self, path: &str, body: Value, what: &str) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, Some(body), what).await
    }

    /// `POST` a JSON document; the answer as JSON.
    pub async fn post_json(&self, path: &str, body: Value, what: &str) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body), what).await
    }

    /// `GET` a JSON document as the admin.
    pub async fn get_json(&self, path: &str, what: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None, what).await
    }

    /// Whether a queued show refuses a reserve without a pass and one with a forged
    /// pass (both 403 `queue-pass-invalid`), as `token`'s buyer.
    pub async fn reserve_probe(&self, show: &Show, token: &str) -> anyhow::Result<bool> {
        let forged = format!(
            "{}.{}.{}",
            crate::signing::b64url(br#"{"alg":"EdDSA","kid":"queue-pass-v1","typ":"JWT"}"#),
            crate::signing::b64url(b"{}"),
            crate::signing::b64url(&[0u8; 64])
        );
        let mut refused = true;
        for pass in [None, Some(forged.as_str())] {
            let mut req = self
                .http
                .post(format!("{}/api/v1/bookings/reserve", self.base))
                .bearer_auth(token)
                .json(&json!({"show_id": show.id, "zone_id": show.zone_id, "quantity": 1}));
            if let Some(p) = pass {
                req = req.header("X-Queue-Pass", p);
            }
            let res = req.send().await.context("probing reserve")?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            refused &=
                status == StatusCode::FORBIDDEN && body["type"] == "/problems/queue-pass-invalid";
        }
        Ok(refused)
    }

    /// Tickets still for sale in the zone (public show view).
    pub async fn available(&self, show: &Show) -> anyhow::Result<u32> {
        let view: ShowView = self
            .call(
                Method::GET,
                &format!("/api/v1/shows/{}", show.id),
                None,
                "reading the show",
            )
            .await?;
        view.zones
            .iter()
            .find(|z| z.id == show.zone_id)
            .map(|z| z.available)
            .ok_or_else(|| anyhow!("the show lost its zone"))
    }

    pub async fn sales(&self, show: &Show) -> anyhow::Result<Sales> {
        self.call(
            Method::GET,
            &format!("/api/v1/shows/{}/sales", show.id),
            None,
            "reading the sales report",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_quote_the_problem_detail() {
        let body = br#"{"type":"/problems/unauthorized","title":"Authentication required","status":401,"detail":"email or password is wrong"}"#;
        let e = failure("admin login", StatusCode::UNAUTHORIZED, body);
        assert_eq!(
            e.to_string(),
            "admin login failed (401 Unauthorized): email or password is wrong [/problems/unauthorized]"
        );
        let e = failure("x", StatusCode::BAD_GATEWAY, b"upstream down");
        assert_eq!(e.to_string(), "x failed (502 Bad Gateway): upstream down");
    }
}
