//! The ledger's hash chain: each row's hash covers the previous row's hash and every field of
//! the row, so an edit, insert or delete made behind the writer's back breaks the chain at that
//! row and every verification after it reports the break.

use crate::{db::Db, error::AppError, model::ChainStatus};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// The "previous hash" of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rows verified per query, so a full verification never holds one read transaction for long.
const PAGE: i64 = 20_000;

/// The fields a hash covers, in ledger order.
#[derive(Debug, Clone, Copy)]
pub struct ChainRow<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub student_id: &'a str,
    pub teacher_id: &'a str,
    pub points_change: i64,
    pub transaction_type: &'a str,
    pub reason: &'a str,
    pub batch_id: Option<&'a str>,
    pub reverses_id: Option<&'a str>,
    pub created_at: &'a str,
}

/// SHA-256 over the previous hash and the row's fields, each length-prefixed so no two
/// different rows encode to the same bytes. Lowercase hex.
pub fn hash_row(previous: &str, row: &ChainRow<'_>) -> String {
    fn field(hasher: &mut Sha256, value: Option<&[u8]>) {
        match value {
            Some(bytes) => {
                hasher.update((bytes.len() as u32).to_be_bytes());
                hasher.update(bytes);
            }
            None => hasher.update(u32::MAX.to_be_bytes()),
        }
    }
    let mut hasher = Sha256::new();
    field(&mut hasher, Some(previous.as_bytes()));
    field(&mut hasher, Some(&row.seq.to_be_bytes()));
    field(&mut hasher, Some(row.id.as_bytes()));
    field(&mut hasher, Some(row.student_id.as_bytes()));
    field(&mut hasher, Some(row.teacher_id.as_bytes()));
    field(&mut hasher, Some(&row.points_change.to_be_bytes()));
    field(&mut hasher, Some(row.transaction_type.as_bytes()));
    field(&mut hasher, Some(row.reason.as_bytes()));
    field(&mut hasher, row.batch_id.map(str::as_bytes));
    field(&mut hasher, row.reverses_id.map(str::as_bytes));
    field(&mut hasher, Some(row.created_at.as_bytes()));
    format!("{:x}", hasher.finalize())
}

/// The last row a verification found intact; the next verification starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

/// What verifications so far established, and the connection they read through.
#[derive(Debug, Default)]
pub struct ChainState {
    checkpoint: Option<Checkpoint>,
    /// Opened by the first verification and kept: the monitor verifies on every check.
    reader: Option<rusqlite::Connection>,
    /// A break found earlier. Incremental verifications only look at rows after the
    /// checkpoint, so without this a break found by a full verification would be forgotten
    /// by the next incremental one; it stands until a full verification passes.
    known_break: Option<ChainStatus>,
}

/// Verifies the chain from the checkpoint (or from the start when `full` or when there is none
/// yet) and advances the checkpoint when everything matched.
///
/// Runs on a blocking thread with its own read-only connection: row by row through sqlx it
/// took ~15 µs a row (15 s for a million rows); synchronous reads that borrow each row's text
/// take a fraction of that (BENCHMARKS.md).
pub async fn verify(
    db: &Db,
    state: &Mutex<ChainState>,
    full: bool,
) -> Result<ChainStatus, AppError> {
    let mut state = state.lock().await;
    if let (false, Some(known)) = (full, &state.known_break) {
        return Ok(ChainStatus {
            verified_rows: 0,
            full: false,
            ..known.clone()
        });
    }
    let conn = match state.reader.take() {
        Some(conn) => conn,
        None => db
            .connect_reader()
            .map_err(|e| AppError::internal(format!("cannot open a reader for the chain: {e}")))?,
    };
    let start = if full { None } else { state.checkpoint.clone() };
    let (conn, verified) = tokio::task::spawn_blocking(move || {
        let verified = verify_from(&conn, start);
        (conn, verified)
    })
    .await
    .map_err(|e| AppError::internal(format!("chain verification stopped: {e}")))?;
    state.reader = Some(conn);
    let (status, reached) = verified?;
    if reached.is_some() {
        state.checkpoint = reached;
    }
    state.known_break = (!status.ok).then(|| status.clone());
    Ok(status)
}

/// A text column, borrowed from the row.
fn text<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(column)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn required<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> rusqlite::Result<&'r str> {
    text(row, column)?.ok_or(rusqlite::Error::InvalidColumnType(
        column,
        "NULL".into(),
        rusqlite::types::Type::Null,
    ))
}

/// The verification itself: the status, and the new checkpoint when rows were verified.
fn verify_from(
    conn: &rusqlite::Connection,
    start: Option<Checkpoint>,
) -> Result<(ChainStatus, Option<Checkpoint>), AppError> {
    let full = start.is_none();
    let broken = |seq: i64, verified_rows: i64, message: String| ChainStatus {
        ok: false,
        verified_rows,
        full,
        first_broken_seq: Some(seq),
        message: Some(message),
    };

    let (mut previous, mut after_seq) = match &start {
        Some(cp) => {
            let stored: Option<String> = conn
                .query_row(
                    "SELECT hash FROM point_transactions WHERE seq = ?",
                    [cp.seq],
                    |r| r.get(0),
                )
                .optional()?;
            if stored.as_deref() != Some(cp.hash.as_str()) {
                let message = format!(
                    "ledger row {} changed or vanished after it was verified",
                    cp.seq
                );
                return Ok((broken(cp.seq, 0, message), None));
            }
            (cp.hash.clone(), cp.seq)
        }
        None => (GENESIS_HASH.to_owned(), 0),
    };

    let mut statement = conn.prepare(
        "SELECT seq, id, student_id, teacher_id, points_change, transaction_type, reason, \
         batch_id, reverses_id, created_at, hash \
         FROM point_transactions WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let mut verified_rows = 0;
    // Each page is its own read transaction, so a long verification never holds one open.
    loop {
        let mut rows = statement.query(params![after_seq, PAGE])?;
        let mut page_len = 0;
        while let Some(row) = rows.next()? {
            page_len += 1;
            let seq: i64 = row.get(0)?;
            let id = required(row, 1)?;
            let expected = hash_row(
                &previous,
                &ChainRow {
                    seq,
                    id,
                    student_id: required(row, 2)?,
                    teacher_id: required(row, 3)?,
                    points_change: row.get(4)?,
                    transaction_type: required(row, 5)?,
                    reason: required(row, 6)?,
                    batch_id: text(row, 7)?,
                    reverses_id: text(row, 8)?,
                    created_at: required(row, 9)?,
                },
            );
            let stored = required(row, 10)?;
            if expected != stored {
                let message = format!(
                    "ledger row {seq} (id {id}) does not match the hash chain: it or a row \
                     before it was changed, inserted or deleted outside the application"
                );
                return Ok((broken(seq, verified_rows, message), None));
            }
            previous.clear();
            previous.push_str(stored);
            after_seq = seq;
            verified_rows += 1;
        }
        if page_len < PAGE {
            break;
        }
    }
    let reached = (after_seq > 0).then_some(Checkpoint {
        seq: after_seq,
        hash: previous,
    });
    let status = ChainStatus {
        ok: true,
        verified_rows,
        full,
        first_broken_seq: None,
        message: None,
    };
    Ok((status, reached))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ChainRow<'static> {
        ChainRow {
            seq: 1,
            id: "aaaaaaaaaaaaaaa",
            student_id: "bbbbbbbbbbbbbbb",
            teacher_id: "ccccccccccccccc",
            points_change: 5,
            transaction_type: "add_points",
            reason: "x",
            batch_id: None,
            reverses_id: None,
            created_at: "2026-01-01T00:00:00.000Z",
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = hash_row(GENESIS_HASH, &row());
        assert_eq!(base.len(), 64);
        assert_eq!(base, hash_row(GENESIS_HASH, &row()), "deterministic");
        let variants = [
            hash_row(&base, &row()),
            hash_row(GENESIS_HASH, &ChainRow { seq: 2, ..row() }),
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    points_change: 6,
                    ..row()
                },
            ),
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    reason: "y",
                    ..row()
                },
            ),
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    batch_id: Some(""),
                    ..row()
                },
            ),
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    reverses_id: Some("r"),
                    ..row()
                },
            ),
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    created_at: "2026-01-01T00:00:00.001Z",
                    ..row()
                },
            ),
            // Moving a byte between adjacent fields must not collide.
            hash_row(
                GENESIS_HASH,
                &ChainRow {
                    transaction_type: "add_point",
                    reason: "sx",
                    ..row()
                },
            ),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }
}
