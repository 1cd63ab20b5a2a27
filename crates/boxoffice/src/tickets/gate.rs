//! A door scanner (`boxoffice gate`): scans online while the server answers and falls
//! back to the signed offline list by itself when it does not, verifying QR payloads
//! with the published keys only; scans made offline are uploaded at the next sync,
//! which also brings the revocations and other gates' admissions.
use super::codes;
use super::views::{OfflineList, TicketClaims, LIST_TYP};
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What the gate tells the door clerk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateAnswer {
    pub result: String,
    pub admit: bool,
    /// Decided from the offline list, without the server.
    pub offline: bool,
    pub holder: Option<String>,
    pub seat: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct PendingScan {
    #[serde(skip_serializing_if = "Option::is_none")]
    qr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    scanned_at: String,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    x: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// One entrance's scanner.
pub struct Gate {
    http: reqwest::Client,
    base: String,
    token: String,
    list_id: String,
    name: String,
    keys: HashMap<String, VerifyingKey>,
    list: Option<OfflineList>,
    revoked: HashSet<String>,
    /// Admitted tickets as this gate knows them (its own scans and the last sync's).
    admitted: HashSet<String>,
    pending: Vec<PendingScan>,
}

fn verify(keys: &HashMap<String, VerifyingKey>, token: &str) -> Option<(String, Vec<u8>)> {
    let (signed, sig) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header["alg"] != "EdDSA" {
        return None;
    }
    let key = keys.get(header["kid"].as_str()?)?;
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).ok()?).ok()?;
    key.verify_strict(signed.as_bytes(), &sig).ok()?;
    Some((
        header["typ"].as_str().unwrap_or_default().to_owned(),
        URL_SAFE_NO_PAD.decode(payload).ok()?,
    ))
}

impl Gate {
    /// A gate working from check-in list `list_id` with `token` (an account's access
    /// token or an organization's API key); answers slower than `timeout` count as
    /// no network.
    pub fn new(base: &str, token: &str, list_id: &str, name: &str, timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            list_id: list_id.to_owned(),
            name: name.to_owned(),
            keys: HashMap::new(),
            list: None,
            revoked: HashSet::new(),
            admitted: HashSet::new(),
            pending: Vec::new(),
        }
    }

    /// Scans waiting to be uploaded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Downloads the keys and the signed list (before the doors open).
    pub async fn prepare(&mut self) -> anyhow::Result<()> {
        let jwks: Jwks = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for k in jwks.keys {
            let x: [u8; 32] = URL_SAFE_NO_PAD
                .decode(&k.x)?
                .try_into()
                .map_err(|_| anyhow!("key {} is not 32 bytes", k.kid))?;
            self.keys.insert(k.kid, VerifyingKey::from_bytes(&x)?);
        }
        let token = self
            .http
            .get(format!(
                "{}/api/v1/checkin-lists/{}/offline",
                self.base, self.list_id
            ))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let (typ, payload) =
            verify(&self.keys, &token).context("the offline list's signature does not verify")?;
        if typ != LIST_TYP {
            bail!("not a check-in list: {typ}");
        }
        let list: OfflineList = serde_json::from_slice(&payload)?;
        self.revoked = list.revoked.iter().cloned().collect();
        self.admitted
            .extend(list.admitted.iter().map(|a| a.ticket_id.clone()));
        self.list = Some(list);
        Ok(())
    }

    /// Scans a QR payload or a typed code: online if the server answers, from the
    /// offline list if it does not.
    pub async fn scan(&mut self, presented: &str) -> anyhow::Result<GateAnswer> {
        let list = self.list.as_ref().context("prepare the gate first")?;
        let is_code = codes::normalize(presented).is_some();
        let mut body =
            json!({"show_id": list.list.show_id, "gate": self.name, "list_id": self.list_id});
        body[if is_code { "code" } else { "qr" }] = json!(presented);
        let online = self
            .http
            .post(format!("{}/api/v1/checkin/scan", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await;
        match online {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await?;
                if v["admit"] == true {
                    if let Some(id) = v["ticket"]["id"].as_str() {
                        self.admitted.insert(id.to_owned());
                    }
                }
                Ok(GateAnswer {
                    result: v["result"].as_str().unwrap_or("unknown").to_owned(),
                    admit: v["admit"] == true,
                    offline: false,
                    holder: v["ticket"]["holder_name"].as_str().map(str::to_owned),
                    seat: v["ticket"]["seat_label"].as_str().map(str::to_owned),
                })
            }
            // Refused (4xx): the server's word stands. No answer or 5xx: offline.
            Ok(r) if r.status().is_client_error() => {
                bail!("the server refused the scan: {}", r.status())
            }
            _ => Ok(self.offline_scan(presented, is_code)),
        }
    }

    fn offline_scan(&mut self, presented: &str, is_code: bool) -> GateAnswer {
        let list = self.list.as_ref().expect("prepared");
        let found = if is_code {
            let digest = codes::digest(&codes::normalize(presented).unwrap_or_default());
            list.tickets
                .iter()
                .find(|t| t.code_sha256 == digest)
                .map(|t| {
                    (
                        t.id.clone(),
                        t.zone_id,
                        t.holder_name.clone(),
                        t.seat_label.clone(),
                        Some(list.list.show_id),
                    )
                })
        } else {
            verify(&self.keys, presented)
                .filter(|(typ, _)| typ == super::views::QR_TYP)
                .and_then(|(_, p)| serde_json::from_slice::<TicketClaims>(&p).ok())
                .map(|c| (c.tid, c.zone, c.holder, c.seat, Some(c.show)))
        };
        let answer = |result: &str, ticket: Option<(String, String, Option<String>)>| GateAnswer {
            result: result.into(),
            admit: result == "valid",
            offline: true,
            holder: ticket.as_ref().map(|t| t.1.clone()),
            seat: ticket.and_then(|t| t.2),
        };
        let Some((id, zone, holder, seat, show)) = found else {
            return answer("unknown", None);
        };
        let ticket = Some((id.clone(), holder, seat));
        let result = if show != Some(list.list.show_id) {
            "wrong_show"
        } else if self.revoked.contains(&id) {
            "revoked"
        } else if !list.list.zone_ids.is_empty() && !list.list.zone_ids.contains(&zone) {
            "not_on_list"
        } else if self.admitted.contains(&id) {
            "already_used"
        } else {
            "valid"
        };
        if result == "valid" || result == "already_used" {
            self.pending.push(PendingScan {
                qr: (!is_code).then(|| presented.to_owned()),
                code: is_code.then(|| presented.to_owned()),
                scanned_at: crate::timefmt::rfc3339(now()),
            });
        }
        if result == "valid" {
            self.admitted.insert(id);
        }
        answer(result, ticket)
    }

    /// Uploads the scans made offline and learns what changed meanwhile; the
    /// server's merge of each upload (first scan wins). Scans stay queued if the
    /// server does not answer.
    pub async fn sync(&mut self) -> anyhow::Result<Vec<String>> {
        let mut results = Vec::new();
        // In turns of at most MAX_UPLOAD; an empty upload still brings the news.
        loop {
            let take = self.pending.len().min(super::MAX_UPLOAD);
            let body = json!({"gate": self.name, "scans": self.pending[..take]});
            let r = self
                .http
                .post(format!(
                    "{}/api/v1/checkin-lists/{}/sync",
                    self.base, self.list_id
                ))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
            let v: Value = r.json().await?;
            self.pending.drain(..take);
            self.revoked = strings(&v["revoked"]);
            self.admitted = v["admitted"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["ticket_id"].as_str().map(str::to_owned))
                .collect();
            results.extend(
                v["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["result"].as_str().unwrap_or("unknown").to_owned()),
            );
            if self.pending.is_empty() {
                return Ok(results);
            }
        }
    }
}

/// The gate's own clock: offline scans are stamped with it.
fn now() -> boxoffice_domain::Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    boxoffice_domain::Timestamp::from_millis(ms)
}

fn strings(v: &Value) -> HashSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}
