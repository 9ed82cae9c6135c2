//! Which alert conditions a monitor run found. Plain functions of the run's figures, so the
//! thresholds are tested without a server.

use crate::model::{
    AlertCondition, AlertKind, ConsistencyReport, HealthStatus, Severity, TrafficMinute,
};

/// When traffic raises an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Percent of requests answered with a 5xx.
    pub error_rate_percent: f64,
    pub p95_ms: f64,
    /// Fewer requests than this in the window say too little to alert on.
    pub min_requests: u64,
}

/// Minutes of traffic the alerts look at.
pub const TRAFFIC_MINUTES: usize = 5;

fn details(value: serde_json::Value) -> String {
    value.to_string()
}

/// The conditions in `found` (the check before any repair) and in recent `traffic`.
pub fn conditions(
    found: &ConsistencyReport,
    repaired: usize,
    auto_fix: bool,
    traffic: &TrafficMinute,
    thresholds: &Thresholds,
) -> Vec<AlertCondition> {
    let mut found_conditions = Vec::new();
    let drifted = found.inconsistent_students + found.orphan_balances.len() as i64;
    if drifted > 0 {
        let outcome = if repaired > 0 {
            format!("auto-fix repaired {repaired}")
        } else if auto_fix {
            "nothing was repaired".to_owned()
        } else {
            "not repaired: auto-fix is off".to_owned()
        };
        found_conditions.push(AlertCondition {
            kind: AlertKind::Inconsistency,
            severity: if found.status == HealthStatus::Unhealthy {
                Severity::Critical
            } else {
                Severity::Warning
            },
            message: format!(
                "{drifted} balance(s) differed from the ledger (consistency {:.2} %); {outcome}",
                found.consistency_rate
            ),
            details: details(serde_json::json!({
                "inconsistent_students": found.inconsistent_students,
                "orphan_balances": found.orphan_balances.len(),
                "consistency_rate": found.consistency_rate,
                "students": found.inconsistencies.iter().take(20).map(|i| &i.student_id).collect::<Vec<_>>(),
                "repaired": repaired,
                "auto_fix": auto_fix,
            })),
        });
    }
    if !found.chain.ok {
        found_conditions.push(AlertCondition {
            kind: AlertKind::HashChain,
            severity: Severity::Critical,
            message: format!(
                "the ledger's hash chain is broken at row {}: history was changed outside the application",
                found
                    .chain
                    .first_broken_seq
                    .map_or_else(|| "?".to_owned(), |s| s.to_string())
            ),
            details: details(serde_json::json!({
                "first_broken_seq": found.chain.first_broken_seq,
                "message": found.chain.message,
            })),
        });
    }
    if traffic.requests >= thresholds.min_requests {
        let rate = traffic.error_rate();
        if rate > thresholds.error_rate_percent {
            found_conditions.push(AlertCondition {
                kind: AlertKind::ErrorRate,
                severity: Severity::Warning,
                message: format!(
                    "{rate:.1} % of requests failed in the last {TRAFFIC_MINUTES} minutes \
                     ({} of {}; threshold {} %)",
                    traffic.errors, traffic.requests, thresholds.error_rate_percent
                ),
                details: details(serde_json::json!({
                    "requests": traffic.requests, "errors": traffic.errors, "error_rate": rate,
                    "minutes": TRAFFIC_MINUTES, "threshold_percent": thresholds.error_rate_percent,
                })),
            });
        }
        if let Some(p95) = traffic.p95_ms.filter(|p95| *p95 > thresholds.p95_ms) {
            found_conditions.push(AlertCondition {
                kind: AlertKind::Latency,
                severity: Severity::Warning,
                message: format!(
                    "p95 latency was {p95:.1} ms in the last {TRAFFIC_MINUTES} minutes \
                     (threshold {} ms)",
                    thresholds.p95_ms
                ),
                details: details(serde_json::json!({
                    "requests": traffic.requests, "p95_ms": p95, "p99_ms": traffic.p99_ms,
                    "minutes": TRAFFIC_MINUTES, "threshold_ms": thresholds.p95_ms,
                })),
            });
        }
    }
    found_conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChainStatus, Inconsistency};

    fn report(inconsistent: i64, chain_ok: bool) -> ConsistencyReport {
        let total = 100;
        ConsistencyReport {
            status: HealthStatus::from_findings(total, inconsistent, chain_ok),
            total_students: total,
            consistent_students: total - inconsistent,
            inconsistent_students: inconsistent,
            consistency_rate: crate::model::consistency_rate(total, inconsistent),
            total_transactions: 1000,
            inconsistencies: (0..inconsistent)
                .map(|i| Inconsistency {
                    student_id: format!("s{i}"),
                    expected: 1,
                    actual: Some(2),
                    difference: 1,
                })
                .collect(),
            orphan_balances: vec![],
            chain: ChainStatus {
                ok: chain_ok,
                verified_rows: 1000,
                full: false,
                first_broken_seq: (!chain_ok).then_some(7),
                message: None,
            },
            checked_at: String::new(),
            duration_ms: 1.0,
        }
    }

    fn traffic(requests: u64, errors: u64, p95_ms: Option<f64>) -> TrafficMinute {
        TrafficMinute {
            minute: String::new(),
            requests,
            errors,
            p50_ms: p95_ms,
            p95_ms,
            p99_ms: p95_ms,
        }
    }

    const LIMITS: Thresholds = Thresholds {
        error_rate_percent: 1.0,
        p95_ms: 200.0,
        min_requests: 20,
    };

    fn kinds(found: &[AlertCondition]) -> Vec<(AlertKind, Severity)> {
        found.iter().map(|c| (c.kind, c.severity)).collect()
    }

    #[test]
    fn a_healthy_quiet_server_raises_nothing() {
        assert!(
            conditions(
                &report(0, true),
                0,
                true,
                &traffic(100, 1, Some(5.0)),
                &LIMITS
            )
            .is_empty()
        );
    }

    #[test]
    fn drift_is_an_alert_even_when_auto_fix_repaired_it() {
        let found = conditions(&report(1, true), 1, true, &traffic(0, 0, None), &LIMITS);
        assert_eq!(
            kinds(&found),
            [(AlertKind::Inconsistency, Severity::Warning)]
        );
        assert!(
            found[0].message.contains("auto-fix repaired 1"),
            "{}",
            found[0].message
        );
        let found = conditions(&report(5, true), 0, false, &traffic(0, 0, None), &LIMITS);
        assert_eq!(
            kinds(&found),
            [(AlertKind::Inconsistency, Severity::Critical)]
        );
        assert!(
            found[0].message.contains("auto-fix is off"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_broken_chain_is_critical() {
        let found = conditions(&report(0, false), 0, true, &traffic(0, 0, None), &LIMITS);
        assert_eq!(kinds(&found), [(AlertKind::HashChain, Severity::Critical)]);
        assert!(found[0].message.contains("row 7"));
    }

    #[test]
    fn error_rate_and_latency_alert_above_their_thresholds_with_enough_traffic() {
        let found = conditions(
            &report(0, true),
            0,
            true,
            &traffic(100, 2, Some(250.0)),
            &LIMITS,
        );
        assert_eq!(
            kinds(&found),
            [
                (AlertKind::ErrorRate, Severity::Warning),
                (AlertKind::Latency, Severity::Warning)
            ]
        );
        // Exactly at the thresholds: no alert.
        assert!(
            conditions(
                &report(0, true),
                0,
                true,
                &traffic(100, 1, Some(200.0)),
                &LIMITS
            )
            .is_empty()
        );
        // Too few requests to judge.
        assert!(
            conditions(
                &report(0, true),
                0,
                true,
                &traffic(10, 5, Some(900.0)),
                &LIMITS
            )
            .is_empty()
        );
    }

    /// The interface words alerts from these figures, so each kind's details carry its own.
    #[test]
    fn each_alert_carries_the_figures_the_interface_words_it_from() {
        use crate::model::AlertFigures;
        let drift = conditions(&report(3, true), 2, true, &traffic(0, 0, None), &LIMITS);
        let figures = AlertFigures::of(&drift[0].details);
        assert_eq!(
            (figures.inconsistent_students, figures.orphan_balances),
            (Some(3), Some(0))
        );
        assert_eq!((figures.repaired, figures.auto_fix), (Some(2), Some(true)));
        assert_eq!(figures.consistency_rate, Some(97.0));
        let chain = conditions(&report(0, false), 0, true, &traffic(0, 0, None), &LIMITS);
        assert_eq!(
            AlertFigures::of(&chain[0].details).first_broken_seq,
            Some(7)
        );
        let traffic = conditions(
            &report(0, true),
            0,
            true,
            &traffic(100, 2, Some(250.0)),
            &LIMITS,
        );
        let errors = AlertFigures::of(&traffic[0].details);
        assert_eq!(
            (errors.minutes, errors.requests, errors.errors),
            (Some(5), Some(100), Some(2))
        );
        assert_eq!(
            (errors.error_rate, errors.threshold_percent),
            (Some(2.0), Some(1.0))
        );
        let slow = AlertFigures::of(&traffic[1].details);
        assert_eq!(
            (slow.minutes, slow.p95_ms, slow.threshold_ms),
            (Some(5), Some(250.0), Some(200.0))
        );
        assert_eq!(AlertFigures::of("not json"), AlertFigures::default());
    }

    /// The interface words every alert from its figures: in English exactly as the server's
    /// message, in Chinese in Chinese.
    #[test]
    fn every_alert_reads_in_the_interfaces_languages() {
        use crate::i18n::Locale;
        use crate::ui::admin::monitor::alert_text;
        let mut raised = conditions(
            &report(3, false),
            2,
            true,
            &traffic(100, 2, Some(250.0)),
            &LIMITS,
        );
        raised.extend(conditions(
            &report(1, true),
            0,
            false,
            &traffic(0, 0, None),
            &LIMITS,
        ));
        raised.extend(conditions(
            &report(1, true),
            0,
            true,
            &traffic(0, 0, None),
            &LIMITS,
        ));
        assert_eq!(raised.len(), 6);
        for condition in raised {
            let alert = crate::model::Alert {
                id: 1,
                kind: condition.kind,
                severity: condition.severity,
                message: condition.message.clone(),
                details: condition.details.clone(),
                raised_at: String::new(),
                resolved_at: None,
            };
            assert_eq!(alert_text(Locale::en, &alert), condition.message);
            let chinese = alert_text(Locale::zh_CN, &alert);
            assert!(
                !chinese.is_ascii() && !chinese.contains(['{', '}']),
                "{chinese}"
            );
            // Stored before the figures were: the server's words.
            let older = crate::model::Alert {
                details: "{}".into(),
                ..alert
            };
            assert_eq!(alert_text(Locale::zh_CN, &older), condition.message);
        }
    }
}
