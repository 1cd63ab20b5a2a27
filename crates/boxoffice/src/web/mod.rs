//! The web UI: server-rendered pages for buyers, organizers, door staff and admins, served by the same
//! binary at the root (`/`, `/events/…`, `/bookings/…`, `/door`), on the same services
//! as the API, not on HTTP calls to it. Pages work without JavaScript; a small script (countdowns, live
//! availability) only enhances them, and every asset comes from the binary.
//!
//! Every form carries a CSRF token, sessions are signed HttpOnly cookies, and pages
//! answer with a strict CSP (no inline script or style) and `frame-ancestors 'none'`.
mod account;
mod admin;
mod assets;
mod door;
mod drawing;
mod organize;
mod pages;
mod seats;
pub mod session;
mod setup;
mod team;
mod view;
mod waiting;

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
pub use session::SessionKeys;
use tower_http::set_header::SetResponseHeaderLayer;

/// What pages need besides the services: templates and the session key.
pub struct Web {
    pub(crate) templates: minijinja::Environment<'static>,
    pub(crate) keys: SessionKeys,
}

impl Web {
    /// `secret` is the token secret; session cookies are signed with a key derived
    /// from it.
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            templates: view::templates()?,
            keys: SessionKeys::new(secret),
        })
    }
}

/// The policy of every page: scripts, styles and images from the binary only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages and their assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/events/{id}", get(pages::event))
        .route("/events/{id}/live", get(pages::live))
        .route("/signin", get(pages::signin_form).post(pages::signin))
        .route("/signin/mfa", post(pages::signin_mfa))
        .route("/signup", get(pages::signup_form).post(pages::signup))
        .route("/signout", post(pages::signout))
        .route("/reserve", post(pages::reserve))
        .route("/shows/{id}/seats", get(seats::page).post(seats::reserve))
        .route("/shows/{id}/queue", get(waiting::page))
        .route("/shows/{id}/queue/join", post(waiting::join))
        .route("/shows/{id}/queue/leave", post(waiting::leave))
        .route("/shows/{id}/queue/live", get(waiting::live))
        .route("/bookings", get(pages::bookings))
        .route("/bookings/{id}", get(pages::booking))
        .route("/bookings/{id}/pay", post(pages::pay))
        .route("/bookings/{id}/cancel", post(pages::cancel))
        .route("/bookings/{id}/refund", post(pages::refund))
        .route("/account", get(account::page))
        .route(
            "/account/sessions/{id}/revoke",
            post(account::revoke_session),
        )
        .route("/account/mfa/start", post(account::start_mfa))
        .route("/account/mfa/confirm", post(account::confirm_mfa))
        .route("/account/mfa/disable", post(account::disable_mfa))
        .route("/organize", get(organize::home))
        .route("/organize/events", post(organize::create_event))
        .route(
            "/organize/events/{id}",
            get(organize::event).post(organize::update_event),
        )
        .route("/organize/events/{id}/shows", post(organize::create_show))
        .route("/organize/shows/{id}", get(organize::dashboard))
        .route("/organize/shows/{id}/setup", get(setup::page))
        .route("/organize/shows/{id}/edit", post(setup::update_show))
        .route("/organize/shows/{id}/delete", post(setup::delete_show))
        .route("/organize/shows/{id}/zones", post(setup::create_zone))
        .route(
            "/organize/shows/{id}/zones/{zone}",
            post(setup::update_zone),
        )
        .route(
            "/organize/shows/{id}/zones/{zone}/delete",
            post(setup::delete_zone),
        )
        .route("/organize/shows/{id}/seating", post(setup::draw_map))
        .route("/organize/shows/{id}/seating/reuse", post(setup::reuse_map))
        .route("/organize/shows/{id}/live", get(organize::live))
        .route(
            "/organize/shows/{id}/queue",
            post(organize::configure_queue),
        )
        .route(
            "/organize/shows/{id}/queue/state",
            post(organize::steer_queue),
        )
        .route("/organize/refunds/{id}", post(organize::decide_refund))
        .route("/organize/orgs/{id}", get(team::page))
        .route("/organize/orgs/{id}/invitations", post(team::invite))
        .route(
            "/organize/orgs/{id}/members/{user}/role",
            post(team::change_role),
        )
        .route(
            "/organize/orgs/{id}/members/{user}/remove",
            post(team::remove_member),
        )
        .route("/organize/orgs/{id}/keys", post(team::create_key))
        .route(
            "/organize/orgs/{id}/keys/{key}/revoke",
            post(team::revoke_key),
        )
        .route("/organize/orgs/{id}/webhooks", post(team::create_webhook))
        .route(
            "/organize/orgs/{id}/webhooks/{hook}/delete",
            post(team::delete_webhook),
        )
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/role", post(admin::change_role))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/dead-letters", get(admin::dead_letters))
        .route("/admin/dead-letters/{id}/replay", post(admin::replay))
        .route("/admin/dead-letters/{id}/discard", post(admin::discard))
        .route("/door", get(door::shows))
        .route("/door/{id}", get(door::gate).post(door::scan))
        .route("/static/{file}", get(assets::asset))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}
