//! The monitoring service (server only): runs the consistency check in the background and on
//! demand, repairs through the writer when auto-fix is on, records every run, raises and
//! resolves alerts (logged, pushed live, optionally POSTed to a webhook), and keeps the
//! metrics behind `/metrics` and the monitor page.

pub mod alerts;
pub mod metrics;
mod webhook;
pub mod window;

use crate::{
    config::WatchArgs,
    error::AppError,
    ledger::{Actor, Command, Ledger, Outcome, RepairScope, monitor_log::RunRecord},
    model::{
        ConsistencyReport, InconsistentStudent, MonitorOverview, MonitorSettings, RunSummary,
        WriterFigures,
    },
};
use alerts::Thresholds;
use metrics::Metrics;
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

/// Most inconsistent students listed on the monitor page (the count is always complete).
const LISTED_INCONSISTENCIES: usize = 200;

/// What one run found and did.
pub struct RunOutcome {
    /// The check before any repair.
    pub found: ConsistencyReport,
    /// The check after the repair (the same as `found` when nothing was repaired).
    pub after: ConsistencyReport,
    pub summary: RunSummary,
}

#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    metrics: Arc<Metrics>,
    settings: MonitorSettings,
    thresholds: Thresholds,
    webhook: Option<webhook::Webhook>,
}

impl Monitor {
    pub fn new(ledger: Ledger, metrics: Arc<Metrics>, args: &WatchArgs) -> Self {
        let settings = MonitorSettings {
            interval_seconds: args.monitor_interval_seconds,
            auto_fix: args.auto_fix,
            error_rate_percent: args.alert_error_rate_percent,
            p95_ms: args.alert_p95_ms,
            webhook: args.alert_webhook_url.is_some(),
        };
        let thresholds = Thresholds {
            error_rate_percent: args.alert_error_rate_percent,
            p95_ms: args.alert_p95_ms,
            min_requests: args.alert_min_requests,
        };
        Self {
            inner: Arc::new(Inner {
                ledger,
                metrics,
                settings,
                thresholds,
                webhook: args.alert_webhook_url.clone().map(webhook::Webhook::new),
            }),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn settings(&self) -> &MonitorSettings {
        &self.inner.settings
    }

    /// A copy of the whole database left the server (after its download was recorded): logged,
    /// counted, and posted to the webhook as `{"event": "backup_downloaded", "backup": {...}}`,
    /// since the file holds every account's password hash.
    pub fn backup_downloaded(&self, download: &crate::model::BackupDownload) {
        tracing::info!(
            user_id = %download.user_id,
            name = %download.taken_by,
            bytes = download.bytes,
            "backup downloaded"
        );
        self.inner.metrics.record_backup_download();
        if let Some(hook) = &self.inner.webhook {
            hook.send("backup_downloaded", "backup", download);
        }
    }

    /// One run: check (re-hashing the whole chain when `full_chain`), repair when `fix` and
    /// something drifted, check again, record the run, and raise or resolve alerts by what was
    /// found.
    pub async fn run(
        &self,
        actor: Actor,
        trigger: &str,
        fix: bool,
        full_chain: bool,
    ) -> Result<RunOutcome, AppError> {
        let Inner {
            ledger,
            metrics,
            thresholds,
            ..
        } = &*self.inner;
        let started_at = crate::ledger::clock::now();
        let started = Instant::now();
        let found = ledger.check(full_chain).await?;
        let drifted = found.inconsistent_students > 0 || !found.orphan_balances.is_empty();
        let (repaired, after) = if fix && drifted {
            let outcome = ledger
                .run(
                    actor.clone(),
                    Command::Repair(RepairScope {
                        student_id: None,
                        reason: format!("auto-fix ({trigger} monitor run)"),
                    }),
                )
                .await?;
            let Outcome::Repaired { repaired } = outcome else {
                return Err(AppError::internal("repair returned another outcome"));
            };
            (repaired, ledger.check(false).await?)
        } else {
            (vec![], found.clone())
        };
        let traffic = metrics
            .traffic
            .summary(window::current_minute(), alerts::TRAFFIC_MINUTES);
        let conditions = alerts::conditions(&found, repaired.len(), fix, &traffic, thresholds);
        let record = RunRecord {
            started_at,
            duration_micros: started.elapsed().as_micros() as i64,
            trigger: trigger.to_owned(),
            status: found.status,
            total_students: found.total_students,
            inconsistent_students: found.inconsistent_students,
            total_transactions: found.total_transactions,
            chain_ok: found.chain.ok,
            fixed: repaired.len() as i64,
        };
        let outcome = ledger
            .run(
                actor,
                Command::RecordMonitorRun {
                    run: record.clone(),
                    alerts: conditions,
                },
            )
            .await?;
        let Outcome::Monitored { run_id, changes } = outcome else {
            return Err(AppError::internal(
                "recording a run returned another outcome",
            ));
        };
        for alert in &changes.raised {
            tracing::warn!(
                kind = alert.kind.as_str(),
                severity = alert.severity.as_str(),
                "alert raised: {}",
                alert.message
            );
            if let Some(hook) = &self.inner.webhook {
                hook.send("alert_raised", "alert", alert);
            }
        }
        for alert in &changes.resolved {
            tracing::info!(
                kind = alert.kind.as_str(),
                "alert resolved: {}",
                alert.message
            );
            if let Some(hook) = &self.inner.webhook {
                hook.send("alert_resolved", "alert", alert);
            }
        }
        let open = ledger.alerts(true, 1000).await?.len();
        metrics.record_check(&found, open);
        let run = crate::model::MonitorRun {
            id: run_id,
            started_at: record.started_at,
            duration_ms: record.duration_micros as f64 / 1000.0,
            trigger: record.trigger,
            status: record.status,
            total_students: record.total_students,
            inconsistent_students: record.inconsistent_students,
            total_transactions: record.total_transactions,
            chain_ok: record.chain_ok,
            fixed: record.fixed,
        };
        Ok(RunOutcome {
            found,
            after,
            summary: RunSummary {
                run,
                repaired,
                raised: changes.raised,
                resolved: changes.resolved,
            },
        })
    }

    /// Starts the background monitor (unless its interval is 0): a run at start, then one
    /// per interval, repairing when auto-fix is on. Failures are logged and the loop goes on.
    pub fn spawn_background(&self) {
        let seconds = self.inner.settings.interval_seconds;
        if seconds == 0 {
            tracing::info!("background monitor is off (interval 0)");
            return;
        }
        let monitor = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(seconds));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let fix = monitor.inner.settings.auto_fix;
                match monitor.run(Actor::System, "background", fix, false).await {
                    Ok(outcome) if outcome.found.status != crate::model::HealthStatus::Healthy => {
                        tracing::warn!(
                            status = outcome.found.status.as_str(),
                            inconsistent = outcome.found.inconsistent_students,
                            repaired = outcome.summary.repaired.len(),
                            "background check found problems"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(%error, "background check failed"),
                }
            }
        });
    }

    /// Everything the monitor page shows. Reads only: a fresh check, the logs, the traffic.
    pub async fn overview(&self) -> Result<MonitorOverview, AppError> {
        let Inner {
            ledger, metrics, ..
        } = &*self.inner;
        let report = ledger.check(false).await?;
        let listed: Vec<String> = report
            .inconsistencies
            .iter()
            .take(LISTED_INCONSISTENCIES)
            .map(|i| i.student_id.clone())
            .collect();
        let labels = ledger.student_labels(&listed).await?;
        let inconsistent = report
            .inconsistencies
            .iter()
            .take(LISTED_INCONSISTENCIES)
            .map(|i| {
                let (name, class_name) = labels.get(&i.student_id).cloned().unwrap_or_default();
                InconsistentStudent {
                    inconsistency: i.clone(),
                    name,
                    class_name,
                }
            })
            .collect();
        let stats = ledger.stats();
        let (commits, requests) = (stats.batches.load(Relaxed), stats.requests.load(Relaxed));
        Ok(MonitorOverview {
            inconsistent,
            runs: ledger.monitor_runs(20).await?,
            open_alerts: ledger.alerts(true, 50).await?,
            recent_alerts: ledger.alerts(false, 20).await?,
            repairs: ledger.repairs(20).await?,
            traffic: metrics.traffic.minutes(window::current_minute()),
            settings: self.inner.settings.clone(),
            utc_offset_minutes: ledger.rules().await?.utc_offset_minutes,
            writer: WriterFigures {
                queue_depth: ledger.queue_depth(),
                commits,
                requests,
                ledger_rows: stats.ledger_rows(),
                requests_per_commit: if commits == 0 {
                    0.0
                } else {
                    requests as f64 / commits as f64
                },
            },
            report,
        })
    }
}
