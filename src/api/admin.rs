//! Server functions behind the admin pages: the monitor, accounts, classes and students,
//! roster import, rules and the school's presets. Every one requires an admin.

use crate::{
    error::AppError,
    model::{
        AccountList, ClassInfo, MonitorOverview, Preset, Role, RosterPreview, RosterReport,
        RunSummary, StudentInfo, UserInfo,
    },
    rules::Rules,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::session;

/// Runs a roster command as the signed-in admin.
#[cfg(feature = "ssr")]
async fn run_as_admin(command: crate::ledger::Command) -> Result<String, AppError> {
    let (state, user) = session::admin().await?;
    state
        .ledger
        .run(user.actor(), command)
        .await?
        .into_roster_id()
}

/// The monitor page: a fresh check, the run and repair logs, alerts and the last hour.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_monitor() -> Result<MonitorOverview, AppError> {
    let (state, _) = session::admin().await?;
    state.monitor.overview().await
}

/// "Check now" (`fix = false`) and "Auto-fix" (`fix = true`): one recorded monitor run.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn run_monitor(fix: bool) -> Result<RunSummary, AppError> {
    let (state, user) = session::admin().await?;
    Ok(state
        .monitor
        .run(user.actor(), "manual", fix, false)
        .await?
        .summary)
}

/// Every account, with those locked after failed sign-ins.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn accounts() -> Result<AccountList, AppError> {
    let (state, _) = session::admin().await?;
    state.ledger.accounts().await
}

/// Lets a locked account sign in again at once.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn lift_sign_in_lock(user_id: String) -> Result<UserInfo, AppError> {
    let (state, user) = session::admin().await?;
    state
        .ledger
        .lift_sign_in_lock(&user.actor(), &user_id)
        .await
}

/// Creates a teacher or an admin.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn create_account(
    username: String,
    name: String,
    password: String,
    role: Role,
) -> Result<UserInfo, AppError> {
    use crate::ledger::{Command, NewUser, access};
    let (state, user) = session::admin().await?;
    let password_hash = access::hash_password_off_thread(password).await?;
    let id = state
        .ledger
        .run(
            user.actor(),
            Command::CreateUser(NewUser {
                id: None,
                username,
                name,
                role,
                password_hash: Some(password_hash),
            }),
        )
        .await?
        .into_roster_id()?;
    state
        .ledger
        .user(&id)
        .await?
        .ok_or_else(|| AppError::internal("created account not found"))
}

/// Sets a new password; the account's browser sessions end.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn reset_password(user_id: String, password: String) -> Result<(), AppError> {
    use crate::ledger::{Command, UserUpdate, access};
    session::admin().await?;
    let password_hash = access::hash_password_off_thread(password).await?;
    run_as_admin(Command::UpdateUser(UserUpdate {
        user_id,
        name: None,
        password_hash: Some(password_hash),
        active: None,
    }))
    .await?;
    Ok(())
}

/// Deactivates (no sign-in, tokens stop working) or reactivates an account.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn set_account_active(user_id: String, active: bool) -> Result<(), AppError> {
    use crate::ledger::{Command, UserUpdate};
    run_as_admin(Command::UpdateUser(UserUpdate {
        user_id,
        name: None,
        password_hash: None,
        active: Some(active),
    }))
    .await?;
    Ok(())
}

/// Classes (archived ones too) and the accounts that can teach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolClasses {
    pub classes: Vec<ClassInfo>,
    pub teachers: Vec<UserInfo>,
}

#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_school_classes() -> Result<SchoolClasses, AppError> {
    let (state, user) = session::admin().await?;
    Ok(SchoolClasses {
        classes: state.ledger.classes(&user.actor()).await?,
        teachers: state.ledger.users().await?,
    })
}

/// Creates a class, taught by `teacher_id` when given.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn create_school_class(
    name: String,
    teacher_id: Option<String>,
) -> Result<String, AppError> {
    use crate::ledger::{Command, NewClass};
    // The form's "no teacher" choice arrives as an empty id.
    let teacher_id = teacher_id.filter(|t| !t.is_empty());
    run_as_admin(Command::CreateClass(NewClass {
        id: None,
        name,
        teacher_id,
    }))
    .await
}

/// Renames, archives or restores a class.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn update_school_class(
    class_id: String,
    name: Option<String>,
    archived: Option<bool>,
) -> Result<(), AppError> {
    use crate::ledger::{ClassUpdate, Command};
    run_as_admin(Command::UpdateClass(ClassUpdate {
        class_id,
        name,
        archived,
    }))
    .await?;
    Ok(())
}

/// Adds a teacher to a class.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn add_teacher_to_class(class_id: String, teacher_id: String) -> Result<(), AppError> {
    use crate::ledger::Command;
    run_as_admin(Command::AddClassTeacher {
        class_id,
        teacher_id,
    })
    .await?;
    Ok(())
}

/// A class and all its students, archived ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRoster {
    pub class: ClassInfo,
    pub students: Vec<StudentInfo>,
}

#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_class_roster(class_id: String) -> Result<ClassRoster, AppError> {
    let (state, user) = session::admin().await?;
    crate::model::validate_id("class_id", &class_id)?;
    let actor = user.actor();
    let class = state.ledger.require_class_reader(&actor, &class_id).await?;
    let students = state.ledger.students(&actor, Some(&class_id)).await?;
    Ok(ClassRoster { class, students })
}

#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn add_student(
    class_id: String,
    name: String,
    student_no: Option<String>,
) -> Result<String, AppError> {
    use crate::ledger::{Command, NewStudent};
    run_as_admin(Command::CreateStudent(NewStudent {
        id: None,
        class_id,
        name,
        student_no,
    }))
    .await
}

/// Renames, renumbers (empty clears the number), archives or restores a student.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn update_student(
    student_id: String,
    name: Option<String>,
    student_no: Option<String>,
    archived: Option<bool>,
) -> Result<(), AppError> {
    use crate::ledger::{Command, StudentUpdate};
    run_as_admin(Command::UpdateStudent(StudentUpdate {
        student_id,
        name,
        student_no,
        archived,
    }))
    .await?;
    Ok(())
}

/// Longest roster file accepted through the page.
pub const MAX_ROSTER_BYTES: usize = 1 << 20;

/// Imports (or with `dry_run` previews) a roster for an admin. Who is asking is settled
/// first, then how much they sent, before anything reads the file.
#[cfg(feature = "ssr")]
async fn roster(csv: &str, dry_run: bool) -> Result<RosterReport, AppError> {
    let (state, user) = session::admin().await?;
    if csv.len() > MAX_ROSTER_BYTES {
        return Err(AppError::invalid(
            "csv",
            crate::error::Problem::TooLarge {
                max_kib: MAX_ROSTER_BYTES / 1024,
            },
        ));
    }
    crate::ledger::import::import_roster(&state.ledger, &user.actor(), csv, dry_run).await
}

/// What importing this roster CSV would do, line by line; nothing is written.
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn preview_roster(csv: String) -> Result<RosterPreview, AppError> {
    let report = roster(&csv, true).await?;
    let (rows, _) = crate::ledger::import::parse_roster(&csv)?;
    let refused: std::collections::HashSet<usize> = report.errors.iter().map(|e| e.line).collect();
    Ok(RosterPreview {
        rows: rows
            .into_iter()
            .filter(|row| !refused.contains(&row.line))
            .collect(),
        errors: report.errors,
        new_classes: report.classes_created,
    })
}

/// Imports a roster CSV: good lines are imported, bad ones reported.
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn import_roster(csv: String) -> Result<RosterReport, AppError> {
    roster(&csv, false).await
}

/// The rules engine's settings and the school's presets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolRules {
    pub rules: Rules,
    pub presets: Vec<Preset>,
}

#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_school_rules() -> Result<SchoolRules, AppError> {
    let (state, _) = session::admin().await?;
    Ok(SchoolRules {
        rules: state.ledger.rules().await?,
        presets: state.ledger.presets(None).await?.0,
    })
}

#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn save_rules(rules: Rules) -> Result<Rules, AppError> {
    use crate::ledger::{Command, Outcome};
    let (state, user) = session::admin().await?;
    match state
        .ledger
        .run(user.actor(), Command::SetRules(rules))
        .await?
    {
        Outcome::RulesSet { rules } => Ok(rules),
        other => Err(AppError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Replaces the school's presets (classes without their own use them).
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn save_school_presets(presets: Vec<Preset>) -> Result<Vec<Preset>, AppError> {
    use crate::ledger::{Command, PresetsUpdate};
    let (state, user) = session::admin().await?;
    state
        .ledger
        .run(
            user.actor(),
            Command::SetPresets(PresetsUpdate {
                class_id: None,
                presets: Some(presets),
            }),
        )
        .await?;
    Ok(state.ledger.presets(None).await?.0)
}
