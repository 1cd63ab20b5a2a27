//! The live status of a show's seats in a compact, cacheable form: run lengths over
//! the seat index (`"120f3h2s"`), tagged with the engine's version so a client polls
//! with `If-None-Match` and gets `304` until a seat changes.
use boxoffice_domain::seating::SeatState;
use boxoffice_domain::ShowId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One letter per state: free, held, sold, blocked.
pub fn letter(s: SeatState) -> char {
    match s {
        SeatState::Free => 'f',
        SeatState::Held => 'h',
        SeatState::Sold => 's',
        SeatState::Blocked => 'b',
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatStatusView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    /// Moves on every change of any seat; also the `ETag`.
    pub version: String,
    pub seats: u32,
    /// Seat states in index order as runs of `<count><state>`, states `f` (free),
    /// `h` (held), `s` (sold), `b` (blocked): `"3f1s2f"` is seats 0-2 free, 3 sold,
    /// 4-5 free.
    #[schema(example = "120f3h2s1b")]
    pub runs: String,
    pub free: u32,
    pub held: u32,
    pub sold: u32,
    pub blocked: u32,
}

impl SeatStatusView {
    pub fn encode(show_id: ShowId, version: String, states: &[SeatState]) -> Self {
        let mut runs = String::new();
        let mut counts = [0u32; 4];
        let mut i = 0;
        while i < states.len() {
            let s = states[i];
            let mut j = i;
            while j < states.len() && states[j] == s {
                j += 1;
            }
            runs.push_str(&(j - i).to_string());
            runs.push(letter(s));
            counts[s as usize] += u32::try_from(j - i).unwrap_or(u32::MAX);
            i = j;
        }
        Self {
            show_id,
            version,
            seats: u32::try_from(states.len()).unwrap_or(u32::MAX),
            runs,
            free: counts[SeatState::Free as usize],
            held: counts[SeatState::Held as usize],
            sold: counts[SeatState::Sold as usize],
            blocked: counts[SeatState::Blocked as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeatState::*;

    #[test]
    fn runs_cover_every_seat_in_order() {
        let v = SeatStatusView::encode(
            ShowId::new(),
            "1".into(),
            &[Free, Free, Free, Sold, Held, Held, Blocked],
        );
        assert_eq!(v.runs, "3f1s2h1b");
        assert_eq!(
            (v.seats, v.free, v.held, v.sold, v.blocked),
            (7, 3, 2, 1, 1)
        );
    }
}
