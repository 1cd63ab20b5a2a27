//! The organizer's pages: their organizations' events, a new event, a show with its
//! first zone, more zones, and the on-sale dashboard (sold, held and available per
//! zone, drawn as bars and pushed live while the sale runs, with the revenue). Who may
//! do what is decided by the services, as for the API.
use super::view::{in_words, Ctx, Submitted};
use crate::catalog::{EventInput, ShowInput, ZoneInput};
use crate::error::Error;
use crate::payments::views::ApproveRefund;
use crate::queue::views::QueueSettingsInput;
use crate::store::{EventFilter, Page};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::catalog::{parse_category, Category};
use boxoffice_domain::payment::RefundStatus;
use boxoffice_domain::{EventId, FieldError, OrganizationId, ShowId};
use futures_util::stream;
use minijinja::{context, Value};
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

/// Field errors by the form's field names.
pub(super) fn by_field(errors: &[FieldError], names: &[(&str, &str)]) -> HashMap<String, String> {
    errors
        .iter()
        .map(|e| {
            let field = names
                .iter()
                .find(|(from, _)| *from == e.field)
                .map_or(e.field.as_str(), |(_, to)| to);
            (field.to_owned(), e.message.clone())
        })
        .collect()
}

fn categories() -> Vec<&'static str> {
    Category::ALL.iter().map(|c| c.as_str()).collect()
}

/// The events of `orgs` (up to 100 each), with their organization's name.
pub(super) async fn events_of(
    state: &crate::state::AppState,
    orgs: &[crate::organizations::OrganizationView],
) -> Vec<(String, crate::catalog::EventView)> {
    let mut out = Vec::new();
    for org in orgs {
        let filter = EventFilter {
            organization: Some(org.id),
            ..EventFilter::default()
        };
        let page = Page {
            page: 1,
            per_page: 100,
        };
        if let Ok((found, _)) = state.catalog.list_events(filter, page).await {
            out.extend(found.into_iter().map(|e| (org.name.clone(), e)));
        }
    }
    out
}

pub(super) async fn home(ctx: Ctx) -> Response {
    home_page(ctx, context! {}, HashMap::new(), StatusCode::OK).await
}

async fn home_page(
    ctx: Ctx,
    form: Value,
    errors: HashMap<String, String>,
    status: StatusCode,
) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let state = ctx.state.clone();
    let orgs = match state.organizations.mine(viewer.principal).await {
        Ok(o) => o,
        Err(e) => return ctx.failure(e),
    };
    let events: Vec<Value> = events_of(&ctx.state, &orgs)
        .await
        .into_iter()
        .map(|(org, event)| context! { org => org, event => event })
        .collect();
    ctx.render(
        status,
        "organize.html",
        context! {
            title => "Organize",
            orgs => orgs,
            events => events,
            categories => categories(),
            form => form,
            errors => errors,
        },
    )
}

#[derive(Deserialize, serde::Serialize)]
pub(super) struct NewEvent {
    title: Option<String>,
    category: Option<String>,
    city: Option<String>,
    description: Option<String>,
    organization_id: Option<String>,
}

pub(super) async fn create_event(Submitted { ctx, form }: Submitted<NewEvent>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let category = parse_category(form.category.as_deref().unwrap_or_default());
    let organization = form
        .organization_id
        .as_deref()
        .and_then(|o| o.parse::<OrganizationId>().ok());
    let Ok(category) = category else {
        let errors = HashMap::from([("category".to_owned(), "Choose a category.".to_owned())]);
        return home_page(
            ctx,
            Value::from_serialize(&form),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let input = EventInput {
        title: form.title.clone().unwrap_or_default(),
        description: form.description.clone().unwrap_or_default(),
        category,
        city: form.city.clone().unwrap_or_default(),
        organization_id: organization,
    };
    match ctx
        .state
        .catalog
        .create_event(viewer.principal, input)
        .await
    {
        Ok(event) => Redirect::to(&format!("/organize/events/{}", event.id)).into_response(),
        Err(Error::Validation(fields)) => {
            let errors = by_field(&fields, &[]);
            home_page(
                ctx,
                Value::from_serialize(&form),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => ctx.failure(e),
    }
}

pub(super) async fn event(ctx: Ctx, Path(id): Path<String>) -> Response {
    event_page(ctx, id, context! {}, StatusCode::OK).await
}

/// The event's page with `extra`: a form sent back with its errors (`form`/`errors`
/// for a new show, `edit`/`edit_errors` for the event itself).
async fn event_page(ctx: Ctx, id: String, extra: Value, status: StatusCode) -> Response {
    let (_, id) = match ctx.viewer_and::<EventId>(&id, "event") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let event = match ctx.state.catalog.event(id).await {
        Ok(e) => e,
        Err(e) => return ctx.failure(e),
    };
    let shows = ctx
        .state
        .catalog
        .shows_of_event(id)
        .await
        .unwrap_or_default();
    let current = context! {
        title => event.title.clone(),
        category => event.category.clone(),
        city => event.city.clone(),
        description => event.description.clone(),
    };
    ctx.render(
        status,
        "organize_event.html",
        context! {
            title => event.title.clone(),
            event => event,
            shows => shows,
            categories => categories(),
            ..minijinja::value::merge_maps([
                // Later maps win: what was sent back over the defaults.
                context! { form => context! {}, errors => context! {}, edit => current, edit_errors => context! {} },
                extra,
            ])
        },
    )
}

/// Changes the event's title, category, city and description.
pub(super) async fn update_event(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<NewEvent>,
) -> Response {
    let (viewer, event) = match ctx.viewer_and::<EventId>(&id, "event") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let sent_back = |errors: HashMap<String, String>| {
        context! { edit => Value::from_serialize(&form), edit_errors => errors }
    };
    let Ok(category) = parse_category(form.category.as_deref().unwrap_or_default()) else {
        let errors = HashMap::from([("category".to_owned(), "Choose a category.".to_owned())]);
        return event_page(ctx, id, sent_back(errors), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let input = EventInput {
        title: form.title.clone().unwrap_or_default(),
        description: form.description.clone().unwrap_or_default(),
        category,
        city: form.city.clone().unwrap_or_default(),
        organization_id: None,
    };
    match ctx
        .state
        .catalog
        .update_event(viewer.principal, event, input)
        .await
    {
        Ok(_) => Redirect::to(&format!("/organize/events/{event}")).into_response(),
        Err(Error::Validation(fields)) => {
            let errors = by_field(&fields, &[]);
            event_page(ctx, id, sent_back(errors), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => ctx.failure(e),
    }
}

#[derive(Deserialize, serde::Serialize)]
pub(super) struct NewShow {
    venue: Option<String>,
    starts_at: Option<String>,
    per_user_limit: Option<String>,
    hold_minutes: Option<String>,
    zone_name: Option<String>,
    zone_price: Option<String>,
    zone_currency: Option<String>,
    zone_capacity: Option<String>,
}

/// `2027-06-01T20:00` (a `datetime-local` field, read as UTC) → RFC 3339.
pub(super) fn local_time(raw: &str) -> String {
    let raw = raw.trim();
    match raw.len() {
        16 => format!("{raw}:00Z"),
        19 => format!("{raw}Z"),
        _ => raw.to_owned(),
    }
}

/// `45`, `45.5` or `45.50` → 4500 minor units.
pub(super) fn price_minor(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if frac.len() > 2
        || whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = format!("{frac:0<2}").parse::<i64>().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// A whole number from a form, or a field error.
pub(super) fn number(
    raw: Option<&str>,
    field: &str,
    errors: &mut HashMap<String, String>,
) -> Option<i64> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
    match raw.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.insert(field.to_owned(), "Must be a whole number.".to_owned());
            None
        }
    }
}

pub(super) async fn create_show(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<NewShow>,
) -> Response {
    let (viewer, event) = match ctx.viewer_and::<EventId>(&id, "event") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let mut errors = HashMap::new();
    let per_user_limit = number(
        form.per_user_limit.as_deref(),
        "per_user_limit",
        &mut errors,
    );
    let hold = number(form.hold_minutes.as_deref(), "hold_minutes", &mut errors);
    let capacity = number(form.zone_capacity.as_deref(), "zone_capacity", &mut errors).unwrap_or(0);
    let price = price_minor(form.zone_price.as_deref().unwrap_or_default());
    if price.is_none() {
        errors.insert(
            "zone_price".to_owned(),
            "A price such as 45 or 45.50.".to_owned(),
        );
    }
    if !errors.is_empty() {
        let extra = context! { form => Value::from_serialize(&form), errors => errors };
        return event_page(ctx, id, extra, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let input = ShowInput {
        venue: form.venue.clone().unwrap_or_default(),
        starts_at: local_time(form.starts_at.as_deref().unwrap_or_default()),
        sale_opens_at: None,
        sale_closes_at: None,
        hold_ttl_secs: hold.map(|m| m.saturating_mul(60)),
        per_user_limit,
        zones: vec![ZoneInput {
            name: form.zone_name.clone().unwrap_or_default(),
            price_minor: price.unwrap_or_default(),
            currency: form
                .zone_currency
                .clone()
                .unwrap_or_default()
                .trim()
                .to_uppercase(),
            capacity,
        }],
    };
    match ctx
        .state
        .catalog
        .create_show(viewer.principal, event, input)
        .await
    {
        Ok(show) => Redirect::to(&format!("/organize/shows/{}", show.id)).into_response(),
        Err(Error::Validation(fields)) => {
            let errors = by_field(
                &fields,
                &[
                    ("hold_ttl_secs", "hold_minutes"),
                    ("zones[0].name", "zone_name"),
                    ("zones[0].price_minor", "zone_price"),
                    ("zones[0].currency", "zone_currency"),
                    ("zones[0].capacity", "zone_capacity"),
                ],
            );
            let extra = context! { form => Value::from_serialize(&form), errors => errors };
            event_page(ctx, id, extra, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => ctx.failure(e),
    }
}

pub(super) async fn dashboard(ctx: Ctx, Path(id): Path<String>) -> Response {
    dashboard_page(ctx, id, None, StatusCode::OK).await
}

async fn dashboard_page(
    ctx: Ctx,
    id: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    // The sales report decides who may look (members with sales rights, admins).
    let sales = match ctx.state.payments.sales(viewer.principal, show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let show = match ctx.state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let event = ctx.state.catalog.event(show.event_id).await.ok();
    let currency = show
        .zones
        .first()
        .map(|z| z.currency.clone())
        .unwrap_or_default();
    let who = viewer.principal;
    let timeline = ctx
        .state
        .booking
        .sales_timeline(who, show_id, TIMELINE_BUCKET_MS)
        .await
        .unwrap_or_default();
    let chart = chart(&timeline);
    ctx.state.queue.know(show_id).await;
    let queue = ctx.state.queue.get(show_id).ok();
    let queue_stats = match &queue {
        Some(_) => ctx.state.queue.stats(&who, show_id).await.ok(),
        None => None,
    };
    let refunds = ctx
        .state
        .payments
        .show_refunds(
            who,
            show_id,
            RefundStatus::parse("requested"),
            Page {
                page: 1,
                per_page: 50,
            },
        )
        .await
        .map(|(r, _)| r)
        .unwrap_or_default();
    ctx.render(
        status,
        "dashboard.html",
        context! {
            title => "Sales",
            show => show,
            event => event,
            sales => sales,
            currency => currency,
            chart => chart,
            queue => queue,
            queue_stats => queue_stats,
            refunds => refunds,
            error => error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct QueueForm {
    method: Option<String>,
    opens_at: Option<String>,
    admission: Option<String>,
    rate_per_sec: Option<String>,
}

/// Sets up (or changes) the show's waiting room.
pub(super) async fn configure_queue(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<QueueForm>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let admission = form.admission.unwrap_or_else(|| "fixed".to_owned());
    let rate = form
        .rate_per_sec
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let rate_per_sec = match rate.map(str::parse::<u32>) {
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => {
            let message = "Admissions a second: a whole number.".to_owned();
            return dashboard_page(ctx, id, Some(message), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        None => None,
    };
    let opens = form
        .opens_at
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    let input = QueueSettingsInput {
        method: form.method.unwrap_or_default(),
        opens_at: opens.map_or_else(
            || crate::timefmt::rfc3339(ctx.state.clock.now()),
            local_time,
        ),
        rate_per_sec: if admission == "fixed" {
            rate_per_sec
        } else {
            None
        },
        admission,
        pass_ttl_secs: None,
        max_size: None,
        pre_queue_secs: None,
        lottery_winners: None,
        verified_email_only: None,
    };
    match ctx
        .state
        .queue
        .configure(&viewer.principal, show, input)
        .await
    {
        Ok(_) => Redirect::to(&format!("/organize/shows/{show}")).into_response(),
        Err(e @ (Error::Validation(_) | Error::Conflict { .. })) => {
            let message = in_words(&e);
            dashboard_page(ctx, id, Some(message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => ctx.failure(e),
    }
}

#[derive(Deserialize)]
pub(super) struct QueueAction {
    action: Option<String>,
}

/// Pauses, resumes, drains or closes the waiting room.
pub(super) async fn steer_queue(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<QueueAction>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let action = form.action.unwrap_or_default();
    match ctx.state.queue.act(&viewer.principal, show, &action).await {
        Ok(_) => Redirect::to(&format!("/organize/shows/{show}")).into_response(),
        Err(e @ (Error::Validation(_) | Error::Conflict { .. })) => {
            let message = in_words(&e);
            dashboard_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
        Err(e) => ctx.failure(e),
    }
}

#[derive(Deserialize)]
pub(super) struct RefundDecision {
    show_id: Option<String>,
    decision: Option<String>,
}

/// Approves (in full) or rejects a refund the policy left to the organizer.
pub(super) async fn decide_refund(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<RefundDecision>,
) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let show = form.show_id.unwrap_or_default();
    let payments = ctx.state.payments.clone();
    let decided = match form.decision.as_deref() {
        Some("approve") => payments
            .approve_refund(viewer.principal, &id, ApproveRefund { percent: None })
            .await
            .map(drop),
        Some("reject") => payments
            .reject_refund(viewer.principal, &id)
            .await
            .map(drop),
        _ => Err(Error::field("decision", "must be approve or reject")),
    };
    match decided {
        Ok(()) if show.parse::<ShowId>().is_ok() => {
            Redirect::to(&format!("/organize/shows/{show}")).into_response()
        }
        Ok(()) => Redirect::to("/organize").into_response(),
        Err(e @ (Error::Validation(_) | Error::Conflict { .. })) => {
            let message = in_words(&e);
            dashboard_page(ctx, show, Some(message), StatusCode::CONFLICT).await
        }
        Err(e) => ctx.failure(e),
    }
}

/// The sales chart's bucket: a minute.
const TIMELINE_BUCKET_MS: i64 = 60_000;
/// The chart's drawing box (SVG user units).
const CHART_W: f64 = 600.0;
const CHART_H: f64 = 160.0;

/// Tickets sold over time as a cumulative line, drawn here: the polyline's points, the
/// total, and the first and last instants (RFC 3339) for the axis labels.
fn chart(timeline: &[(i64, u32)]) -> Option<Value> {
    let (first, last) = (timeline.first()?.0, timeline.last()?.0);
    let total: u64 = timeline.iter().map(|(_, n)| u64::from(*n)).sum();
    let span = (last - first).max(1) as f64;
    let mut running = 0u64;
    let mut points = vec![format!("0,{CHART_H}")];
    for (at, n) in timeline {
        running += u64::from(*n);
        let x = if last == first {
            CHART_W
        } else {
            (*at - first) as f64 / span * CHART_W
        };
        let y = CHART_H - running as f64 / total.max(1) as f64 * CHART_H;
        points.push(format!("{x:.1},{y:.1}"));
    }
    Some(context! {
        points => points.join(" "),
        total => total,
        from => crate::timefmt::rfc3339(boxoffice_domain::Timestamp::from_millis(first)),
        to => crate::timefmt::rfc3339(boxoffice_domain::Timestamp::from_millis(last + TIMELINE_BUCKET_MS)),
        width => CHART_W,
        height => CHART_H,
    })
}

/// What the dashboard's script reads: figures per zone and the money.
fn sales_event(report: &crate::booking::SalesReport) -> String {
    let zones: Vec<_> = report
        .zones
        .iter()
        .map(|z| {
            serde_json::json!({"zone_id": z.zone_id, "capacity": z.capacity, "sold": z.sold,
                "held": z.held, "available": z.available})
        })
        .collect();
    let money = &report.revenue;
    serde_json::json!({
        "zones": zones,
        "captured_minor": money.captured_minor,
        "refunded_minor": money.refunded_minor,
        "net_minor": money.net_minor,
    })
    .to_string()
}

/// The show's sales per zone, pushed when they change.
pub(super) async fn live(ctx: Ctx, Path(id): Path<String>) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let payments = ctx.state.payments.clone();
    if let Err(e) = payments.sales(viewer.principal, show).await {
        return ctx.failure(e);
    }
    let who = viewer.principal;
    let events = stream::unfold(
        (payments, String::new()),
        move |(payments, last)| async move {
            loop {
                if let Ok(report) = payments.sales(who, show).await {
                    let body = sales_event(&report);
                    if body != last {
                        let event = Event::default().event("sales").data(body.clone());
                        return Some((Ok::<_, Infallible>(event), (payments, body)));
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_climbs_to_the_total_from_the_first_sale_to_the_last() {
        assert!(chart(&[]).is_none());
        let c = chart(&[(0, 2), (60_000, 0), (120_000, 6)]).expect("a chart");
        assert_eq!(c.get_attr("total").unwrap(), Value::from(8));
        let points = c.get_attr("points").unwrap().to_string();
        assert_eq!(points, "0,160 0.0,120.0 300.0,120.0 600.0,0.0");
    }

    #[test]
    fn prices_and_times_are_read_from_forms() {
        assert_eq!(price_minor("45"), Some(4500));
        assert_eq!(price_minor("45.5"), Some(4550));
        assert_eq!(price_minor("0.05"), Some(5));
        for bad in ["", "4,50", "45.505", "-3", "abc", ".5"] {
            assert_eq!(price_minor(bad), None, "{bad}");
        }
        assert_eq!(local_time("2027-06-01T20:00"), "2027-06-01T20:00:00Z");
        assert_eq!(local_time("2027-06-01T20:00:30"), "2027-06-01T20:00:30Z");
        assert_eq!(local_time("garbage"), "garbage");
    }
}
