//! The ledger's hash chain: each row's hash covers the previous row's hash and every field of
//! the row, so an edit, insert or delete made behind the writer's back breaks the chain at that
//! row and every verification after it reports the break.

use crate::{error::AppError, model::ChainStatus};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
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

/// What verifications so far established.
#[derive(Debug, Clone, Default)]
pub struct ChainState {
    checkpoint: Option<Checkpoint>,
    /// A break found earlier. Incremental verifications only look at rows after the
    /// checkpoint, so without this a break found by a full verification would be forgotten
    /// by the next incremental one; it stands until a full verification passes.
    known_break: Option<ChainStatus>,
}

type StoredRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

/// Verifies the chain from the checkpoint (or from the start when `full` or when there is none
/// yet) and advances the checkpoint when everything matched.
pub async fn verify(
    pool: &SqlitePool,
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
    let status = verify_from(pool, &mut state.checkpoint, full).await?;
    state.known_break = (!status.ok).then(|| status.clone());
    Ok(status)
}

async fn verify_from(
    pool: &SqlitePool,
    checkpoint: &mut Option<Checkpoint>,
    full: bool,
) -> Result<ChainStatus, AppError> {
    let start = if full { None } else { checkpoint.clone() };
    let broken = |seq: i64, verified_rows: i64, message: String| ChainStatus {
        ok: false,
        verified_rows,
        full: start.is_none(),
        first_broken_seq: Some(seq),
        message: Some(message),
    };

    let (mut previous, mut after_seq) = match &start {
        Some(cp) => {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT hash FROM point_transactions WHERE seq = ?")
                    .bind(cp.seq)
                    .fetch_optional(pool)
                    .await?;
            if stored.as_deref() != Some(cp.hash.as_str()) {
                return Ok(broken(
                    cp.seq,
                    0,
                    format!(
                        "ledger row {} changed or vanished after it was verified",
                        cp.seq
                    ),
                ));
            }
            (cp.hash.clone(), cp.seq)
        }
        None => (GENESIS_HASH.to_owned(), 0),
    };

    let mut verified_rows = 0;
    loop {
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT seq, id, student_id, teacher_id, points_change, transaction_type, reason, \
             batch_id, reverses_id, created_at, hash \
             FROM point_transactions WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        let page_len = rows.len() as i64;
        for row in &rows {
            let expected = hash_row(
                &previous,
                &ChainRow {
                    seq: row.0,
                    id: &row.1,
                    student_id: &row.2,
                    teacher_id: &row.3,
                    points_change: row.4,
                    transaction_type: &row.5,
                    reason: &row.6,
                    batch_id: row.7.as_deref(),
                    reverses_id: row.8.as_deref(),
                    created_at: &row.9,
                },
            );
            if expected != row.10 {
                return Ok(broken(
                    row.0,
                    verified_rows,
                    format!(
                        "ledger row {} (id {}) does not match the hash chain: it or a row \
                         before it was changed, inserted or deleted outside the application",
                        row.0, row.1
                    ),
                ));
            }
            previous.clone_from(&row.10);
            after_seq = row.0;
            verified_rows += 1;
        }
        if page_len < PAGE {
            break;
        }
    }
    if after_seq > 0 {
        *checkpoint = Some(Checkpoint {
            seq: after_seq,
            hash: previous,
        });
    }
    Ok(ChainStatus {
        ok: true,
        verified_rows,
        full: start.is_none(),
        first_broken_seq: None,
        message: None,
    })
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
