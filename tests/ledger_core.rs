//! The ledger's behaviour on a real SQLite file: points, batches, undo, rules, permissions,
//! exactly-once requests, append-only enforcement, drift detection and repair, the hash chain.
#![cfg(feature = "ssr")]

mod support;

use classpoints::{
    error::AppError,
    ledger::{
        Actor, BatchChange, BatchTarget, Command, NewGroup, Outcome, PointChange, RepairScope,
        Request, Reversal, ReversalTarget,
        import::{LegacyImport, LegacyTransaction},
    },
    model::{HealthStatus, TransactionType},
    rules::Rules,
};
use support::*;

fn points(
    outcome: &Outcome,
) -> (
    &Option<String>,
    &Vec<classpoints::model::PointTransaction>,
    Vec<(String, i64)>,
) {
    match outcome {
        Outcome::Points {
            batch_id,
            transactions,
            balances,
        } => (
            batch_id,
            transactions,
            balances
                .iter()
                .map(|b| (b.student_id.clone(), b.points))
                .collect(),
        ),
        other => panic!("expected points, got {other:?}"),
    }
}

fn reverse_tx(id: &str) -> Command {
    Command::Reverse(Reversal {
        target: ReversalTarget::Transaction {
            transaction_id: id.into(),
        },
        reason: "oops".into(),
    })
}

#[tokio::test]
async fn award_deduct_and_redeem_move_balance_and_ledger_together() {
    let s = school(2).await;
    let alice = &s.students[0];
    let out = s.award(alice, 5).await;
    let (_, rows, balances) = points(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].points_change, 5);
    assert_eq!(rows[0].teacher_id, s.teacher_id);
    assert_eq!(balances, vec![(alice.clone(), 5)]);
    s.award(alice, -2).await;
    let redeem = Command::Change(PointChange {
        student_id: alice.clone(),
        points_change: -3,
        transaction_type: TransactionType::Redeem,
        reason: "pencil".into(),
    });
    let out = s.ledger.run(s.teacher.clone(), redeem).await.unwrap();
    assert_eq!(points(&out).2, vec![(alice.clone(), 0)]);
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 0);
    let history = s.ledger.history(alice, None, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|t| t.points_change).collect::<Vec<_>>(),
        vec![-3, -2, 5],
        "newest first"
    );
    s.assert_consistent().await;
}

#[tokio::test]
async fn class_group_and_selected_batches_are_all_or_nothing() {
    let s = school(4).await;
    let out = s
        .ledger
        .run(s.teacher.clone(), class_award(&s.class_id, 2))
        .await
        .unwrap();
    let (batch_id, rows, balances) = points(&out);
    assert!(batch_id.is_some());
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.batch_id == *batch_id));
    assert!(balances.iter().all(|(_, p)| *p == 2));

    // A group.
    let group = id_of(
        s.ledger
            .run(
                s.teacher.clone(),
                Command::CreateGroup(NewGroup {
                    class_id: s.class_id.clone(),
                    name: "Red team".into(),
                    student_ids: vec![],
                }),
            )
            .await
            .unwrap(),
    );
    s.ledger
        .run(
            s.teacher.clone(),
            Command::SetGroupMembers {
                group_id: group.clone(),
                student_ids: s.students[..2].to_vec(),
            },
        )
        .await
        .unwrap();
    let group_award = Command::ChangeMany(BatchChange {
        target: BatchTarget::Group { group_id: group },
        points_change: 3,
        transaction_type: TransactionType::AddPoints,
        reason: "teamwork".into(),
    });
    let out = s.ledger.run(s.teacher.clone(), group_award).await.unwrap();
    assert_eq!(points(&out).1.len(), 2);

    // One student of the selection would overdraw: nothing at all is written.
    let before = s.count("SELECT count(*) FROM point_transactions").await;
    s.award(&s.students[3], -2).await; // student 3 now at 0
    let before = before + 1;
    let deduct_all = Command::ChangeMany(BatchChange {
        target: BatchTarget::Students {
            student_ids: s.students.clone(),
        },
        points_change: -1,
        transaction_type: TransactionType::DeductPoints,
        reason: "noise".into(),
    });
    let error = s
        .ledger
        .run(s.teacher.clone(), deduct_all)
        .await
        .unwrap_err();
    match error {
        AppError::RuleViolation {
            rule,
            message,
            details,
        } => {
            assert_eq!(rule, "min_balance");
            assert!(message.contains(&s.students[3]), "{message}");
            // The figures travel with it, for an interface to word the refusal itself.
            assert_eq!(details.student_id.as_deref(), Some(s.students[3].as_str()));
            assert_eq!((details.limit, details.actual), (Some(0), Some(-1)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        before
    );

    // A selection reaching into another teacher's class is refused whole.
    let mixed = Command::ChangeMany(BatchChange {
        target: BatchTarget::Students {
            student_ids: vec![s.students[0].clone(), s.other_students[0].clone()],
        },
        points_change: 1,
        transaction_type: TransactionType::AddPoints,
        reason: String::new(),
    });
    assert!(matches!(
        s.ledger.run(s.teacher.clone(), mixed).await,
        Err(AppError::Forbidden { .. })
    ));
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        before
    );
    s.assert_consistent().await;
}

#[tokio::test]
async fn undo_appends_a_reversal_once_and_keeps_the_original() {
    let s = school(3).await;
    let out = s.award(&s.students[0], 4).await;
    let original = points(&out).1[0].id.clone();
    let out = s
        .ledger
        .run(s.teacher.clone(), reverse_tx(&original))
        .await
        .unwrap();
    let (_, rows, balances) = points(&out);
    assert_eq!(rows[0].points_change, -4);
    assert_eq!(rows[0].transaction_type, TransactionType::Reversal);
    assert_eq!(rows[0].reverses_id.as_deref(), Some(original.as_str()));
    assert_eq!(balances[0].1, 0);
    let reversal_id = rows[0].id.clone();

    let again = s.ledger.run(s.teacher.clone(), reverse_tx(&original)).await;
    assert!(matches!(again, Err(AppError::Conflict { .. })), "{again:?}");
    let undo_undo = s
        .ledger
        .run(s.teacher.clone(), reverse_tx(&reversal_id))
        .await;
    assert!(
        matches!(undo_undo, Err(AppError::Validation { .. })),
        "{undo_undo:?}"
    );
    let history = s.ledger.history(&s.students[0], None, 10).await.unwrap();
    assert_eq!(history.len(), 2, "the original stays in the ledger");

    // Undo a whole-class award in one step.
    let out = s
        .ledger
        .run(s.teacher.clone(), class_award(&s.class_id, 1))
        .await
        .unwrap();
    let batch_id = points(&out).0.clone().unwrap();
    let undo_batch = Command::Reverse(Reversal {
        target: ReversalTarget::Batch {
            batch_id: batch_id.clone(),
        },
        reason: String::new(),
    });
    let out = s
        .ledger
        .run(s.teacher.clone(), undo_batch.clone())
        .await
        .unwrap();
    assert_eq!(points(&out).1.len(), 3);
    assert!(matches!(
        s.ledger.run(s.teacher.clone(), undo_batch).await,
        Err(AppError::Conflict { .. })
    ));
    for student in &s.students {
        assert_eq!(s.ledger.balance(student).await.unwrap(), 0);
    }
    // Another class's teacher cannot undo this class's rows.
    let out = s.award(&s.students[1], 2).await;
    let id = points(&out).1[0].id.clone();
    assert!(matches!(
        s.ledger.run(s.other_teacher.clone(), reverse_tx(&id)).await,
        Err(AppError::Forbidden { .. })
    ));
    s.assert_consistent().await;
}

#[tokio::test]
async fn a_students_history_pages_back_through_rows_recorded_at_the_same_moment() {
    let s = school(2).await;
    let (alice, bob) = (&s.students[0], &s.students[1]);
    // The old system's rows keep their times: three moments of four rows each, so pages must
    // split runs of equal timestamps without repeating or skipping a row.
    let transactions = (0..12)
        .map(|i| LegacyTransaction {
            id: format!("legacyrow{i:06}"),
            student_id: alice.clone(),
            teacher_id: s.teacher_id.clone(),
            points_change: i + 1,
            transaction_type: "add_points".into(),
            reason: String::new(),
            created_at: format!("2026-09-0{}T08:00:00.000Z", 1 + i / 4),
        })
        .collect();
    let import = LegacyImport {
        transactions,
        balances: Default::default(),
    };
    s.ledger
        .run(Actor::System, Command::ImportLegacy(import))
        .await
        .unwrap();
    s.award(alice, 20).await;
    let bobs = points(&s.award(bob, 1).await).1[0].id.clone();

    let all = s.ledger.history(alice, None, 1000).await.unwrap();
    let changes = |rows: &[classpoints::model::PointTransaction]| {
        rows.iter().map(|t| t.points_change).collect::<Vec<_>>()
    };
    assert_eq!(
        changes(&all),
        vec![20, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
        "newest first; rows of one moment in the order recorded, latest first"
    );
    for page_size in [1, 3, 4, 5, 13] {
        let (mut paged, mut before) = (Vec::new(), None::<String>);
        loop {
            let page = s
                .ledger
                .history(alice, before.as_deref(), page_size)
                .await
                .unwrap();
            assert!(page.len() <= page_size as usize);
            let Some(last) = page.last() else { break };
            before = Some(last.id.clone());
            paged.extend(page);
        }
        assert_eq!(changes(&paged), changes(&all), "pages of {page_size}");
    }
    // The cursor must be one of the student's own rows.
    for foreign in [bobs.as_str(), "000000000000000"] {
        let refused = s.ledger.history(alice, Some(foreign), 10).await;
        assert!(
            matches!(&refused, Err(AppError::NotFound { .. })),
            "{foreign}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn rules_are_stored_enforced_and_name_the_rule() {
    let s = school(1).await;
    let alice = &s.students[0];
    let rules = Rules {
        max_abs_change: 10,
        daily_award_cap: Some(15),
        ..Rules::default()
    };
    // Only admins set rules.
    assert!(matches!(
        s.ledger
            .run(s.teacher.clone(), Command::SetRules(rules.clone()))
            .await,
        Err(AppError::Forbidden { .. })
    ));
    s.ledger
        .run(s.admin.clone(), Command::SetRules(rules.clone()))
        .await
        .unwrap();
    assert_eq!(s.ledger.rules().await.unwrap(), rules);

    let rule_of = |r: Result<Outcome, AppError>| match r {
        Err(AppError::RuleViolation { rule, .. }) => rule,
        other => panic!("expected a rule violation, got {other:?}"),
    };
    assert_eq!(
        rule_of(s.ledger.run(s.teacher.clone(), award(alice, 11)).await),
        "max_abs_change"
    );
    s.award(alice, 10).await;
    assert_eq!(
        rule_of(s.ledger.run(s.teacher.clone(), award(alice, 6)).await),
        "daily_award_cap"
    );
    s.award(alice, 5).await;
    // Undoing an award frees its share of the daily cap.
    let history = s.ledger.history(alice, None, 1).await.unwrap();
    s.ledger
        .run(s.teacher.clone(), reverse_tx(&history[0].id))
        .await
        .unwrap();
    s.award(alice, 5).await;
    let no_reason = Command::Change(PointChange {
        student_id: alice.clone(),
        points_change: -1,
        transaction_type: TransactionType::DeductPoints,
        reason: "  ".into(),
    });
    assert_eq!(
        rule_of(s.ledger.run(s.teacher.clone(), no_reason).await),
        "reason_required"
    );
    assert_eq!(
        rule_of(s.ledger.run(s.teacher.clone(), award(alice, -16)).await),
        "max_abs_change"
    );
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 15);
    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 4);

    let invalid = Rules {
        max_abs_change: 0,
        ..Rules::default()
    };
    assert!(matches!(
        s.ledger.run(s.admin.clone(), Command::SetRules(invalid)).await,
        Err(AppError::Validation { field, .. }) if field == "max_abs_change"
    ));
    s.assert_consistent().await;
}

#[tokio::test]
async fn teachers_act_only_on_their_classes() {
    let s = school(1).await;
    let theirs = &s.other_students[0];
    let before = s.count("SELECT count(*) FROM point_transactions").await;
    assert!(matches!(
        s.ledger.run(s.teacher.clone(), award(theirs, 1)).await,
        Err(AppError::Forbidden { .. })
    ));
    assert!(matches!(
        s.ledger
            .run(s.teacher.clone(), class_award(&s.other_class_id, 1))
            .await,
        Err(AppError::Forbidden { .. })
    ));
    // Admins may act on any class.
    s.ledger
        .run(s.admin.clone(), award(theirs, 1))
        .await
        .unwrap();
    // Unknown ids are 404s, malformed ids are validation errors naming the field.
    assert!(matches!(
        s.ledger
            .run(s.teacher.clone(), award("zzzzzzzzzzzzzzz", 1))
            .await,
        Err(AppError::NotFound { .. })
    ));
    assert!(matches!(
        s.ledger.run(s.teacher.clone(), award("Robert'); DROP", 1)).await,
        Err(AppError::Validation { field, .. }) if field == "student_id"
    ));
    assert!(matches!(
        s.ledger.run(Actor::System, award(&s.students[0], 1)).await,
        Err(AppError::Forbidden { .. })
    ));
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        before + 1
    );
}

#[tokio::test]
async fn a_request_id_replays_its_outcome_and_conflicts_on_other_content() {
    let s = school(1).await;
    let alice = &s.students[0];
    let request = Request::new(s.teacher.clone(), award(alice, 3)).with_key("press-1");
    let first = s.ledger.execute(request.clone()).await.unwrap();
    let second = s.ledger.execute(request.clone()).await.unwrap();
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(first.outcome, second.outcome);
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 3);

    let other = Request::new(s.teacher.clone(), award(alice, 4)).with_key("press-1");
    assert!(matches!(
        s.ledger.execute(other).await,
        Err(AppError::Conflict { .. })
    ));
    // Keys belong to their actor: another user's same key is another request.
    let admin_request = Request::new(s.admin.clone(), award(alice, 3)).with_key("press-1");
    assert!(!s.ledger.execute(admin_request).await.unwrap().replayed);
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 6);

    // A refused request stores nothing under its key: a later retry is judged afresh.
    let overdraw = Request::new(s.teacher.clone(), award(alice, -100)).with_key("press-2");
    assert!(s.ledger.execute(overdraw.clone()).await.is_err());
    assert_eq!(
        s.count("SELECT count(*) FROM idempotency_keys WHERE key = 'press-2'")
            .await,
        0
    );
    let bad_key = Request::new(s.teacher.clone(), award(alice, 1)).with_key("with space");
    assert!(matches!(
        s.ledger.execute(bad_key).await,
        Err(AppError::Validation { field, .. }) if field == "idempotency_key"
    ));
    s.assert_consistent().await;
}

#[tokio::test]
async fn request_ids_are_forgotten_after_their_retention_and_only_by_the_server() {
    let s = school(1).await;
    let alice = &s.students[0];
    let press = Request::new(s.teacher.clone(), award(alice, 1)).with_key("press-old");
    assert!(!s.ledger.execute(press.clone()).await.unwrap().replayed);

    // A cutoff before the key was recorded keeps it: a retry still replays.
    let kept = s
        .ledger
        .forget_request_ids("2000-01-01T00:00:00.000Z")
        .await;
    assert_eq!(kept.unwrap(), 0);
    assert!(s.ledger.execute(press.clone()).await.unwrap().replayed);

    // Nobody but the server forgets request ids.
    let forget = Command::ForgetRequestIds {
        before: "9999-01-01T00:00:00.000Z".into(),
        limit: 10,
    };
    assert!(matches!(
        s.ledger.run(s.admin.clone(), forget).await,
        Err(AppError::Forbidden { .. })
    ));

    // A cutoff after it forgets it, and the same press is then a new request.
    let forgotten = s
        .ledger
        .forget_request_ids("9999-01-01T00:00:00.000Z")
        .await;
    assert_eq!(forgotten.unwrap(), 1);
    assert_eq!(s.count("SELECT count(*) FROM idempotency_keys").await, 0);
    assert!(!s.ledger.execute(press).await.unwrap().replayed);
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 2);
}

#[tokio::test]
async fn request_ids_are_forgotten_oldest_first_a_bounded_batch_at_a_time() {
    let s = school(1).await;
    let alice = &s.students[0];
    for n in 1..=5 {
        let press = Request::new(s.teacher.clone(), award(alice, 1)).with_key(format!("press-{n}"));
        s.ledger.execute(press).await.unwrap();
        // Distinct timestamps (the ledger's clock counts milliseconds).
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let fourth: String =
        sqlx::query_scalar("SELECT created_at FROM idempotency_keys WHERE key = 'press-4'")
            .fetch_one(s.ledger.db().pool())
            .await
            .unwrap();
    let forget = |limit| Command::ForgetRequestIds {
        before: fourth.clone(),
        limit,
    };
    let forgotten = |outcome: Outcome| match outcome {
        Outcome::Forgotten { count } => count,
        other => panic!("{other:?}"),
    };
    // One call forgets at most its limit, oldest first; the next goes on from there and stops
    // at the first key recorded since the cutoff.
    let first = s.ledger.run(Actor::System, forget(2)).await.unwrap();
    assert_eq!(forgotten(first), 2);
    let second = s.ledger.run(Actor::System, forget(2)).await.unwrap();
    assert_eq!(forgotten(second), 1);
    let third = s.ledger.run(Actor::System, forget(2)).await.unwrap();
    assert_eq!(forgotten(third), 0);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(s.ledger.db().pool())
        .await
        .unwrap();
    assert_eq!(left, ["press-4", "press-5"]);
    // The kept presses still replay.
    let again = Request::new(s.teacher.clone(), award(alice, 1)).with_key("press-5");
    assert!(s.ledger.execute(again).await.unwrap().replayed);
    assert_eq!(s.ledger.balance(alice).await.unwrap(), 5);
}

#[tokio::test]
async fn raw_sql_cannot_edit_or_delete_the_ledger() {
    let s = school(1).await;
    s.award(&s.students[0], 5).await;
    let mut raw = s.raw().await;
    for sql in [
        "UPDATE point_transactions SET points_change = 500",
        "DELETE FROM point_transactions",
    ] {
        let error = sqlx::query(sql).execute(&mut raw).await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    // An insert behind the writer's back moves the balance (trigger) but breaks the chain.
    sqlx::query(
        "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, created_at, hash) \
         VALUES (999, 'forgedforgedfor', ?, ?, 50, 'add_points', '', '2026-01-01T00:00:00.000Z', ?)",
    )
    .bind(&s.students[0])
    .bind(&s.teacher_id)
    .bind("f".repeat(64))
    .execute(&mut raw)
    .await
    .unwrap();
    let report = s.ledger.check(false).await.unwrap();
    assert!(
        report.inconsistencies.is_empty(),
        "balance followed the trigger"
    );
    assert!(!report.chain.ok);
    assert_eq!(report.chain.first_broken_seq, Some(999));
    assert_eq!(report.status, HealthStatus::Unhealthy);
}

#[tokio::test]
async fn drift_injected_by_raw_sql_is_found_and_repaired_once_with_audit() {
    let s = school(3).await;
    for student in &s.students {
        s.award(student, 7).await;
    }
    s.assert_consistent().await;
    let mut raw = s.raw().await;
    sqlx::query("UPDATE student_points SET points = points + 100 WHERE student_id = ?")
        .bind(&s.students[1])
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("DELETE FROM student_points WHERE student_id = ?")
        .bind(&s.students[2])
        .execute(&mut raw)
        .await
        .unwrap();

    let report = s.ledger.check(false).await.unwrap();
    assert_eq!(report.inconsistent_students, 2);
    let drifted = &report.inconsistencies;
    let one = drifted
        .iter()
        .find(|i| i.student_id == s.students[1])
        .unwrap();
    assert_eq!(
        (one.expected, one.actual, one.difference),
        (7, Some(107), 100)
    );
    let two = drifted
        .iter()
        .find(|i| i.student_id == s.students[2])
        .unwrap();
    assert_eq!((two.expected, two.actual, two.difference), (7, None, -7));
    assert!(report.consistency_rate < 100.0);
    assert_ne!(report.status, HealthStatus::Healthy);
    assert_eq!(
        s.ledger.check_student(&s.students[1]).await.unwrap(),
        Some(one.clone())
    );
    assert_eq!(s.ledger.check_student(&s.students[0]).await.unwrap(), None);

    let repair = Command::Repair(RepairScope {
        student_id: None,
        reason: "test drift".into(),
    });
    assert!(matches!(
        s.ledger.run(s.teacher.clone(), repair.clone()).await,
        Err(AppError::Forbidden { .. })
    ));
    let fixed = s.ledger.run(s.admin.clone(), repair.clone()).await.unwrap();
    let Outcome::Repaired { repaired } = fixed else {
        panic!()
    };
    assert_eq!(repaired.len(), 2);
    let again = s.ledger.run(s.admin.clone(), repair).await.unwrap();
    assert_eq!(
        again,
        Outcome::Repaired { repaired: vec![] },
        "second repair changes nothing"
    );
    assert_eq!(s.count("SELECT count(*) FROM repairs").await, 2);
    let audit: (Option<i64>, i64, String) =
        sqlx::query_as("SELECT old_points, new_points, reason FROM repairs WHERE student_id = ?")
            .bind(&s.students[1])
            .fetch_one(s.ledger.db().pool())
            .await
            .unwrap();
    assert_eq!(audit, (Some(107), 7, "test drift".to_owned()));
    s.assert_consistent().await;
}

#[tokio::test]
async fn chain_verification_is_incremental_and_catches_edits_of_verified_rows() {
    let s = school(2).await;
    for _ in 0..5 {
        s.award(&s.students[0], 1).await;
    }
    let full = s.ledger.check(true).await.unwrap().chain;
    assert!(full.ok && full.full);
    assert_eq!(full.verified_rows, 5);
    s.award(&s.students[1], 1).await;
    let incremental = s.ledger.check(false).await.unwrap().chain;
    assert!(incremental.ok && !incremental.full);
    assert_eq!(incremental.verified_rows, 1);

    // Someone drops the guard trigger and edits an old row's reason.
    let mut raw = s.raw().await;
    sqlx::query("DROP TRIGGER point_transactions_append_only_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE point_transactions SET reason = 'edited' WHERE seq = 2")
        .execute(&mut raw)
        .await
        .unwrap();
    let chain = s.ledger.verify_chain().await.unwrap();
    assert!(!chain.ok);
    assert_eq!(chain.first_broken_seq, Some(2));
}

#[tokio::test]
async fn balance_as_of_any_time_comes_from_the_ledger() {
    let s = school(1).await;
    let alice = &s.students[0];
    s.award(alice, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let middle = classpoints::ledger::clock::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.award(alice, 3).await;
    assert_eq!(s.ledger.balance_as_of(alice, &middle).await.unwrap(), 5);
    assert_eq!(
        s.ledger
            .balance_as_of(alice, "2000-01-01T00:00:00Z")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.ledger
            .balance_as_of(alice, "2999-01-01T08:00:00+08:00")
            .await
            .unwrap(),
        8
    );
    assert!(matches!(
        s.ledger.balance_as_of(alice, "tuesday").await,
        Err(AppError::Validation { field, .. }) if field == "at"
    ));
}

#[tokio::test]
async fn a_lock_held_by_another_process_ends_in_a_clear_unavailable_after_retries() {
    let s = school(1).await;
    let mut raw = s.raw().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut raw)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = s
        .ledger
        .run(s.teacher.clone(), award(&s.students[0], 1))
        .await
        .unwrap_err();
    assert!(matches!(error, AppError::Unavailable { .. }), "{error:?}");
    assert_eq!(
        s.ledger
            .stats()
            .busy_retries
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    tracing::info!(elapsed = ?started.elapsed(), "gave up");
    sqlx::query("ROLLBACK").execute(&mut raw).await.unwrap();
    // Once the lock is gone the writer carries on.
    s.award(&s.students[0], 1).await;
    assert_eq!(s.ledger.balance(&s.students[0]).await.unwrap(), 1);
}

#[tokio::test]
async fn one_rejected_request_does_not_sink_its_group() {
    let s = school(2).await;
    // Fire many requests at once so they share transactions. A third are awards to student 0;
    // a third are refused outright; a third are batches that append a row for student 0 and
    // are then refused at student 1 (balance 0), so their group is rolled back and run again
    // with a savepoint per request, which must undo the written row and continue the chain
    // from before it.
    let mut tasks = Vec::new();
    for i in 0..300 {
        let ledger = s.ledger.clone();
        let teacher = s.teacher.clone();
        let command = match i % 3 {
            0 => award(&s.students[0], 1),
            1 => award(&s.students[1], -1000),
            _ => Command::ChangeMany(BatchChange {
                target: BatchTarget::Students {
                    student_ids: vec![s.students[0].clone(), s.students[1].clone()],
                },
                points_change: -1,
                transaction_type: TransactionType::DeductPoints,
                reason: "late".into(),
            }),
        };
        tasks.push(tokio::spawn(async move {
            ledger.run(teacher, command).await.is_ok()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap() as i64;
    }
    assert_eq!(ok, 100);
    assert_eq!(s.ledger.balance(&s.students[0]).await.unwrap(), 100);
    assert_eq!(s.ledger.balance(&s.students[1]).await.unwrap(), 0);
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        100
    );
    assert_eq!(
        s.count("SELECT max(seq) FROM point_transactions").await,
        100,
        "no gaps"
    );
    assert!(
        s.ledger
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            < s.ledger
                .stats()
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
        "requests were grouped"
    );
    assert!(
        s.ledger
            .stats()
            .group_reruns
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "a batch refused after writing sent its group down the savepoint path"
    );
    s.assert_consistent().await;
}

#[tokio::test]
async fn a_group_is_created_with_its_members_or_not_at_all() {
    let s = school(2).await;
    let create = |student_ids: Vec<String>| {
        Command::CreateGroup(NewGroup {
            class_id: s.class_id.clone(),
            name: "Team".into(),
            student_ids,
        })
    };
    let intruder = vec![s.students[0].clone(), s.other_students[0].clone()];
    let refused = s.ledger.run(s.teacher.clone(), create(intruder)).await;
    assert!(matches!(refused, Err(AppError::Validation { field, .. }) if field == "student_ids"));
    assert_eq!(
        s.count("SELECT count(*) FROM student_groups").await,
        0,
        "no empty group left behind"
    );
    s.ledger
        .run(s.teacher.clone(), create(s.students.clone()))
        .await
        .unwrap();
    let groups = s.ledger.groups(&s.class_id).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].student_ids.len(), 2);
}
