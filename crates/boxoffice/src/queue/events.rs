//! Server-Sent Events for a waiting buyer: the place is pushed when it moves and the
//! pass when it comes, so a buyer need not poll. Updates are at most one a
//! `queue.stream_interval_ms` per stream, so 50,000 open streams stay cheap.
use super::views::PlaceView;
use super::QueueService;
use crate::accounts::Principal;
use crate::error::Result;
use axum::response::sse::{Event, KeepAlive, Sse};
use boxoffice_domain::ShowId;
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Even without a change, the estimate is refreshed this often.
const REFRESH: Duration = Duration::from_secs(15);

struct Follow {
    service: Arc<QueueService>,
    who: Principal,
    show: ShowId,
    changed: tokio::sync::watch::Receiver<u64>,
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
pub(crate) fn follow(
    service: Arc<QueueService>,
    who: Principal,
    show: ShowId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let first = service.snapshot(&who, show)?;
    let changed = service.subscribe(show)?;
    let interval = Duration::from_millis(service.config.stream_interval_ms.max(10));
    let state = Follow {
        service,
        who,
        show,
        changed,
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
            tokio::time::sleep(interval).await;
            let _ = tokio::time::timeout(REFRESH, s.changed.changed()).await;
            match s.service.snapshot(&s.who, s.show) {
                Ok(place) => next = Some(place),
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
