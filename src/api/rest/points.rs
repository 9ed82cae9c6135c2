//! `/api/points`: the old system's endpoints, plus batches and undo.

use super::extract::{ApiJson, ApiQuery, Auth, idempotency_key};
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
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

/// Body of `POST /api/points`, as the old system's clients send it.
#[derive(Deserialize)]
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
                return Err(AppError::Forbidden {
                    message: "a teacher may not act as another teacher".into(),
                });
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

/// 201 with the outcome's rows and balances; marks replays of an earlier request.
fn created(executed: Executed, shape: impl FnOnce(Outcome) -> serde_json::Value) -> Response {
    let replayed = executed.replayed;
    let mut response = (StatusCode::CREATED, Json(shape(executed.outcome))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn points_json(outcome: Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Points {
            batch_id,
            transactions,
            balances,
        } => json!({ "batch_id": batch_id, "transactions": transactions, "balances": balances }),
        other => json!(other),
    }
}

/// `POST /api/points` → 201 `{transaction, points, student_id}`.
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
    Ok(created(executed, |outcome| match outcome {
        Outcome::Points {
            mut transactions,
            balances,
            ..
        } if transactions.len() == 1 && balances.len() == 1 => {
            let transaction = transactions.remove(0);
            json!({
                "transaction": transaction,
                "student_id": balances[0].student_id,
                "points": balances[0].points,
            })
        }
        other => points_json(other),
    }))
}

#[derive(Deserialize)]
pub struct PointsQuery {
    student_id: Option<String>,
    #[serde(default)]
    transactions: bool,
    limit: Option<i64>,
}

/// `GET /api/points?student_id=…&transactions=true` → `{student_id, points, transactions?}`;
/// without `student_id`, `{balances: [...]}` of every student the caller may see.
pub async fn get_points(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<PointsQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let actor = auth.0.actor();
    let Some(student_id) = query.student_id else {
        let balances = state.ledger.students(&actor, None).await?;
        return Ok(Json(json!({ "balances": balances })));
    };
    validate_id("student_id", &student_id)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 1000"));
    }
    state
        .ledger
        .visible_student_class(&actor, &student_id)
        .await?;
    let points = state.ledger.balance(&student_id).await?;
    let mut body = json!({ "student_id": student_id, "points": points });
    if query.transactions {
        body["transactions"] = json!(state.ledger.history(&student_id, limit).await?);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
pub struct CreateBatch {
    target: BatchTarget,
    points_change: i64,
    transaction_type: Option<TransactionType>,
    reason: Option<String>,
}

/// `POST /api/points/batch {target: {kind: class|group|students, …}, points_change, …}`:
/// all or nothing → 201 `{batch_id, transactions, balances}`.
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
    Ok(created(state.ledger.execute(request).await?, points_json))
}

#[derive(Deserialize, Default)]
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
    Ok(created(state.ledger.execute(request).await?, points_json))
}

/// `POST /api/points/{transaction_id}/reverse {reason?}`: undo one row (once).
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

/// `POST /api/points/batches/{batch_id}/reverse {reason?}`: undo a whole batch.
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
