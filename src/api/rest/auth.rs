//! Sign-in, sign-out and API tokens.

use super::extract::{ApiJson, Auth, SESSION_COOKIE, presented_token};
use crate::{
    error::AppError,
    ledger::{
        Command, Request,
        access::{self, NewToken, TokenKind},
        clock,
    },
    model::validate_id,
    server::AppState,
};
use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
    response::IntoResponse,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /api/auth/login {username, password}` → `{token, user}` and a session cookie.
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, AppError> {
    let user = access::check_credentials(state.ledger.db().pool(), &body.username, &body.password)
        .await?
        .ok_or_else(|| AppError::unauthorized("wrong username or password"))?;
    let (token, token_hash) = access::new_token();
    let expires = chrono::Utc::now() + chrono::Duration::days(access::SESSION_DAYS);
    state
        .ledger
        .execute(Request::new(
            user.actor(),
            Command::IssueToken(NewToken {
                user_id: user.id.clone(),
                token_hash,
                kind: TokenKind::Session,
                name: "browser session".into(),
                expires_at: Some(clock::format(expires)),
            }),
        ))
        .await?;
    let cookie = Cookie::build((SESSION_COOKIE, token.clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::days(access::SESSION_DAYS))
        .build();
    Ok((
        jar.add(cookie),
        Json(json!({ "token": token, "user": user })),
    ))
}

/// `POST /api/auth/logout`: revokes the token the request carries and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    jar: CookieJar,
    parts: RequestToken,
) -> Result<impl IntoResponse, AppError> {
    if let Some(token) = parts.0 {
        state
            .ledger
            .execute(Request::new(
                auth.0.actor(),
                Command::RevokeToken {
                    token_hash: access::token_hash(&token),
                },
            ))
            .await?;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    Ok((jar, Json(json!({ "message": "signed out" }))))
}

/// The token of the current request (for logout).
pub struct RequestToken(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        presented_token(parts).map(RequestToken)
    }
}

/// `GET /api/auth/me` → the signed-in user.
pub async fn me(auth: Auth) -> Json<access::SignedIn> {
    Json(auth.0)
}

#[derive(Deserialize)]
pub struct NewApiToken {
    #[serde(default)]
    name: String,
    /// Admins may issue a token for another user.
    user_id: Option<String>,
}

/// `POST /api/auth/tokens {name, user_id?}` → `201 {id, token}`; the token is shown only here.
pub async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<impl IntoResponse, AppError> {
    let user_id = body.user_id.unwrap_or_else(|| auth.0.id.clone());
    validate_id("user_id", &user_id)?;
    let (token, token_hash) = access::new_token();
    let outcome = state
        .ledger
        .run(
            auth.0.actor(),
            Command::IssueToken(NewToken {
                user_id,
                token_hash,
                kind: TokenKind::Api,
                name: body.name,
                expires_at: None,
            }),
        )
        .await?;
    let id = outcome.into_roster_id()?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "token": token })),
    ))
}

#[derive(Deserialize)]
pub struct RevokeToken {
    token: String,
}

/// `POST /api/auth/tokens/revoke {token}`: your own tokens, or any token as an admin.
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RevokeToken>,
) -> Result<Json<serde_json::Value>, AppError> {
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::RevokeToken {
                token_hash: access::token_hash(&body.token),
            },
        )
        .await?;
    Ok(Json(json!({ "message": "token revoked" })))
}
