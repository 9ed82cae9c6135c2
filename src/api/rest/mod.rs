//! The REST API (server only): the old system's endpoints and JSON shapes, plus roster and
//! auth. Thin handlers: parse and authenticate here, decide in the ledger core.
//!
//! Every endpoint answers under `/api/…` and `/api/v1/…`. Every error is JSON
//! `{"error": {"code", "message", "field"?, "rule"?}}` with a 4xx status that says what to fix.

pub mod auth;
pub mod backup;
mod extract;
mod groups;
mod live;
mod monitor;
mod points;
mod presets;
pub mod replies;
mod roster;

use crate::{error::AppError, server::AppState};
pub use auth::{reached_over_https, session_cookie};
use axum::{
    Json, Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
pub use extract::{ApiJson, ApiQuery, Auth, SESSION_COOKIE};

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } => StatusCode::BAD_REQUEST,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::RuleViolation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's `code` in API replies.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation",
            AppError::NotFound { .. } => "not_found",
            AppError::Unauthorized { .. } => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::Conflict { .. } => "conflict",
            AppError::RuleViolation { .. } => "rule_violation",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal { .. } => "internal",
        }
    }

    /// The API's error object: `{code, message, field?, rule?, limit?, actual?, student_id?,
    /// record?, id?, reason?}`.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        match self {
            AppError::Validation { field, .. } => body["field"] = field.as_str().into(),
            AppError::RuleViolation { rule, details, .. } => {
                body["rule"] = rule.as_str().into();
                if let Some(limit) = details.limit {
                    body["limit"] = limit.into();
                }
                if let Some(actual) = details.actual {
                    body["actual"] = actual.into();
                }
                if let Some(student_id) = &details.student_id {
                    body["student_id"] = student_id.as_str().into();
                }
            }
            AppError::NotFound {
                missing: Some(missing),
                ..
            } => {
                body["record"] = missing.record.to_string().into();
                body["id"] = missing.id.as_str().into();
            }
            AppError::Forbidden {
                denial: Some(denial),
                ..
            } => body["reason"] = serde_json::to_value(denial).unwrap_or_default(),
            AppError::Conflict {
                clash: Some(clash), ..
            } => body["reason"] = serde_json::to_value(clash).unwrap_or_default(),
            _ => {}
        }
        body
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response =
            (status, Json(serde_json::json!({ "error": self.body() }))).into_response();
        if let AppError::TooManyAttempts {
            retry_after_seconds,
            ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"classpoints\""),
            );
        }
        response
    }
}

async fn unknown_endpoint() -> AppError {
    AppError::NotFound {
        what: "API endpoint (see /api/openapi.json)".into(),
        missing: None,
    }
}

async fn wrong_method() -> Response {
    let error = AppError::validation("method", "this endpoint does not accept that HTTP method");
    let mut response = error.into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from POST /api/auth/login or POST /api/auth/tokens; \
                         browsers may send the classpoints_session cookie instead",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of this API, generated from the handlers and types themselves.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "classpoints API",
        description = "Classroom points with an append-only ledger. Every path also answers \
            under /api/v1. Errors are {\"error\": {code, message, field?, rule?}}."
    ),
    paths(
        auth::login, auth::logout, auth::me, auth::create_token, auth::revoke_token,
        points::create, points::get_points, points::batch, points::reverse, points::reverse_batch,
        monitor::report, monitor::fix, live::events, live::monitor_events, backup::download,
        backup::downloads,
        roster::create_teacher, roster::list_teachers, roster::update_teacher, roster::lift_sign_in_lock,
        roster::create_class, roster::list_classes,
        roster::update_class, roster::create_student, roster::list_students, roster::update_student,
        groups::list, groups::create, groups::update, groups::delete,
        presets::class, presets::set_class, presets::school, presets::set_school,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "points", description = "Awards, deductions, redemptions, batches and undo"),
        (name = "monitor", description = "Consistency check, auto-fix and backups (admins)"),
        (name = "roster", description = "Teachers, classes and students"),
        (name = "classroom", description = "Groups and award presets of a class, and the school's presets"),
        (name = "auth", description = "Sign-in and API tokens"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    Json(ApiDoc::openapi())
}

fn endpoints() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/events", get(live::events))
        .route("/monitor/events", get(live::monitor_events))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/tokens", post(auth::create_token))
        .route("/auth/tokens/revoke", post(auth::revoke_token))
        .route("/points", get(points::get_points).post(points::create))
        .route("/points/batch", post(points::batch))
        .route("/points/{transaction_id}/reverse", post(points::reverse))
        .route(
            "/points/batches/{batch_id}/reverse",
            post(points::reverse_batch),
        )
        .route("/points/monitor", get(monitor::report).post(monitor::fix))
        .route("/backup", get(backup::download))
        .route("/backup/downloads", get(backup::downloads))
        .route(
            "/teachers",
            get(roster::list_teachers).post(roster::create_teacher),
        )
        .route(
            "/classes",
            get(roster::list_classes).post(roster::create_class),
        )
        .route(
            "/students",
            get(roster::list_students).post(roster::create_student),
        )
        .route("/classes/{class_id}", patch(roster::update_class))
        .route("/teachers/{user_id}", patch(roster::update_teacher))
        .route(
            "/teachers/{user_id}/sign-in-lock",
            delete(roster::lift_sign_in_lock),
        )
        .route("/students/{student_id}", patch(roster::update_student))
        .route(
            "/classes/{class_id}/groups",
            get(groups::list).post(groups::create),
        )
        .route(
            "/groups/{group_id}",
            patch(groups::update).delete(groups::delete),
        )
        .route(
            "/classes/{class_id}/presets",
            get(presets::class).put(presets::set_class),
        )
        .route("/presets", get(presets::school).put(presets::set_school))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(wrong_method)
}

/// The API under both `/api` and `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/api/v1", endpoints())
        .nest("/api", endpoints())
}

#[cfg(test)]
mod tests {
    use crate::error::{AppError, RuleDetails};

    #[test]
    fn error_objects_name_the_code_and_field_or_rule() {
        assert_eq!(
            AppError::validation("points_change", "must not be zero").body(),
            serde_json::json!({"code": "validation", "field": "points_change", "message": "points_change: must not be zero"})
        );
        let refused = crate::error::refused_overdraft().body();
        assert_eq!(
            refused,
            serde_json::json!({
                "code": "rule_violation",
                "rule": "min_balance",
                "message": "rule min_balance refused the operation: balance -1 would fall below the minimum 0",
                "limit": 0,
                "actual": -1,
                "student_id": "s1",
            })
        );
        let without_figures = AppError::RuleViolation {
            rule: "reason_required".into(),
            message: "deduct_points needs a reason".into(),
            details: RuleDetails::default(),
        }
        .body();
        assert!(without_figures.get("limit").is_none(), "{without_figures}");
        assert_eq!(
            AppError::not_found(crate::error::Record::Student, "x").body(),
            serde_json::json!({"code": "not_found", "message": "not found: student x",
                "record": "student", "id": "x"})
        );
        assert_eq!(
            AppError::not_class_teacher("c1").body()["reason"],
            "not_class_teacher"
        );
        let undone = AppError::clash(crate::error::Clash::AlreadyUndone, "undone").body();
        assert_eq!(
            (&undone["code"], &undone["reason"]),
            (&"conflict".into(), &"already_undone".into())
        );
        assert!(AppError::forbidden("no").body().get("reason").is_none());
    }
}
