//! Award presets (the one-tap buttons): a class's own, or the school's that every class
//! without its own uses.

use super::{
    extract::{ApiJson, Auth},
    replies::{ClassPresets, ErrorReply, SchoolPresets},
};
use crate::{
    error::AppError,
    ledger::{Command, PresetsUpdate},
    model::{Preset, validate_id},
    server::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
};
use serde::Deserialize;
use utoipa::ToSchema;

/// The presets a class uses, and whether they are its own (the class's teachers, admins).
#[utoipa::path(get, path = "/api/classes/{class_id}/presets", tag = "classroom", params(("class_id" = String, Path)),
    responses((status = 200, body = ClassPresets), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply)), security(("bearer" = [])))]
pub async fn class(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
) -> Result<Json<ClassPresets>, AppError> {
    validate_id("class_id", &class_id)?;
    state
        .ledger
        .require_class_reader(&auth.0.actor(), &class_id)
        .await?;
    class_reply(&state, &class_id).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClassPresets {
    /// The class's own presets (1–12, each a reason of 1–40 characters and a non-zero value
    /// within the school's limits); `null` returns the class to the school's. Required: a
    /// body that forgot it must not quietly drop the class's presets.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Preset>>, required)]
    presets: Option<Option<Vec<Preset>>>,
}

/// A field that was sent, `null` included (an absent one stays `None` by `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Set a class's own presets, or return it to the school's (the class's teachers, admins).
#[utoipa::path(put, path = "/api/classes/{class_id}/presets", tag = "classroom", params(("class_id" = String, Path)),
    request_body = SetClassPresets, responses((status = 200, body = ClassPresets), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply)), security(("bearer" = [])))]
pub async fn set_class(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
    ApiJson(body): ApiJson<SetClassPresets>,
) -> Result<Json<ClassPresets>, AppError> {
    let presets = body.presets.ok_or_else(|| {
        AppError::validation(
            "presets",
            "is required: a list, or null to use the school's presets",
        )
    })?;
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::SetPresets(PresetsUpdate {
                class_id: Some(class_id.clone()),
                presets,
            }),
        )
        .await?;
    class_reply(&state, &class_id).await
}

async fn class_reply(state: &AppState, class_id: &str) -> Result<Json<ClassPresets>, AppError> {
    let (presets, own) = state.ledger.presets(Some(class_id)).await?;
    Ok(Json(ClassPresets { presets, own }))
}

/// The school's presets (anyone signed in).
#[utoipa::path(get, path = "/api/presets", tag = "classroom",
    responses((status = 200, body = SchoolPresets), (status = 401, body = ErrorReply)), security(("bearer" = [])))]
pub async fn school(
    State(state): State<AppState>,
    _auth: Auth,
) -> Result<Json<SchoolPresets>, AppError> {
    school_reply(&state).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSchoolPresets {
    /// 1–12 presets, each a reason of 1–40 characters and a non-zero value within the
    /// school's limits.
    presets: Vec<Preset>,
}

/// Replace the school's presets (admins).
#[utoipa::path(put, path = "/api/presets", tag = "classroom", request_body = SetSchoolPresets,
    responses((status = 200, body = SchoolPresets), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn set_school(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<SetSchoolPresets>,
) -> Result<Json<SchoolPresets>, AppError> {
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::SetPresets(PresetsUpdate {
                class_id: None,
                presets: Some(body.presets),
            }),
        )
        .await?;
    school_reply(&state).await
}

async fn school_reply(state: &AppState) -> Result<Json<SchoolPresets>, AppError> {
    let (presets, _) = state.ledger.presets(None).await?;
    Ok(Json(SchoolPresets { presets }))
}
