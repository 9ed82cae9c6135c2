//! Groups within a class (小组): list, create, rename or re-member, delete. A whole group is
//! awarded through `POST /api/points/batch` with `{"kind": "group"}`.

use super::{
    extract::{ApiJson, Auth},
    replies::{self, ErrorReply, Groups, Message},
};
use crate::{
    error::AppError,
    ledger::{Command, GroupUpdate, NewGroup},
    model::{GroupInfo, validate_id},
    server::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;
use utoipa::ToSchema;

/// The groups of a class, with their members (the class's teachers, admins).
#[utoipa::path(get, path = "/api/classes/{class_id}/groups", tag = "classroom", params(("class_id" = String, Path)),
    responses((status = 200, body = Groups), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
) -> Result<Json<Groups>, AppError> {
    validate_id("class_id", &class_id)?;
    state
        .ledger
        .require_class_reader(&auth.0.actor(), &class_id)
        .await?;
    Ok(Json(Groups {
        groups: state.ledger.groups(&class_id).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    name: String,
    /// Members: students of the class.
    #[serde(default)]
    student_ids: Vec<String>,
}

/// Create a group of the class, with its members, in one transaction.
#[utoipa::path(post, path = "/api/classes/{class_id}/groups", tag = "classroom", params(("class_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe request id, as for POST /api/points")),
    request_body = CreateGroup, responses((status = 201, body = GroupInfo), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<Response, AppError> {
    let command = Command::CreateGroup(NewGroup {
        class_id,
        name: body.name,
        student_ids: body.student_ids,
    });
    let (group_id, replayed) =
        super::roster::create_record(&state, &auth, &headers, command).await?;
    Ok(replies::created(stored(&state, &group_id).await?, replayed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchGroup {
    name: Option<String>,
    /// The complete new membership.
    student_ids: Option<Vec<String>>,
}

/// Rename a group or replace its members, in one transaction.
#[utoipa::path(patch, path = "/api/groups/{group_id}", tag = "classroom", params(("group_id" = String, Path)),
    request_body = PatchGroup, responses((status = 200, body = GroupInfo), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(group_id): Path<String>,
    ApiJson(body): ApiJson<PatchGroup>,
) -> Result<Json<GroupInfo>, AppError> {
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::UpdateGroup(GroupUpdate {
                group_id: group_id.clone(),
                name: body.name,
                student_ids: body.student_ids,
            }),
        )
        .await?;
    Ok(Json(stored(&state, &group_id).await?))
}

/// Delete a group; the awards it received stay in its students' ledgers.
#[utoipa::path(delete, path = "/api/groups/{group_id}", tag = "classroom", params(("group_id" = String, Path)),
    responses((status = 200, body = Message), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(group_id): Path<String>,
) -> Result<Json<Message>, AppError> {
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::DeleteGroup {
                group_id: group_id.clone(),
            },
        )
        .await?;
    Ok(Json(Message {
        message: format!("group {group_id} deleted"),
    }))
}

/// A group as committed, read back for the reply.
async fn stored(state: &AppState, group_id: &str) -> Result<GroupInfo, AppError> {
    state
        .ledger
        .group(group_id)
        .await?
        .ok_or_else(|| AppError::internal("the written group is not found"))
}
