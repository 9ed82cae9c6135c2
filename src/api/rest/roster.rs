//! Teachers, classes and students.

use super::extract::{ApiJson, ApiQuery, Auth};
use crate::{
    error::AppError,
    ledger::{ClassUpdate, Command, NewClass, NewStudent, NewUser, StudentUpdate, access},
    model::{Role, StudentInfo, UserInfo, validate_id},
    server::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct NewTeacher {
    username: String,
    password: String,
    name: String,
}

/// `POST /api/teachers {username, password, name}` (admin) → 201 the new teacher.
pub async fn create_teacher(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTeacher>,
) -> Result<(StatusCode, Json<UserInfo>), AppError> {
    auth.require_admin()?;
    let password = body.password;
    let password_hash = tokio::task::spawn_blocking(move || access::hash_password(&password))
        .await
        .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))??;
    let id = state
        .ledger
        .run(
            auth.0.actor(),
            Command::CreateUser(NewUser {
                id: None,
                username: body.username,
                name: body.name,
                role: Role::Teacher,
                password_hash: Some(password_hash),
            }),
        )
        .await?
        .into_roster_id()?;
    let user = state
        .ledger
        .user(&id)
        .await?
        .ok_or_else(|| AppError::internal("created user not found"))?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /api/teachers` (admin) → every account.
pub async fn list_teachers(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, AppError> {
    auth.require_admin()?;
    Ok(Json(json!({ "users": state.ledger.users().await? })))
}

#[derive(Deserialize)]
pub struct CreateClass {
    name: String,
}

/// `POST /api/classes {name}` → 201; a teacher who creates a class teaches it.
pub async fn create_class(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateClass>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let id = state
        .ledger
        .run(
            auth.0.actor(),
            Command::CreateClass(NewClass {
                id: None,
                name: body.name,
            }),
        )
        .await?
        .into_roster_id()?;
    let class = state
        .ledger
        .classes(&auth.0.actor())
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::internal("created class not found"))?;
    Ok((StatusCode::CREATED, Json(json!(class))))
}

/// `GET /api/classes` → the classes the caller may see.
pub async fn list_classes(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "classes": state.ledger.classes(&auth.0.actor()).await? }),
    ))
}

#[derive(Deserialize)]
pub struct CreateStudent {
    class_id: String,
    name: String,
    student_no: Option<String>,
}

/// `POST /api/students {class_id, name, student_no?}` → 201 the student (0 points).
pub async fn create_student(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateStudent>,
) -> Result<(StatusCode, Json<StudentInfo>), AppError> {
    let actor = auth.0.actor();
    let id = state
        .ledger
        .run(
            actor.clone(),
            Command::CreateStudent(NewStudent {
                id: None,
                class_id: body.class_id.clone(),
                name: body.name,
                student_no: body.student_no,
            }),
        )
        .await?
        .into_roster_id()?;
    let student = state
        .ledger
        .students(&actor, Some(&body.class_id))
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| AppError::internal("created student not found"))?;
    Ok((StatusCode::CREATED, Json(student)))
}

#[derive(Deserialize)]
pub struct StudentsQuery {
    class_id: Option<String>,
}

/// `GET /api/students?class_id=…` → students (with points) the caller may see.
pub async fn list_students(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<StudentsQuery>,
) -> Result<Json<Value>, AppError> {
    if let Some(class_id) = &query.class_id {
        validate_id("class_id", class_id)?;
    }
    let students = state
        .ledger
        .students(&auth.0.actor(), query.class_id.as_deref())
        .await?;
    Ok(Json(json!({ "students": students })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchStudent {
    name: Option<String>,
    student_no: Option<String>,
    archived: Option<bool>,
}

/// `PATCH /api/students/{id} {name?, student_no?, archived?}` → the student.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchClass {
    name: Option<String>,
    archived: Option<bool>,
}

/// `PATCH /api/classes/{id} {name?, archived?}` → the class.
pub async fn update_class(
    State(state): State<AppState>,
    auth: Auth,
    Path(class_id): Path<String>,
    ApiJson(body): ApiJson<PatchClass>,
) -> Result<Json<Value>, AppError> {
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
        .classes(&actor)
        .await?
        .into_iter()
        .find(|c| c.id == class_id)
        .ok_or_else(|| AppError::internal("updated class not found"))?;
    Ok(Json(json!(class)))
}
