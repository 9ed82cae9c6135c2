//! Teachers, classes and students.

use super::{
    extract::{ApiJson, ApiQuery, Auth, idempotency_key},
    replies::{self, Classes, ErrorReply, Students, Users},
};
use crate::model::ClassInfo;
use crate::{
    error::AppError,
    ledger::{ClassUpdate, Command, NewClass, NewStudent, NewUser, Request, StudentUpdate, access},
    model::{Role, StudentInfo, UserInfo, validate_id},
    server::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
pub struct NewTeacher {
    username: String,
    password: String,
    name: String,
}

/// Create a teacher account (admin).
#[utoipa::path(post, path = "/api/teachers", tag = "roster", request_body = NewTeacher,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe request id, as for POST /api/points")),
    responses((status = 201, body = UserInfo), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 409, body = ErrorReply)), security(("bearer" = [])))]
pub async fn create_teacher(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewTeacher>,
) -> Result<Response, AppError> {
    auth.require_admin()?;
    let password_hash = access::hash_password_off_thread(body.password.clone()).await?;
    let command = Command::CreateUser(NewUser {
        id: None,
        username: body.username,
        name: body.name,
        role: Role::Teacher,
        password_hash: Some(password_hash),
    });
    let (id, replayed) = create_record(&state, &auth, &headers, command).await?;
    // The ledger tells requests apart without the (salted) password hash; a replay must also
    // carry the password the account was created with.
    if replayed && !access::password_matches(state.ledger.db().pool(), &id, &body.password).await? {
        let key = idempotency_key(&headers)?.unwrap_or_default();
        return Err(crate::ledger::key_reused(&key));
    }
    let user = state
        .ledger
        .user(&id)
        .await?
        .ok_or_else(|| AppError::internal("created user not found"))?;
    Ok(replies::created(user, replayed))
}

/// Every account (admin).
#[utoipa::path(get, path = "/api/teachers", tag = "roster",
    responses((status = 200, body = Users), (status = 403, body = ErrorReply)), security(("bearer" = [])))]
pub async fn list_teachers(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Users>, AppError> {
    auth.require_admin()?;
    let accounts = state.ledger.accounts().await?;
    Ok(Json(Users {
        users: accounts.users,
        sign_in_locks: accounts.sign_in_locks,
    }))
}

/// Let a locked account sign in again at once (admin): after too many wrong passwords an
/// account refuses sign-in for a while, also to its owner. Lifting no lock is not an error.
#[utoipa::path(delete, path = "/api/teachers/{user_id}/sign-in-lock", tag = "roster", params(("user_id" = String, Path)),
    responses((status = 200, body = UserInfo), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn lift_sign_in_lock(
    State(state): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
) -> Result<Json<UserInfo>, AppError> {
    state
        .ledger
        .lift_sign_in_lock(&auth.0.actor(), &user_id)
        .await
        .map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    name: Option<String>,
    /// A new password (at least 8 characters); the account's browser sessions end.
    password: Option<String>,
    /// `false` deactivates the account: it cannot sign in and its tokens stop working at once.
    active: Option<bool>,
}

/// Rename an account, set its password, deactivate or reactivate it (admin).
#[utoipa::path(patch, path = "/api/teachers/{user_id}", tag = "roster", params(("user_id" = String, Path)),
    request_body = PatchUser, responses((status = 200, body = UserInfo), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn update_teacher(
    State(state): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<UserInfo>, AppError> {
    auth.require_admin()?;
    let password_hash = match body.password {
        Some(password) => Some(access::hash_password_off_thread(password).await?),
        None => None,
    };
    state
        .ledger
        .run(
            auth.0.actor(),
            Command::UpdateUser(crate::ledger::UserUpdate {
                user_id: user_id.clone(),
                name: body.name,
                password_hash,
                active: body.active,
            }),
        )
        .await?;
    state
        .ledger
        .user(&user_id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::internal("updated user not found"))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateClass {
    name: String,
    /// An account to teach the class from the start (admins; a teacher who creates a class
    /// teaches it anyway). Unknown ids are refused and no class is created.
    #[serde(default)]
    teacher_id: Option<String>,
}

/// Runs a create command under the request's `Idempotency-Key`, if any: the new record's id,
/// and whether this was a replay of an earlier request (then the id is the original's).
pub(super) async fn create_record(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    command: Command,
) -> Result<(String, bool), AppError> {
    let request = Request {
        actor: auth.0.actor(),
        idempotency_key: idempotency_key(headers)?,
        command,
    };
    let executed = state.ledger.execute(request).await?;
    Ok((executed.outcome.into_roster_id()?, executed.replayed))
}

/// Create a class; a teacher who creates a class teaches it.
#[utoipa::path(post, path = "/api/classes", tag = "roster", request_body = CreateClass,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe request id, as for POST /api/points")),
    responses((status = 201, body = ClassInfo), (status = 400, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn create_class(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateClass>,
) -> Result<Response, AppError> {
    let command = Command::CreateClass(NewClass {
        id: None,
        name: body.name,
        teacher_id: body.teacher_id,
    });
    let (id, replayed) = create_record(&state, &auth, &headers, command).await?;
    let class = state
        .ledger
        .visible_class(&auth.0.actor(), &id)
        .await?
        .ok_or_else(|| AppError::internal("created class not found"))?;
    Ok(replies::created(class, replayed))
}

/// The classes the caller may see (admins: all; teachers: theirs).
#[utoipa::path(get, path = "/api/classes", tag = "roster",
    responses((status = 200, body = Classes), (status = 401, body = ErrorReply)), security(("bearer" = [])))]
pub async fn list_classes(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Classes>, AppError> {
    Ok(Json(Classes {
        classes: state.ledger.classes(&auth.0.actor()).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateStudent {
    class_id: String,
    name: String,
    student_no: Option<String>,
}

/// Add a student to a class (starts with 0 points).
#[utoipa::path(post, path = "/api/students", tag = "roster", request_body = CreateStudent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe request id, as for POST /api/points")),
    responses((status = 201, body = StudentInfo), (status = 400, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)), security(("bearer" = [])))]
pub async fn create_student(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateStudent>,
) -> Result<Response, AppError> {
    let actor = auth.0.actor();
    let command = Command::CreateStudent(NewStudent {
        id: None,
        class_id: body.class_id.clone(),
        name: body.name,
        student_no: body.student_no,
    });
    let (id, replayed) = create_record(&state, &auth, &headers, command).await?;
    let student = state
        .ledger
        .students(&actor, Some(&body.class_id))
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| AppError::internal("created student not found"))?;
    Ok(replies::created(student, replayed))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StudentsQuery {
    class_id: Option<String>,
    /// `csv` for a spreadsheet file (class, student_no, name, points, archived, id; the
    /// roster import reads it back); JSON without it.
    format: Option<ListFormat>,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    Json,
    Csv,
}

/// Students (with points) the caller may see, optionally of one class; as JSON, or with
/// `format=csv` as a file to download.
#[utoipa::path(get, path = "/api/students", tag = "roster", params(StudentsQuery),
    responses((status = 200, content((Students = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorReply)), security(("bearer" = [])))]
pub async fn list_students(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<StudentsQuery>,
) -> Result<Response, AppError> {
    if let Some(class_id) = &query.class_id {
        validate_id("class_id", class_id)?;
    }
    let actor = auth.0.actor();
    let students = state
        .ledger
        .students(&actor, query.class_id.as_deref())
        .await?;
    if query.format != Some(ListFormat::Csv) {
        return Ok(Json(Students { students }).into_response());
    }
    let classes = state.ledger.classes(&actor).await?;
    let file_name = match &query.class_id {
        Some(id) => classes
            .iter()
            .find(|c| &c.id == id)
            .map_or_else(|| id.clone(), |c| c.name.clone()),
        None => "students".to_owned(),
    };
    let csv = crate::ledger::export::students_csv(&classes, &students)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                replies::attachment(&file_name, "csv"),
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchStudent {
    name: Option<String>,
    student_no: Option<String>,
    archived: Option<bool>,
}

/// Rename, renumber, archive or restore a student; the ledger is kept.
#[utoipa::path(patch, path = "/api/students/{student_id}", tag = "roster", params(("student_id" = String, Path)),
    request_body = PatchStudent, responses((status = 200, body = StudentInfo), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply), (status = 409, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn update_student(
    State(state): State<AppState>,
    auth: Auth,
    Path(student_id): Path<String>,
    ApiJson(body): ApiJson<PatchStudent>,
) -> Result<Json<StudentInfo>, AppError> {
    let actor = auth.0.actor();
    state
        .ledger
        .run(
            actor.clone(),
            Command::UpdateStudent(StudentUpdate {
                student_id: student_id.clone(),
                name: body.name,
                student_no: body.student_no,
                archived: body.archived,
            }),
        )
        .await?;
    let class_id = state
        .ledger
        .visible_student_class(&actor, &student_id)
        .await?;
    state
        .ledger
        .students(&actor, Some(&class_id))
        .await?
        .into_iter()
        .find(|s| s.id == student_id)
        .map(Json)
        .ok_or_else(|| AppError::internal("updated student not found"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchClass {
    name: Option<String>,
    archived: Option<bool>,
}

/// Rename, archive or restore a class.
#[utoipa::path(patch, path = "/api/classes/{class_id}", tag = "roster", params(("class_id" = String, Path)),
    request_body = PatchClass, responses((status = 200, body = ClassInfo), (status = 400, body = ErrorReply),
        (status = 403, body = ErrorReply), (status = 404, body = ErrorReply)), security(("bearer" = [])))]
pub async fn update_class(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
    ApiJson(body): ApiJson<PatchClass>,
) -> Result<Json<ClassInfo>, AppError> {
    let actor = auth.0.actor();
    state
        .ledger
        .run(
            actor.clone(),
            Command::UpdateClass(ClassUpdate {
                class_id: class_id.clone(),
                name: body.name,
                archived: body.archived,
            }),
        )
        .await?;
    let class = state
        .ledger
        .visible_class(&actor, &class_id)
        .await?
        .ok_or_else(|| AppError::internal("updated class not found"))?;
    Ok(Json(class))
}
