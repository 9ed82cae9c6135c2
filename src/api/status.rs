use crate::{error::AppError, model::SystemStatus};
use leptos::prelude::*;

/// Reports the database this server uses and the row count of every table (admins).
#[server(prefix = "/rpc", output = crate::api::Reply)]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    let (state, _) = super::session::admin().await?;
    state.ledger.db().status().await
}
