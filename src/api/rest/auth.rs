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
    http::{HeaderMap, StatusCode, request::Parts},
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
    responses((status = 200, body = LoginReply), (status = 400, body = ErrorReply), (status = 401, body = ErrorReply),
        (status = 429, body = ErrorReply, description = "Too many failed sign-ins for this account: locked for the seconds in Retry-After"),
        (status = 503, body = ErrorReply, description = "Sign-ins to this account waited 10 s for earlier ones to be checked: the server is overloaded")))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, AppError> {
    let (token, user) = access::sign_in(&state.ledger, &body.username, &body.password).await?;
    Ok((
        jar.add(session_cookie(token.clone(), reached_over_https(&headers))),
        Json(LoginReply { token, user }),
    ))
}

/// The browser session cookie: HttpOnly (scripts cannot read it), SameSite=Lax, and Secure
/// (never sent over plain HTTP) when the browser reached us over HTTPS.
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::days(access::SESSION_DAYS))
        .build()
}

/// Whether the browser reached us over HTTPS. The server speaks plain HTTP (many school
/// networks have nothing else), so HTTPS means a reverse proxy in front of it, which says so in
/// `X-Forwarded-Proto` or `Forwarded` (the first entry is the hop nearest the browser). A forged
/// header can only make the sender's own cookie stricter, so it needs no trust setting.
pub fn reached_over_https(headers: &HeaderMap) -> bool {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
    };
    if let Some(proto) = first("x-forwarded-proto") {
        return proto.eq_ignore_ascii_case("https");
    }
    first("forwarded").is_some_and(|hop| {
        hop.split(';').any(|pair| {
            pair.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("proto")
                    && value.trim().trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    })
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

#[cfg(test)]
mod tests {
    use super::reached_over_https;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn https_is_read_from_the_proxy_headers_nearest_the_browser() {
        assert!(!reached_over_https(&headers(&[])));
        assert!(reached_over_https(&headers(&[(
            "x-forwarded-proto",
            "HTTPS"
        )])));
        assert!(reached_over_https(&headers(&[(
            "x-forwarded-proto",
            "https, http"
        )])));
        assert!(!reached_over_https(&headers(&[(
            "x-forwarded-proto",
            "http, https"
        )])));
        assert!(reached_over_https(&headers(&[(
            "forwarded",
            "for=10.0.0.7;proto=https;host=points.school.example"
        )])));
        assert!(reached_over_https(&headers(&[(
            "forwarded",
            "proto=\"https\""
        )])));
        assert!(!reached_over_https(&headers(&[(
            "forwarded",
            "proto=http, proto=https"
        )])));
        // X-Forwarded-Proto, when present, decides.
        assert!(!reached_over_https(&headers(&[
            ("x-forwarded-proto", "http"),
            ("forwarded", "proto=https")
        ])));
    }
}
