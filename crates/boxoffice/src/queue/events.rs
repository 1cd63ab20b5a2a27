//! Server-Sent Events for a waiting buyer: the place is pushed when it moves and the
//! pass when it comes, so a buyer need not poll. Updates are at most one a
//! `queue.stream_interval_ms` per stream near the front, and one a tenth of the
//! estimated wait further back, so 50,000 open streams stay cheap.
use super::service::Following;
use super::views::PlaceView;
use super::QueueService;
use crate::accounts::Principal;
use crate::error::Result;
use axum::response::sse::{Event, KeepAlive, Sse};
use boxoffice_domain::queue::look_again_after_ms;
use boxoffice_domain::ShowId;
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Even without a change, the estimate is refreshed this often.
const REFRESH_MS: u64 = 15_000;

struct Follow {
    service: Arc<QueueService>,
    who: Principal,
    show: ShowId,
    following: Following,
    last: Option<PlaceView>,
    done: bool,
}

fn event_of(place: &PlaceView) -> Event {
    let name = match place.status.as_str() {
        "waiting" => "position",
        other => other,
    };
    Event::default()
        .event(name)
        .json_data(place)
        .unwrap_or_else(|_| Event::default().event("error"))
}

/// The caller's place as a stream of events: `position` while waiting, then one
/// `admitted` (with the pass), `lost` or `left`, after which the stream ends.
///
/// A stream looks again when its buyer is admitted, leaves or loses its pass (at
/// once), when the queue's settings change or the draw is made, and otherwise at
/// its pace: every `queue.stream_interval_ms` near the front, a tenth of the
/// estimated wait further back, at most every [`REFRESH_MS`].
pub(crate) fn follow(
    service: Arc<QueueService>,
    who: Principal,
    show: ShowId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (first, following) = service.follow(&who, show)?;
    let interval_ms = service.config.stream_interval_ms.max(10);
    let state = Follow {
        service,
        who,
        show,
        following,
        last: None,
        done: false,
    };
    let events = stream::unfold((state, Some(first)), move |(mut s, ready)| async move {
        if s.done {
            return None;
        }
        let mut next = ready;
        loop {
            if let Some(place) = next.take() {
                if s.last.as_ref() != Some(&place) {
                    s.done = place.status != "waiting";
                    let event = event_of(&place);
                    s.last = Some(place);
                    return Some((Ok::<Event, Infallible>(event), (s, None)));
                }
            }
            let estimated = s.last.as_ref().and_then(|p| p.estimated_wait_secs);
            let pace = look_again_after_ms(interval_ms, estimated, REFRESH_MS);
            tokio::select! {
                () = s.following.own.notified() => {}
                changed = s.following.changed.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(pace)) => {}
            }
            match s.service.snapshot(&s.who, s.show) {
                Ok(place) => next = Some(place),
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
