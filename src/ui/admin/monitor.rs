//! The monitor page: is every balance equal to its ledger, what drifted, what was repaired,
//! which alerts are open, and how the server is doing. It follows `/api/monitor/events`, so
//! it updates as runs, repairs, alerts and awards happen.

use super::{AdminTabs, Outcome};
use crate::i18n::{Locale, t, t_string, td_string, use_i18n};
use crate::{
    api::admin::{RunMonitor, load_monitor},
    model::{Alert, AlertFigures, AlertKind, HealthStatus, MonitorOverview, Severity},
    ui::chart::{Line, LineChart},
    ui::time::{SchoolTime, utc_offset_label},
};
use leptos::prelude::*;
use leptos_i18n::I18nContext;

#[component]
pub fn MonitorPage() -> impl IntoView {
    let i18n = use_i18n();
    let run = ServerAction::<RunMonitor>::new();
    // Bumped by every live event, so the overview is fetched again.
    let changes = RwSignal::new(0u64);
    let overview = crate::ui::load(
        move || (run.version().get(), changes.get()),
        |_| load_monitor(),
    );
    Effect::new(move |_| {
        crate::ui::live::follow_events(
            "/api/monitor/events",
            "changed",
            move |_| changes.update(|n| *n += 1),
            move || changes.update(|n| *n += 1),
        );
    });
    let outcome = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        if let Some(result) = run.value().get() {
            outcome.set(Some(match result {
                Ok(summary) if summary.repaired.is_empty() => {
                    Ok(t_string!(i18n, checked).to_owned())
                }
                Ok(summary) => {
                    let n = summary.repaired.len();
                    Ok(format!("{}: {n}", t_string!(i18n, repaired_count)))
                }
                Err(e) => Err(crate::ui::error_text(i18n.get_locale_untracked(), &e)),
            }));
        }
    });
    view! {
        <AdminTabs/>
        <section class="monitor" aria-labelledby="monitor-title">
            <h1 id="monitor-title">{t!(i18n, monitor_title)}</h1>
            <div class="monitor-actions">
                <button
                    type="button"
                    data-testid="check-now"
                    disabled=move || run.pending().get()
                    on:click=move |_| {
                        run.dispatch(RunMonitor { fix: false });
                    }
                >
                    {t!(i18n, check_now)}
                </button>
                <button
                    type="button"
                    class="primary"
                    data-testid="auto-fix"
                    disabled=move || run.pending().get()
                    on:click=move |_| {
                        run.dispatch(RunMonitor { fix: true });
                    }
                >
                    {t!(i18n, auto_fix)}
                </button>
            </div>
            <Outcome message=outcome/>
            {crate::ui::loaded(overview, |overview| view! { <Overview overview/> }.into_any())}
        </section>
    }
}

fn status_class(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "badge healthy",
        HealthStatus::Degraded => "badge degraded",
        HealthStatus::Unhealthy => "badge unhealthy",
    }
}

#[component]
fn StatusBadge(status: HealthStatus) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class=status_class(status) data-status=status.as_str()>
            {match status {
                HealthStatus::Healthy => t!(i18n, status_healthy).into_any(),
                HealthStatus::Degraded => t!(i18n, status_degraded).into_any(),
                HealthStatus::Unhealthy => t!(i18n, status_unhealthy).into_any(),
            }}
        </span>
    }
}

#[component]
fn Overview(overview: MonitorOverview) -> impl IntoView {
    let i18n = use_i18n();
    let report = overview.report;
    let chain_ok = report.chain.ok;
    let settings = overview.settings;
    let writer = overview.writer;
    let offset = overview.utc_offset_minutes;
    view! {
        <div class="health" data-testid="health" data-status=report.status.as_str()>
            <StatusBadge status=report.status/>
            <dl class="facts">
                <div>
                    <dt>{t!(i18n, consistency_rate)}</dt>
                    <dd data-testid="consistency-rate">{format!("{:.2} %", report.consistency_rate)}</dd>
                </div>
                <div>
                    <dt>{t!(i18n, students)}</dt>
                    <dd data-testid="total-students">{report.total_students}</dd>
                </div>
                <div>
                    <dt>{t!(i18n, transactions)}</dt>
                    <dd data-testid="total-transactions">{report.total_transactions}</dd>
                </div>
                <div>
                    <dt>{t!(i18n, hash_chain)}</dt>
                    <dd data-testid="chain" class:bad=!chain_ok>
                        {if chain_ok {
                            t!(i18n, chain_ok).into_any()
                        } else {
                            view! {
                                {t!(i18n, chain_broken)}
                                {format!(" (#{})", report.chain.first_broken_seq.unwrap_or_default())}
                            }
                                .into_any()
                        }}
                    </dd>
                </div>
                <div>
                    <dt>{t!(i18n, check_took)}</dt>
                    <dd>{format!("{:.1} ms", report.duration_ms)}</dd>
                </div>
                <div>
                    <dt>{t!(i18n, writer)}</dt>
                    <dd>
                        {t_string!(i18n, writer_line)
                            .replace("{commits}", &writer.commits.to_string())
                            .replace("{per_commit}", &format!("{:.1}", writer.requests_per_commit))
                            .replace("{queue}", &writer.queue_depth.to_string())}
                    </dd>
                </div>
            </dl>
        </div>

        <h2>{t!(i18n, inconsistent_students)}</h2>
        {records_table(
            "inconsistent",
            overview.inconsistent,
            view! { <p data-testid="all-consistent">{t!(i18n, all_consistent)}</p> },
            view! {
                <th scope="col">{t!(i18n, student)}</th>
                <th scope="col">{t!(i18n, class)}</th>
                <th scope="col">{t!(i18n, expected)}</th>
                <th scope="col">{t!(i18n, actual)}</th>
                <th scope="col">{t!(i18n, difference)}</th>
            },
            |row| {
                let i = row.inconsistency;
                view! {
                    <tr data-student=i.student_id.clone()>
                        <td>
                            <a href=format!("/student/{}", i.student_id)>{row.name}</a>
                        </td>
                        <td>{row.class_name}</td>
                        <td class="num">{i.expected}</td>
                        <td class="num">{i.actual.map_or_else(|| "—".to_owned(), |a| a.to_string())}</td>
                        <td class="num">{format!("{:+}", i.difference)}</td>
                    </tr>
                }
            },
        )}

        <h2>{t!(i18n, open_alerts)}</h2>
        {if overview.open_alerts.is_empty() {
            view! { <p data-testid="no-alerts">{t!(i18n, no_alerts)}</p> }.into_any()
        } else {
            view! {
                <ul class="alerts" data-testid="open-alerts">
                    {overview.open_alerts.into_iter().map(|a| view! { <AlertItem alert=a offset/> }).collect_view()}
                </ul>
            }
                .into_any()
        }}

        <h2>{t!(i18n, traffic)}</h2>
        <Traffic traffic=overview.traffic/>

        <h2>{t!(i18n, repair_log)}</h2>
        {records_table(
            "repairs",
            overview.repairs,
            view! { <p data-testid="no-repairs">{t!(i18n, no_repairs)}</p> },
            view! {
                <th scope="col">{t!(i18n, when)}</th>
                <th scope="col">{t!(i18n, student)}</th>
                <th scope="col">{t!(i18n, old_new)}</th>
                <th scope="col">{t!(i18n, who)}</th>
                <th scope="col">{t!(i18n, why)}</th>
            },
            move |r| {
                let student = r.student_name.unwrap_or_else(|| r.student_id.clone());
                let old = r.old_points.map_or_else(|| "—".to_owned(), |p| p.to_string());
                view! {
                    <tr data-student=r.student_id>
                        <td><SchoolTime at=r.created_at offset/></td>
                        <td>{student}</td>
                        <td class="num">{format!("{old} → {}", r.new_points)}</td>
                        <td>{r.actor}</td>
                        <td>{r.reason}</td>
                    </tr>
                }
            },
        )}

        <h2>{t!(i18n, recent_runs)}</h2>
        {records_table(
            "runs",
            overview.runs,
            view! { <p data-testid="no-runs">{t!(i18n, no_runs)}</p> },
            view! {
                <th scope="col">{t!(i18n, when)}</th>
                <th scope="col">{t!(i18n, trigger)}</th>
                <th scope="col">{t!(i18n, status)}</th>
                <th scope="col">{t!(i18n, inconsistent_students)}</th>
                <th scope="col">{t!(i18n, fixed)}</th>
                <th scope="col">{t!(i18n, duration)}</th>
            },
            move |run| {
                view! {
                    <tr>
                        <td><SchoolTime at=run.started_at offset/></td>
                        <td>{trigger_label(i18n, &run.trigger)}</td>
                        <td><StatusBadge status=run.status/></td>
                        <td class="num">{run.inconsistent_students}</td>
                        <td class="num">{run.fixed}</td>
                        <td class="num">{format!("{:.1} ms", run.duration_ms)}</td>
                    </tr>
                }
            },
        )}

        <h2>{t!(i18n, recent_alerts)}</h2>
        {records_table(
            "recent-alerts",
            overview.recent_alerts,
            view! { <p data-testid="no-recent-alerts">{t!(i18n, no_recent_alerts)}</p> },
            view! {
                <th scope="col">{t!(i18n, raised)}</th>
                <th scope="col">{t!(i18n, severity)}</th>
                <th scope="col">{t!(i18n, message)}</th>
                <th scope="col">{t!(i18n, resolved)}</th>
            },
            move |a| {
                view! {
                    <tr data-kind=a.kind.as_str()>
                        <td><SchoolTime at=a.raised_at.clone() offset/></td>
                        <td>{severity_label(i18n, a.severity)}</td>
                        <td>{alert_text(i18n.get_locale(), &a)}</td>
                        <td>{a.resolved_at.clone().map(|at| view! { <SchoolTime at offset/> })}</td>
                    </tr>
                }
            },
        )}

        <h2>{t!(i18n, settings)}</h2>
        <p class="muted" data-testid="monitor-settings">
            {move || {
                let switch = |on: bool| {
                    if on { t_string!(i18n, switch_on) } else { t_string!(i18n, switch_off) }
                };
                let background = if settings.interval_seconds == 0 {
                    t_string!(i18n, monitor_background_off).to_owned()
                } else {
                    t_string!(i18n, monitor_background_every)
                        .replace("{interval}", &settings.interval_seconds.to_string())
                };
                t_string!(i18n, monitor_settings_line)
                    .replace("{background}", &background)
                    .replace("{auto_fix}", switch(settings.auto_fix))
                    .replace("{error_rate}", &settings.error_rate_percent.to_string())
                    .replace("{p95}", &settings.p95_ms.to_string())
                    .replace("{webhook}", switch(settings.webhook))
            }}
        </p>
        <p class="muted" data-testid="times-zone">
            {t_string!(i18n, times_in_zone)
                .replace("{zone}", &utc_offset_label(offset).unwrap_or_default())}
        </p>
    }
}

/// A section's records as a table (`head`: its column headings, `row`: one record's row), or
/// `none` when there are no records.
fn records_table<T, R: IntoView>(
    testid: &'static str,
    records: Vec<T>,
    none: impl IntoView + 'static,
    head: impl IntoView + 'static,
    row: impl FnMut(T) -> R,
) -> AnyView {
    if records.is_empty() {
        return none.into_any();
    }
    view! {
        <table class="wide-table" data-testid=testid>
            <thead>
                <tr>{head}</tr>
            </thead>
            <tbody>{records.into_iter().map(row).collect_view()}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn AlertItem(alert: Alert, offset: i32) -> impl IntoView {
    let i18n = use_i18n();
    let class = match alert.severity {
        Severity::Critical => "alert critical",
        Severity::Warning => "alert warning",
        Severity::Info => "alert info",
    };
    view! {
        <li class=class data-kind=alert.kind.as_str() role="alert">
            <strong>{alert_kind_label(i18n, alert.kind)}</strong>
            " · "
            {alert_text(i18n.get_locale(), &alert)}
            <span class="muted">" (" <SchoolTime at=alert.raised_at.clone() offset/> ")"</span>
        </li>
    }
}

/// What an alert found, in `locale`, from the figures it recorded; the server's English
/// where it lacks them (an alert stored before they were recorded).
pub(crate) fn alert_text(locale: Locale, alert: &Alert) -> String {
    let figures = AlertFigures::of(&alert.details);
    match alert.kind {
        AlertKind::Inconsistency => inconsistency_text(locale, &figures),
        AlertKind::HashChain => figures.first_broken_seq.map(|seq| {
            td_string!(locale, alert_text_hash_chain).replace("{seq}", &seq.to_string())
        }),
        AlertKind::ErrorRate => error_rate_text(locale, &figures),
        AlertKind::Latency => latency_text(locale, &figures),
    }
    .unwrap_or_else(|| alert.message.clone())
}

fn inconsistency_text(locale: Locale, figures: &AlertFigures) -> Option<String> {
    let drifted = figures.inconsistent_students? + figures.orphan_balances.unwrap_or(0);
    let outcome = match (figures.repaired?, figures.auto_fix?) {
        (n, _) if n > 0 => {
            td_string!(locale, alert_outcome_repaired).replace("{n}", &n.to_string())
        }
        (_, true) => td_string!(locale, alert_outcome_nothing_repaired).to_owned(),
        (_, false) => td_string!(locale, alert_outcome_auto_fix_off).to_owned(),
    };
    Some(
        td_string!(locale, alert_text_inconsistency)
            .replace("{drifted}", &drifted.to_string())
            .replace("{rate}", &format!("{:.2}", figures.consistency_rate?))
            .replace("{outcome}", &outcome),
    )
}

fn error_rate_text(locale: Locale, figures: &AlertFigures) -> Option<String> {
    Some(
        td_string!(locale, alert_text_error_rate)
            .replace("{rate}", &format!("{:.1}", figures.error_rate?))
            .replace("{minutes}", &figures.minutes?.to_string())
            .replace("{errors}", &figures.errors?.to_string())
            .replace("{requests}", &figures.requests?.to_string())
            .replace("{threshold}", &figures.threshold_percent?.to_string()),
    )
}

fn latency_text(locale: Locale, figures: &AlertFigures) -> Option<String> {
    Some(
        td_string!(locale, alert_text_latency)
            .replace("{p95}", &format!("{:.1}", figures.p95_ms?))
            .replace("{minutes}", &figures.minutes?.to_string())
            .replace("{threshold}", &figures.threshold_ms?.to_string()),
    )
}

/// Who started a monitor run, as the runs table says it; an unknown trigger as recorded.
fn trigger_label(i18n: I18nContext<Locale>, trigger: &str) -> String {
    match trigger {
        "background" => t_string!(i18n, trigger_background),
        "manual" => t_string!(i18n, trigger_manual),
        "api" => t_string!(i18n, trigger_api),
        other => other,
    }
    .to_owned()
}

fn severity_label(i18n: I18nContext<Locale>, severity: Severity) -> &'static str {
    match severity {
        Severity::Info => t_string!(i18n, severity_info),
        Severity::Warning => t_string!(i18n, severity_warning),
        Severity::Critical => t_string!(i18n, severity_critical),
    }
}

fn alert_kind_label(i18n: I18nContext<Locale>, kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Inconsistency => t_string!(i18n, alert_inconsistency),
        AlertKind::HashChain => t_string!(i18n, alert_hash_chain),
        AlertKind::ErrorRate => t_string!(i18n, alert_error_rate),
        AlertKind::Latency => t_string!(i18n, alert_latency),
    }
}

/// Request rate, latency percentiles and error rate over the last hour.
#[component]
fn Traffic(traffic: Vec<crate::model::TrafficMinute>) -> impl IntoView {
    let i18n = use_i18n();
    let total: u64 = traffic.iter().map(|m| m.requests).sum();
    let errors: u64 = traffic.iter().map(|m| m.errors).sum();
    let peak = traffic.iter().map(|m| m.requests).max().unwrap_or(0);
    let worst_p95 = traffic
        .iter()
        .filter_map(|m| m.p95_ms)
        .fold(0.0f64, f64::max);
    let rate = Line {
        name: "requests/min".into(),
        class: "line-requests",
        values: traffic.iter().map(|m| Some(m.requests as f64)).collect(),
    };
    let latency = |name: &str, class, pick: fn(&crate::model::TrafficMinute) -> Option<f64>| Line {
        name: name.into(),
        class,
        values: traffic.iter().map(pick).collect(),
    };
    let latencies = vec![
        latency("p50", "line-p50", |m| m.p50_ms),
        latency("p95", "line-p95", |m| m.p95_ms),
        latency("p99", "line-p99", |m| m.p99_ms),
    ];
    let error_rate = Line {
        name: "errors %".into(),
        class: "line-errors",
        values: traffic
            .iter()
            .map(|m| (m.requests > 0).then(|| m.error_rate()))
            .collect(),
    };
    view! {
        <div class="charts" data-testid="traffic" data-requests=total>
            <LineChart
                lines=vec![rate]
                summary=t_string!(i18n, chart_requests_summary)
                    .replace("{total}", &total.to_string())
                    .replace("{peak}", &peak.to_string())
                testid="chart-requests"
            />
            <LineChart
                lines=latencies
                summary=t_string!(i18n, chart_latency_summary)
                    .replace("{worst}", &format!("{worst_p95:.1}"))
                testid="chart-latency"
            />
            <LineChart
                lines=vec![error_rate]
                summary=t_string!(i18n, chart_errors_summary)
                    .replace("{errors}", &errors.to_string())
                    .replace("{total}", &total.to_string())
                testid="chart-errors"
            />
        </div>
    }
}
