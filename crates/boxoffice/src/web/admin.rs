//! The operator's pages (admins): accounts and their platform roles, the audit log
//! with its filters, newest first and paged by cursor, and the dead letters of the
//! event consumers with replay and discard. The services check the role, as for the API.
use super::pages::{page_count, page_number, search_query, NoFields, PER_PAGE};
use super::view::{in_words, Ctx, Submitted};
use crate::accounts::UserQuery;
use crate::audit::AuditQuery;
use crate::error::Error;
use crate::outbox::dead_letters::DeadLetterQuery;
use crate::outbox::Operator;
use crate::store::Page;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::account::Role;
use boxoffice_domain::UserId;
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The filters as typed: empty fields are no filter.
#[derive(Default, Deserialize, Serialize)]
pub(super) struct AuditFilters {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `2027-06-01T20:00` from a `datetime-local` field → RFC 3339 (UTC).
fn instant(v: &Option<String>) -> Option<String> {
    given(v).map(|s| if s.len() == 16 { format!("{s}:00Z") } else { s })
}

pub(super) async fn audit(ctx: Ctx, Query(f): Query<AuditFilters>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let query = AuditQuery {
        actor: given(&f.actor),
        organization: None,
        action: given(&f.action),
        target: given(&f.target),
        from: instant(&f.from),
        to: instant(&f.to),
        cursor: given(&f.cursor),
        limit: Some(50),
    };
    let (page, error) = match ctx.state.audit.search(viewer.principal, query).await {
        Ok(p) => (Some(p), None),
        Err(e @ Error::Validation(_)) => (None, Some(in_words(&e))),
        Err(e) => return ctx.failure(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let next = page
        .as_ref()
        .and_then(|p| p.next_cursor.clone())
        .map(|cursor| {
            let query = search_query(&[
                ("actor", f.actor.as_deref()),
                ("action", f.action.as_deref()),
                ("target", f.target.as_deref()),
                ("from", f.from.as_deref()),
                ("to", f.to.as_deref()),
                ("cursor", Some(&cursor)),
            ]);
            format!("/admin/audit?{query}")
        });
    let entries = page.map(|p| p.items).unwrap_or_default();
    ctx.render(
        status,
        "admin_audit.html",
        context! { title => "Audit log", entries => entries, filters => f, next => next, error => error },
    )
}

/// The account search as typed.
#[derive(Default, Deserialize, Serialize)]
pub(super) struct UserSearch {
    q: Option<String>,
    role: Option<String>,
    page: Option<String>,
}

pub(super) async fn users(ctx: Ctx, Query(f): Query<UserSearch>) -> Response {
    users_page(ctx, f, None).await
}

async fn users_page(ctx: Ctx, f: UserSearch, note: Option<(StatusCode, String)>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let query = UserQuery {
        q: given(&f.q),
        role: given(&f.role),
        page: None,
        per_page: None,
    };
    let page = page_number(f.page.as_deref());
    let listed = match query.filter() {
        Ok(filter) => {
            let page = Page {
                page,
                per_page: PER_PAGE,
            };
            ctx.state
                .accounts
                .users(viewer.principal, filter, page)
                .await
        }
        Err(e) => Err(e),
    };
    let (users, total, error) = match listed {
        Ok((users, total)) => (users, total, None),
        Err(e @ Error::Validation(_)) => (Vec::new(), 0, Some(in_words(&e))),
        Err(e) => return ctx.failure(e),
    };
    let (status, note) = match (note, &error) {
        (Some((status, note)), _) => (status, Some(note)),
        (None, Some(_)) => (StatusCode::UNPROCESSABLE_ENTITY, None),
        (None, None) => (StatusCode::OK, None),
    };
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    ctx.render(
        status,
        "admin_users.html",
        context! {
            title => "Accounts",
            users => users,
            total => total,
            page => page,
            pages => page_count(total),
            search => search_query(&[("q", f.q.as_deref()), ("role", f.role.as_deref())]),
            filters => f,
            roles => roles,
            me => viewer.principal.user.to_string(),
            note => note,
            error => error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    role: Option<String>,
}

pub(super) async fn change_role(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<RoleForm>,
) -> Response {
    let (viewer, user) = match ctx.viewer_and::<UserId>(&id, "user") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let role = form.role.unwrap_or_default();
    let changed = ctx
        .state
        .accounts
        .set_role(viewer.principal, user, &role)
        .await;
    match changed {
        Ok(u) => {
            let note = format!(
                "{} is now {}: signed out everywhere, the new role applies from their next sign-in.",
                u.email, u.role
            );
            let search = UserSearch {
                q: Some(u.email),
                ..UserSearch::default()
            };
            users_page(ctx, search, Some((StatusCode::OK, note))).await
        }
        Err(e @ Error::Validation(_)) => {
            let note = (StatusCode::UNPROCESSABLE_ENTITY, in_words(&e));
            users_page(ctx, UserSearch::default(), Some(note)).await
        }
        Err(e) => ctx.failure(e),
    }
}

#[derive(Default, Deserialize)]
pub(super) struct LetterFilters {
    status: Option<String>,
    consumer: Option<String>,
    page: Option<String>,
}

pub(super) async fn dead_letters(ctx: Ctx, Query(f): Query<LetterFilters>) -> Response {
    letters_page(ctx, f, None).await
}

async fn letters_page(ctx: Ctx, f: LetterFilters, note: Option<String>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let status = given(&f.status).unwrap_or_else(|| "open".to_owned());
    let query = DeadLetterQuery {
        consumer: given(&f.consumer),
        status: Some(status.clone()).filter(|s| s != "all"),
        page: f.page.as_deref().and_then(|p| p.parse().ok()),
        per_page: Some(50),
    };
    let listed = ctx
        .state
        .dead_letters
        .list(Operator::Caller(viewer.principal), query)
        .await;
    let page = match listed {
        Ok(p) => p,
        Err(e) => return ctx.failure(e),
    };
    let consumers = ctx.state.consumers.names();
    ctx.render(
        StatusCode::OK,
        "admin_dead_letters.html",
        context! {
            title => "Dead letters",
            letters => page.items,
            total => page.total,
            status => status,
            consumer => given(&f.consumer).unwrap_or_default(),
            consumers => consumers,
            note => note,
        },
    )
}

pub(super) async fn replay(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    resolve(ctx, id, true).await
}

pub(super) async fn discard(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    resolve(ctx, id, false).await
}

async fn resolve(ctx: Ctx, id: String, replay: bool) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let who = Operator::Caller(viewer.principal);
    let service = ctx.state.dead_letters.clone();
    let done = if replay {
        service.replay(who, &id).await
    } else {
        service.discard(who, &id).await
    };
    match done {
        // A replay that fails again keeps the letter open, with the new error.
        Ok(letter) if replay && letter.status == "open" => {
            let note = format!("Replay failed: {}", letter.last_error);
            letters_page(ctx, LetterFilters::default(), Some(note)).await
        }
        Ok(_) => Redirect::to("/admin/dead-letters").into_response(),
        Err(e @ Error::Conflict { .. }) => {
            let note = format!(
                "{} {}",
                if replay {
                    "Replay failed:"
                } else {
                    "Not discarded:"
                },
                in_words(&e)
            );
            letters_page(ctx, LetterFilters::default(), Some(note)).await
        }
        Err(e) => ctx.failure(e),
    }
}
