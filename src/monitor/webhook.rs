//! Events sent to an outside system (alerts raised and resolved, backup downloads): a JSON POST
//! to a configured URL, retried with backoff.

use std::time::Duration;

/// Tries after the first attempt, with exponential backoff from [`FIRST_BACKOFF`].
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    pub fn new(url: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self { client, url }
    }

    /// Posts `{"event": event, subject: {...}}` in the background (`"alert_raised"` with an
    /// `"alert"`, say); failures are logged, never passed to whatever the event is about.
    pub fn send(&self, event: &'static str, subject: &'static str, value: impl serde::Serialize) {
        let hook = self.clone();
        let body = serde_json::json!({ "event": event, subject: value });
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            for attempt in 0..=RETRIES {
                let result = hook.client.post(&hook.url).json(&body).send().await;
                match result {
                    Ok(response) if response.status().is_success() => return,
                    Ok(response) => {
                        tracing::warn!(url = %hook.url, status = %response.status(), attempt, "webhook refused")
                    }
                    Err(error) => {
                        tracing::warn!(url = %hook.url, %error, attempt, "webhook failed")
                    }
                }
                if attempt < RETRIES {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
            tracing::error!(url = %hook.url, "webhook gave up after {RETRIES} retries");
        });
    }
}
