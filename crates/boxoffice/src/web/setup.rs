//! A show's set-up, for its organizers: the show's details, its zones (add, change,
//! remove), its seat map (drawn as lines of text, or a layout the organization drew
//! before), and removing the show. The catalog and seating services decide who may.
use super::drawing;
use super::organize::{by_field, local_time, number, price_minor};
use super::pages::NoFields;
use super::view::{in_words, Ctx, Submitted};
use crate::accounts::Principal;
use crate::catalog::{ShowInput, ShowView, ZoneInput};
use crate::error::Error;
use crate::seating::{CategoryZone, LayoutRequest, ShowSeatingRequest};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::{LayoutId, ShowId, Violations, ZoneId};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Layouts offered for reuse.
const LAYOUTS_SHOWN: usize = 20;

/// `2027-06-01T20:00:00Z` → `2027-06-01T20:00`, as a `datetime-local` field shows it.
fn field_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).to_owned()
}

fn setup_path(show: impl std::fmt::Display) -> String {
    format!("/organize/shows/{show}/setup")
}

pub(super) async fn page(ctx: Ctx, Path(id): Path<String>) -> Response {
    setup_page(ctx, id, context! {}, StatusCode::OK).await
}

/// The set-up page with `extra`: a form sent back with its errors, or a note.
async fn setup_page(ctx: Ctx, id: String, extra: Value, status: StatusCode) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let show = match ctx.state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let event = match ctx.state.catalog.event(show.event_id).await {
        Ok(e) => e,
        Err(e) => return ctx.failure(e),
    };
    // The organization's layouts are its own: listing them checks the viewer manages
    // its catalog, which is also who may change anything here.
    let layouts = match ctx
        .state
        .seating
        .layouts(viewer.principal, event.organization_id, LAYOUTS_SHOWN)
        .await
    {
        Ok(l) => l,
        Err(e) => return ctx.failure(e),
    };
    let seating = ctx.state.seating.show_seating(show_id).ok();
    let names: HashMap<String, String> = show
        .zones
        .iter()
        .map(|z| (z.id.to_string(), z.name.clone()))
        .collect();
    let drawn = match &seating {
        Some(s) => drawing::describe(&s.seats, &names),
        None => format!(
            "Stalls | A-F | 1-20 | {}\n",
            show.zones.first().map_or("Floor", |z| z.name.as_str())
        ),
    };
    let current = context! {
        venue => show.venue.clone(),
        starts_at => field_time(&show.starts_at),
        sale_opens_at => field_time(&show.sale_opens_at),
        sale_closes_at => field_time(&show.sale_closes_at),
        per_user_limit => show.per_user_limit.to_string(),
        hold_minutes => (show.hold_ttl_secs / 60).to_string(),
    };
    let currency = show
        .zones
        .first()
        .map_or_else(|| "EUR".to_owned(), |z| z.currency.clone());
    ctx.render(
        status,
        "show_setup.html",
        context! {
            title => format!("Set up: {}", show.venue),
            seated => seating.as_ref().map(|s| s.seats.len()),
            show => show,
            event => event,
            layouts => layouts,
            ..minijinja::value::merge_maps([
                // Later maps win: what was sent back over the defaults.
                context! {
                    show_form => current,
                    show_errors => context! {},
                    zone_edit => Value::from(()),
                    zone_errors => context! {},
                    new_zone => context! { currency => currency },
                    new_zone_errors => context! {},
                    map => context! { name => "", drawing => drawn },
                    map_errors => Vec::<String>::new(),
                    note => Value::from(()),
                },
                extra,
            ])
        },
    )
}

/// A refusal the page explains in its note, with the status to answer.
async fn noted(ctx: Ctx, id: String, error: Error) -> Response {
    match error {
        e @ (Error::Validation(_) | Error::Conflict { .. }) => {
            let extra = context! { note => in_words(&e) };
            setup_page(ctx, id, extra, StatusCode::CONFLICT).await
        }
        e => ctx.failure(e),
    }
}

#[derive(Deserialize, Serialize)]
pub(super) struct ShowForm {
    venue: Option<String>,
    starts_at: Option<String>,
    sale_opens_at: Option<String>,
    sale_closes_at: Option<String>,
    per_user_limit: Option<String>,
    hold_minutes: Option<String>,
}

/// An optional instant field: empty is the default.
fn optional_time(raw: &Option<String>) -> Option<String> {
    raw.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(local_time)
}

pub(super) async fn update_show(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<ShowForm>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
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
    let sent_back =
        |errors| context! { show_form => Value::from_serialize(&form), show_errors => errors };
    if !errors.is_empty() {
        return setup_page(ctx, id, sent_back(errors), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let input = ShowInput {
        venue: form.venue.clone().unwrap_or_default(),
        starts_at: local_time(form.starts_at.as_deref().unwrap_or_default()),
        sale_opens_at: optional_time(&form.sale_opens_at),
        sale_closes_at: optional_time(&form.sale_closes_at),
        hold_ttl_secs: hold.map(|m| m.saturating_mul(60)),
        per_user_limit,
        zones: Vec::new(),
    };
    match ctx
        .state
        .catalog
        .update_show(viewer.principal, show, input)
        .await
    {
        Ok(_) => Redirect::to(&setup_path(show)).into_response(),
        Err(Error::Validation(fields)) => {
            let errors = by_field(&fields, &[("hold_ttl_secs", "hold_minutes")]);
            setup_page(ctx, id, sent_back(errors), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => noted(ctx, id, e).await,
    }
}

pub(super) async fn delete_show(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let event = match ctx.state.catalog.show(show).await {
        Ok(s) => s.event_id,
        Err(e) => return ctx.failure(e),
    };
    match ctx.state.catalog.delete_show(viewer.principal, show).await {
        Ok(()) => Redirect::to(&format!("/organize/events/{event}")).into_response(),
        Err(e) => noted(ctx, id, e).await,
    }
}

#[derive(Deserialize, Serialize)]
pub(super) struct ZoneForm {
    name: Option<String>,
    price: Option<String>,
    currency: Option<String>,
    capacity: Option<String>,
}

impl ZoneForm {
    /// The zone it describes, or the fields that are not numbers.
    fn input(&self) -> Result<ZoneInput, Error> {
        let mut errors = HashMap::new();
        let capacity = number(self.capacity.as_deref(), "capacity", &mut errors);
        if capacity.is_none() && !errors.contains_key("capacity") {
            errors.insert("capacity".into(), "A whole number of tickets.".into());
        }
        let price = price_minor(self.price.as_deref().unwrap_or_default());
        if price.is_none() {
            errors.insert("price".into(), "A price such as 45 or 45.50.".into());
        }
        let mut v = Violations::new();
        for (field, message) in errors {
            v.push(&field, message);
        }
        v.finish(|| ZoneInput {
            name: self.name.clone().unwrap_or_default(),
            price_minor: price.unwrap_or_default(),
            currency: self
                .currency
                .clone()
                .unwrap_or_default()
                .trim()
                .to_uppercase(),
            capacity: capacity.unwrap_or_default(),
        })
        .map_err(Error::from)
    }
}

/// The service's field names → the form's.
const ZONE_FIELDS: [(&str, &str); 1] = [("price_minor", "price")];

pub(super) async fn create_zone(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<ZoneForm>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let saved = match form.input() {
        Ok(input) => ctx
            .state
            .catalog
            .create_zone(viewer.principal, show, input)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    let sent_back = |errors| {
        context! { new_zone => Value::from_serialize(&form), new_zone_errors => errors }
    };
    zone_saved(ctx, id, show, saved, sent_back).await
}

pub(super) async fn update_zone(
    Path((id, zone)): Path<(String, String)>,
    Submitted { ctx, form }: Submitted<ZoneForm>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Ok(zone) = zone.parse::<ZoneId>() else {
        return ctx.failure(Error::NotFound("zone"));
    };
    let saved = match form.input() {
        Ok(input) => ctx
            .state
            .catalog
            .update_zone(viewer.principal, show, zone, input)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    let sent_back = |errors| {
        context! {
            zone_edit => context! { id => zone.to_string(), ..Value::from_serialize(&form) },
            zone_errors => errors,
        }
    };
    zone_saved(ctx, id, show, saved, sent_back).await
}

/// Where a zone's form leads: back to the zones, or the form again with its errors
/// next to their fields (`sent_back` puts them where the page shows that form).
async fn zone_saved(
    ctx: Ctx,
    id: String,
    show: ShowId,
    saved: Result<(), Error>,
    sent_back: impl FnOnce(HashMap<String, String>) -> Value,
) -> Response {
    match saved {
        Ok(()) => Redirect::to(&format!("{}#zones", setup_path(show))).into_response(),
        Err(Error::Validation(fields)) => {
            let errors = by_field(&fields, &ZONE_FIELDS);
            setup_page(ctx, id, sent_back(errors), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => noted(ctx, id, e).await,
    }
}

pub(super) async fn delete_zone(
    Path((id, zone)): Path<(String, String)>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Ok(zone) = zone.parse::<ZoneId>() else {
        return ctx.failure(Error::NotFound("zone"));
    };
    match ctx
        .state
        .catalog
        .delete_zone(viewer.principal, show, zone)
        .await
    {
        Ok(()) => Redirect::to(&format!("{}#zones", setup_path(show))).into_response(),
        Err(e) => noted(ctx, id, e).await,
    }
}

/// Each price category of `categories` (in order, each once) mapped to the show's
/// zone of the same name, or the categories no zone is called.
fn zones_for<'a>(
    show: &ShowView,
    categories: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<CategoryZone>, Vec<String>> {
    let mut missing: Vec<String> = Vec::new();
    let mut mapped: Vec<CategoryZone> = Vec::new();
    for c in categories {
        if mapped.iter().any(|m| m.category == c) || missing.iter().any(|m| m == c) {
            continue;
        }
        let zone = show
            .zones
            .iter()
            .find(|z| z.name == c)
            .or_else(|| show.zones.iter().find(|z| z.name.eq_ignore_ascii_case(c)));
        match zone {
            Some(z) => mapped.push(CategoryZone {
                category: c.to_owned(),
                zone_id: z.id,
            }),
            None => missing.push(c.to_owned()),
        }
    }
    if missing.is_empty() {
        Ok(mapped)
    } else {
        Err(missing)
    }
}

fn unknown_zones(show: &ShowView, missing: &[String]) -> String {
    let known: Vec<&str> = show.zones.iter().map(|z| z.name.as_str()).collect();
    format!(
        "No zone of this show is called {}: add it under Zones first, or use one of: {}.",
        missing
            .iter()
            .map(|m| format!("\u{201c}{m}\u{201d}"))
            .collect::<Vec<_>>()
            .join(", "),
        if known.is_empty() {
            "(none yet)".to_owned()
        } else {
            known.join(", ")
        }
    )
}

#[derive(Deserialize, Serialize)]
pub(super) struct MapForm {
    name: Option<String>,
    drawing: Option<String>,
}

pub(super) async fn draw_map(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<MapForm>,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let runs = match drawing::parse(form.drawing.as_deref().unwrap_or_default()) {
        Ok(runs) => runs,
        Err(lines) => {
            let errors = lines
                .iter()
                .map(|e| format!("Line {}: {}.", e.line, e.message))
                .collect();
            return map_refused(ctx, id, &form, errors).await;
        }
    };
    let (show, event) = match ctx.state.catalog.show(show_id).await {
        Ok(show) => match ctx.state.catalog.event(show.event_id).await {
            Ok(event) => (show, event),
            Err(e) => return ctx.failure(e),
        },
        Err(e) => return ctx.failure(e),
    };
    let mapped = match zones_for(&show, runs.iter().map(|r| r.category.as_str())) {
        Ok(m) => m,
        Err(missing) => {
            let errors = vec![unknown_zones(&show, &missing)];
            return map_refused(ctx, id, &form, errors).await;
        }
    };
    // The inventory refuses a new map while tickets are out (and decides, whatever
    // this says); asking first keeps a refused drawing from leaving a layout behind.
    let busy: Vec<&str> = show
        .zones
        .iter()
        .filter(|z| z.held + z.sold > 0)
        .map(|z| z.name.as_str())
        .collect();
    if !busy.is_empty() {
        let note = format!(
            "Tickets are held or sold in {}: the seat map cannot change while they are out.",
            busy.join(", ")
        );
        let extra = context! { map => Value::from_serialize(&form), note => note };
        return setup_page(ctx, id, extra, StatusCode::CONFLICT).await;
    }
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map_or_else(|| show.venue.chars().take(40).collect(), str::to_owned);
    let who = viewer.principal;
    let request = LayoutRequest {
        organization_id: event.organization_id,
        name,
        rows: runs,
    };
    let layout = match ctx.state.seating.create_layout(who, request).await {
        Ok(l) => l,
        Err(e @ Error::Validation(_)) => {
            return map_refused(ctx, id, &form, vec![in_words(&e)]).await
        }
        Err(e) => return ctx.failure(e),
    };
    seat(ctx, id, who, show_id, layout.id, mapped).await
}

/// The drawing sent back as typed, with what is wrong with it.
async fn map_refused(ctx: Ctx, id: String, form: &MapForm, errors: Vec<String>) -> Response {
    let extra = context! { map => Value::from_serialize(form), map_errors => errors };
    setup_page(ctx, id, extra, StatusCode::UNPROCESSABLE_ENTITY).await
}

#[derive(Deserialize)]
pub(super) struct ReuseForm {
    layout_id: Option<String>,
}

pub(super) async fn reuse_map(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<ReuseForm>,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Some(layout) = form.layout_id.and_then(|l| l.parse::<LayoutId>().ok()) else {
        return ctx.failure(Error::NotFound("layout"));
    };
    let layout = match ctx.state.seating.layout(viewer.principal, layout).await {
        Ok(l) => l,
        Err(e) => return ctx.failure(e),
    };
    let show = match ctx.state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    match zones_for(&show, layout.seats.iter().map(|s| s.category.as_str())) {
        Ok(mapped) => seat(ctx, id, viewer.principal, show_id, layout.id, mapped).await,
        Err(missing) => {
            let extra = context! { note => unknown_zones(&show, &missing) };
            setup_page(ctx, id, extra, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// Seats the show with `layout`; refused while tickets are out.
async fn seat(
    ctx: Ctx,
    id: String,
    who: Principal,
    show: ShowId,
    layout: LayoutId,
    categories: Vec<CategoryZone>,
) -> Response {
    let request = ShowSeatingRequest {
        layout_id: layout,
        categories,
        blocked: Vec::new(),
    };
    match ctx.state.seating.set_show_seating(who, show, request).await {
        Ok(_) => Redirect::to(&format!("{}#seat-map", setup_path(show))).into_response(),
        Err(e) => noted(ctx, id, e).await,
    }
}
