//! `/api/points`: the old system's endpoints, plus batches and undo.

use super::{
    extract::{self, ApiJson, ApiQuery, Auth, idempotency_key},
    replies::{
        self, Balances, CreatedTransaction, ErrorReply, PointsReply, PointsWritten, StudentPoints,
    },
};
use crate::{
    api::rest::extract::OptionalJson,
    error::AppError,
    ledger::{
        Actor, BatchChange, BatchTarget, Command, Executed, Outcome, PointChange, Request,
        Reversal, ReversalTarget,
    },
    model::{Role, TransactionType, validate_id},
    server::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /api/points`, as the old system's clients send it.
#[derive(Deserialize, ToSchema)]
pub struct CreateTransaction {
    student_id: String,
    /// The acting teacher; defaults to the caller. Only an admin may name someone else.
    teacher_id: Option<String>,
    points_change: i64,
    /// Defaults from the sign: add_points when positive, deduct_points when negative.
    transaction_type: Option<TransactionType>,
    reason: Option<String>,
}

/// Whom the ledger should record as acting, honouring an explicit `teacher_id`.
async fn acting_as(
    state: &AppState,
    auth: &Auth,
    teacher_id: Option<&str>,
) -> Result<Actor, AppError> {
    match teacher_id {
        None => Ok(auth.0.actor()),
        Some(id) if id == auth.0.id => Ok(auth.0.actor()),
        Some(id) => {
            validate_id("teacher_id", id)?;
            if auth.0.role != Role::Admin {
                return Err(AppError::forbidden(
                    "a teacher may not act as another teacher",
                ));
            }
            let user = state
                .ledger
                .user(id)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| {
                    AppError::validation("teacher_id", format!("no active user {id}"))
                })?;
            Ok(Actor::User {
                id: user.id,
                role: user.role,
            })
        }
    }
}

/// The requested type, or the one the sign implies (add_points / deduct_points), and the
/// reason (none given: empty).
fn type_and_reason(
    points_change: i64,
    transaction_type: Option<TransactionType>,
    reason: Option<String>,
) -> (TransactionType, String) {
    let implied = if points_change < 0 {
        TransactionType::DeductPoints
    } else {
        TransactionType::AddPoints
    };
    (
        transaction_type.unwrap_or(implied),
        reason.unwrap_or_default(),
    )
}

/// 201 with the reply built from the outcome; marks replays of an earlier request.
fn created<T: Serialize>(
    executed: Executed,
    shape: impl FnOnce(Outcome) -> Result<T, AppError>,
) -> Result<Response, AppError> {
    Ok(replies::created(
        shape(executed.outcome)?,
        executed.replayed,
    ))
}

fn points_written(outcome: Outcome) -> Result<PointsWritten, AppError> {
    match outcome {
        Outcome::Points {
            batch_id,
            transactions,
            balances,
        } => Ok(PointsWritten {
            batch_id,
            transactions,
            balances,
        }),
        other => Err(AppError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Award, deduct or redeem for one student, atomically (the old system's endpoint).
#[utoipa::path(post, path = "/api/points", tag = "points",
    request_body = CreateTransaction,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe request id: a repeat replays the original answer; another body with the same key is a 409")),
    responses(
        (status = 201, body = CreatedTransaction, description = "Written; header Idempotent-Replayed: true on a replay"),
        (status = 400, body = ErrorReply), (status = 401, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply), (status = 409, body = ErrorReply), (status = 422, body = ErrorReply, description = "A rule refused it; `rule` names the rule")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateTransaction>,
) -> Result<Response, AppError> {
    let actor = acting_as(&state, &auth, body.teacher_id.as_deref()).await?;
    let (transaction_type, reason) =
        type_and_reason(body.points_change, body.transaction_type, body.reason);
    let command = Command::Change(PointChange {
        student_id: body.student_id,
        points_change: body.points_change,
        transaction_type,
        reason,
    });
    let request = Request {
        actor,
        idempotency_key: idempotency_key(&headers)?,
        command,
    };
    let executed = state.ledger.execute(request).await?;
    created(executed, |outcome| {
        let written = points_written(outcome)?;
        match (written.transactions.as_slice(), written.balances.as_slice()) {
            ([transaction], [balance]) => Ok(CreatedTransaction {
                transaction: transaction.clone(),
                student_id: balance.student_id.clone(),
                points: balance.points,
            }),
            _ => Err(AppError::internal("one change wrote other than one row")),
        }
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointsQuery {
    student_id: Option<String>,
    #[serde(default)]
    transactions: bool,
    /// Transactions per reply, 1 – 1000 (100 when absent).
    limit: Option<i64>,
    /// The id of one of the student's transactions: the reply continues with the rows
    /// recorded before it (pass the last id of one reply to get the next).
    before: Option<String>,
}

/// A student's points and, with `transactions=true`, their transactions newest first;
/// without `student_id`, the balances of every student the caller may see.
#[utoipa::path(get, path = "/api/points", tag = "points", params(PointsQuery),
    responses((status = 200, body = PointsReply), (status = 400, body = ErrorReply),
        (status = 401, body = ErrorReply), (status = 403, body = ErrorReply), (status = 404, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn get_points(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<PointsQuery>,
) -> Result<Json<PointsReply>, AppError> {
    let actor = auth.0.actor();
    let Some(student_id) = query.student_id else {
        let balances = state.ledger.students(&actor, None).await?;
        return Ok(Json(PointsReply::All(Balances { balances })));
    };
    validate_id("student_id", &student_id)?;
    if let Some(before) = &query.before {
        validate_id("before", before)?;
    }
    let limit = extract::limit(query.limit, 100, 1000)?;
    state
        .ledger
        .visible_student_class(&actor, &student_id)
        .await?;
    let points = state.ledger.balance(&student_id).await?;
    let transactions = if query.transactions {
        Some(
            state
                .ledger
                .history(&student_id, query.before.as_deref(), limit)
                .await?,
        )
    } else {
        None
    };
    Ok(Json(PointsReply::Student(StudentPoints {
        student_id,
        points,
        transactions,
    })))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateBatch {
    target: BatchTarget,
    points_change: i64,
    transaction_type: Option<TransactionType>,
    reason: Option<String>,
}

/// The same change for a whole class, a group or selected students: all or nothing.
#[utoipa::path(post, path = "/api/points/batch", tag = "points", request_body = CreateBatch,
    responses((status = 201, body = PointsWritten), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply), (status = 422, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn batch(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBatch>,
) -> Result<Response, AppError> {
    let (transaction_type, reason) =
        type_and_reason(body.points_change, body.transaction_type, body.reason);
    let command = Command::ChangeMany(BatchChange {
        target: body.target,
        points_change: body.points_change,
        transaction_type,
        reason,
    });
    let request = Request {
        actor: auth.0.actor(),
        idempotency_key: idempotency_key(&headers)?,
        command,
    };
    created(state.ledger.execute(request).await?, points_written)
}

#[derive(Deserialize, Default, ToSchema)]
pub struct Undo {
    #[serde(default)]
    reason: String,
}

async fn undo(
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    target: ReversalTarget,
    reason: String,
) -> Result<Response, AppError> {
    let request = Request {
        actor: auth.0.actor(),
        idempotency_key: idempotency_key(&headers)?,
        command: Command::Reverse(Reversal { target, reason }),
    };
    created(state.ledger.execute(request).await?, points_written)
}

/// Undo one transaction by appending its reversal (once; the original stays in the ledger).
#[utoipa::path(post, path = "/api/points/{transaction_id}/reverse", tag = "points",
    params(("transaction_id" = String, Path)), request_body(content = Option<Undo>),
    responses((status = 201, body = PointsWritten), (status = 404, body = ErrorReply),
        (status = 409, body = ErrorReply, description = "Already undone"), (status = 422, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn reverse(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
    OptionalJson(body): OptionalJson<Undo>,
) -> Result<Response, AppError> {
    let target = ReversalTarget::Transaction { transaction_id };
    undo(state, auth, headers, target, body.reason).await
}

/// Undo every not-yet-undone row of a batch.
#[utoipa::path(post, path = "/api/points/batches/{batch_id}/reverse", tag = "points",
    params(("batch_id" = String, Path)), request_body(content = Option<Undo>),
    responses((status = 201, body = PointsWritten), (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn reverse_batch(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(batch_id): Path<String>,
    OptionalJson(body): OptionalJson<Undo>,
) -> Result<Response, AppError> {
    let target = ReversalTarget::Batch { batch_id };
    undo(state, auth, headers, target, body.reason).await
}
