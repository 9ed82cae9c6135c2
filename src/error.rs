//! The one error type that crosses the server/browser boundary.
//!
//! Server functions return `Result<T, AppError>`; the REST layer maps the same variants to HTTP
//! status codes. Database and other internal failures are logged in full on the server and reach
//! clients only as a generic message.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum AppError {
    /// Input that cannot be accepted; `field` names what to fix.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("not allowed: {message}")]
    Forbidden { message: String },
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// A configured rule refused the operation; `rule` names it.
    #[error("rule {rule} refused the operation: {message}")]
    RuleViolation { rule: String, message: String },
    /// Temporarily unable to serve (for example the database stayed busy after retries).
    #[error("temporarily unavailable: {message}")]
    Unavailable { message: String },
    /// Something failed on the server; details are in the server log.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(message) | E::MissingArg(message) | E::Deserialization(message) => {
                Self::validation("request", message)
            }
            E::Request(message) | E::Response(message) => Self::Unavailable { message },
            other => Self::internal(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        tracing::error!(%error, "database error in the writer");
        Self::internal("database error")
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error");
        Self::internal("database error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_names_the_code_and_field() {
        let error = AppError::validation("points_change", "must not be zero");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "validation", "field": "points_change", "message": "must not be zero"})
        );
        let back: AppError = serde_json::from_value(json).unwrap();
        assert_eq!(back, error);
        assert_eq!(error.to_string(), "points_change: must not be zero");
    }

    #[test]
    fn rule_violations_name_the_rule() {
        let json = serde_json::to_value(AppError::RuleViolation {
            rule: "min_balance".into(),
            message: "balance -1 would fall below the minimum 0".into(),
        })
        .unwrap();
        assert_eq!(json["code"], "rule_violation");
        assert_eq!(json["rule"], "min_balance");
    }
}
