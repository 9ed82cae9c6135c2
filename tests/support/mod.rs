//! A small school on a fresh SQLite file, for ledger tests.
#![allow(dead_code)]

pub mod http;
pub mod process;

use classpoints::{
    db::Db,
    ledger::{
        Actor, BatchChange, BatchTarget, Command, Ledger, NewClass, NewStudent, NewUser, Outcome,
        PointChange, Request,
    },
    model::{Role, TransactionType},
};
use sqlx::{Connection, SqliteConnection};

pub struct School {
    pub ledger: Ledger,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub admin: Actor,
    pub teacher: Actor,
    pub teacher_id: String,
    /// Teaches only `other_class`.
    pub other_teacher: Actor,
    pub class_id: String,
    pub other_class_id: String,
    /// Students of `class_id`.
    pub students: Vec<String>,
    /// Students of `other_class_id`.
    pub other_students: Vec<String>,
}

pub fn id_of(outcome: Outcome) -> String {
    outcome.into_roster_id().unwrap()
}

pub async fn open_ledger(url: &str) -> Ledger {
    Ledger::start(Db::open(url).await.unwrap()).await.unwrap()
}

pub async fn create_user(ledger: &Ledger, username: &str, role: Role) -> String {
    id_of(
        ledger
            .run(
                Actor::System,
                Command::CreateUser(NewUser {
                    id: None,
                    username: username.into(),
                    name: username.into(),
                    role,
                    password_hash: None,
                }),
            )
            .await
            .unwrap(),
    )
}

pub async fn create_class(ledger: &Ledger, teacher: &Actor, name: &str) -> String {
    id_of(
        ledger
            .run(
                teacher.clone(),
                Command::CreateClass(NewClass {
                    id: None,
                    name: name.into(),
                    teacher_id: None,
                }),
            )
            .await
            .unwrap(),
    )
}

pub async fn create_student(
    ledger: &Ledger,
    teacher: &Actor,
    class_id: &str,
    name: &str,
) -> String {
    id_of(
        ledger
            .run(
                teacher.clone(),
                Command::CreateStudent(NewStudent {
                    id: None,
                    class_id: class_id.into(),
                    name: name.into(),
                    student_no: None,
                }),
            )
            .await
            .unwrap(),
    )
}

/// Two teachers, each with a class of `per_class` students, and an admin.
pub async fn school(per_class: usize) -> School {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ledger.db", dir.path().display());
    let ledger = open_ledger(&url).await;
    let admin = Actor::admin(create_user(&ledger, "admin", Role::Admin).await);
    let teacher_id = create_user(&ledger, "wang", Role::Teacher).await;
    let teacher = Actor::teacher(teacher_id.clone());
    let other_teacher = Actor::teacher(create_user(&ledger, "li", Role::Teacher).await);
    let class_id = create_class(&ledger, &teacher, "Class 1").await;
    let other_class_id = create_class(&ledger, &other_teacher, "Class 2").await;
    let mut students = Vec::new();
    let mut other_students = Vec::new();
    for i in 0..per_class {
        students.push(create_student(&ledger, &teacher, &class_id, &format!("Student {i}")).await);
        other_students.push(
            create_student(
                &ledger,
                &other_teacher,
                &other_class_id,
                &format!("Other {i}"),
            )
            .await,
        );
    }
    School {
        ledger,
        dir,
        url,
        admin,
        teacher,
        teacher_id,
        other_teacher,
        class_id,
        other_class_id,
        students,
        other_students,
    }
}

pub fn award(student_id: &str, points: i64) -> Command {
    Command::Change(PointChange {
        student_id: student_id.into(),
        points_change: points,
        transaction_type: if points > 0 {
            TransactionType::AddPoints
        } else {
            TransactionType::DeductPoints
        },
        reason: "test".into(),
    })
}

pub fn class_award(class_id: &str, points: i64) -> Command {
    Command::ChangeMany(BatchChange {
        target: BatchTarget::Class {
            class_id: class_id.into(),
        },
        points_change: points,
        transaction_type: TransactionType::AddPoints,
        reason: "whole class".into(),
    })
}

impl School {
    pub async fn award(&self, student_id: &str, points: i64) -> Outcome {
        self.ledger
            .execute(Request::new(
                self.teacher.clone(),
                award(student_id, points),
            ))
            .await
            .unwrap()
            .outcome
    }

    /// A raw connection, like an outside process (sqlite3, a script) would have.
    pub async fn raw(&self) -> SqliteConnection {
        SqliteConnection::connect(&self.url).await.unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.ledger.db().pool())
            .await
            .unwrap()
    }

    /// Invariant 2, checked from scratch: every balance equals its ledger sum.
    pub async fn assert_consistent(&self) {
        let report = self.ledger.check(true).await.unwrap();
        assert!(
            report.inconsistencies.is_empty(),
            "{:?}",
            report.inconsistencies
        );
        assert!(report.chain.ok, "{:?}", report.chain);
        assert_eq!(report.status, classpoints::model::HealthStatus::Healthy);
    }
}
