//! Rendering: the templates (compiled into the binary, escaped by default), the
//! context every page shares (viewer, CSRF token), and errors as pages in words,
//! never a raw error or a problem document.
use super::session::{self, Viewer};
use crate::error::{ConflictKind, Error};
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use minijinja::{context, Environment, Value};
use serde::de::DeserializeOwned;
use serde::Deserialize;

const TEMPLATES: [(&str, &str); 23] = [
    ("base.html", include_str!("templates/base.html")),
    ("home.html", include_str!("templates/home.html")),
    ("event.html", include_str!("templates/event.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("booking.html", include_str!("templates/booking.html")),
    ("bookings.html", include_str!("templates/bookings.html")),
    ("error.html", include_str!("templates/error.html")),
    ("queue.html", include_str!("templates/queue.html")),
    ("door.html", include_str!("templates/door.html")),
    ("door_shows.html", include_str!("templates/door_shows.html")),
    ("organize.html", include_str!("templates/organize.html")),
    (
        "organize_event.html",
        include_str!("templates/organize_event.html"),
    ),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("account.html", include_str!("templates/account.html")),
    ("seats.html", include_str!("templates/seats.html")),
    ("team.html", include_str!("templates/team.html")),
    (
        "admin_audit.html",
        include_str!("templates/admin_audit.html"),
    ),
    (
        "admin_dead_letters.html",
        include_str!("templates/admin_dead_letters.html"),
    ),
    (
        "admin_users.html",
        include_str!("templates/admin_users.html"),
    ),
    ("show_setup.html", include_str!("templates/show_setup.html")),
    ("macros.html", include_str!("templates/macros.html")),
];

pub(super) fn templates() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("money", money);
    env.add_filter("amount", amount);
    env.add_filter("when", when);
    env.add_filter("excerpt", excerpt);
    Ok(env)
}

/// `4500, "EUR"` → `45.00 EUR`.
fn money(minor: i64, currency: String) -> String {
    format!("{} {currency}", amount(minor))
}

/// `4500` → `45.00`, as a price field shows it.
fn amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    format!("{sign}{}.{:02}", minor / 100, minor % 100)
}

/// `text` cut to `max` characters on a word boundary, with an ellipsis when cut.
fn excerpt(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

/// An RFC 3339 instant as people read it: `Sat 1 Jun 2027, 20:00 UTC`.
fn when(rfc3339: String) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    );
    time::OffsetDateTime::parse(&rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or(rfc3339)
}

/// What every page handler starts from: the cookies, the viewer and the CSRF token.
#[derive(Clone)]
pub(super) struct Ctx {
    pub state: AppState,
    pub jar: CookieJar,
    pub viewer: Option<Viewer>,
    pub csrf: String,
    /// Cookies get `Secure` when the page was asked for over TLS.
    pub secure: bool,
    /// The path asked for (where sign-in returns to).
    pub path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let secure = parts.uri.scheme_str() == Some("https")
            || parts
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        let viewer = session::viewer(state, &jar).await;
        let (jar, csrf) = session::csrf_token(jar, secure);
        Ok(Self {
            state: state.clone(),
            jar,
            viewer,
            csrf,
            secure,
            path: parts.uri.path().to_owned(),
        })
    }
}

/// A posted form with the page context: refused as a page when it cannot be read or
/// its CSRF token does not match the cookie, so no handler sees such a form.
pub(super) struct Submitted<T> {
    pub ctx: Ctx,
    pub form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    csrf: Option<String>,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Submitted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(ctx) = Ctx::from_request_parts(&mut parts, state).await;
        let req = Request::from_parts(parts, body);
        let posted = match Form::<WithCsrf<T>>::from_request(req, state).await {
            Ok(Form(posted)) => posted,
            Err(e) => {
                let detail = format!("The form could not be read: {}", e.body_text());
                return Err(ctx.error_page(
                    StatusCode::BAD_REQUEST,
                    "That form was not right",
                    &detail,
                ));
            }
        };
        if !session::csrf_ok(&ctx.jar, posted.csrf.as_deref()) {
            return Err(ctx.error_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The page was open too long or came from somewhere else. Go back, reload it and try again.",
            ));
        }
        Ok(Self {
            ctx,
            form: posted.form,
        })
    }
}

impl Ctx {
    /// `template` rendered with `page` and the shared context, answered with `status`.
    pub fn render(self, status: StatusCode, template: &str, page: Value) -> Response {
        let shared = context! {
            viewer => self.viewer.as_ref().map(|v| context! {
                name => v.name.clone(),
                organizer => v.is_organizer(),
                admin => v.principal.role == boxoffice_domain::account::Role::Admin,
            }),
            csrf => self.csrf.clone(),
        };
        let html = self
            .state
            .web
            .templates
            .get_template(template)
            .and_then(|t| t.render(context! { ..page, ..shared }));
        match html {
            Ok(html) => (status, self.jar, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %format!("{e:#}"), "a page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<!doctype html><title>Error</title><p>This page could not be shown. Try again in a moment.</p>",
                )
                    .into_response()
            }
        }
    }

    pub fn page(self, template: &str, page: Value) -> Response {
        self.render(StatusCode::OK, template, page)
    }

    /// The signed-in viewer and the id in the path, or the page to answer instead
    /// (sign in and come back; not found).
    pub fn viewer_and<T: std::str::FromStr>(
        &self,
        raw: &str,
        what: &'static str,
    ) -> Result<(Viewer, T), Box<Response>> {
        let viewer = self
            .require_viewer()
            .map_err(|r| Box::new(r.into_response()))?;
        let id = raw
            .parse::<T>()
            .map_err(|_| Box::new(self.clone().failure(Error::NotFound(what))))?;
        Ok((viewer, id))
    }

    /// The signed-in viewer, or a redirect to sign in and come back.
    pub fn require_viewer(&self) -> Result<Viewer, Redirect> {
        self.viewer
            .clone()
            .ok_or_else(|| Redirect::to(&format!("/signin?next={}", encode(&self.path))))
    }

    pub fn error_page(self, status: StatusCode, title: &str, detail: &str) -> Response {
        self.render(
            status,
            "error.html",
            context! { title => title, detail => detail },
        )
    }

    /// A service error as a page: what happened, in words.
    pub fn failure(self, error: Error) -> Response {
        let (status, title) = match &error {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            Error::Unauthorized(_) => {
                return Redirect::to(&format!("/signin?next={}", encode(&self.path)))
                    .into_response()
            }
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "Not yours to see"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            Error::Unavailable(_) | Error::PaymentUnavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable")
            }
            Error::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
            _ => (StatusCode::CONFLICT, "That did not work"),
        };
        let detail = in_words(&error);
        self.error_page(status, title, &detail)
    }
}

/// What a buyer reads for a refusal.
pub(super) fn in_words(error: &Error) -> String {
    match error {
        Error::Conflict { kind, detail } => match kind {
            ConflictKind::SoldOut => {
                "Sold out: there are not that many tickets left in this zone.".into()
            }
            ConflictKind::LimitReached => {
                format!("You have reached this show's ticket limit per buyer. {detail}")
            }
            ConflictKind::SaleNotOpen => "The sale has not opened yet.".into(),
            ConflictKind::SaleClosed => "The sale is closed.".into(),
            ConflictKind::HoldExpired => {
                "Your hold expired and its tickets went back on sale.".into()
            }
            _ => capitalized(detail),
        },
        Error::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field.replace('_', " "), f.message))
            .collect::<Vec<_>>()
            .join("; "),
        Error::NotFound(what) => format!("There is no such {what}."),
        Error::Internal(_) => "Please try again in a moment.".into(),
        Error::RateLimited { retry_after_secs } => {
            format!("Please wait {retry_after_secs} s and try again.")
        }
        Error::QueuePass(_) => {
            "This sale lets buyers in through its waiting room: join it to get your turn.".into()
        }
        other => capitalized(&other.to_string()),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `path` as a query parameter value.
pub(super) fn encode(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

/// A sign-in `next` that stays on this site.
pub(super) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the templates folder")
            .map(|f| {
                f.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(n, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(files, listed);
        templates().expect("every template parses");
    }

    #[test]
    fn money_and_dates_read_as_people_write_them() {
        assert_eq!(money(4500, "EUR".into()), "45.00 EUR");
        assert_eq!(money(5, "USD".into()), "0.05 USD");
        assert_eq!(amount(-1250), "-12.50");
        assert_eq!(
            when("2027-06-05T20:00:00Z".into()),
            "Sat 5 Jun 2027, 20:00 UTC"
        );
        assert_eq!(when("not a date".into()), "not a date");
        assert_eq!(excerpt("short".into(), 10), "short");
        assert_eq!(excerpt("one two three four".into(), 10), "one two…");
    }

    #[test]
    fn sign_in_returns_only_to_this_site() {
        assert_eq!(local_path(Some("/bookings/1")), "/bookings/1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn every_template_parses() {
        let env = templates().expect("templates");
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
