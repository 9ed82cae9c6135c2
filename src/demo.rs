//! First start: the first admin from the environment, and a demo school on an empty database
//! so a newcomer sees a filled board (server only).

use crate::{
    error::AppError,
    ledger::{
        Actor, BatchChange, BatchTarget, Command, Ledger, NewClass, NewGroup, NewStudent, NewUser,
        PointChange, access,
    },
    model::{Role, TransactionType},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

pub const DEMO_TEACHER_PASSWORD: &str = "classpoints-demo";
pub const DEMO_ADMIN_USERNAME: &str = "admin";
pub const DEMO_ADMIN_PASSWORD: &str = "classpoints-admin";

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN: [&str; 26] = [
    "子涵", "欣怡", "梓轩", "浩然", "雨桐", "宇航", "思琪", "俊杰", "诗涵", "博文", "一诺", "嘉怡",
    "子墨", "佳琪", "明轩", "若曦", "晨阳", "可馨", "天佑", "雅琳", "乐萱", "泽宇", "梦瑶", "皓轩",
    "语嫣", "景行",
];

async fn id_of(ledger: &Ledger, actor: Actor, command: Command) -> Result<String, AppError> {
    ledger.run(actor, command).await?.into_roster_id()
}

async fn create_user(
    ledger: &Ledger,
    username: &str,
    name: &str,
    role: Role,
    password: &str,
) -> Result<String, AppError> {
    let password_hash = access::hash_password_off_thread(password.to_owned()).await?;
    id_of(
        ledger,
        Actor::System,
        Command::CreateUser(NewUser {
            id: None,
            username: username.into(),
            name: name.into(),
            role,
            password_hash: Some(password_hash),
        }),
    )
    .await
}

/// Creates the admin named in the environment when no admin exists yet.
pub async fn bootstrap_admin(
    ledger: &Ledger,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<Option<String>, AppError> {
    let (Some(username), Some(password)) = (username, password) else {
        return Ok(None);
    };
    if access::has_admin(ledger.db().pool()).await? {
        return Ok(None);
    }
    create_user(ledger, username, username, Role::Admin, password).await?;
    tracing::info!(
        username,
        "created the first admin from CLASSPOINTS_ADMIN_USERNAME"
    );
    Ok(Some(username.to_owned()))
}

/// What a newcomer needs to sign in to the demo.
pub struct DemoSchool {
    pub teachers: Vec<&'static str>,
    pub admin: Option<&'static str>,
}

/// Fills an empty database (no classes) with two classes, their teachers and some history.
pub async fn seed_if_empty(ledger: &Ledger) -> Result<Option<DemoSchool>, AppError> {
    let has_classes: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM classes)")
        .fetch_one(ledger.db().pool())
        .await?;
    if has_classes {
        return Ok(None);
    }
    let admin = if access::has_admin(ledger.db().pool()).await? {
        None
    } else {
        create_user(
            ledger,
            DEMO_ADMIN_USERNAME,
            "管理员",
            Role::Admin,
            DEMO_ADMIN_PASSWORD,
        )
        .await?;
        Some(DEMO_ADMIN_USERNAME)
    };
    let mut rng = StdRng::seed_from_u64(2026);
    let classes = [
        ("wang", "王老师", "三年级一班", 26),
        ("li", "李老师", "三年级二班", 24),
    ];
    for (c, (username, teacher_name, class_name, size)) in classes.into_iter().enumerate() {
        let teacher_id = create_user(
            ledger,
            username,
            teacher_name,
            Role::Teacher,
            DEMO_TEACHER_PASSWORD,
        )
        .await?;
        let teacher = Actor::teacher(teacher_id);
        let class_id = id_of(
            ledger,
            teacher.clone(),
            Command::CreateClass(NewClass {
                id: None,
                name: class_name.into(),
                teacher_id: None,
            }),
        )
        .await?;
        let mut students = Vec::new();
        for i in 0..size {
            let name = format!(
                "{}{}",
                SURNAMES[(i * 7 + c * 3) % SURNAMES.len()],
                GIVEN[i % GIVEN.len()]
            );
            let id = id_of(
                ledger,
                teacher.clone(),
                Command::CreateStudent(NewStudent {
                    id: None,
                    class_id: class_id.clone(),
                    name,
                    student_no: Some(format!("{}{:02}", c + 1, i + 1)),
                }),
            )
            .await?;
            students.push(id);
        }
        for (g, group_name) in ["红队", "蓝队", "绿队", "黄队"].into_iter().enumerate() {
            let group_id = id_of(
                ledger,
                teacher.clone(),
                Command::CreateGroup(NewGroup {
                    class_id: class_id.clone(),
                    name: group_name.into(),
                    student_ids: vec![],
                }),
            )
            .await?;
            let members: Vec<String> = students.iter().skip(g).step_by(4).cloned().collect();
            ledger
                .run(
                    teacher.clone(),
                    Command::SetGroupMembers {
                        group_id,
                        student_ids: members,
                    },
                )
                .await?;
        }
        ledger
            .run(
                teacher.clone(),
                Command::ChangeMany(BatchChange {
                    target: BatchTarget::Class { class_id },
                    points_change: 2,
                    transaction_type: TransactionType::AddPoints,
                    reason: "开学第一天".into(),
                }),
            )
            .await?;
        let presets = crate::model::default_presets();
        for _ in 0..size * 4 {
            let preset = &presets[rng.random_range(0..presets.len())];
            let (reason, points) = (preset.reason.as_str(), preset.points);
            let student = &students[rng.random_range(0..students.len())];
            let change = Command::Change(PointChange {
                student_id: student.clone(),
                points_change: points,
                transaction_type: TransactionType::implied_by(points),
                reason: reason.into(),
            });
            // A deduction may meet the minimum-balance rule; the demo simply skips it.
            match ledger.run(teacher.clone(), change).await {
                Ok(_) | Err(AppError::RuleViolation { .. }) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(Some(DemoSchool {
        teachers: vec!["wang", "li"],
        admin,
    }))
}
