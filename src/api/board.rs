//! Server functions behind the teacher's pages: sign-in, classes, the board and its writes.
//! Every write carries the request id the page generated for that press.

use crate::{
    error::AppError,
    model::{Awarded, Board, ClassInfo, HistoryPage, StudentHistory, UserInfo},
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::session;

/// Runs a board write for the signed-in user under the page's request id.
#[cfg(feature = "ssr")]
async fn write_as_user(
    command: crate::ledger::Command,
    request_id: String,
) -> Result<Awarded, AppError> {
    let (state, user) = session::required().await?;
    let request = crate::ledger::Request::new(user.actor(), command).with_key(request_id);
    written(state.ledger.execute(request).await?.outcome)
}

#[cfg(feature = "ssr")]
fn written(outcome: crate::ledger::Outcome) -> Result<Awarded, AppError> {
    match outcome {
        crate::ledger::Outcome::Points {
            batch_id,
            transactions,
            balances,
        } => Ok(Awarded {
            batch_id,
            transactions,
            balances,
        }),
        other => Err(AppError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// The signed-in user, or `None`.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn current_user() -> Result<Option<UserInfo>, AppError> {
    Ok(session::current()
        .await?
        .map(|(_, user)| session::info(user)))
}

/// Signs in and sets the session cookie. Without JavaScript the form post lands back on
/// the home page.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn sign_in(username: String, password: String) -> Result<UserInfo, AppError> {
    let state = crate::server::app_state()?;
    let (token, user) = crate::ledger::access::sign_in(&state.ledger, &username, &password).await?;
    session::set_cookie(&crate::api::rest::session_cookie(
        token,
        session::reached_over_https().await,
    ))?;
    leptos_axum::redirect("/");
    Ok(session::info(user))
}

/// Revokes this session and clears its cookie.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn sign_out() -> Result<(), AppError> {
    if let (Some((state, user)), Some(token)) = (session::current().await?, session::token().await)
    {
        state
            .ledger
            .run(
                user.actor(),
                crate::ledger::Command::RevokeToken {
                    token_hash: crate::ledger::access::token_hash(&token),
                },
            )
            .await?;
    }
    let mut cleared =
        crate::api::rest::session_cookie(String::new(), session::reached_over_https().await);
    cleared.make_removal();
    session::set_cookie(&cleared)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The classes the signed-in teacher teaches (admins: all).
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn my_classes() -> Result<Vec<ClassInfo>, AppError> {
    let (state, user) = session::required().await?;
    let classes = state.ledger.classes(&user.actor()).await?;
    Ok(classes.into_iter().filter(|c| !c.archived).collect())
}

/// A class's board: its active students with their points, and the award presets.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn class_board(class_id: String) -> Result<Board, AppError> {
    let (state, user) = session::required().await?;
    crate::model::validate_id("class_id", &class_id)?;
    let (actor, ledger) = (user.actor(), &state.ledger);
    // The board's reads do not depend on each other: run at once, the page waits for about
    // one database round trip instead of five. Their answers are looked at in this order, so a
    // class the user may not see is refused as before, whichever read finished first.
    let (class, students, groups, presets, rules) = tokio::join!(
        ledger.require_class_reader(&actor, &class_id),
        ledger.students(&actor, Some(&class_id)),
        ledger.groups(&class_id),
        ledger.presets(Some(&class_id)),
        ledger.rules(),
    );
    let class = class?;
    let students = students?.into_iter().filter(|s| !s.archived).collect();
    let (groups, (presets, custom_presets)) = (groups?, presets?);
    let can_redeem = rules?
        .allowed_types(user.role)
        .contains(&crate::model::TransactionType::Redeem);
    Ok(Board {
        class,
        students,
        groups,
        presets,
        custom_presets,
        can_redeem,
    })
}

/// Awards (or deducts) for one student, or with `redeem` spends `-points_change` of the
/// student's points on the reward `reason` names. `request_id` is generated once per press and
/// reused on retry, so a double tap or a flaky network never awards twice.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn award(
    student_id: String,
    points_change: i64,
    reason: String,
    request_id: String,
    // Absent means an award: what a board still running the bundle from before redemptions
    // sends until it reloads.
    #[server(default)] redeem: bool,
) -> Result<Awarded, AppError> {
    use crate::{ledger::*, model::TransactionType};
    let transaction_type = if redeem {
        TransactionType::Redeem
    } else {
        TransactionType::implied_by(points_change)
    };
    let command = Command::Change(PointChange {
        student_id,
        points_change,
        transaction_type,
        reason,
    });
    write_as_user(command, request_id).await
}

/// The same award for every active student of a class, all or nothing.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn award_class(
    class_id: String,
    points_change: i64,
    reason: String,
    request_id: String,
) -> Result<Awarded, AppError> {
    use crate::{ledger::*, model::TransactionType};
    let command = Command::ChangeMany(BatchChange {
        target: BatchTarget::Class { class_id },
        points_change,
        transaction_type: TransactionType::implied_by(points_change),
        reason,
    });
    write_as_user(command, request_id).await
}

/// The same award for selected students or a group, all or nothing. (JSON arguments: the
/// default form encoding cannot carry the list of students.)
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn award_many(
    student_ids: Vec<String>,
    group_id: Option<String>,
    points_change: i64,
    reason: String,
    request_id: String,
) -> Result<Awarded, AppError> {
    use crate::{ledger::*, model::TransactionType};
    let target = match group_id {
        Some(group_id) => BatchTarget::Group { group_id },
        None => BatchTarget::Students { student_ids },
    };
    let command = Command::ChangeMany(BatchChange {
        target,
        points_change,
        transaction_type: TransactionType::implied_by(points_change),
        reason,
    });
    write_as_user(command, request_id).await
}

/// Creates a group of the class from the given students, in one transaction.
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn save_group(
    class_id: String,
    name: String,
    student_ids: Vec<String>,
) -> Result<crate::model::GroupInfo, AppError> {
    use crate::ledger::*;
    let (state, user) = session::required().await?;
    let group = NewGroup {
        class_id,
        name: name.clone(),
        student_ids: student_ids.clone(),
    };
    let group_id = state
        .ledger
        .run(user.actor(), Command::CreateGroup(group))
        .await?
        .into_roster_id()?;
    Ok(crate::model::GroupInfo {
        id: group_id,
        name: name.trim().to_owned(),
        student_ids,
    })
}

/// Renames a group and sets its members, in one transaction.
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn update_group(
    group_id: String,
    name: String,
    student_ids: Vec<String>,
) -> Result<crate::model::GroupInfo, AppError> {
    use crate::ledger::*;
    let (state, user) = session::required().await?;
    let update = GroupUpdate {
        group_id: group_id.clone(),
        name: Some(name.clone()),
        student_ids: Some(student_ids.clone()),
    };
    state
        .ledger
        .run(user.actor(), Command::UpdateGroup(update))
        .await?;
    Ok(crate::model::GroupInfo {
        id: group_id,
        name: name.trim().to_owned(),
        student_ids,
    })
}

/// Deletes a group; awards it received stay in its students' histories.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn delete_group(group_id: String) -> Result<(), AppError> {
    use crate::ledger::*;
    let (state, user) = session::required().await?;
    state
        .ledger
        .run(user.actor(), Command::DeleteGroup { group_id })
        .await?;
    Ok(())
}

/// Sets a class's own award presets, or (`presets: None`) returns it to the school's.
/// Answers the presets the class uses afterwards.
#[server(prefix = "/rpc", output = crate::api::Reply, input = leptos::server_fn::codec::Json)]
pub async fn save_presets(
    class_id: String,
    presets: Option<Vec<crate::model::Preset>>,
) -> Result<(Vec<crate::model::Preset>, bool), AppError> {
    use crate::ledger::*;
    let (state, user) = session::required().await?;
    let update = PresetsUpdate {
        class_id: Some(class_id.clone()),
        presets,
    };
    state
        .ledger
        .run(user.actor(), Command::SetPresets(update))
        .await?;
    state.ledger.presets(Some(&class_id)).await
}

/// Undoes what an award wrote: one transaction, or a whole batch.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn undo(
    transaction_id: Option<String>,
    batch_id: Option<String>,
    request_id: String,
) -> Result<Awarded, AppError> {
    use crate::ledger::*;
    let target = match (transaction_id, batch_id) {
        (_, Some(batch_id)) => ReversalTarget::Batch { batch_id },
        (Some(transaction_id), None) => ReversalTarget::Transaction { transaction_id },
        (None, None) => {
            return Err(AppError::validation(
                "transaction_id",
                "name a transaction or a batch to undo",
            ));
        }
    };
    let command = Command::Reverse(Reversal {
        target,
        reason: "undo".into(),
    });
    write_as_user(command, request_id).await
}

/// How many rows of a student's history one page shows.
#[cfg(feature = "ssr")]
const HISTORY_PAGE_ROWS: usize = 100;

/// The most rows a reload of the student's page brings back at once (see [`load_student`]).
#[cfg(feature = "ssr")]
const HISTORY_RELOAD_MAX_ROWS: usize = 2_000;

/// `rows` of the student's history: the newest, or those recorded before `before`.
#[cfg(feature = "ssr")]
async fn history_page(
    state: &crate::server::AppState,
    student_id: &str,
    before: Option<&str>,
    rows: usize,
) -> Result<HistoryPage, AppError> {
    // One row more than shown says whether there are older ones.
    let mut entries = state
        .ledger
        .history_entries(student_id, before, rows as i64 + 1)
        .await?;
    let older = entries.len() > rows;
    entries.truncate(rows);
    Ok(HistoryPage { entries, older })
}

/// A student's page: their details and the newest page of their ledger.
///
/// `rows` asks for more than one page, up to [`HISTORY_RELOAD_MAX_ROWS`]: the page reloads
/// after an undo and keeps the rows "Show older" had brought in.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_student(
    student_id: String,
    rows: Option<u32>,
) -> Result<StudentHistory, AppError> {
    let (state, user) = session::required().await?;
    crate::model::validate_id("student_id", &student_id)?;
    let (actor, ledger) = (user.actor(), &state.ledger);
    let class_id = ledger.visible_student_class(&actor, &student_id).await?;
    // Once the student is known to be visible, the page's other reads run at once (see
    // `class_board`).
    let rows = rows.map_or(HISTORY_PAGE_ROWS, |rows| rows as usize);
    let (student, class, page, rules) = tokio::join!(
        ledger.student(&student_id),
        ledger.visible_class(&actor, &class_id),
        history_page(
            &state,
            &student_id,
            None,
            rows.clamp(HISTORY_PAGE_ROWS, HISTORY_RELOAD_MAX_ROWS),
        ),
        ledger.rules(),
    );
    // Missing only if the row went between the two reads (the application archives students
    // and never deletes them): a 404 all the same.
    let student =
        student?.ok_or_else(|| AppError::not_found(crate::error::Record::Student, &student_id))?;
    Ok(StudentHistory {
        student,
        class_name: class?.map(|c| c.name).unwrap_or_default(),
        page: page?,
        utc_offset_minutes: rules?.utc_offset_minutes,
    })
}

/// "Show older" on a student's page: the rows recorded before the transaction `before`.
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn load_older_history(
    student_id: String,
    before: String,
) -> Result<HistoryPage, AppError> {
    let (state, user) = session::required().await?;
    crate::model::validate_id("student_id", &student_id)?;
    crate::model::validate_id("before", &before)?;
    state
        .ledger
        .visible_student_class(&user.actor(), &student_id)
        .await?;
    history_page(&state, &student_id, Some(&before), HISTORY_PAGE_ROWS).await
}
