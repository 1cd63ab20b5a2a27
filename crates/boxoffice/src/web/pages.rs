//! The buyer's pages: browse and search, an event with live availability, sign up and
//! sign in (with the second factor when the account has one), hold tickets, watch
//! the hold's countdown, pay, and see bookings and tickets with their QR codes.
use super::session;
use super::view::{in_words, local_path, Ctx, Submitted};
use crate::accounts::mfa::SecondFactor;
use crate::accounts::{LoginOutcome, NewAccount};
use crate::booking::ReserveItem;
use crate::booking::ReserveRequest;
use crate::catalog::{EventView, ShowView};
use crate::error::Error;
use crate::http::origin::Origin;
use crate::payments::views::CheckoutRequest;
use crate::store::{EventFilter, Page};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::{BookingId, EventId, ShowId, ZoneId};
use futures_util::stream::{self, Stream};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

pub(super) const PER_PAGE: u32 = 20;
/// The simulator's test cards, offered on the payment form.
const TEST_CARDS: [(&str, &str); 2] = [
    ("pm_card_ok", "Test card — approved"),
    ("pm_card_declined", "Test card — declined"),
];

fn bad_request(ctx: Ctx, detail: &str) -> Response {
    ctx.error_page(StatusCode::BAD_REQUEST, "That form was not right", detail)
}

#[derive(Deserialize)]
pub(super) struct Search {
    q: Option<String>,
    city: Option<String>,
    page: Option<String>,
}

impl Search {
    fn page_number(&self) -> u32 {
        page_number(self.page.as_deref())
    }
}

/// The page asked for: 1 to 10,000, 1 when absent or not a number.
pub(super) fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.parse::<u32>().ok())
        .filter(|p| (1..=10_000).contains(p))
        .unwrap_or(1)
}

/// The filters of a paged list as a query string, for the links to its other pages.
pub(super) fn search_query(filters: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in filters {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            query.append_pair(key, v);
        }
    }
    query.finish()
}

/// Pages of `PER_PAGE` for `total` items (at least one).
pub(super) fn page_count(total: i64) -> u32 {
    (total.max(0) as u32).div_ceil(PER_PAGE).max(1)
}

pub(super) async fn home(ctx: Ctx, Query(search): Query<Search>) -> Response {
    let text = search.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let city = search
        .city
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let page = search.page_number();
    let filter = EventFilter {
        text: text.map(str::to_owned),
        city: city.map(str::to_owned),
        ..EventFilter::default()
    };
    let listed = ctx
        .state
        .catalog
        .list_events(
            filter,
            Page {
                page,
                per_page: PER_PAGE,
            },
        )
        .await;
    let (events, total) = match listed {
        Ok(found) => found,
        Err(e) => return ctx.failure(e),
    };
    let pages = page_count(total);
    ctx.page(
        "home.html",
        context! {
            title => "Events",
            events => events,
            search => search_query(&[("q", text), ("city", city)]),
            q => text.unwrap_or_default(),
            city => city.unwrap_or_default(),
            page => page,
            pages => pages,
            total => total,
        },
    )
}

/// A show as its page shows it.
#[derive(Serialize)]
struct ShowCard {
    show: ShowView,
    on_sale: bool,
    /// Buyers get in through the waiting room.
    queued: bool,
    /// Zones sold by seat: best available here, or seats picked on the map.
    seated: Vec<ZoneId>,
    limit: Vec<u32>,
}

async fn event_page(ctx: Ctx, id: EventId, error: Option<String>, status: StatusCode) -> Response {
    let catalog = &ctx.state.catalog;
    let event = match catalog.event(id).await {
        Ok(e) => e,
        Err(e) => return ctx.failure(e),
    };
    let shows = match catalog.shows_of_event(id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let cards: Vec<ShowCard> = shows
        .into_iter()
        .map(|show| ShowCard {
            on_sale: show.sale_state == boxoffice_domain::catalog::SaleState::Open,
            queued: super::waiting::queued(&ctx, show.id),
            seated: seated_zones(&ctx, &show),
            limit: (1..=show.per_user_limit.min(10)).collect(),
            show,
        })
        .collect();
    ctx.render(
        status,
        "event.html",
        context! { title => event.title.clone(), event => event, shows => cards, error => error },
    )
}

/// The zones of `show` sold by seat.
pub(super) fn seated_zones(ctx: &Ctx, show: &ShowView) -> Vec<ZoneId> {
    let Some(seats) = ctx.state.seating.cache().get(show.id) else {
        return Vec::new();
    };
    show.zones
        .iter()
        .map(|z| z.id)
        .filter(|z| seats.is_seated(*z))
        .collect()
}

pub(super) async fn event(ctx: Ctx, Path(id): Path<String>) -> Response {
    match id.parse::<EventId>() {
        Ok(id) => event_page(ctx, id, None, StatusCode::OK).await,
        Err(_) => ctx.failure(Error::NotFound("event")),
    }
}

/// Availability per zone of an event's shows, pushed when it changes.
pub(super) async fn live(
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let id = id
        .parse::<EventId>()
        .map_err(|_| ctx.clone().failure(Error::NotFound("event")))?;
    let shows: Vec<ShowId> = match ctx.state.catalog.shows_of_event(id).await {
        Ok(s) => s.into_iter().map(|s| s.id).collect(),
        Err(e) => return Err(ctx.failure(e)),
    };
    let catalog = ctx.state.catalog.clone();
    let stream = stream::unfold(
        (catalog, shows, HashMap::<ZoneId, u32>::new(), true),
        |(catalog, shows, mut last, first)| async move {
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            loop {
                let mut changed = HashMap::new();
                for show in &shows {
                    if let Ok(view) = catalog.show(*show).await {
                        for z in view.zones {
                            if last.get(&z.id) != Some(&z.available) {
                                last.insert(z.id, z.available);
                                changed.insert(z.id.to_string(), z.available);
                            }
                        }
                    }
                }
                if !changed.is_empty() {
                    let event = Event::default()
                        .event("availability")
                        .json_data(&changed)
                        .unwrap_or_else(|_| Event::default().event("error"));
                    return Some((Ok(event), (catalog, shows, last, false)));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

pub(super) async fn signin_form(ctx: Ctx, Query(q): Query<Next>) -> Response {
    let next = local_path(q.next.as_deref());
    ctx.page(
        "signin.html",
        context! { title => "Sign in", next => next, email => "", error => None::<String> },
    )
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

pub(super) async fn signin(origin: Origin, Submitted { ctx, form }: Submitted<SignIn>) -> Response {
    let next = local_path(form.next.as_deref());
    let email = form.email.unwrap_or_default();
    let outcome = ctx
        .state
        .accounts
        .login(
            email.trim(),
            form.password.unwrap_or_default(),
            None,
            &origin,
        )
        .await;
    match outcome {
        Ok(LoginOutcome::Tokens(tokens)) => enter(ctx, &tokens.access_token, &next),
        Ok(LoginOutcome::MfaChallenge(challenge)) => ctx.page(
            "mfa.html",
            context! { title => "Second factor", mfa_token => challenge.mfa_token, next => next, error => None::<String> },
        ),
        Err(e) => {
            let error = match e {
                Error::Unauthorized(_) => "The email or the password is wrong.".to_owned(),
                other => in_words(&other),
            };
            ctx.render(
                StatusCode::UNAUTHORIZED,
                "signin.html",
                context! { title => "Sign in", next => next, email => email, error => error },
            )
        }
    }
}

#[derive(Deserialize)]
pub(super) struct MfaForm {
    mfa_token: Option<String>,
    code: Option<String>,
    next: Option<String>,
}

pub(super) async fn signin_mfa(
    origin: Origin,
    Submitted { ctx, form }: Submitted<MfaForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let code: String = form
        .code
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // Six digits are an authenticator's code; anything else is tried as a backup code.
    let factor = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Totp(code)
    } else {
        SecondFactor::BackupCode(code)
    };
    let token = form.mfa_token.unwrap_or_default();
    match ctx
        .state
        .accounts
        .login_mfa(&token, factor, false, &origin)
        .await
    {
        Ok(done) => enter(ctx, &done.tokens.access_token, &next),
        Err(e) => {
            let error = match e {
                Error::Unauthorized(m) => capital(m),
                other => in_words(&other),
            };
            ctx.render(
                StatusCode::UNAUTHORIZED,
                "mfa.html",
                context! { title => "Second factor", mfa_token => token, next => next, error => error },
            )
        }
    }
}

fn capital(m: &str) -> String {
    let mut c = m.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect::<String>() + ".")
        .unwrap_or_default()
}

/// Signed in: the session cookie, then where the viewer was going.
fn enter(ctx: Ctx, access_token: &str, next: &str) -> Response {
    match session::signed_in(&ctx.state, ctx.jar.clone(), access_token, ctx.secure) {
        Ok(jar) => (jar, Redirect::to(next)).into_response(),
        Err(e) => ctx.failure(e),
    }
}

pub(super) async fn signup_form(ctx: Ctx) -> Response {
    ctx.page(
        "signup.html",
        context! { title => "Create an account", form => context!{ display_name => "", email => "" }, errors => context!{} },
    )
}

#[derive(Deserialize)]
pub(super) struct SignUp {
    display_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

pub(super) async fn signup(origin: Origin, Submitted { ctx, form }: Submitted<SignUp>) -> Response {
    let (name, email) = (
        form.display_name.unwrap_or_default(),
        form.email.unwrap_or_default(),
    );
    let input = NewAccount {
        email: email.trim().to_owned(),
        password: form.password.unwrap_or_default(),
        display_name: name.trim().to_owned(),
        role: None,
    };
    match ctx.state.accounts.register(input, &origin).await {
        Ok(tokens) => enter(ctx, &tokens.access_token, "/"),
        Err(e) => {
            let errors: HashMap<String, String> = match &e {
                Error::Validation(fields) => fields
                    .iter()
                    .map(|f| (f.field.clone(), capital(&f.message)))
                    .collect(),
                Error::Conflict { .. } => HashMap::from([(
                    "email".to_owned(),
                    "An account with this email exists already: sign in instead.".to_owned(),
                )]),
                _ => return ctx.failure(e),
            };
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                "signup.html",
                context! { title => "Create an account", form => context!{ display_name => name, email => email }, errors => errors },
            )
        }
    }
}

/// A form of buttons only (its CSRF token aside).
#[derive(Deserialize)]
pub(super) struct NoFields {}

pub(super) async fn signout(Submitted { ctx, .. }: Submitted<NoFields>) -> Response {
    if let Some(v) = &ctx.viewer {
        if let Err(e) = ctx
            .state
            .accounts
            .end_session(v.principal.user, &v.session)
            .await
        {
            return ctx.failure(e);
        }
    }
    (session::signed_out(ctx.jar), Redirect::to("/")).into_response()
}

#[derive(Deserialize)]
pub(super) struct ReserveForm {
    /// The waiting room's pass, when the show has one.
    pass: Option<String>,
    /// Set for a seated zone: the best seats available, adjacent.
    best: Option<String>,
    event_id: Option<String>,
    show_id: Option<String>,
    zone_id: Option<String>,
    quantity: Option<String>,
}

pub(super) async fn reserve(Submitted { ctx, form }: Submitted<ReserveForm>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let parsed = (
        form.event_id
            .as_deref()
            .and_then(|s| s.parse::<EventId>().ok()),
        form.show_id
            .as_deref()
            .and_then(|s| s.parse::<ShowId>().ok()),
        form.zone_id
            .as_deref()
            .and_then(|s| s.parse::<ZoneId>().ok()),
        form.quantity.as_deref().and_then(|s| s.parse::<i64>().ok()),
    );
    let (Some(event), Some(show), Some(zone), Some(quantity)) = parsed else {
        return bad_request(ctx, "Choose a zone and how many tickets.");
    };
    let who = viewer.principal;
    let request = if form.best.is_some() {
        ReserveRequest {
            show_id: show,
            zone_id: None,
            quantity: None,
            items: Some(vec![ReserveItem {
                zone_id: Some(zone),
                quantity: None,
                seats: None,
                best_available: Some(quantity),
            }]),
        }
    } else {
        ReserveRequest {
            show_id: show,
            zone_id: Some(zone),
            quantity: Some(quantity),
            items: None,
        }
    };
    let state = ctx.state.clone();
    let pass = form.pass.as_deref().filter(|p| !p.is_empty());
    let reserved = state
        .queue
        .reserve_through(&state.booking, who, request, pass)
        .await;
    match reserved {
        Ok(b) => Redirect::to(&format!("/bookings/{}", b.id)).into_response(),
        Err(e) => {
            let status = match &e {
                Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::NotFound(_) => return ctx.failure(e),
                _ => StatusCode::CONFLICT,
            };
            if pass.is_some() {
                let show = show.to_string();
                return super::waiting::show_page(ctx, show, Some(in_words(&e)), status).await;
            }
            event_page(ctx, event, Some(in_words(&e)), status).await
        }
    }
}

pub(super) async fn bookings(ctx: Ctx, Query(search): Query<Search>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let page = search.page_number();
    let listed = ctx
        .state
        .booking
        .list(
            viewer.principal,
            Vec::new(),
            Page {
                page,
                per_page: PER_PAGE,
            },
        )
        .await;
    let (found, total) = match listed {
        Ok(found) => found,
        Err(e) => return ctx.failure(e),
    };
    let mut rows = Vec::with_capacity(found.len());
    for b in found {
        let (show, event) = show_and_event(&ctx, b.show_id).await;
        rows.push(context! { booking => b, show => show, event => event });
    }
    let pages = page_count(total);
    ctx.page(
        "bookings.html",
        context! { title => "My bookings", rows => rows, page => page, pages => pages },
    )
}

async fn show_and_event(ctx: &Ctx, show: ShowId) -> (Option<ShowView>, Option<EventView>) {
    let Ok(show) = ctx.state.catalog.show(show).await else {
        return (None, None);
    };
    let event = ctx.state.catalog.event(show.event_id).await.ok();
    (Some(show), event)
}

pub(super) async fn booking(ctx: Ctx, Path(id): Path<String>) -> Response {
    booking_page(ctx, id, None, StatusCode::OK).await
}

async fn booking_page(ctx: Ctx, id: String, error: Option<String>, status: StatusCode) -> Response {
    let (viewer, id) = match ctx.viewer_and::<BookingId>(&id, "booking") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let state = ctx.state.clone();
    let who = viewer.principal;
    let booking = match state.booking.get(who, id).await {
        Ok(b) => b,
        Err(e) => return ctx.failure(e),
    };
    let (show, event) = show_and_event(&ctx, booking.show_id).await;
    let zone = show
        .as_ref()
        .and_then(|s| s.zones.iter().find(|z| z.id == booking.zone_id))
        .map(|z| z.name.clone());
    let payments = state.payments.of_booking(who, id).await.ok();
    let last_payment = payments
        .as_ref()
        .and_then(|p| p.payments.last())
        .map(|p| context! { status => p.status.clone(), failure => p.failure_code.clone() });
    let refunds = payments
        .as_ref()
        .map(|p| p.refunds.clone())
        .unwrap_or_default();
    let mut tickets = Vec::new();
    if booking.status == "confirmed" {
        if let Ok(list) = state.tickets.of_booking(who, id).await {
            for t in list {
                let qr = match t.qr {
                    // Inline in the page: the element, without its XML declaration.
                    Some(_) => state
                        .tickets
                        .qr_svg(who, &t.id)
                        .await
                        .ok()
                        .map(|svg| svg[svg.find("<svg").unwrap_or(0)..].to_owned()),
                    None => None,
                };
                tickets.push(
                    context! { ticket => t, qr => qr.map(minijinja::Value::from_safe_string) },
                );
            }
        }
    }
    let pending = booking.status == "payment_pending";
    // Tickets are issued a moment after the confirmation commits.
    let issuing = booking.status == "confirmed" && tickets.is_empty();
    let online = booking.total_minor > 0 && online_payment(&state);
    ctx.render(
        status,
        "booking.html",
        context! {
            title => "Your booking",
            booking => booking,
            show => show,
            event => event,
            zone => zone,
            payment => last_payment,
            refunds => refunds,
            tickets => tickets,
            pending => pending,
            issuing => issuing,
            online => online,
            cards => TEST_CARDS.iter().map(|(v, l)| context!{ value => v, label => l }).collect::<Vec<_>>(),
            error => error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct PayForm {
    payment_method: Option<String>,
}

pub(super) async fn pay(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<PayForm>,
) -> Response {
    let (viewer, booking) = match ctx.viewer_and::<BookingId>(&id, "booking") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let paid = if online_payment(&ctx.state) {
        let request = CheckoutRequest {
            payment_method: form
                .payment_method
                .unwrap_or_else(|| TEST_CARDS[0].0.to_owned()),
        };
        ctx.state
            .payments
            .checkout(
                viewer.principal,
                booking,
                request,
                Some(Duration::from_secs(5)),
            )
            .await
            .map(drop)
    } else {
        // Without a payment provider, bookings are confirmed as they are over the API.
        ctx.state
            .booking
            .confirm(viewer.principal, booking)
            .await
            .map(drop)
    };
    match paid {
        Ok(()) => Redirect::to(&format!("/bookings/{booking}")).into_response(),
        Err(e) => {
            let message = in_words(&e);
            booking_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}

/// Asks for a refund of a confirmed, paid booking: the show's policy decides at once
/// or leaves it to the organizer.
pub(super) async fn refund(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, booking) = match ctx.viewer_and::<BookingId>(&id, "booking") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    match ctx
        .state
        .payments
        .request_refund(viewer.principal, booking)
        .await
    {
        Ok(_) => Redirect::to(&format!("/bookings/{booking}")).into_response(),
        Err(e) => {
            let message = in_words(&e);
            booking_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}

/// Whether bookings are paid through a payment provider here.
fn online_payment(state: &crate::state::AppState) -> bool {
    state.config.payments.gateway != crate::config::GatewayKind::None
}

pub(super) async fn cancel(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, booking) = match ctx.viewer_and::<BookingId>(&id, "booking") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    match ctx.state.booking.cancel(viewer.principal, booking).await {
        Ok(_) => Redirect::to(&format!("/bookings/{booking}")).into_response(),
        Err(e) => {
            let message = in_words(&e);
            booking_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}
