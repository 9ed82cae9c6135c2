//! Commands on the local database: accounts, tokens, backup, restore, export.
//! They open the same SQLite file a running server uses; SQLite's locking keeps both safe.

use crate::{
    db::Db,
    ledger::{
        Actor, Command, Ledger, NewUser,
        access::{self, NewToken, TokenKind},
    },
    model::Role,
};
use anyhow::{Context, bail};
use std::{io::BufRead, path::Path};

async fn open(url: &str) -> anyhow::Result<Ledger> {
    Ok(Ledger::start(Db::open(url).await?).await?)
}

pub async fn user_add(
    url: &str,
    username: &str,
    name: Option<&str>,
    role: &str,
    password: Option<String>,
) -> anyhow::Result<()> {
    let password = match password {
        Some(p) => p,
        None => {
            eprintln!("password for {username} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let role = Role::parse(role).context("role must be teacher or admin")?;
    let password_hash = access::hash_password(&password)?;
    let ledger = open(url).await?;
    let id = ledger
        .run(
            Actor::System,
            Command::CreateUser(NewUser {
                id: None,
                username: username.to_owned(),
                name: name.unwrap_or(username).to_owned(),
                role,
                password_hash: Some(password_hash),
            }),
        )
        .await?
        .into_roster_id()?;
    println!("created {} {username} ({id})", role.as_str());
    Ok(())
}

pub async fn token_create(url: &str, username: &str, name: &str) -> anyhow::Result<()> {
    let ledger = open(url).await?;
    let user = ledger
        .users()
        .await?
        .into_iter()
        .find(|u| u.username.eq_ignore_ascii_case(username))
        .with_context(|| format!("no user {username}"))?;
    let (token, token_hash) = access::new_token();
    ledger
        .run(
            Actor::System,
            Command::IssueToken(NewToken {
                user_id: user.id,
                token_hash,
                kind: TokenKind::Api,
                name: name.to_owned(),
                expires_at: None,
            }),
        )
        .await?;
    // The token alone on stdout, so scripts can capture it.
    println!("{token}");
    eprintln!(
        "token for {username} ({}); it is not shown again",
        user.role.as_str()
    );
    Ok(())
}

/// Row counts and integrity of a database file, for backup and restore reports.
fn inspect(path: &Path) -> anyhow::Result<(i64, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        bail!(
            "{} failed SQLite's integrity check: {integrity}",
            path.display()
        );
    }
    let counts = conn
        .query_row(
            "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM point_transactions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .with_context(|| format!("{} is not a classpoints database", path.display()))?;
    Ok(counts)
}

pub async fn backup(url: &str, file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        bail!("{} already exists; choose a new file", file.display());
    }
    let db = Db::open(url).await?;
    let source = db.connect_writer()?;
    let target = file.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        // SQLite's online backup: a consistent snapshot while writers carry on.
        source.backup(rusqlite::DatabaseName::Main, &target, None)?;
        Ok(())
    })
    .await??;
    let (students, transactions) = inspect(file)?;
    println!(
        "backed up {} to {} ({students} students, {transactions} transactions)",
        db.path().display(),
        file.display()
    );
    Ok(())
}

pub async fn restore(url: &str, file: &Path, force: bool) -> anyhow::Result<()> {
    let (students, transactions) = inspect(file)?;
    let db = Db::open(url).await?;
    let current: i64 = sqlx::query_scalar("SELECT count(*) FROM point_transactions")
        .fetch_one(db.pool())
        .await?;
    if current > 0 && !force {
        bail!(
            "{} holds {current} transactions; pass --force to replace them with the backup",
            db.path().display()
        );
    }
    let mut target = db.connect_writer()?;
    let source = file.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        target.restore(
            rusqlite::DatabaseName::Main,
            &source,
            None::<fn(rusqlite::backup::Progress)>,
        )?;
        Ok(())
    })
    .await??;
    // Bring an older backup's schema up to date, then prove the restored ledger.
    let ledger = open(url).await?;
    let report = ledger.check(true).await?;
    println!(
        "restored {} from {} ({students} students, {transactions} transactions); status {}",
        db.path().display(),
        file.display(),
        report.status.as_str()
    );
    Ok(())
}

pub async fn export(url: &str, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let db = Db::open(url).await?;
    let pool = db.pool();
    let balances: Vec<(String, String, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT s.id, s.class_id, c.name, s.name, s.student_no, COALESCE(sp.points, 0) \
         FROM students s JOIN classes c ON c.id = s.class_id \
         LEFT JOIN student_points sp ON sp.student_id = s.id ORDER BY c.name, s.name",
    )
    .fetch_all(pool)
    .await?;
    let mut writer = csv::Writer::from_path(out.join("student_points.csv"))?;
    writer.write_record([
        "student_id",
        "class_id",
        "class_name",
        "name",
        "student_no",
        "points",
    ])?;
    for (id, class_id, class_name, name, no, points) in &balances {
        writer.write_record([
            id,
            class_id,
            class_name,
            name,
            no.as_deref().unwrap_or(""),
            &points.to_string(),
        ])?;
    }
    writer.flush()?;

    let mut writer = csv::Writer::from_path(out.join("point_transactions.csv"))?;
    let ledger = Ledger::start(db.clone()).await?;
    let rows = ledger
        .for_each_transaction(|row| {
            writer
                .serialize(&row)
                .map_err(|e| crate::error::AppError::internal(format!("cannot write CSV: {e}")))
        })
        .await?;
    writer.flush()?;
    println!(
        "wrote {} balances and {} transactions to {}",
        balances.len(),
        rows,
        out.display()
    );
    Ok(())
}
