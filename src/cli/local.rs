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

async fn user_named(ledger: &Ledger, username: &str) -> anyhow::Result<crate::model::UserInfo> {
    ledger
        .users()
        .await?
        .into_iter()
        .find(|u| u.username.eq_ignore_ascii_case(username))
        .with_context(|| format!("no user {username}"))
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
    let user = user_named(&ledger, username).await?;
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
    let (source, target) = (db.clone(), file.to_owned());
    if let Err(error) = tokio::task::spawn_blocking(move || source.backup_into(&target)).await? {
        // Half a copy is no backup: leave nothing that could be restored by mistake.
        let _ = std::fs::remove_file(file);
        return Err(error).context("backup failed; no file was left");
    }
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
    let _no_server =
        db.lock_as_server("stop it before restoring: the backup would replace the data under it")?;
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

pub async fn import_roster(
    url: &str,
    csv_file: &Path,
    teacher: Option<&str>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(csv_file)
        .with_context(|| format!("cannot read {}", csv_file.display()))?;
    let ledger = open(url).await?;
    let actor = match teacher {
        None => Actor::System,
        Some(username) => {
            let user = user_named(&ledger, username).await?;
            Actor::User {
                id: user.id,
                role: user.role,
            }
        }
    };
    let report = crate::ledger::import::import_roster(&ledger, &actor, &text, false).await?;
    println!(
        "imported {} students; created classes: {}",
        report.students_created,
        if report.classes_created.is_empty() {
            "none".to_owned()
        } else {
            report.classes_created.join(", ")
        }
    );
    for error in &report.errors {
        // The line's class and name, where it could be read, say whom a refusal is about.
        let read: Vec<&str> = error
            .row
            .iter()
            .flat_map(|row| [row.class.as_str(), row.name.as_str()])
            .filter(|value| !value.is_empty())
            .collect();
        if read.is_empty() {
            println!("  line {}: {}", error.line, error.message);
        } else {
            println!(
                "  line {} ({}): {}",
                error.line,
                read.join(", "),
                error.message
            );
        }
    }
    if report.errors.is_empty() {
        Ok(())
    } else {
        bail!("{} line(s) were not imported", report.errors.len())
    }
}

/// Finds `<stem>.json` or `<stem>.csv` in `dir` and reads it as a list of JSON objects.
fn read_export(dir: &Path, stem: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let json = dir.join(format!("{stem}.json"));
    if json.exists() {
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)
            .with_context(|| format!("{} is not JSON", json.display()))?;
        // A plain array, or an API page ({"items": [...]}).
        let items = value.get("items").cloned().unwrap_or(value);
        return match items {
            serde_json::Value::Array(items) => Ok(items),
            _ => bail!("{} must hold an array of records", json.display()),
        };
    }
    let csv_path = dir.join(format!("{stem}.csv"));
    let mut reader = csv::Reader::from_path(&csv_path).with_context(|| {
        format!(
            "found neither {} nor {}",
            json.display(),
            csv_path.display()
        )
    })?;
    let headers = reader.headers()?.clone();
    let mut items = Vec::new();
    for record in reader.records() {
        let record = record?;
        let object = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_owned(), serde_json::Value::from(v)))
            .collect();
        items.push(serde_json::Value::Object(object));
    }
    Ok(items)
}

fn text_of(item: &serde_json::Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match item.get(*k) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn number_of(
    item: &serde_json::Value,
    keys: &[&str],
    what: &str,
    line: usize,
) -> anyhow::Result<i64> {
    let text =
        text_of(item, keys).with_context(|| format!("{what} record {line}: no {}", keys[0]))?;
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.fract() == 0.0)
        .map(|f| f as i64)
        .with_context(|| {
            format!(
                "{what} record {line}: {} {text:?} is not a whole number",
                keys[0]
            )
        })
}

/// Reads the old system's exports into the ledger's import format.
pub fn load_legacy(dir: &Path) -> anyhow::Result<crate::ledger::import::LegacyImport> {
    use crate::ledger::import::{LegacyImport, LegacyTransaction};
    let mut transactions = Vec::new();
    for (n, item) in read_export(dir, "point_transactions")?.iter().enumerate() {
        let line = n + 1;
        let field = |keys: &[&str]| text_of(item, keys);
        let required = |keys: &[&str]| {
            field(keys).with_context(|| format!("point_transactions record {line}: no {}", keys[0]))
        };
        // The old system wrote "2024-01-15 08:30:00.123Z"; RFC 3339 wants a T.
        let created = required(&["created_at", "created"])?;
        let created_at = match created.split_once(' ') {
            Some((date, time)) if !created.contains('T') => format!("{date}T{time}"),
            _ => created,
        };
        transactions.push(LegacyTransaction {
            id: required(&["id"])?,
            student_id: required(&["student_id", "student"])?,
            teacher_id: required(&["teacher_id", "teacher"])?,
            points_change: number_of(item, &["points_change"], "point_transactions", line)?,
            transaction_type: field(&["transaction_type", "type"])
                .unwrap_or_else(|| "legacy".into()),
            reason: field(&["reason"]).unwrap_or_default(),
            created_at,
        });
    }
    let mut balances = std::collections::BTreeMap::new();
    for (n, item) in read_export(dir, "student_points")?.iter().enumerate() {
        let student = text_of(item, &["student_id", "student"])
            .with_context(|| format!("student_points record {}: no student_id", n + 1))?;
        balances.insert(
            student,
            number_of(item, &["points"], "student_points", n + 1)?,
        );
    }
    Ok(LegacyImport {
        transactions,
        balances,
    })
}

pub async fn import_legacy(url: &str, dir: &Path) -> anyhow::Result<()> {
    let import = load_legacy(dir)?;
    let ledger = open(url).await?;
    let outcome = ledger
        .run(Actor::System, Command::ImportLegacy(import))
        .await?;
    let crate::ledger::Outcome::Imported { report } = outcome else {
        bail!("unexpected outcome {outcome:?}");
    };
    println!(
        "imported {} transactions ({} students and {} teachers were new)",
        report.transactions, report.students_created, report.teachers_created
    );
    if report.disagreements.is_empty() {
        println!("every old balance matched the old ledger");
    } else {
        println!(
            "{} old balance(s) disagreed with the old ledger; balances now follow the ledger:",
            report.disagreements.len()
        );
        for d in &report.disagreements {
            println!(
                "  {}  old {}  ledger {}  difference {:+}",
                d.student_id,
                d.old_points,
                d.ledger_points,
                d.old_points - d.ledger_points
            );
        }
    }
    Ok(())
}
