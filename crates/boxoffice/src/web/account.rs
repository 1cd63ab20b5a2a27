//! The viewer's account: profile, the sessions signed in (this one marked, any other
//! signed out from here), and the second factor: set up an authenticator from its QR
//! code, keep the backup codes shown once, or turn it off with password and code.
use super::pages::NoFields;
use super::view::{in_words, Ctx, Submitted};
use crate::accounts::mfa::SecondFactor;
use crate::error::Error;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use serde::Deserialize;

pub(super) async fn page(ctx: Ctx) -> Response {
    account_page(ctx, context! {}, StatusCode::OK).await
}

/// The account page with `extra` (an enrolment under way, new backup codes, an error).
async fn account_page(ctx: Ctx, extra: Value, status: StatusCode) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let state = ctx.state.clone();
    let who = viewer.principal;
    let me = match state.accounts.me(who).await {
        Ok(m) => m,
        Err(e) => return ctx.failure(e),
    };
    let sessions = match state.accounts.sessions(who, Some(&viewer.session)).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let mfa = match state.mfa.status(who).await {
        Ok(m) => m,
        Err(e) => return ctx.failure(e),
    };
    ctx.render(
        status,
        "account.html",
        context! { title => "Account", me => me, sessions => sessions, mfa => mfa, ..extra },
    )
}

pub(super) async fn revoke_session(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    match ctx
        .state
        .accounts
        .revoke_session(viewer.principal, &id)
        .await
    {
        Ok(()) if id == viewer.session => {
            (super::session::signed_out(ctx.jar), Redirect::to("/")).into_response()
        }
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => ctx.failure(e),
    }
}

pub(super) async fn start_mfa(Submitted { ctx, .. }: Submitted<NoFields>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    match ctx.state.mfa.start_totp(viewer.principal).await {
        Ok(enrolment) => {
            let qr = enrolment.qr_svg[enrolment.qr_svg.find("<svg").unwrap_or(0)..].to_owned();
            let extra = context! {
                enrolment => context! { secret => enrolment.secret, qr => Value::from_safe_string(qr) },
            };
            account_page(ctx, extra, StatusCode::OK).await
        }
        Err(e) => {
            let extra = context! { mfa_error => in_words(&e) };
            account_page(ctx, extra, StatusCode::CONFLICT).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    code: Option<String>,
    password: Option<String>,
}

pub(super) async fn confirm_mfa(Submitted { ctx, form }: Submitted<CodeForm>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let code = form.code.unwrap_or_default();
    match ctx
        .state
        .mfa
        .confirm_totp(viewer.principal, code.trim())
        .await
    {
        Ok(codes) => {
            let extra = context! { backup_codes => codes.backup_codes };
            account_page(ctx, extra, StatusCode::OK).await
        }
        Err(e) => {
            let extra = context! { mfa_error => in_words(&e) };
            account_page(ctx, extra, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub(super) async fn disable_mfa(Submitted { ctx, form }: Submitted<CodeForm>) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let code = form.code.unwrap_or_default();
    let factor = SecondFactor::Totp(code.trim().to_owned());
    let disabled = ctx
        .state
        .mfa
        .disable(viewer.principal, form.password.unwrap_or_default(), factor)
        .await;
    match disabled {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e @ (Error::Unauthorized(_) | Error::Validation(_) | Error::Forbidden(_))) => {
            let message = match &e {
                Error::Unauthorized(_) => "The password or the code is wrong.".to_owned(),
                other => in_words(other),
            };
            let extra = context! { mfa_error => message };
            account_page(ctx, extra, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => ctx.failure(e),
    }
}
