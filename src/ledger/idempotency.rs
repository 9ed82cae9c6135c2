//! Exactly-once requests: the `idempotency_keys` row a keyed request leaves behind, written
//! in the same transaction as its result, and the replay of that result for a repeat.
//!
//! Every keyed request inserts a row, so the row's cost is write cost. Rows are appended in
//! arrival order (a rowid table: one page at its end per group commit) and found through a
//! narrow unique index on (actor, key), the one place a random key (an API client's UUID)
//! lands at random; pruning walks the oldest rows by `seq` and needs no index of its own
//! (migration 0009, BENCHMARKS.md). Rows are kept small: rows of ~460 bytes once halved the
//! writer's throughput against unkeyed requests. So a ledger outcome is stored as a reference
//! to the rows it wrote (their `seq` range, which is contiguous because one writer appends
//! them in order) plus the balances it answered, and replays read the rows back; the
//! fingerprint keeps 128 bits of the SHA-256.

use super::{Command, Outcome, queries::TRANSACTION_COLUMNS};
use crate::{error::AppError, model::StudentBalance};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 200;

/// Hex characters of the SHA-256 a fingerprint keeps (128 bits: a different request under the
/// same key is told apart with certainty for any practical purpose).
const FINGERPRINT_HEX_LEN: usize = 32;

/// Refuses keys that are empty, too long or not visible ASCII.
pub(crate) fn validate_key(key: &str) -> Result<(), AppError> {
    check_key("idempotency_key", key.as_bytes())
}

/// The rule for a key, with the error naming `field` (the REST API names its header).
pub fn check_key(field: &str, key: &[u8]) -> Result<(), AppError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.iter().all(u8::is_ascii_graphic) {
        return Err(AppError::validation(
            field,
            format!("must be 1–{MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(())
}

/// Identifies a request's content: the same command always has the same fingerprint.
///
/// A new account's password arrives hashed with a fresh salt, different on every retry of the
/// same request, so the fingerprint only counts that one is set; the caller that hashed it
/// checks a replay's password against the stored hash (`access::password_matches`).
pub(crate) fn fingerprint(command: &Command) -> Result<String, AppError> {
    let without_salt = match command {
        Command::CreateUser(user) if user.password_hash.is_some() => {
            Some(Command::CreateUser(super::NewUser {
                password_hash: Some(String::new()),
                ..user.clone()
            }))
        }
        _ => None,
    };
    let bytes = serde_json::to_vec(without_salt.as_ref().unwrap_or(command))
        .map_err(|e| AppError::internal(format!("cannot fingerprint request: {e}")))?;
    let mut hex = format!("{:x}", Sha256::digest(bytes));
    hex.truncate(FINGERPRINT_HEX_LEN);
    Ok(hex)
}

/// The answer to a different request sent under a key already used.
pub fn key_reused(key: &str) -> AppError {
    AppError::Conflict {
        message: format!(
            "idempotency key {key} was already used for a different request; \
             use a new key for a new request"
        ),
        clash: None,
    }
}

/// What the `response` column holds. Untagged so that rows written before ledger outcomes
/// were stored by reference (a whole [`Outcome`]) still replay.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredResponse {
    /// A ledger outcome: rows `rows.0..=rows.1` by `seq`, and the balances as answered.
    LedgerRows {
        rows: (i64, i64),
        batch_id: Option<String>,
        balances: Vec<(String, i64)>,
    },
    /// Any other outcome, whole.
    Whole(Outcome),
}

/// The outcome stored under (`scope`, `key`): `Ok(None)` for a new key, the original outcome
/// for a repeat of the same request, a conflict for a different request under the same key.
pub(crate) fn replay(
    conn: &Connection,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Outcome>, AppError> {
    let stored: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT fingerprint, response FROM idempotency_keys WHERE actor_id = ? AND key = ?",
        )?
        .query_row(params![scope, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((stored_fingerprint, response)) = stored else {
        return Ok(None);
    };
    if stored_fingerprint != fingerprint {
        return Err(key_reused(key));
    }
    let unreadable = |what: String| {
        tracing::error!(key, what, "stored idempotent response cannot be read");
        AppError::internal("stored response cannot be read")
    };
    match serde_json::from_str(&response).map_err(|e| unreadable(e.to_string()))? {
        StoredResponse::Whole(outcome) => Ok(Some(outcome)),
        StoredResponse::LedgerRows {
            rows: (first, last),
            batch_id,
            balances,
        } => {
            let sql = format!(
                "SELECT {TRANSACTION_COLUMNS} FROM point_transactions \
                 WHERE seq BETWEEN ? AND ? ORDER BY seq"
            );
            let transactions = conn
                .prepare_cached(&sql)?
                .query_map([first, last], super::ops::stored_transaction)?
                .collect::<Result<Result<Vec<_>, _>, _>>()??;
            if transactions.len() as i64 != last - first + 1 {
                return Err(unreadable(format!(
                    "ledger rows {first}..={last} are missing"
                )));
            }
            let balances = balances
                .into_iter()
                .map(|(student_id, points)| StudentBalance { student_id, points })
                .collect();
            Ok(Some(Outcome::Points {
                batch_id,
                transactions,
                balances,
            }))
        }
    }
}

/// Records `outcome` under (`scope`, `key`). `seq_range` holds the last ledger `seq` before and
/// after the request ran: when the outcome's rows are exactly the ones in between (always, as
/// the writer appends them), they are stored by reference; otherwise the outcome is stored whole.
pub(crate) fn remember(
    conn: &Connection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    outcome: &Outcome,
    (seq_before, seq_after): (i64, i64),
    now: &str,
) -> Result<(), AppError> {
    let stored = match outcome {
        Outcome::Points {
            batch_id,
            transactions,
            balances,
        } if !transactions.is_empty() && seq_after - seq_before == transactions.len() as i64 => {
            StoredResponse::LedgerRows {
                rows: (seq_before + 1, seq_after),
                batch_id: batch_id.clone(),
                balances: balances
                    .iter()
                    .map(|b| (b.student_id.clone(), b.points))
                    .collect(),
            }
        }
        other => StoredResponse::Whole(other.clone()),
    };
    let response = serde_json::to_string(&stored)
        .map_err(|e| AppError::internal(format!("cannot store response: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (actor_id, key, fingerprint, response, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![scope, key, fingerprint, response, now])?;
    Ok(())
}

/// Deletes up to `limit` keys recorded before `before` (a timestamp as the ledger writes
/// them), oldest first; returns how many went. Bounded so one call never holds the writer for
/// long however far behind the pruning is: it reads at most the `limit` oldest rows (by `seq`,
/// the order they were recorded in) and deletes them up to the first that is not old enough.
pub(crate) fn forget_before(
    conn: &Connection,
    before: &str,
    limit: u32,
) -> Result<usize, AppError> {
    Ok(conn
        .prepare_cached(
            "WITH oldest AS (SELECT seq, created_at FROM idempotency_keys ORDER BY seq LIMIT ?1) \
             DELETE FROM idempotency_keys WHERE seq <= coalesce( \
                 (SELECT min(seq) - 1 FROM oldest WHERE created_at >= ?2), \
                 (SELECT max(seq) FROM oldest))",
        )?
        .execute(params![limit, before])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PointTransaction, TransactionType};

    #[test]
    fn responses_stored_before_rows_were_referenced_still_read() {
        let outcome = Outcome::Points {
            batch_id: None,
            transactions: vec![PointTransaction {
                id: "0000000000000aa".into(),
                student_id: "0000000000000bb".into(),
                teacher_id: "0000000000000cc".into(),
                points_change: 2,
                transaction_type: TransactionType::AddPoints,
                reason: String::new(),
                batch_id: None,
                reverses_id: None,
                created_at: "2026-01-01T00:00:00.000Z".into(),
            }],
            balances: vec![StudentBalance {
                student_id: "0000000000000bb".into(),
                points: 7,
            }],
        };
        let old_row = serde_json::to_string(&outcome).unwrap();
        match serde_json::from_str::<StoredResponse>(&old_row).unwrap() {
            StoredResponse::Whole(read) => assert_eq!(read, outcome),
            other => panic!("an old row read as {other:?}"),
        }
        let new_row =
            r#"{"rows":[4,5],"batch_id":"0000000000000dd","balances":[["0000000000000bb",7]]}"#;
        assert!(matches!(
            serde_json::from_str::<StoredResponse>(new_row).unwrap(),
            StoredResponse::LedgerRows { rows: (4, 5), .. }
        ));
    }
}
