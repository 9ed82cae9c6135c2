//! `GET /api/backup`: the whole database as one SQLite file, for admins who have no shell on
//! the server.

use super::{
    extract::{self, ApiQuery, Auth},
    replies::{BackupDownloads, ErrorReply, attachment},
};
use crate::{error::AppError, ledger::clock, server::AppState};
use axum::{
    Json,
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

/// The file's media type; the compression layer leaves it alone (see `crate::server`).
pub const SQLITE_MEDIA_TYPE: &str = "application/vnd.sqlite3";

/// Downloads listed per reply when `limit` is absent, and at most.
const DOWNLOADS_LISTED: i64 = 50;
const DOWNLOADS_LISTED_MAX: i64 = 1000;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadsQuery {
    /// Downloads per reply, 1 – 1000 (50 when absent), newest first.
    limit: Option<i64>,
}

/// Who downloaded a copy of the whole database, when, and how large it was (admin; newest
/// first). The same record the status page lists; a webhook, when configured, hears of each
/// download as it happens (`backup_downloaded`).
#[utoipa::path(get, path = "/api/backup/downloads", tag = "monitor", params(DownloadsQuery),
    responses((status = 200, body = BackupDownloads), (status = 400, body = ErrorReply),
        (status = 401, body = ErrorReply), (status = 403, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn downloads(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<DownloadsQuery>,
) -> Result<Json<BackupDownloads>, AppError> {
    auth.require_admin()?;
    let limit = extract::limit(query.limit, DOWNLOADS_LISTED, DOWNLOADS_LISTED_MAX)?;
    let downloads = state.ledger.db().backup_downloads(limit).await?;
    Ok(Json(BackupDownloads { downloads }))
}

/// A consistent copy of the whole database (admin), taken while the school works on: the same
/// file `classpoints backup` writes, named for the school's date; `classpoints restore` puts it
/// back. It holds accounts' password hashes, so keep it as safe as the server. Each download is
/// recorded (who, when, how many bytes) before the file is sent, listed on the status page and
/// by `GET /api/backup/downloads`, and posted to the webhook when one is configured.
#[utoipa::path(get, path = "/api/backup", tag = "monitor",
    responses((status = 200, content_type = "application/vnd.sqlite3", body = Vec<u8>,
            description = "the database file"),
        (status = 401, body = ErrorReply), (status = 403, body = ErrorReply),
        (status = 503, body = ErrorReply, description = "no room beside the database for the copy")),
    security(("bearer" = [])))]
pub async fn download(State(state): State<AppState>, auth: Auth) -> Result<Response, AppError> {
    auth.require_admin()?;
    let name = format!(
        "classpoints-{}",
        clock::school_date(
            chrono::Utc::now(),
            state.ledger.rules().await?.utc_offset_minutes
        )
    );
    let db = state.ledger.db().clone();
    let copy = tokio::task::spawn_blocking(move || {
        // Beside the database, where there is room for a database; the name is gone as soon as
        // the copy is open, so nothing is left behind however the download ends (and a copy a
        // killed server left is removed at the next start: `Db::remove_backup_leftovers`).
        let dir = db.directory();
        let no_room = |error: &dyn std::fmt::Display| AppError::Unavailable {
            message: format!(
                "no room for the backup's copy in {} ({error}); nothing was changed, \
                 try again once there is room",
                dir.display()
            ),
        };
        let temp = tempfile::Builder::new()
            .prefix(crate::db::BACKUP_COPY_PREFIX)
            .tempfile_in(dir)
            .map_err(|error| no_room(&error))?;
        // On failure `temp` goes, and the partial copy with it.
        db.backup_into(temp.path()).map_err(|error| {
            use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
            match error.sqlite_error_code() {
                Some(DiskFull | SystemIoFailure) => no_room(&error),
                _ => AppError::from(error),
            }
        })?;
        temp.reopen().map_err(|error| no_room(&error))
    })
    .await
    .map_err(|error| AppError::internal(format!("the backup task failed: {error}")))??;
    let length = copy
        .metadata()
        .map_err(|error| AppError::internal(format!("the backup's copy: {error}")))?
        .len();
    // No copy leaves without its record: a failure here answers with the error, and the copy
    // goes with its file.
    let outcome = state
        .ledger
        .run(
            auth.0.actor(),
            crate::ledger::Command::RecordBackupDownload { bytes: length },
        )
        .await?;
    let crate::ledger::Outcome::BackupDownloadRecorded(download) = outcome else {
        return Err(AppError::internal(
            "recording a backup download returned another outcome",
        ));
    };
    state.monitor.backup_downloaded(&download);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(copy),
    ));
    Ok((
        [
            (header::CONTENT_TYPE, SQLITE_MEDIA_TYPE.to_owned()),
            (header::CONTENT_DISPOSITION, attachment(&name, "db")),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        body,
    )
        .into_response())
}
