//! Property test: random sequences of operations run against the real ledger and against a
//! small in-memory model of what they should do. After every step the two must agree on each
//! result and each balance, and the ledger's own invariants must hold.
#![cfg(feature = "ssr")]

mod support;

use classpoints::{
    error::AppError,
    ledger::{
        Actor, BatchChange, BatchTarget, Command, Outcome, PointChange, RepairScope, Request,
        Reversal, ReversalTarget,
    },
    model::{HealthStatus, TransactionType},
};
use proptest::prelude::*;
use std::collections::HashMap;
use support::*;

#[derive(Debug, Clone)]
enum Op {
    /// Award (>0) or deduct (<0) for one of six students (0–2 in the teacher's class).
    Change {
        student: usize,
        points: i64,
        by_admin: bool,
    },
    Redeem {
        student: usize,
        points: i64,
    },
    ClassChange {
        points: i64,
    },
    Undo {
        pick: usize,
    },
    UndoBatch {
        pick: usize,
    },
    /// Raw SQL moves a balance; the check must see exactly that and the repair undo it.
    Drift {
        student: usize,
        delta: i64,
    },
    /// Send an earlier request again with its id.
    Retry {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let nonzero = |lo: i64, hi: i64| (lo..=hi).prop_filter("non-zero", |p| *p != 0);
    prop_oneof![
        4 => (0..6usize, nonzero(-6, 8), any::<bool>())
            .prop_map(|(student, points, by_admin)| Op::Change { student, points, by_admin }),
        1 => (0..6usize, 1..5i64).prop_map(|(student, points)| Op::Redeem { student, points }),
        2 => nonzero(-3, 4).prop_map(|points| Op::ClassChange { points }),
        2 => any::<usize>().prop_map(|pick| Op::Undo { pick }),
        1 => any::<usize>().prop_map(|pick| Op::UndoBatch { pick }),
        1 => (0..6usize, nonzero(-50, 50)).prop_map(|(student, delta)| Op::Drift { student, delta }),
        1 => any::<usize>().prop_map(|pick| Op::Retry { pick }),
    ]
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    student: String,
    change: i64,
    is_reversal: bool,
    reversed: bool,
    batch: Option<String>,
}

/// What the ledger should do, with default rules (minimum balance 0, reasons given).
#[derive(Default)]
struct Model {
    balance: HashMap<String, i64>,
    rows: Vec<Row>,
    batches: Vec<String>,
    teacher_class: Vec<String>,
}

/// Error kinds compared between the model and the ledger.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    Forbidden,
    Conflict,
    Invalid,
    Rule(&'static str),
}

fn kind(result: &Result<classpoints::ledger::Executed, AppError>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(AppError::Forbidden { .. }) => "Forbidden".into(),
        Err(AppError::Conflict { .. }) => "Conflict".into(),
        Err(AppError::Validation { .. }) => "Invalid".into(),
        Err(AppError::RuleViolation { rule, .. }) => format!("Rule(\"{rule}\")"),
        Err(other) => format!("{other:?}"),
    }
}

impl Model {
    fn teaches(&self, student: &str) -> bool {
        self.teacher_class.iter().any(|s| s == student)
    }

    fn expect_change(&self, student: &str, points: i64, by_admin: bool) -> Expect {
        if !by_admin && !self.teaches(student) {
            Expect::Forbidden
        } else if points < 0 && self.balance[student] + points < 0 {
            Expect::Rule("min_balance")
        } else {
            Expect::Ok
        }
    }

    fn expect_undo(&self, rows: &[&Row]) -> Expect {
        for row in rows {
            if !self.teaches(&row.student) {
                return Expect::Forbidden;
            }
            if row.is_reversal {
                return Expect::Invalid;
            }
            if row.reversed {
                return Expect::Conflict;
            }
            if -row.change < 0 && self.balance[&row.student] - row.change < 0 {
                return Expect::Rule("min_balance");
            }
        }
        Expect::Ok
    }

    /// Records the rows a successful points outcome wrote.
    fn record(&mut self, outcome: &Outcome) {
        let Outcome::Points {
            batch_id,
            transactions,
            ..
        } = outcome
        else {
            panic!("expected points, got {outcome:?}");
        };
        if let Some(batch) = batch_id
            && transactions.iter().all(|t| t.reverses_id.is_none())
        {
            self.batches.push(batch.clone());
        }
        for t in transactions {
            *self.balance.get_mut(&t.student_id).unwrap() += t.points_change;
            if let Some(original) = &t.reverses_id {
                self.rows
                    .iter_mut()
                    .find(|r| &r.id == original)
                    .unwrap()
                    .reversed = true;
            }
            self.rows.push(Row {
                id: t.id.clone(),
                student: t.student_id.clone(),
                change: t.points_change,
                is_reversal: t.reverses_id.is_some(),
                reversed: false,
                batch: t.batch_id.clone(),
            });
        }
    }
}

async fn run_sequence(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let s = school(3).await;
    let everyone: Vec<String> = s
        .students
        .iter()
        .chain(&s.other_students)
        .cloned()
        .collect();
    let mut model = Model {
        balance: everyone.iter().map(|id| (id.clone(), 0)).collect(),
        teacher_class: s.students.clone(),
        ..Model::default()
    };
    let mut sent: Vec<(Request, Outcome)> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        let key = format!("step-{step}");
        let (actor, command, expect): (Actor, Command, Expect) = match &op {
            Op::Change {
                student,
                points,
                by_admin,
            } => {
                let id = &everyone[*student];
                let actor = if *by_admin {
                    s.admin.clone()
                } else {
                    s.teacher.clone()
                };
                (
                    actor,
                    award(id, *points),
                    model.expect_change(id, *points, *by_admin),
                )
            }
            Op::Redeem { student, points } => {
                let id = &everyone[*student];
                let command = Command::Change(PointChange {
                    student_id: id.clone(),
                    points_change: -points,
                    transaction_type: TransactionType::Redeem,
                    reason: "prize".into(),
                });
                (
                    s.teacher.clone(),
                    command,
                    model.expect_change(id, -points, false),
                )
            }
            Op::ClassChange { points } => {
                let command = Command::ChangeMany(BatchChange {
                    target: BatchTarget::Class {
                        class_id: s.class_id.clone(),
                    },
                    points_change: *points,
                    transaction_type: if *points > 0 {
                        TransactionType::AddPoints
                    } else {
                        TransactionType::DeductPoints
                    },
                    reason: "class".into(),
                });
                let expect = s
                    .students
                    .iter()
                    .map(|id| model.expect_change(id, *points, false))
                    .find(|e| *e != Expect::Ok)
                    .unwrap_or(Expect::Ok);
                (s.teacher.clone(), command, expect)
            }
            Op::Undo { pick } => {
                if model.rows.is_empty() {
                    continue;
                }
                let row = model.rows[pick % model.rows.len()].clone();
                let command = Command::Reverse(Reversal {
                    target: ReversalTarget::Transaction {
                        transaction_id: row.id.clone(),
                    },
                    reason: "undo".into(),
                });
                (s.teacher.clone(), command, model.expect_undo(&[&row]))
            }
            Op::UndoBatch { pick } => {
                if model.batches.is_empty() {
                    continue;
                }
                let batch = model.batches[pick % model.batches.len()].clone();
                let pending: Vec<&Row> = model
                    .rows
                    .iter()
                    .filter(|r| r.batch.as_deref() == Some(batch.as_str()) && !r.reversed)
                    .collect();
                let expect = if pending.is_empty() {
                    Expect::Conflict
                } else {
                    model.expect_undo(&pending)
                };
                let command = Command::Reverse(Reversal {
                    target: ReversalTarget::Batch { batch_id: batch },
                    reason: String::new(),
                });
                (s.teacher.clone(), command, expect)
            }
            Op::Drift { student, delta } => {
                let id = &everyone[*student];
                let mut raw = s.raw().await;
                sqlx::query("UPDATE student_points SET points = points + ? WHERE student_id = ?")
                    .bind(delta)
                    .bind(id)
                    .execute(&mut raw)
                    .await
                    .unwrap();
                let report = s.ledger.check(false).await.unwrap();
                prop_assert_eq!(report.inconsistencies.len(), 1);
                prop_assert_eq!(&report.inconsistencies[0].student_id, id);
                prop_assert_eq!(report.inconsistencies[0].difference, *delta);
                prop_assert_ne!(report.status, HealthStatus::Healthy);
                let repair = Command::Repair(RepairScope {
                    student_id: None,
                    reason: String::new(),
                });
                (s.admin.clone(), repair, Expect::Ok)
            }
            Op::Retry { pick } => {
                if sent.is_empty() {
                    continue;
                }
                let (request, outcome) = sent[pick % sent.len()].clone();
                let again = s.ledger.execute(request).await.unwrap();
                prop_assert!(again.replayed);
                prop_assert_eq!(&again.outcome, &outcome);
                continue;
            }
        };
        let request = Request::new(actor, command).with_key(key);
        let result = s.ledger.execute(request.clone()).await;
        prop_assert_eq!(
            kind(&result),
            format!("{expect:?}"),
            "step {} {:?}",
            step,
            op
        );
        if let Ok(executed) = result {
            prop_assert!(!executed.replayed);
            match &executed.outcome {
                Outcome::Repaired { repaired } => prop_assert_eq!(repaired.len(), 1),
                outcome => model.record(outcome),
            }
            sent.push((request, executed.outcome));
        }

        // Invariants after every step.
        for id in &everyone {
            prop_assert_eq!(
                s.ledger.balance(id).await.unwrap(),
                model.balance[id],
                "balance of {}",
                id
            );
        }
        prop_assert_eq!(
            s.count("SELECT count(*) FROM point_transactions").await,
            model.rows.len() as i64
        );
        let report = s.ledger.check(false).await.unwrap();
        prop_assert_eq!(report.status, HealthStatus::Healthy, "{:?}", report);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_match_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_sequence(ops))?;
    }
}
