//! Roster writes: users, classes, memberships, students and groups. They run in the writer like
//! every other write, so authorisation and the write share one transaction.

use super::{Actor, clock, ids::new_id};
use crate::{
    error::AppError,
    model::{Role, validate_id},
};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Keep an imported id; a new one is generated when absent.
    pub id: Option<String>,
    pub username: String,
    pub name: String,
    pub role: Role,
    /// Already hashed (argon2 PHC string); the core never sees passwords.
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewClass {
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStudent {
    pub id: Option<String>,
    pub class_id: String,
    pub name: String,
    pub student_no: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    pub class_id: String,
    pub name: String,
}

/// Trims a display name and checks its length (1–100 characters, no control characters).
pub fn validate_name(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let len = value.chars().count();
    if len == 0 {
        return Err(AppError::validation(field, "must not be empty"));
    }
    if len > 100 {
        return Err(AppError::validation(
            field,
            "must be at most 100 characters",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

fn chosen_or_new_id(field: &str, id: &Option<String>) -> Result<String, AppError> {
    match id {
        Some(id) => validate_id(field, id).map(|()| id.clone()),
        None => Ok(new_id()),
    }
}

/// Turns a uniqueness violation into a 409 that says what collided.
fn conflict_on_unique(error: sqlx::Error, message: impl FnOnce() -> String) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            AppError::Conflict { message: message() }
        }
        _ => error.into(),
    }
}

/// Admins and the system may act on every class; a teacher only on classes they belong to.
pub(crate) async fn require_class_access(
    conn: &mut SqliteConnection,
    actor: &Actor,
    class_id: &str,
) -> Result<(), AppError> {
    let teacher = match actor {
        Actor::User {
            id,
            role: Role::Teacher,
        } => Some(id.as_str()),
        _ => None,
    };
    let (exists, member): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM classes WHERE id = ?1), \
                EXISTS (SELECT 1 FROM class_teachers WHERE class_id = ?1 AND teacher_id = ?2)",
    )
    .bind(class_id)
    .bind(teacher)
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(AppError::NotFound {
            what: format!("class {class_id}"),
        });
    }
    if teacher.is_some() && !member {
        return Err(AppError::Forbidden {
            message: format!("you are not a teacher of class {class_id}"),
        });
    }
    Ok(())
}

pub(crate) fn require_admin(actor: &Actor, what: &str) -> Result<(), AppError> {
    match actor {
        Actor::System
        | Actor::User {
            role: Role::Admin, ..
        } => Ok(()),
        Actor::User { .. } => Err(AppError::Forbidden {
            message: format!("only an admin may {what}"),
        }),
    }
}

pub(crate) async fn create_user(
    conn: &mut SqliteConnection,
    actor: &Actor,
    user: &NewUser,
) -> Result<String, AppError> {
    require_admin(actor, "create users")?;
    let id = chosen_or_new_id("id", &user.id)?;
    let username = user.username.trim();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(AppError::validation(
            "username",
            "must be 1–64 letters, digits or . _ - @",
        ));
    }
    let name = validate_name("name", &user.name)?;
    sqlx::query(
        "INSERT INTO users (id, username, name, role, password_hash, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(username)
    .bind(name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(clock::now())
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || format!("a user {username} or id {id} already exists"))
    })?;
    Ok(id)
}

pub(crate) async fn create_class(
    conn: &mut SqliteConnection,
    actor: &Actor,
    class: &NewClass,
) -> Result<String, AppError> {
    let id = chosen_or_new_id("id", &class.id)?;
    let name = validate_name("name", &class.name)?;
    sqlx::query("INSERT INTO classes (id, name, created_at) VALUES (?, ?, ?)")
        .bind(&id)
        .bind(name)
        .bind(clock::now())
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("class {id} already exists")))?;
    // The teacher who creates a class teaches it.
    if let Actor::User {
        id: teacher,
        role: Role::Teacher,
    } = actor
    {
        add_teacher(conn, &id, teacher).await?;
    }
    Ok(id)
}

async fn add_teacher(
    conn: &mut SqliteConnection,
    class_id: &str,
    teacher_id: &str,
) -> Result<(), AppError> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
        .bind(teacher_id)
        .fetch_optional(&mut *conn)
        .await?;
    if role.is_none() {
        return Err(AppError::NotFound {
            what: format!("user {teacher_id}"),
        });
    }
    sqlx::query("INSERT OR IGNORE INTO class_teachers (class_id, teacher_id) VALUES (?, ?)")
        .bind(class_id)
        .bind(teacher_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(crate) async fn add_class_teacher(
    conn: &mut SqliteConnection,
    actor: &Actor,
    class_id: &str,
    teacher_id: &str,
) -> Result<String, AppError> {
    validate_id("teacher_id", teacher_id)?;
    require_class_access(conn, actor, class_id).await?;
    add_teacher(conn, class_id, teacher_id).await?;
    Ok(class_id.to_owned())
}

pub(crate) async fn create_student(
    conn: &mut SqliteConnection,
    actor: &Actor,
    student: &NewStudent,
) -> Result<String, AppError> {
    validate_id("class_id", &student.class_id)?;
    require_class_access(conn, actor, &student.class_id).await?;
    let id = chosen_or_new_id("id", &student.id)?;
    let name = validate_name("name", &student.name)?;
    let student_no = match student.student_no.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(no) if no.chars().count() > 50 => {
            return Err(AppError::validation(
                "student_no",
                "must be at most 50 characters",
            ));
        }
        Some(no) => Some(no.to_owned()),
    };
    let now = clock::now();
    sqlx::query(
        "INSERT INTO students (id, class_id, name, student_no, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&student.class_id)
    .bind(name)
    .bind(&student_no)
    .bind(&now)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "student {id} or student number {} already exists in this class",
                student_no.as_deref().unwrap_or("-")
            )
        })
    })?;
    sqlx::query("INSERT INTO student_points (student_id, points, updated_at) VALUES (?, 0, ?)")
        .bind(&id)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

pub(crate) async fn create_group(
    conn: &mut SqliteConnection,
    actor: &Actor,
    group: &NewGroup,
) -> Result<String, AppError> {
    validate_id("class_id", &group.class_id)?;
    require_class_access(conn, actor, &group.class_id).await?;
    let name = validate_name("name", &group.name)?;
    let id = new_id();
    sqlx::query("INSERT INTO student_groups (id, class_id, name, created_at) VALUES (?, ?, ?, ?)")
        .bind(&id)
        .bind(&group.class_id)
        .bind(&name)
        .bind(clock::now())
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("a group named {name} already exists")))?;
    Ok(id)
}

pub(crate) async fn set_group_members(
    conn: &mut SqliteConnection,
    actor: &Actor,
    group_id: &str,
    student_ids: &[String],
) -> Result<String, AppError> {
    validate_id("group_id", group_id)?;
    let class_id: Option<String> =
        sqlx::query_scalar("SELECT class_id FROM student_groups WHERE id = ?")
            .bind(group_id)
            .fetch_optional(&mut *conn)
            .await?;
    let class_id = class_id.ok_or_else(|| AppError::NotFound {
        what: format!("group {group_id}"),
    })?;
    require_class_access(conn, actor, &class_id).await?;
    sqlx::query("DELETE FROM student_group_members WHERE group_id = ?")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    for student_id in student_ids {
        validate_id("student_ids", student_id)?;
        let in_class: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM students WHERE id = ? AND class_id = ?)",
        )
        .bind(student_id)
        .bind(&class_id)
        .fetch_one(&mut *conn)
        .await?;
        if !in_class {
            return Err(AppError::validation(
                "student_ids",
                format!("student {student_id} is not in this group's class"),
            ));
        }
        sqlx::query(
            "INSERT OR IGNORE INTO student_group_members (group_id, student_id) VALUES (?, ?)",
        )
        .bind(group_id)
        .bind(student_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(group_id.to_owned())
}
