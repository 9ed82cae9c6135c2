//! Roster writes: users, classes, memberships, students and groups. They run in the writer like
//! every other write, so authorisation and the write share one transaction.

use super::{Actor, clock, ids::new_id};
use crate::{
    error::{AppError, Clash, Problem, Record},
    model::{Preset, Role, text_problem, validate_id, validate_presets},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

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
    /// Who teaches it from the start, set in the same transaction as the class itself, so a
    /// class is never left behind without the teacher it was created for.
    #[serde(default)]
    pub teacher_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStudent {
    pub id: Option<String>,
    pub class_id: String,
    pub name: String,
    pub student_no: Option<String>,
}

/// Changes to a student; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentUpdate {
    pub student_id: String,
    pub name: Option<String>,
    /// An empty string clears the number.
    pub student_no: Option<String>,
    pub archived: Option<bool>,
}

/// Changes to a class; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassUpdate {
    pub class_id: String,
    pub name: Option<String>,
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    pub class_id: String,
    pub name: String,
    /// Members, set in the same transaction as the group is created.
    #[serde(default)]
    pub student_ids: Vec<String>,
}

/// Changes to a group; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupUpdate {
    pub group_id: String,
    pub name: Option<String>,
    /// The complete new membership.
    pub student_ids: Option<Vec<String>>,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdate {
    pub user_id: String,
    pub name: Option<String>,
    /// A new password, already hashed (argon2 PHC string).
    pub password_hash: Option<String>,
    /// `false` deactivates: the account can no longer sign in and its tokens stop working.
    pub active: Option<bool>,
}

/// New award presets: a class's own (`class_id`), or the school's (`None`, admins only).
/// `presets: None` removes a class's own presets, so it uses the school's again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetsUpdate {
    pub class_id: Option<String>,
    pub presets: Option<Vec<Preset>>,
}

/// Trims a display name and checks its length (1–100 characters, no control characters).
pub fn validate_name(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    match text_problem(value, 100) {
        Some(problem) => Err(AppError::invalid(field, problem)),
        None => Ok(value.to_owned()),
    }
}

fn chosen_or_new_id(field: &str, id: &Option<String>) -> Result<String, AppError> {
    match id {
        Some(id) => validate_id(field, id).map(|()| id.clone()),
        None => Ok(new_id()),
    }
}

/// Turns a uniqueness violation into a 409 that says what collided.
fn conflict_on_unique(
    error: rusqlite::Error,
    clash: Clash,
    message: impl FnOnce() -> String,
) -> AppError {
    match unique_failure(&error) {
        Some(_) => AppError::clash(clash, message()),
        None => error.into(),
    }
}

/// Which kind of uniqueness a failed insert broke.
enum Uniqueness {
    /// The row's own id (its primary key).
    Id,
    /// Another unique value of the row (a username, a student number in its class).
    Value,
}

fn unique_failure(error: &rusqlite::Error) -> Option<Uniqueness> {
    const UNIQUE: i32 = 2067; // SQLITE_CONSTRAINT_UNIQUE
    const PRIMARY_KEY: i32 = 1555; // SQLITE_CONSTRAINT_PRIMARYKEY
    match error {
        rusqlite::Error::SqliteFailure(e, _) if e.extended_code == PRIMARY_KEY => {
            Some(Uniqueness::Id)
        }
        rusqlite::Error::SqliteFailure(e, _) if e.extended_code == UNIQUE => {
            Some(Uniqueness::Value)
        }
        _ => None,
    }
}

/// An insert of a row with an id the caller may choose and one more unique value: says which
/// of the two was taken (SQLite tells a primary key apart from other unique indexes).
fn conflict_on_insert(
    error: rusqlite::Error,
    id_taken: impl FnOnce() -> String,
    value_clash: Clash,
    value_taken: impl FnOnce() -> String,
) -> AppError {
    match unique_failure(&error) {
        Some(Uniqueness::Id) => AppError::clash(Clash::IdTaken, id_taken()),
        Some(Uniqueness::Value) => AppError::clash(value_clash, value_taken()),
        None => error.into(),
    }
}

/// Admins and the system may act on every class; a teacher only on classes they belong to.
pub(crate) fn require_class_access(
    conn: &Connection,
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
    let (exists, member): (bool, bool) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM classes WHERE id = ?1), \
                    EXISTS (SELECT 1 FROM class_teachers WHERE class_id = ?1 AND teacher_id = ?2)",
        )?
        .query_row(params![class_id, teacher], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if !exists {
        return Err(AppError::not_found(Record::Class, class_id));
    }
    if teacher.is_some() && !member {
        return Err(AppError::not_class_teacher(class_id));
    }
    Ok(())
}

pub(crate) fn require_admin(actor: &Actor, what: &str) -> Result<(), AppError> {
    match actor {
        Actor::System
        | Actor::User {
            role: Role::Admin, ..
        } => Ok(()),
        Actor::User { .. } => Err(AppError::admin_only(what)),
    }
}

pub(crate) fn create_user(
    conn: &Connection,
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
        return Err(AppError::invalid("username", Problem::NotAUsername));
    }
    let name = validate_name("name", &user.name)?;
    conn.prepare_cached(
        "INSERT INTO users (id, username, name, role, password_hash, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        username,
        name,
        user.role.as_str(),
        user.password_hash,
        clock::now()
    ])
    .map_err(|e| {
        conflict_on_insert(
            e,
            || format!("a user with id {id} already exists"),
            Clash::UsernameTaken,
            || format!("a user {username} already exists"),
        )
    })?;
    Ok(id)
}

pub(crate) fn create_class(
    conn: &Connection,
    actor: &Actor,
    class: &NewClass,
) -> Result<String, AppError> {
    let id = chosen_or_new_id("id", &class.id)?;
    let name = validate_name("name", &class.name)?;
    // Checked before anything is written, so a refusal costs the writer's group no rerun.
    let chosen_teacher = match class.teacher_id.as_deref() {
        Some(teacher_id) => {
            validate_id("teacher_id", teacher_id)?;
            require_user(conn, teacher_id)?;
            Some(teacher_id)
        }
        None => None,
    };
    conn.prepare_cached("INSERT INTO classes (id, name, created_at) VALUES (?, ?, ?)")?
        .execute(params![id, name, clock::now()])
        .map_err(|e| {
            conflict_on_unique(e, Clash::IdTaken, || format!("class {id} already exists"))
        })?;
    // The teacher who creates a class teaches it.
    if let Actor::User {
        id: teacher,
        role: Role::Teacher,
    } = actor
    {
        link_teacher(conn, &id, teacher)?;
    }
    if let Some(teacher_id) = chosen_teacher {
        link_teacher(conn, &id, teacher_id)?;
    }
    Ok(id)
}

fn require_user(conn: &Connection, user_id: &str) -> Result<(), AppError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?")?
        .query_row([user_id], |r| r.get(0))
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(AppError::not_found(Record::User, user_id)),
    }
}

/// Makes an account, already known to exist, a teacher of the class.
fn link_teacher(conn: &Connection, class_id: &str, teacher_id: &str) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO class_teachers (class_id, teacher_id) VALUES (?, ?)",
    )?
    .execute([class_id, teacher_id])?;
    Ok(())
}

pub(crate) fn add_class_teacher(
    conn: &Connection,
    actor: &Actor,
    class_id: &str,
    teacher_id: &str,
) -> Result<String, AppError> {
    validate_id("teacher_id", teacher_id)?;
    require_class_access(conn, actor, class_id)?;
    require_user(conn, teacher_id)?;
    link_teacher(conn, class_id, teacher_id)?;
    Ok(class_id.to_owned())
}

pub(crate) fn create_student(
    conn: &Connection,
    actor: &Actor,
    student: &NewStudent,
) -> Result<String, AppError> {
    validate_id("class_id", &student.class_id)?;
    require_class_access(conn, actor, &student.class_id)?;
    let id = chosen_or_new_id("id", &student.id)?;
    let name = validate_name("name", &student.name)?;
    let student_no = match student.student_no.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(no) if no.chars().count() > 50 => {
            return Err(AppError::invalid(
                "student_no",
                Problem::TooLong { max_chars: 50 },
            ));
        }
        Some(no) => Some(no.to_owned()),
    };
    let now = clock::now();
    conn.prepare_cached(
        "INSERT INTO students (id, class_id, name, student_no, created_at) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![id, student.class_id, name, student_no, now])
    .map_err(|e| {
        conflict_on_insert(
            e,
            || format!("a student with id {id} already exists"),
            Clash::StudentNoTaken,
            || {
                format!(
                    "student number {} is taken in this class",
                    student_no.as_deref().unwrap_or("-")
                )
            },
        )
    })?;
    conn.prepare_cached(
        "INSERT INTO student_points (student_id, points, updated_at) VALUES (?, 0, ?)",
    )?
    .execute([&id, &now])?;
    Ok(id)
}

pub(crate) fn create_group(
    conn: &Connection,
    actor: &Actor,
    group: &NewGroup,
) -> Result<String, AppError> {
    validate_id("class_id", &group.class_id)?;
    require_class_access(conn, actor, &group.class_id)?;
    let name = validate_name("name", &group.name)?;
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO student_groups (id, class_id, name, created_at) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![id, group.class_id, name, clock::now()])
    .map_err(|e| {
        conflict_on_unique(e, Clash::GroupNameTaken, || {
            format!("a group named {name} already exists")
        })
    })?;
    if !group.student_ids.is_empty() {
        set_group_members(conn, actor, &id, &group.student_ids)?;
    }
    Ok(id)
}

pub(crate) fn set_group_members(
    conn: &Connection,
    actor: &Actor,
    group_id: &str,
    student_ids: &[String],
) -> Result<String, AppError> {
    let class_id = group_class(conn, actor, group_id)?;
    conn.prepare_cached("DELETE FROM student_group_members WHERE group_id = ?")?
        .execute([group_id])?;
    for student_id in student_ids {
        validate_id("student_ids", student_id)?;
        let in_class: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM students WHERE id = ? AND class_id = ?)")?
            .query_row([student_id, &class_id], |r| r.get(0))?;
        if !in_class {
            return Err(AppError::validation(
                "student_ids",
                format!("student {student_id} is not in this group's class"),
            ));
        }
        conn.prepare_cached(
            "INSERT OR IGNORE INTO student_group_members (group_id, student_id) VALUES (?, ?)",
        )?
        .execute([group_id, student_id])?;
    }
    Ok(group_id.to_owned())
}

/// `archived_at` for an archive flag: now when archiving, cleared when restoring.
fn archived_at(archived: bool) -> Option<String> {
    archived.then(clock::now)
}

pub(crate) fn update_student(
    conn: &Connection,
    actor: &Actor,
    update: &StudentUpdate,
) -> Result<String, AppError> {
    validate_id("student_id", &update.student_id)?;
    let class_id: Option<String> = conn
        .prepare_cached("SELECT class_id FROM students WHERE id = ?")?
        .query_row([&update.student_id], |r| r.get(0))
        .optional()?;
    let class_id =
        class_id.ok_or_else(|| AppError::not_found(Record::Student, &update.student_id))?;
    require_class_access(conn, actor, &class_id)?;
    if let Some(name) = &update.name {
        let name = validate_name("name", name)?;
        conn.prepare_cached("UPDATE students SET name = ? WHERE id = ?")?
            .execute([&name, &update.student_id])?;
    }
    if let Some(no) = &update.student_no {
        let no = no.trim();
        if no.chars().count() > 50 {
            return Err(AppError::invalid(
                "student_no",
                Problem::TooLong { max_chars: 50 },
            ));
        }
        conn.prepare_cached("UPDATE students SET student_no = ? WHERE id = ?")?
            .execute(params![(!no.is_empty()).then_some(no), update.student_id])
            .map_err(|e| {
                conflict_on_unique(e, Clash::StudentNoTaken, || {
                    format!("student number {no} is taken in this class")
                })
            })?;
    }
    if let Some(archived) = update.archived {
        conn.prepare_cached(
            "UPDATE students SET archived_at = CASE WHEN ?1 IS NULL THEN NULL \
             ELSE COALESCE(archived_at, ?1) END WHERE id = ?2",
        )?
        .execute(params![archived_at(archived), update.student_id])?;
    }
    Ok(update.student_id.clone())
}

pub(crate) fn update_class(
    conn: &Connection,
    actor: &Actor,
    update: &ClassUpdate,
) -> Result<String, AppError> {
    validate_id("class_id", &update.class_id)?;
    require_class_access(conn, actor, &update.class_id)?;
    if let Some(name) = &update.name {
        let name = validate_name("name", name)?;
        conn.prepare_cached("UPDATE classes SET name = ? WHERE id = ?")?
            .execute([&name, &update.class_id])?;
    }
    if let Some(archived) = update.archived {
        conn.prepare_cached(
            "UPDATE classes SET archived_at = CASE WHEN ?1 IS NULL THEN NULL \
             ELSE COALESCE(archived_at, ?1) END WHERE id = ?2",
        )?
        .execute(params![archived_at(archived), update.class_id])?;
    }
    Ok(update.class_id.clone())
}

/// The class a group belongs to, once the actor is known to have access to it.
fn group_class(conn: &Connection, actor: &Actor, group_id: &str) -> Result<String, AppError> {
    validate_id("group_id", group_id)?;
    let class_id: Option<String> = conn
        .prepare_cached("SELECT class_id FROM student_groups WHERE id = ?")?
        .query_row([group_id], |r| r.get(0))
        .optional()?;
    let class_id = class_id.ok_or_else(|| AppError::not_found(Record::Group, group_id))?;
    require_class_access(conn, actor, &class_id)?;
    Ok(class_id)
}

pub(crate) fn update_group(
    conn: &Connection,
    actor: &Actor,
    update: &GroupUpdate,
) -> Result<String, AppError> {
    group_class(conn, actor, &update.group_id)?;
    if let Some(name) = &update.name {
        let name = validate_name("name", name)?;
        conn.prepare_cached("UPDATE student_groups SET name = ? WHERE id = ?")?
            .execute([&name, &update.group_id])
            .map_err(|e| {
                conflict_on_unique(e, Clash::GroupNameTaken, || {
                    format!("a group named {name} already exists")
                })
            })?;
    }
    if let Some(student_ids) = &update.student_ids {
        set_group_members(conn, actor, &update.group_id, student_ids)?;
    }
    Ok(update.group_id.clone())
}

/// Deletes a group and its memberships. Awards once given to the group stay in the ledger:
/// ledger rows name students and batches, never groups.
pub(crate) fn delete_group(
    conn: &Connection,
    actor: &Actor,
    group_id: &str,
) -> Result<String, AppError> {
    group_class(conn, actor, group_id)?;
    conn.prepare_cached("DELETE FROM student_group_members WHERE group_id = ?")?
        .execute([group_id])?;
    conn.prepare_cached("DELETE FROM student_groups WHERE id = ?")?
        .execute([group_id])?;
    Ok(group_id.to_owned())
}

/// `settings` key of the school's presets.
pub(crate) const PRESETS_KEY: &str = "presets";

/// Stores a class's presets (its teachers or an admin) or the school's (admins). Returns the
/// class id, or `school` for the school's presets.
pub(crate) fn set_presets(
    conn: &Connection,
    actor: &Actor,
    update: &PresetsUpdate,
) -> Result<String, AppError> {
    let presets = update
        .presets
        .as_deref()
        .map(validate_presets)
        .transpose()?
        .map(|list| serde_json::to_string(&list))
        .transpose()
        .map_err(|e| AppError::internal(format!("cannot store presets: {e}")))?;
    let now = clock::now();
    match (&update.class_id, presets) {
        (Some(class_id), presets) => {
            validate_id("class_id", class_id)?;
            require_class_access(conn, actor, class_id)?;
            match presets {
                Some(json) => conn
                    .prepare_cached(
                        "INSERT INTO class_presets (class_id, presets, updated_at) VALUES (?, ?, ?) \
                         ON CONFLICT (class_id) DO UPDATE SET presets = excluded.presets, \
                         updated_at = excluded.updated_at",
                    )?
                    .execute(params![class_id, json, now])?,
                None => conn
                    .prepare_cached("DELETE FROM class_presets WHERE class_id = ?")?
                    .execute([class_id])?,
            };
            Ok(class_id.clone())
        }
        (None, presets) => {
            require_admin(actor, "change the school's presets")?;
            let json = presets.ok_or_else(|| {
                AppError::validation(
                    "presets",
                    "the school's presets cannot be removed, only replaced",
                )
            })?;
            conn.prepare_cached(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![PRESETS_KEY, json, now])?;
            Ok("school".to_owned())
        }
    }
}

pub(crate) fn update_user(
    conn: &Connection,
    actor: &Actor,
    update: &UserUpdate,
) -> Result<String, AppError> {
    require_admin(actor, "change accounts")?;
    validate_id("user_id", &update.user_id)?;
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM users WHERE id = ?")?
        .query_row([&update.user_id], |r| r.get(0))
        .optional()?;
    let role = role.ok_or_else(|| AppError::not_found(Record::User, &update.user_id))?;
    if let Some(name) = &update.name {
        let name = validate_name("name", name)?;
        conn.prepare_cached("UPDATE users SET name = ? WHERE id = ?")?
            .execute([&name, &update.user_id])?;
    }
    if let Some(hash) = &update.password_hash {
        conn.prepare_cached("UPDATE users SET password_hash = ? WHERE id = ?")?
            .execute([hash, &update.user_id])?;
        // A new password ends every session signed in with the old one.
        revoke_sessions(conn, &update.user_id)?;
    }
    if let Some(active) = update.active {
        if !active && role == Role::Admin.as_str() {
            let other_admins: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active = 1 AND id <> ?)",
                )?
                .query_row([&update.user_id], |r| r.get(0))?;
            if !other_admins {
                return Err(AppError::clash(
                    Clash::LastActiveAdmin,
                    "this is the last active admin; create another admin first",
                ));
            }
        }
        conn.prepare_cached("UPDATE users SET active = ? WHERE id = ?")?
            .execute(params![active, update.user_id])?;
        if !active {
            revoke_sessions(conn, &update.user_id)?;
        }
    }
    Ok(update.user_id.clone())
}

fn revoke_sessions(conn: &Connection, user_id: &str) -> Result<(), AppError> {
    conn.prepare_cached(
        "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND kind = 'session' AND revoked_at IS NULL",
    )?
    .execute(params![clock::now(), user_id])?;
    Ok(())
}
