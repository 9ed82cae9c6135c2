//! Extractors that turn bad requests into errors naming the field, and find the caller.

use crate::{error::AppError, ledger::access::SignedIn, model::Role, server::AppState};
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

/// Cookie holding a browser session's token.
pub const SESSION_COOKIE: &str = "classpoints_session";

/// Turns a deserialisation error into "field: reason".
fn named(path: String, error: impl std::fmt::Display) -> AppError {
    let message = error.to_string();
    // A missing field is reported at the parent path; name the field itself.
    let field = match message.split('`').nth(1) {
        Some(name) if message.starts_with("missing field") => {
            if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        }
        _ if path == "." || path.is_empty() => "body".to_owned(),
        _ => path,
    };
    AppError::validation(field, message)
}

/// Parses a JSON object body. (serde would also take an array as a struct's fields in order;
/// every body of this API is an object, so anything else is refused up front.)
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(AppError::validation("body", "is empty; send a JSON object")),
        Some(_) => return Err(AppError::validation("body", "must be a JSON object")),
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let error = e.into_inner();
        if error.is_syntax() || error.is_eof() {
            AppError::validation("body", format!("is not valid JSON: {error}"))
        } else {
            named(path, error)
        }
    })
}

/// The whole body; one that is too large, or did not arrive within the server's body
/// deadline, is refused naming the body and why.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    use crate::server::BodyRefused;
    use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
    Bytes::from_request(req, state).await.map_err(|rejection| {
        match (crate::server::body_refusal(&rejection), &rejection) {
            (Some(BodyRefused::TooLarge), _)
            | (_, BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
                AppError::invalid("body", crate::api::request_too_large())
            }
            (Some(timed_out), _) => AppError::validation("body", timed_out.to_string()),
            (None, _) => AppError::validation("body", rejection.body_text()),
        }
    })
}

/// A JSON body; errors name the offending field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || ct.contains("+json")
            });
        if !is_json {
            return Err(AppError::validation(
                "content-type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent (empty), in which case `T::default()` is used.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(OptionalJson(T::default()))
        } else {
            parse_json(&bytes).map(OptionalJson)
        }
    }
}

/// Query parameters; errors name the offending parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let error = e.into_inner();
                let mut named = named(path, &error);
                if let AppError::Validation { field, .. } = &mut named
                    && field == "body"
                {
                    "query".clone_into(field);
                }
                named
            })
    }
}

/// The signed-in caller, from `Authorization: Bearer <token>` or the session cookie.
pub struct Auth(pub SignedIn);

impl Auth {
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::admin_only("do this"))
        }
    }
}

/// The token a request carries, if any.
pub fn presented_token(parts: &Parts) -> Result<Option<String>, AppError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| AppError::unauthorized("the Authorization header is not readable"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| AppError::unauthorized("use Authorization: Bearer <token>"))?;
        return Ok(Some(token.trim().to_owned()));
    }
    let jar = CookieJar::from_headers(&parts.headers);
    Ok(jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()))
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = presented_token(parts)?.ok_or_else(|| {
            AppError::unauthorized("sign in first: POST /api/auth/login, then send the token")
        })?;
        state
            .ledger
            .signed_in(&token)
            .await?
            .map(Auth)
            .ok_or_else(|| AppError::unauthorized("the token is unknown, expired or revoked"))
    }
}

/// A listing's `limit` query parameter: `default` when absent, else 1 – `max`.
pub fn limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, AppError> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::invalid(
            "limit",
            crate::error::Problem::OutOfRange { min: 1, max },
        ))
    }
}

/// The `Idempotency-Key` header, if sent; a key the ledger would refuse is refused here, naming
/// the header.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    crate::ledger::check_key("Idempotency-Key", value.as_bytes())?;
    // Visible ASCII by now, so nothing is replaced.
    Ok(Some(String::from_utf8_lossy(value.as_bytes()).into_owned()))
}
