//! An organization's own page for its owners and managers: members and their roles,
//! invitations, API keys (the token shown once) and webhook endpoints (the signing
//! secret shown once). The services decide who may change what, as for the API.
use super::pages::NoFields;
use super::view::{in_words, Ctx, Submitted};
use crate::error::Error;
use crate::organizations::NewApiKey;
use crate::webhooks::NewWebhook;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::webhook::EVENT_TYPES;
use boxoffice_domain::{OrganizationId, UserId};
use minijinja::{context, Value};
use serde::Deserialize;
use std::collections::HashMap;

pub(super) async fn page(ctx: Ctx, Path(id): Path<String>) -> Response {
    team_page(ctx, id, context! {}, StatusCode::OK).await
}

/// The page with `extra`: a token or secret to show once, or what went wrong.
async fn team_page(ctx: Ctx, id: String, extra: Value, status: StatusCode) -> Response {
    let (viewer, org_id) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let state = ctx.state.clone();
    let who = viewer.principal;
    let org = match state.organizations.get(who, org_id).await {
        Ok(o) => o,
        Err(e) => return ctx.failure(e),
    };
    // What the viewer may not see is simply left out (a box-office member sees the
    // members, not the keys).
    let members = state.organizations.members(who, org_id).await.ok();
    let invitations = state.organizations.invitations(who, org_id).await.ok();
    let keys = state.organizations.keys(who, org_id).await.ok();
    let webhooks = state.webhooks.list(who, org_id).await.ok();
    ctx.render(
        status,
        "team.html",
        context! {
            title => org.name.clone(),
            org => org,
            members => members,
            invitations => invitations,
            keys => keys,
            webhooks => webhooks,
            event_types => EVENT_TYPES.to_vec(),
            roles => ["owner", "manager", "box_office"],
            ..extra
        },
    )
}

/// After a change: back to the page, or the page with what went wrong.
async fn done<T>(ctx: Ctx, id: String, result: crate::error::Result<T>) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!("/organize/orgs/{id}")).into_response(),
        Err(e @ (Error::Validation(_) | Error::Conflict { .. } | Error::Forbidden(_))) => {
            let message = in_words(&e);
            team_page(
                ctx,
                id,
                context! { error => message },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => ctx.failure(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Invite {
    email: Option<String>,
    role: Option<String>,
}

pub(super) async fn invite(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<Invite>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let email = form.email.unwrap_or_default();
    let role = form.role.unwrap_or_default();
    let invited = ctx
        .state
        .organizations
        .invite(who, org, email.trim(), &role)
        .await;
    done(ctx, id, invited).await
}

#[derive(Deserialize)]
pub(super) struct RoleChange {
    role: Option<String>,
}

pub(super) async fn change_role(
    Path((id, user)): Path<(String, String)>,
    Submitted { ctx, form }: Submitted<RoleChange>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let Ok(user) = user.parse::<UserId>() else {
        return ctx.failure(Error::NotFound("member"));
    };
    let role = form.role.unwrap_or_default();
    let changed = ctx
        .state
        .organizations
        .change_role(who, org, user, &role)
        .await;
    done(ctx, id, changed).await
}

pub(super) async fn remove_member(
    Path((id, user)): Path<(String, String)>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let Ok(user) = user.parse::<UserId>() else {
        return ctx.failure(Error::NotFound("member"));
    };
    let removed = ctx.state.organizations.remove_member(who, org, user).await;
    done(ctx, id, removed).await
}

#[derive(Deserialize)]
pub(super) struct NewKey {
    name: Option<String>,
    scope: Option<String>,
}

pub(super) async fn create_key(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<NewKey>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let input = NewApiKey {
        name: form.name.unwrap_or_default(),
        scope: form.scope.unwrap_or_else(|| "read".to_owned()),
        expires_in_days: None,
    };
    match ctx.state.organizations.create_key(who, org, input).await {
        Ok(created) => {
            let extra = context! { new_token => created.token, new_key => created.key.name };
            team_page(ctx, id, extra, StatusCode::OK).await
        }
        Err(e) => done::<()>(ctx, id, Err(e)).await,
    }
}

pub(super) async fn revoke_key(
    Path((id, key)): Path<(String, String)>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let Ok(key) = key.parse() else {
        return ctx.failure(Error::NotFound("key"));
    };
    let revoked = ctx.state.organizations.revoke_key(who, org, key).await;
    done(ctx, id, revoked).await
}

#[derive(Deserialize)]
pub(super) struct NewEndpoint {
    url: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    checked: HashMap<String, String>,
}

pub(super) async fn create_webhook(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<NewEndpoint>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    // One checkbox per event type, named `type_<event type>`.
    let event_types: Vec<String> = EVENT_TYPES
        .iter()
        .filter(|t| form.checked.contains_key(&format!("type_{t}")))
        .map(|t| (*t).to_owned())
        .collect();
    let input = NewWebhook {
        url: form.url.unwrap_or_default().trim().to_owned(),
        event_types,
        description: form.description.filter(|d| !d.trim().is_empty()),
    };
    match ctx.state.webhooks.create(who, org, input).await {
        Ok(created) => {
            let extra =
                context! { new_secret => created.secret, new_webhook => created.webhook.url };
            team_page(ctx, id, extra, StatusCode::OK).await
        }
        Err(e) => done::<()>(ctx, id, Err(e)).await,
    }
}

pub(super) async fn delete_webhook(
    Path((id, hook)): Path<(String, String)>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, org) = match ctx.viewer_and::<OrganizationId>(&id, "organization") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let who = viewer.principal;
    let Ok(hook) = hook.parse() else {
        return ctx.failure(Error::NotFound("webhook"));
    };
    let deleted = ctx.state.webhooks.delete(who, org, hook).await;
    done(ctx, id, deleted).await
}
