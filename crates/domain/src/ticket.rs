//! E-tickets and the door: what a ticket is, why its code stops working, what a scan
//! answers, and how scans made offline at several gates are merged afterwards (the
//! first scan wins, every scan is kept) so online and offline gates agree.
use crate::ids::ShowId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether a ticket's code still opens the door.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Valid,
    Revoked,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 2] = [TicketStatus::Valid, TicketStatus::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Valid => "valid",
            TicketStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Why a code was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The booking was cancelled.
    Cancelled,
    /// The booking's money went back (in full or in part): the seats are on sale again.
    Refunded,
    /// The holder gave the ticket to someone else, who got a new code.
    Transferred,
}

impl RevokeReason {
    pub const ALL: [RevokeReason; 3] = [
        RevokeReason::Cancelled,
        RevokeReason::Refunded,
        RevokeReason::Transferred,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Cancelled => "cancelled",
            RevokeReason::Refunded => "refunded",
            RevokeReason::Transferred => "transferred",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a gate is told about one scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Let them in: this scan is the ticket's first.
    Valid,
    /// Scanned before (the answer says when and at which gate).
    AlreadyUsed,
    /// A ticket of another show.
    WrongShow,
    /// Not on this check-in list (another zone's entrance).
    NotOnList,
    /// Cancelled, refunded or transferred: the code no longer opens the door.
    Revoked,
    /// No such ticket, or a payload whose signature does not verify.
    Unknown,
}

impl ScanResult {
    pub const ALL: [ScanResult; 6] = [
        ScanResult::Valid,
        ScanResult::AlreadyUsed,
        ScanResult::WrongShow,
        ScanResult::NotOnList,
        ScanResult::Revoked,
        ScanResult::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Valid => "valid",
            ScanResult::AlreadyUsed => "already_used",
            ScanResult::WrongShow => "wrong_show",
            ScanResult::NotOnList => "not_on_list",
            ScanResult::Revoked => "revoked",
            ScanResult::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the holder goes in.
    pub fn admits(self) -> bool {
        self == ScanResult::Valid
    }
}

/// What the door knows about a ticket when it is scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorView {
    pub show: ShowId,
    pub status: TicketStatus,
    /// Whether the list being scanned covers the ticket's zone.
    pub on_list: bool,
    /// Whether it was admitted already.
    pub used: bool,
}

/// The answer to a scan of a known ticket at a gate of `show`. Revocation is told
/// before use: a refunded ticket that was also scanned is reported as revoked.
pub fn judge(show: ShowId, ticket: &DoorView) -> ScanResult {
    if ticket.show != show {
        ScanResult::WrongShow
    } else if ticket.status == TicketStatus::Revoked {
        ScanResult::Revoked
    } else if !ticket.on_list {
        ScanResult::NotOnList
    } else if ticket.used {
        ScanResult::AlreadyUsed
    } else {
        ScanResult::Valid
    }
}

/// One scan of one ticket, online or recorded by a gate while offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub gate: String,
    pub scanned_at: Timestamp,
}

/// Orders scans of one ticket: earliest first, then by gate name, so every party
/// that merges the same scans picks the same winner.
pub fn first_scan_order(a: &Scan, b: &Scan) -> std::cmp::Ordering {
    a.scanned_at
        .cmp(&b.scanned_at)
        .then_with(|| a.gate.cmp(&b.gate))
}

/// Merges the scans of one ticket: the index of the one that admits (the earliest,
/// unless an earlier admission is already recorded), `None` when `earlier` already
/// admitted. Every scan is kept by the caller; only one admits.
pub fn winner(earlier: Option<&Scan>, scans: &[Scan]) -> Option<usize> {
    let best = scans
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| first_scan_order(a, b))
        .map(|(i, _)| i)?;
    match earlier {
        Some(e) if first_scan_order(e, &scans[best]).is_le() => None,
        _ => Some(best),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn view(show: ShowId) -> DoorView {
        DoorView {
            show,
            status: TicketStatus::Valid,
            on_list: true,
            used: false,
        }
    }

    #[test]
    fn a_scan_is_judged_in_a_fixed_order() {
        let show = ShowId::new();
        assert_eq!(judge(show, &view(show)), ScanResult::Valid);
        assert_eq!(judge(ShowId::new(), &view(show)), ScanResult::WrongShow);
        let used = DoorView {
            used: true,
            ..view(show)
        };
        assert_eq!(judge(show, &used), ScanResult::AlreadyUsed);
        let revoked = DoorView {
            status: TicketStatus::Revoked,
            ..used
        };
        assert_eq!(judge(show, &revoked), ScanResult::Revoked);
        let elsewhere = DoorView {
            on_list: false,
            ..view(show)
        };
        assert_eq!(judge(show, &elsewhere), ScanResult::NotOnList);
        assert!(ScanResult::Valid.admits() && !ScanResult::AlreadyUsed.admits());
    }

    #[test]
    fn names_round_trip() {
        for r in ScanResult::ALL {
            assert_eq!(ScanResult::parse(r.as_str()), Some(r));
        }
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
        }
        for s in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(s));
        }
    }

    fn scan(gate: &str, at: i64) -> Scan {
        Scan {
            gate: gate.into(),
            scanned_at: Timestamp::from_millis(at),
        }
    }

    #[test]
    fn the_first_scan_wins_and_a_recorded_admission_stands() {
        let scans = [scan("north", 20), scan("south", 10), scan("east", 10)];
        assert_eq!(winner(None, &scans), Some(2), "same instant: by gate name");
        assert_eq!(winner(Some(&scan("west", 5)), &scans), None);
        assert_eq!(winner(Some(&scan("west", 15)), &scans), Some(2));
        assert_eq!(winner(None, &[]), None);
    }

    proptest! {
        /// However the scans of one ticket arrive (split into uploads in any order),
        /// the admission on record in the end is the earliest scan of all.
        #[test]
        fn the_earliest_scan_is_the_admission_whatever_the_upload_order(
            raw in proptest::collection::vec((0u8..4, 0i64..50), 1..20),
            cut in proptest::collection::vec(any::<bool>(), 20),
        ) {
            let scans: Vec<Scan> = raw.iter().map(|(g, at)| scan(&format!("gate-{g}"), *at)).collect();
            // Upload in batches: a new batch starts wherever `cut` says.
            let mut admitted: Option<Scan> = None;
            let mut admissions = 0;
            let mut batch: Vec<Scan> = Vec::new();
            for (i, s) in scans.iter().enumerate() {
                batch.push(s.clone());
                if cut[i] || i + 1 == scans.len() {
                    if let Some(w) = winner(admitted.as_ref(), &batch) {
                        admissions += 1;
                        admitted = Some(batch[w].clone());
                    }
                    batch.clear();
                }
            }
            let earliest = scans.iter().min_by(|a, b| first_scan_order(a, b)).unwrap();
            prop_assert!(admissions >= 1);
            prop_assert_eq!(admitted.as_ref(), Some(earliest));
        }
    }
}
