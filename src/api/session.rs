//! The signed-in user of a server function, from the session cookie (server only).

use crate::{
    api::rest::SESSION_COOKIE,
    error::AppError,
    ledger::access::SignedIn,
    model::UserInfo,
    server::{AppState, app_state},
};
use axum_extra::extract::CookieJar;

/// The signed-in user of this request, from the session cookie.
pub async fn current() -> Result<Option<(AppState, SignedIn)>, AppError> {
    let state = app_state()?;
    let jar: CookieJar = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("cannot read cookies: {e}")))?;
    let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let user = state.ledger.signed_in(&token).await?;
    Ok(user.map(|user| (state, user)))
}

pub async fn required() -> Result<(AppState, SignedIn), AppError> {
    current()
        .await?
        .ok_or_else(|| AppError::unauthorized("please sign in"))
}

pub fn info(user: SignedIn) -> UserInfo {
    UserInfo {
        id: user.id,
        username: user.username,
        name: user.name,
        role: user.role,
        active: true,
    }
}

/// The token of this request's session cookie, if any.
pub async fn token() -> Option<String> {
    let jar: CookieJar = leptos_axum::extract().await.ok()?;
    jar.get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Whether this request reached us over HTTPS (through a proxy that says so).
pub async fn reached_over_https() -> bool {
    leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .is_ok_and(|headers| crate::api::rest::reached_over_https(&headers))
}

pub fn set_cookie(cookie: &cookie::Cookie<'_>) -> Result<(), AppError> {
    let response = leptos::prelude::expect_context::<leptos_axum::ResponseOptions>();
    let value = axum::http::HeaderValue::from_str(&cookie.to_string())
        .map_err(|e| AppError::internal(format!("bad cookie: {e}")))?;
    response.append_header(axum::http::header::SET_COOKIE, value);
    Ok(())
}

/// The signed-in user, who must be an admin (403 otherwise).
pub async fn admin() -> Result<(AppState, SignedIn), AppError> {
    let (state, user) = required().await?;
    if user.role != crate::model::Role::Admin {
        return Err(AppError::admin_only("do this"));
    }
    Ok((state, user))
}
