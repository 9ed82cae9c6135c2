//! Roster writes in the core: editing and deleting groups, award presets per class and for
//! the school, and account changes. Each is authorised and written in the writer's transaction.
#![cfg(feature = "ssr")]

mod support;

use classpoints::{
    error::{AppError, Clash},
    ledger::{
        Command, GroupUpdate, NewGroup, NewStudent, NewUser, Outcome, PresetsUpdate, UserUpdate,
        ids::new_id,
    },
    model::{Preset, Role, default_presets},
};
use support::*;

fn preset(reason: &str, points: i64) -> Preset {
    Preset {
        reason: reason.into(),
        points,
    }
}

async fn new_group(s: &School, name: &str, members: &[String]) -> String {
    id_of(
        s.ledger
            .run(
                s.teacher.clone(),
                Command::CreateGroup(NewGroup {
                    class_id: s.class_id.clone(),
                    name: name.into(),
                    student_ids: members.to_vec(),
                }),
            )
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn groups_are_renamed_given_new_members_and_deleted_without_touching_the_ledger() {
    let s = school(4).await;
    let group = new_group(&s, "Red", &s.students[..2]).await;
    let other = new_group(&s, "Blue", &s.students[2..3]).await;
    s.ledger
        .run(
            s.teacher.clone(),
            Command::ChangeMany(classpoints::ledger::BatchChange {
                target: classpoints::ledger::BatchTarget::Group {
                    group_id: group.clone(),
                },
                points_change: 2,
                transaction_type: classpoints::model::TransactionType::AddPoints,
                reason: "teamwork".into(),
            }),
        )
        .await
        .unwrap();

    let update = |name: Option<&str>, members: Option<Vec<String>>| {
        Command::UpdateGroup(GroupUpdate {
            group_id: group.clone(),
            name: name.map(str::to_owned),
            student_ids: members,
        })
    };
    s.ledger
        .run(
            s.teacher.clone(),
            update(Some(" Red team "), Some(s.students[1..4].to_vec())),
        )
        .await
        .unwrap();
    let groups = s.ledger.groups(&s.class_id).await.unwrap();
    let red = groups.iter().find(|g| g.id == group).unwrap();
    assert_eq!(red.name, "Red team");
    let mut members = red.student_ids.clone();
    members.sort();
    let mut expected = s.students[1..4].to_vec();
    expected.sort();
    assert_eq!(members, expected);

    // Another class's teacher, a taken name, and a student of another class change nothing.
    let refused = s
        .ledger
        .run(s.other_teacher.clone(), update(Some("Mine"), None))
        .await;
    assert!(
        matches!(refused, Err(AppError::Forbidden { .. })),
        "{refused:?}"
    );
    let taken = s
        .ledger
        .run(s.teacher.clone(), update(Some("Blue"), None))
        .await;
    assert!(matches!(taken, Err(AppError::Conflict { .. })), "{taken:?}");
    let foreign = s
        .ledger
        .run(
            s.teacher.clone(),
            update(Some("Mixed"), Some(vec![s.other_students[0].clone()])),
        )
        .await;
    assert!(
        matches!(&foreign, Err(AppError::Validation { field, .. }) if field == "student_ids"),
        "{foreign:?}"
    );
    let unchanged = s.ledger.groups(&s.class_id).await.unwrap();
    assert_eq!(
        unchanged, groups,
        "a refused update leaves the group as it was"
    );

    // Deleting keeps every ledger row the group's award wrote.
    let rows = s.count("SELECT count(*) FROM point_transactions").await;
    s.ledger
        .run(
            s.teacher.clone(),
            Command::DeleteGroup {
                group_id: group.clone(),
            },
        )
        .await
        .unwrap();
    let left = s.ledger.groups(&s.class_id).await.unwrap();
    assert_eq!(left.iter().map(|g| &g.id).collect::<Vec<_>>(), [&other]);
    assert_eq!(
        s.count("SELECT count(*) FROM student_group_members WHERE group_id NOT IN (SELECT id FROM student_groups)")
            .await,
        0
    );
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        rows
    );
    let again = s
        .ledger
        .run(s.teacher.clone(), Command::DeleteGroup { group_id: group })
        .await;
    assert!(matches!(again, Err(AppError::NotFound { .. })), "{again:?}");
    s.assert_consistent().await;
}

#[tokio::test]
async fn a_class_uses_its_own_presets_else_the_schools_else_the_built_in_ones() {
    let s = school(1).await;
    let class = Some(s.class_id.as_str());
    assert_eq!(
        s.ledger.presets(class).await.unwrap(),
        (default_presets(), false)
    );

    let school_presets = vec![preset("认真听讲", 1), preset("打扫卫生", 3)];
    let set_school = Command::SetPresets(PresetsUpdate {
        class_id: None,
        presets: Some(school_presets.clone()),
    });
    let refused = s.ledger.run(s.teacher.clone(), set_school.clone()).await;
    assert!(
        matches!(refused, Err(AppError::Forbidden { .. })),
        "{refused:?}"
    );
    s.ledger.run(s.admin.clone(), set_school).await.unwrap();
    assert_eq!(
        s.ledger.presets(class).await.unwrap(),
        (school_presets.clone(), false)
    );

    let own = vec![preset(" 朗读 ", 2), preset("说话", -1)];
    let set_own = |presets| {
        Command::SetPresets(PresetsUpdate {
            class_id: Some(s.class_id.clone()),
            presets,
        })
    };
    let refused = s
        .ledger
        .run(s.other_teacher.clone(), set_own(Some(own.clone())))
        .await;
    assert!(
        matches!(refused, Err(AppError::Forbidden { .. })),
        "{refused:?}"
    );
    let invalid = s
        .ledger
        .run(
            s.teacher.clone(),
            set_own(Some(vec![preset("ok", 1), preset("zero", 0)])),
        )
        .await;
    assert!(
        matches!(&invalid, Err(AppError::Validation { field, .. }) if field == "presets[1].points"),
        "{invalid:?}"
    );
    s.ledger
        .run(s.teacher.clone(), set_own(Some(own)))
        .await
        .unwrap();
    assert_eq!(
        s.ledger.presets(class).await.unwrap(),
        (vec![preset("朗读", 2), preset("说话", -1)], true)
    );
    // The other class is not affected.
    assert_eq!(
        s.ledger.presets(Some(&s.other_class_id)).await.unwrap().0,
        school_presets
    );

    // Back to the school's.
    s.ledger
        .run(s.teacher.clone(), set_own(None))
        .await
        .unwrap();
    assert_eq!(
        s.ledger.presets(class).await.unwrap(),
        (school_presets, false)
    );
}

#[tokio::test]
async fn accounts_are_renamed_deactivated_and_the_last_admin_is_kept() {
    let s = school(1).await;
    let teacher_id = s.teacher_id.clone();
    let update = |active: Option<bool>, name: Option<&str>| {
        Command::UpdateUser(UserUpdate {
            user_id: teacher_id.clone(),
            name: name.map(str::to_owned),
            password_hash: None,
            active,
        })
    };
    let refused = s
        .ledger
        .run(s.teacher.clone(), update(Some(false), None))
        .await;
    assert!(
        matches!(refused, Err(AppError::Forbidden { .. })),
        "{refused:?}"
    );

    s.ledger
        .run(s.admin.clone(), update(None, Some("王老师")))
        .await
        .unwrap();
    s.ledger
        .run(s.admin.clone(), update(Some(false), None))
        .await
        .unwrap();
    let user = s.ledger.user(&teacher_id).await.unwrap().unwrap();
    assert_eq!(user.name, "王老师");
    assert!(!user.active);

    // The only admin cannot deactivate themselves.
    let admin_id = match &s.admin {
        classpoints::ledger::Actor::User { id, .. } => id.clone(),
        other => panic!("{other:?}"),
    };
    let last = s
        .ledger
        .run(
            s.admin.clone(),
            Command::UpdateUser(UserUpdate {
                user_id: admin_id.clone(),
                name: None,
                password_hash: None,
                active: Some(false),
            }),
        )
        .await;
    assert!(matches!(last, Err(AppError::Conflict { .. })), "{last:?}");
    assert!(s.ledger.user(&admin_id).await.unwrap().unwrap().active);
}

/// What clashed, when creating a student or an account was refused as a conflict.
fn clash_of(refused: Result<Outcome, AppError>) -> Option<Clash> {
    match refused {
        Err(AppError::Conflict { clash, .. }) => clash,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_new_student_or_account_names_what_was_taken_its_id_or_its_number_or_username() {
    let s = school(1).await;
    let student = |id: Option<String>, number: &str| {
        Command::CreateStudent(NewStudent {
            id,
            class_id: s.class_id.clone(),
            name: "赵六".into(),
            student_no: Some(number.into()),
        })
    };
    s.ledger
        .run(s.admin.clone(), student(None, "7"))
        .await
        .unwrap();
    // An imported (chosen) id that is free, with a number another student has: the number,
    // worded with the number.
    let refused = s
        .ledger
        .run(s.admin.clone(), student(Some(new_id()), "7"))
        .await;
    assert_eq!(
        refused.as_ref().unwrap_err().to_string(),
        "conflict: student number 7 is taken in this class"
    );
    assert_eq!(clash_of(refused), Some(Clash::StudentNoTaken));
    // An id in use, with a free number: the id.
    let id_in_use = Some(s.students[0].clone());
    let refused = s.ledger.run(s.admin.clone(), student(id_in_use, "8")).await;
    assert_eq!(clash_of(refused), Some(Clash::IdTaken));

    let account = |id: Option<String>, username: &str| {
        Command::CreateUser(NewUser {
            id,
            username: username.into(),
            name: username.into(),
            role: Role::Teacher,
            password_hash: None,
        })
    };
    let refused = s
        .ledger
        .run(s.admin.clone(), account(Some(new_id()), "wang"))
        .await;
    assert_eq!(clash_of(refused), Some(Clash::UsernameTaken));
    let refused = s
        .ledger
        .run(s.admin.clone(), account(Some(s.teacher_id.clone()), "zhou"))
        .await;
    assert_eq!(clash_of(refused), Some(Clash::IdTaken));
    // Nothing refused was written.
    let students = s
        .ledger
        .students(&s.admin, Some(&s.class_id))
        .await
        .unwrap();
    assert_eq!(students.len(), 2);
}
