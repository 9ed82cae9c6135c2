use crate::{error::AppError, model::SystemStatus};
use leptos::prelude::*;

/// Reports the database this server uses and the row count of every table (admins).
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    let (state, _) = super::session::admin().await?;
    let utc_offset_minutes = state.ledger.rules().await?.utc_offset_minutes;
    state.ledger.db().status(utc_offset_minutes).await
}
