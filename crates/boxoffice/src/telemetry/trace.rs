//! Trace context: every request gets a W3C trace id (the caller's `traceparent`
//! when it sends one), which its logs, its problem responses and the outbox events
//! it writes carry. With an OTLP endpoint configured, spans are exported through
//! OpenTelemetry; without one nothing is exported and no exporter runs.
//!
//! Sampling is decided when a request arrives, before any of its spans exists: the
//! caller's sampled flag when it sends one, else the configured ratio. The export
//! layer's filter then never sees the spans of a request left out, so the other 90 %
//! (at the default 0.1) cost no OpenTelemetry span data at all.
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans go to an OpenTelemetry exporter, and the share of new traces
/// sampled; set once at start-up.
static EXPORTING: OnceLock<(bool, f64)> = OnceLock::new();

pub(super) fn set_exporting(on: bool, ratio: f64) {
    let _ = EXPORTING.set((on, ratio.clamp(0.0, 1.0)));
}

fn exporting() -> bool {
    EXPORTING.get().is_some_and(|(on, _)| *on)
}

/// Whether a request with `parent` (the caller's context, if any) is sampled: the
/// caller's decision when it made one, else a draw at the configured ratio.
pub fn sampled(parent: Option<&TraceContext>) -> bool {
    match parent {
        Some(p) => p.sampled,
        None => {
            let ratio = EXPORTING.get().map_or(1.0, |(_, r)| *r);
            ratio >= 1.0 || rand::random::<f64>() < ratio
        }
    }
}

/// Whether the export layer sees what is being created now: everything of a
/// sampled request, nothing of one left out, and work outside any request (one
/// span per batch of background jobs, which links the requests it serves).
pub(super) fn in_sample() -> bool {
    CURRENT.try_with(|c| c.sampled).unwrap_or(true)
}

/// Where a unit of work sits in a distributed trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// A new trace (no caller context).
    pub fn root() -> Self {
        Self::fresh(true)
    }

    /// A new trace, sampled or not.
    fn fresh(sampled: bool) -> Self {
        Self {
            trace_id: TraceId::from_bytes(rand::random::<[u8; 16]>()),
            span_id: new_span_id(),
            sampled,
        }
    }

    /// The span of a request: created with the sampling decision already in force,
    /// so a request left out never reaches the export layer; the context it runs in
    /// (see [`TraceContext::enter`]).
    pub fn request_span(
        parent: Option<Self>,
        make: impl FnOnce() -> tracing::Span,
    ) -> (tracing::Span, Self) {
        let sampled = sampled(parent.as_ref());
        let provisional = match parent {
            Some(p) => Self {
                span_id: new_span_id(),
                ..p
            },
            None => Self::fresh(sampled),
        };
        let span = CURRENT.sync_scope(provisional, make);
        if !sampled {
            return (span, provisional);
        }
        (span.clone(), Self::enter(parent, &span))
    }

    /// The context a `traceparent` value names, if it is well formed.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let lengths: Vec<usize> = traceparent.split('-').map(str::len).collect();
        if lengths.len() < 4 || lengths[..4] != [2, 32, 16, 2] {
            return None;
        }
        let carrier = One(traceparent);
        let cx = TraceContextPropagator::new().extract(&carrier);
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| Self {
            trace_id: sc.trace_id(),
            span_id: sc.span_id(),
            sampled: sc.is_sampled(),
        })
    }

    /// The W3C `traceparent` header value.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    fn span_context(&self) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        )
    }

    /// Makes `span` a child of this context, and returns the context of `span`
    /// itself: with an exporter, the ids OpenTelemetry gave it; without, this
    /// trace with a fresh span id.
    pub fn enter(parent: Option<Self>, span: &tracing::Span) -> Self {
        if exporting() {
            if let Some(p) = parent {
                let _ = span.set_parent(
                    opentelemetry::Context::new().with_remote_span_context(p.span_context()),
                );
            }
            let cx = span.context();
            let own = cx.span();
            let sc = own.span_context();
            if sc.is_valid() {
                return Self {
                    trace_id: sc.trace_id(),
                    span_id: sc.span_id(),
                    sampled: sc.is_sampled(),
                };
            }
        }
        match parent {
            Some(p) => Self {
                span_id: new_span_id(),
                ..p
            },
            None => Self::root(),
        }
    }

    /// Runs `f` with this as the current context (see [`current`]).
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }
}

/// Runs `f` with `context` as the current context (kept as it is when `None`): how
/// a writer serving many requests records each one's trace with its events.
pub fn within<T>(context: Option<TraceContext>, f: impl FnOnce() -> T) -> T {
    match context {
        Some(c) => CURRENT.sync_scope(c, f),
        None => f(),
    }
}

/// [`within`] for a future.
pub async fn within_async<F: std::future::Future>(
    context: Option<TraceContext>,
    f: F,
) -> F::Output {
    match context {
        Some(c) => CURRENT.scope(c, f).await,
        None => f.await,
    }
}

/// The context a background batch (a group commit, a consumer's batch) runs in, so
/// that it is exported only when worth it: when one of the requests it serves was
/// sampled (`serves_sampled`), or, for work that serves no request
/// (`serves_unrequested`: an expiry, a retry), at the configured ratio. A batch of
/// requests left out of the sample is left out too: before, every batch was
/// exported, so the export cost the same at a ratio of 1 % as at 10 %. `None`
/// without an exporter (nothing to decide).
pub fn batch_context(serves_sampled: bool, serves_unrequested: bool) -> Option<TraceContext> {
    exporting()
        .then(|| TraceContext::fresh(serves_sampled || (serves_unrequested && sampled(None))))
}

/// Links `span` (a batch consumer's) to `context` (a request whose event it handles,
/// see [`linkable`]).
pub fn add_link(span: &tracing::Span, context: &TraceContext) {
    span.add_link(context.span_context());
}

/// The context a `traceparent` names, when spans are exported and that trace is
/// sampled: the others are not exported, a link to them would lead nowhere.
pub fn linkable(traceparent: &str) -> Option<TraceContext> {
    if !exporting() {
        return None;
    }
    TraceContext::parse(traceparent).filter(|c| c.sampled)
}

/// The context of the request (or job) this task serves, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| *c).ok()
}

/// The current trace as a `traceparent` value, to carry across a queue.
pub fn current_traceparent() -> Option<String> {
    current().map(|c| c.traceparent())
}

fn new_span_id() -> SpanId {
    SpanId::from_bytes(rand::random::<[u8; 8]>())
}

/// A carrier holding one `traceparent` value.
struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_garbage_is_refused() {
        let ctx = TraceContext::root();
        let parsed = TraceContext::parse(&ctx.traceparent()).expect("parses");
        assert_eq!(parsed, ctx);
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(given).expect("parses");
        assert_eq!(
            parsed.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parsed.traceparent(), given);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad} is refused");
        }
    }

    #[test]
    fn a_caller_s_sampling_decision_is_followed_and_spans_are_made_inside_it() {
        let mut caller = TraceContext::root();
        caller.sampled = false;
        assert!(!sampled(Some(&caller)));
        let (_, own) = TraceContext::request_span(Some(caller), || {
            assert!(!in_sample(), "the span is made with the decision in force");
            tracing::Span::none()
        });
        assert_eq!((own.trace_id, own.sampled), (caller.trace_id, false));
        assert_ne!(own.span_id, caller.span_id);
        caller.sampled = true;
        assert!(sampled(Some(&caller)));
        assert!(
            in_sample(),
            "outside a request: background work is exported"
        );
    }

    #[test]
    fn without_an_exporter_a_child_keeps_the_trace_and_gets_its_own_span() {
        let parent = TraceContext::root();
        let child = TraceContext::enter(Some(parent), &tracing::Span::none());
        assert_eq!(child.trace_id, parent.trace_id);
        assert_ne!(child.span_id, parent.span_id);
        let fresh = TraceContext::enter(None, &tracing::Span::none());
        assert_ne!(fresh.trace_id, parent.trace_id);
    }
}
