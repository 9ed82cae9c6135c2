//! Sign-in, sign-out and API tokens.

use super::{
    extract::{ApiJson, Auth, SESSION_COOKIE, presented_token},
    replies::{ErrorReply, LoginReply, Message, TokenReply},
};
use crate::{
    error::AppError,
    ledger::{
        Command, Request,
        access::{self, NewToken, TokenKind},
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
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct Login {
    username: String,
    password: String,
}

/// Sign in: a session token in the body and as an HttpOnly cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = LoginReply), (status = 400, body = ErrorReply), (status = 401, body = ErrorReply)))]
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, AppError> {
    let (token, user) = access::sign_in(&state.ledger, &body.username, &body.password).await?;
    Ok((
        jar.add(session_cookie(token.clone())),
        Json(LoginReply { token, user }),
    ))
}

/// The browser session cookie: HttpOnly (scripts cannot read it), SameSite=Lax.
pub fn session_cookie(token: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::days(access::SESSION_DAYS))
        .build()
}

/// Sign out: revokes the token the request carries and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, body = Message), (status = 401, body = ErrorReply)), security(("bearer" = [])))]
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
    Ok((
        jar,
        Json(Message {
            message: "signed out".into(),
        }),
    ))
}

/// The token of the current request (for logout).
pub struct RequestToken(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        presented_token(parts).map(RequestToken)
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = access::SignedIn), (status = 401, body = ErrorReply)), security(("bearer" = [])))]
pub async fn me(auth: Auth) -> Json<access::SignedIn> {
    Json(auth.0)
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiToken {
    #[serde(default)]
    name: String,
    /// Admins may issue a token for another user.
    user_id: Option<String>,
}

/// An API token for scripts (`Authorization: Bearer …`); shown only in this reply.
#[utoipa::path(post, path = "/api/auth/tokens", tag = "auth", request_body = NewApiToken,
    responses((status = 201, body = TokenReply), (status = 401, body = ErrorReply), (status = 403, body = ErrorReply)),
    security(("bearer" = [])))]
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
    Ok((StatusCode::CREATED, Json(TokenReply { id, token })))
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeToken {
    token: String,
}

/// Revoke a token: your own, or any as an admin.
#[utoipa::path(post, path = "/api/auth/tokens/revoke", tag = "auth", request_body = RevokeToken,
    responses((status = 200, body = Message), (status = 403, body = ErrorReply), (status = 404, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RevokeToken>,
) -> Result<Json<Message>, AppError> {
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::RevokeToken {
                token_hash: access::token_hash(&body.token),
            },
        )
        .await?;
    Ok(Json(Message {
        message: "token revoked".into(),
    }))
}
