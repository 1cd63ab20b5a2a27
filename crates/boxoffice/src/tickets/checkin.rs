//! The door: online scans answered in one round trip, check-in lists per entrance,
//! the signed list a gate downloads to scan without the network, and the merge of
//! its offline scans afterwards (the earliest scan is the admission, every scan is
//! kept). Box-office staff scan; buyers cannot.
use super::codes;
use super::service::TicketService;
use super::views::{
    Admitted, AttendanceView, CheckinListInput, CheckinListView, FirstScan, OfflineList,
    OfflineTicket, ScanRequest, ScanView, ScannedTicket, SyncRequest, SyncView, TicketClaims,
    LIST_TYP, QR_TYP,
};
use crate::accounts::Principal;
use crate::audit::{Action, AuditEntry, Target};
use crate::error::{Error, OrNotFound, Result};
use crate::signing::Purpose;
use crate::store::{Admission, CheckinListRecord, CheckinRecord, StoreError, TicketRecord};
use crate::timefmt::{parse_rfc3339, rfc3339};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::ticket::{judge, DoorView, ScanResult, TicketStatus};
use boxoffice_domain::{ShowId, Timestamp};

/// How a scanned ticket was named.
enum Presented<'a> {
    Qr(&'a str),
    Code(&'a str),
}

/// Scans one sync may upload (a gate with more uploads them in turn).
pub const MAX_UPLOAD: usize = 100;

fn presented<'a>(
    qr: Option<&'a str>,
    code: Option<&'a str>,
) -> std::result::Result<Presented<'a>, &'static str> {
    match (qr, code) {
        (Some(qr), None) => Ok(Presented::Qr(qr)),
        (None, Some(code)) => Ok(Presented::Code(code)),
        _ => Err("send exactly one of `qr` and `code`"),
    }
}

fn gate_name(gate: &str) -> Result<String> {
    let gate = gate.trim();
    if gate.is_empty() || gate.chars().count() > 64 {
        return Err(Error::field("gate", "must be 1 to 64 characters"));
    }
    Ok(gate.to_owned())
}

/// Where a scan was made.
struct Gate<'a> {
    show: ShowId,
    list: Option<&'a CheckinListRecord>,
    name: &'a str,
    /// Scanned without the network, uploaded later.
    offline: bool,
}

fn answer(result: ScanResult, ticket: Option<&TicketRecord>) -> ScanView {
    metrics::counter!(crate::telemetry::metrics::names::CHECKIN_SCANS, "result" => result.as_str())
        .increment(1);
    ScanView {
        result: result.as_str().into(),
        admit: result.admits(),
        ticket: ticket.map(ScannedTicket::from),
        first_scan: None,
        revoke_reason: ticket
            .filter(|_| result == ScanResult::Revoked)
            .and_then(|t| t.revoke_reason.map(|r| r.as_str().into())),
    }
}

impl TicketService {
    /// Checks that `who` may work the door of `show`.
    async fn door(&self, who: &Principal, show: ShowId) -> Result<()> {
        let meta = self.cache().get(show).ok_or(Error::NotFound("show"))?;
        self.access()
            .require(who, meta.organization_id, Permission::CheckIn)
            .await
    }

    async fn list_of(&self, show: ShowId, id: Option<&str>) -> Result<Option<CheckinListRecord>> {
        let Some(id) = id else { return Ok(None) };
        match self.store().checkin_list(id).await {
            Ok(list) if list.show_id == show => Ok(Some(list)),
            Ok(_) | Err(StoreError::NotFound) => Err(Error::field(
                "list_id",
                "is not a check-in list of this show",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The ticket a QR payload or typed code names; `None` when nobody issued it (or
    /// the payload's signature does not verify).
    async fn presented_ticket(&self, p: &Presented<'_>) -> Result<Option<TicketRecord>> {
        let found = match p {
            Presented::Qr(token) => {
                let Ok((header, payload)) = self.keyring().verify_jws(Purpose::TICKET, token)
                else {
                    tracing::warn!("a scanned QR payload did not verify");
                    return Ok(None);
                };
                let Ok(claims) = serde_json::from_slice::<TicketClaims>(&payload) else {
                    return Ok(None);
                };
                if header.typ != QR_TYP {
                    return Ok(None);
                }
                self.store().ticket(&claims.tid).await
            }
            Presented::Code(typed) => match codes::normalize(typed) {
                Some(code) => self.store().ticket_by_code(&code).await,
                None => return Ok(None),
            },
        };
        match found {
            Ok(t) => Ok(Some(t)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn scan_record(
        &self,
        ticket: &TicketRecord,
        gate: &Gate<'_>,
        at: Timestamp,
        result: ScanResult,
    ) -> CheckinRecord {
        CheckinRecord {
            id: uuid::Uuid::now_v7().to_string(),
            ticket_id: ticket.id.clone(),
            show_id: gate.show,
            list_id: gate.list.map(|l| l.id.clone()),
            gate: gate.name.to_owned(),
            scanned_at: at,
            recorded_at: self.clock().now(),
            offline: gate.offline,
            admitted: false,
            result,
        }
    }

    /// One scan at a gate, answered in one round trip: exactly one of two gates
    /// scanning the same ticket at the same moment is told `valid`.
    #[tracing::instrument(name = "checkin.scan", skip_all)]
    pub async fn scan(&self, who: Principal, req: ScanRequest) -> Result<ScanView> {
        let gate = gate_name(&req.gate)?;
        let how =
            presented(req.qr.as_deref(), req.code.as_deref()).map_err(|m| Error::field("qr", m))?;
        self.door(&who, req.show_id).await?;
        let list = self.list_of(req.show_id, req.list_id.as_deref()).await?;
        let Some(ticket) = self.presented_ticket(&how).await? else {
            return Ok(answer(ScanResult::Unknown, None));
        };
        let now = self.clock().now();
        let view = DoorView {
            show: ticket.show_id,
            status: ticket.status,
            on_list: list.as_ref().is_none_or(|l| l.covers(ticket.zone_id)),
            used: false,
        };
        let verdict = judge(req.show_id, &view);
        let at_gate = Gate {
            show: req.show_id,
            list: list.as_ref(),
            name: &gate,
            offline: false,
        };
        let scan = self.scan_record(&ticket, &at_gate, now, verdict);
        if verdict != ScanResult::Valid {
            self.store().record_scan(&scan).await?;
            return Ok(answer(verdict, Some(&ticket)));
        }
        Ok(match self.store().admit(&scan).await? {
            Admission::Admitted => answer(ScanResult::Valid, Some(&ticket)),
            Admission::Earlier(first) => ScanView {
                first_scan: Some(FirstScan::from(&first)),
                ..answer(ScanResult::AlreadyUsed, Some(&ticket))
            },
        })
    }

    pub async fn create_list(
        &self,
        who: Principal,
        show: ShowId,
        input: CheckinListInput,
    ) -> Result<CheckinListView> {
        let meta = self.cache().get(show).ok_or(Error::NotFound("show"))?;
        self.access()
            .require(&who, meta.organization_id, Permission::ManageCatalog)
            .await?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::field("name", "must be 1 to 100 characters"));
        }
        if input.zone_ids.len() > 100 {
            return Err(Error::field("zone_ids", "at most 100 zones"));
        }
        for (n, zone) in input.zone_ids.iter().enumerate() {
            if !meta.zones.iter().any(|z| z.id == *zone) {
                return Err(Error::field(
                    &format!("zone_ids[{n}]"),
                    "is not a zone of this show",
                ));
            }
        }
        let list = CheckinListRecord {
            id: uuid::Uuid::now_v7().to_string(),
            show_id: show,
            name: name.to_owned(),
            zone_ids: input.zone_ids,
            created_at: self.clock().now(),
        };
        self.store().insert_checkin_list(&list).await?;
        self.audit()
            .record(
                AuditEntry::on(Action::CheckinListCreated, who, Target::show(show))
                    .organization(meta.organization_id)
                    .detail(serde_json::json!({"list": list.id, "zones": list.zone_ids.len()})),
            )
            .await;
        Ok((&list).into())
    }

    pub async fn lists(&self, who: Principal, show: ShowId) -> Result<Vec<CheckinListView>> {
        self.door(&who, show).await?;
        let lists = self.store().checkin_lists_of_show(show).await?;
        Ok(lists.iter().map(CheckinListView::from).collect())
    }

    async fn door_list(&self, who: &Principal, id: &str) -> Result<CheckinListRecord> {
        let list = self
            .store()
            .checkin_list(id)
            .await
            .or_not_found("check-in list")?;
        self.door(who, list.show_id).await?;
        Ok(list)
    }

    /// What a gate needs to scan without the network, as a JWS (`typ:
    /// checkin-list+jws`) signed with the ticket key.
    pub async fn offline_list(&self, who: Principal, id: &str) -> Result<String> {
        let list = self.door_list(&who, id).await?;
        let (tickets, admissions) = self.state_of(&list).await?;
        let body = OfflineList {
            list: (&list).into(),
            generated_at: rfc3339(self.clock().now()),
            revoked: revoked_ids(&tickets),
            tickets: tickets
                .iter()
                .map(|t| OfflineTicket {
                    id: t.id.clone(),
                    code_sha256: codes::digest(&t.code),
                    zone_id: t.zone_id,
                    seat_label: t.seat_label.clone(),
                    holder_name: t.holder_name.clone(),
                    status: t.status.as_str().into(),
                })
                .collect(),
            admitted: admissions.iter().map(Admitted::from).collect(),
        };
        let payload = serde_json::to_vec(&body).map_err(anyhow::Error::from)?;
        Ok(self.keyring().sign_jws(Purpose::TICKET, LIST_TYP, &payload))
    }

    /// What a list's gates must know: its zones' tickets, and every admission of the
    /// show on record.
    async fn state_of(
        &self,
        list: &CheckinListRecord,
    ) -> Result<(Vec<TicketRecord>, Vec<CheckinRecord>)> {
        let tickets = self.store().tickets_of_show(list.show_id).await?;
        let tickets = tickets
            .into_iter()
            .filter(|t| list.covers(t.zone_id))
            .collect();
        Ok((
            tickets,
            self.store().admissions_of_show(list.show_id).await?,
        ))
    }

    /// Merges the scans a gate made offline, and tells it what changed meanwhile.
    pub async fn sync(&self, who: Principal, id: &str, req: SyncRequest) -> Result<SyncView> {
        let gate = gate_name(&req.gate)?;
        if req.scans.len() > MAX_UPLOAD {
            return Err(Error::field("scans", "at most 100 scans per upload"));
        }
        // Every scan is checked before any is recorded: a bad one loses nothing.
        let mut scans = Vec::with_capacity(req.scans.len());
        for (n, s) in req.scans.iter().enumerate() {
            let at = parse_rfc3339(&s.scanned_at)
                .map_err(|m| Error::field(&format!("scans[{n}].scanned_at"), m))?;
            let how = presented(s.qr.as_deref(), s.code.as_deref())
                .map_err(|m| Error::field("scans", format!("scans[{n}]: {m}")))?;
            scans.push((how, at));
        }
        let list = self.door_list(&who, id).await?;
        let mut results = Vec::with_capacity(scans.len());
        for (how, at) in &scans {
            results.push(self.merge(&list, &gate, how, *at).await?);
        }
        let (tickets, admissions) = self.state_of(&list).await?;
        Ok(SyncView {
            results,
            revoked: revoked_ids(&tickets),
            admitted: admissions.iter().map(Admitted::from).collect(),
            synced_at: rfc3339(self.clock().now()),
        })
    }

    /// One offline scan: judged as the gate should have judged it then (a ticket
    /// revoked after the scan still counts as admitted), then merged.
    async fn merge(
        &self,
        list: &CheckinListRecord,
        gate: &str,
        how: &Presented<'_>,
        at: Timestamp,
    ) -> Result<ScanView> {
        let Some(ticket) = self.presented_ticket(how).await? else {
            return Ok(answer(ScanResult::Unknown, None));
        };
        let revoked_then =
            ticket.status == TicketStatus::Revoked && ticket.revoked_at.is_none_or(|r| r <= at);
        let view = DoorView {
            show: ticket.show_id,
            status: if revoked_then {
                TicketStatus::Revoked
            } else {
                TicketStatus::Valid
            },
            on_list: list.covers(ticket.zone_id),
            used: false,
        };
        let verdict = judge(list.show_id, &view);
        let at_gate = Gate {
            show: list.show_id,
            list: Some(list),
            name: gate,
            offline: true,
        };
        let scan = self.scan_record(&ticket, &at_gate, at, verdict);
        if verdict != ScanResult::Valid {
            self.store().record_scan(&scan).await?;
            return Ok(answer(verdict, Some(&ticket)));
        }
        Ok(match self.store().merge_offline_scan(&scan).await? {
            Admission::Admitted => answer(ScanResult::Valid, Some(&ticket)),
            Admission::Earlier(first) => ScanView {
                first_scan: Some(FirstScan::from(&first)),
                ..answer(ScanResult::AlreadyUsed, Some(&ticket))
            },
        })
    }

    /// Checked in and valid tickets per zone, live.
    pub async fn attendance(&self, who: Principal, show: ShowId) -> Result<AttendanceView> {
        self.door(&who, show).await?;
        let meta = self.cache().get(show).ok_or(Error::NotFound("show"))?;
        let rows = self.store().attendance(show).await?;
        Ok(AttendanceView::new(show, &rows, |zone| {
            meta.zones
                .iter()
                .find(|z| z.id == zone)
                .map_or_else(|| "(zone removed)".into(), |z| z.details.name.clone())
        }))
    }
}

fn revoked_ids(tickets: &[TicketRecord]) -> Vec<String> {
    tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Revoked)
        .map(|t| t.id.clone())
        .collect()
}
