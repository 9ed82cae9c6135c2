//! `classpoints monitor check | fix | student <id> | start`, talking to a running server.
//! Exit status: 0 healthy, 1 inconsistent, 2 unreachable or refused, so cron can act on it.

use crate::config::{MonitorAction, MonitorArgs};
use serde_json::Value;
use std::{process::ExitCode, time::Duration};

pub const HEALTHY: u8 = 0;
pub const INCONSISTENT: u8 = 1;
pub const UNREACHABLE: u8 = 2;

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Why a call did not produce a report.
enum Failure {
    Unreachable(String),
    Refused(u16, String),
}

impl Failure {
    fn report(&self) {
        match self {
            Failure::Unreachable(why) => {
                eprintln!("classpoints monitor: server unreachable: {why}")
            }
            Failure::Refused(status, why) => {
                eprintln!("classpoints monitor: server refused ({status}): {why}");
                if *status == 401 {
                    eprintln!(
                        "  pass an admin token with --token or CLASSPOINTS_TOKEN (classpoints token create --username <admin>)"
                    );
                }
            }
        }
    }
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, Failure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| Failure::Unreachable(format!("not a classpoints server? {e}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned();
            Err(Failure::Refused(status.as_u16(), message))
        }
    }
}

fn print_report(base: &str, report: &Value) {
    let summary = &report["summary"];
    println!("classpoints monitor — {base}");
    println!(
        "status:        {}",
        report["health"]["status"].as_str().unwrap_or("?")
    );
    println!(
        "students:      {} ({} consistent, {} inconsistent, {:.1} %)",
        summary["totalStudents"],
        summary["consistentStudents"],
        summary["inconsistentStudents"],
        summary["consistencyRate"].as_f64().unwrap_or(0.0)
    );
    println!("transactions:  {}", summary["totalTransactions"]);
    let chain = &report["health"]["chain"];
    if chain["ok"].as_bool() == Some(true) {
        println!(
            "hash chain:    ok ({} rows verified)",
            chain["verified_rows"]
        );
    } else {
        println!(
            "hash chain:    BROKEN — {}",
            chain["message"].as_str().unwrap_or("?")
        );
    }
    println!(
        "check took:    {:.1} ms",
        report["performance"]["checkDurationMs"]
            .as_f64()
            .unwrap_or(0.0)
    );
    if let Some(items) = report["inconsistencies"]
        .as_array()
        .filter(|a| !a.is_empty())
    {
        println!("inconsistent balances:");
        for item in items {
            println!(
                "  {}  expected {}  actual {}  difference {:+}",
                item["student_id"].as_str().unwrap_or("?"),
                item["expected"],
                item["actual"],
                item["difference"].as_i64().unwrap_or(0)
            );
        }
    }
}

fn healthy(report: &Value) -> bool {
    report["health"]["status"] == "healthy"
}

/// The exit status a report stands for.
fn status_of(report: &Value) -> u8 {
    if healthy(report) {
        HEALTHY
    } else {
        INCONSISTENT
    }
}

pub async fn run(args: MonitorArgs) -> ExitCode {
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default settings"),
        base: args.url.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
    };
    let code = match &args.action {
        MonitorAction::Check { full } => check(&client, &args, *full).await,
        MonitorAction::Fix { student } => fix(&client, &args, student.as_deref()).await,
        MonitorAction::Student { student_id } => student(&client, &args, student_id).await,
        MonitorAction::Start { interval, auto_fix } => {
            start(
                &client,
                &args,
                Duration::from_secs((*interval).max(1)),
                *auto_fix,
            )
            .await
        }
    };
    ExitCode::from(code)
}

async fn check(client: &Client, args: &MonitorArgs, full: bool) -> u8 {
    let path = if full {
        "/api/points/monitor?full=true"
    } else {
        "/api/points/monitor"
    };
    match client.call(reqwest::Method::GET, path).await {
        Ok(report) => {
            if args.json {
                println!("{report:#}");
            } else {
                print_report(&client.base, &report);
            }
            status_of(&report)
        }
        Err(failure) => {
            failure.report();
            UNREACHABLE
        }
    }
}

async fn fix(client: &Client, args: &MonitorArgs, student: Option<&str>) -> u8 {
    let path = match student {
        Some(id) => format!("/api/points/monitor?auto_fix=true&student_id={id}"),
        None => "/api/points/monitor?auto_fix=true".to_owned(),
    };
    match client.call(reqwest::Method::POST, &path).await {
        Ok(result) => {
            if args.json {
                println!("{result:#}");
            } else {
                println!("{}", result["message"].as_str().unwrap_or(""));
                for item in result["repaired"].as_array().into_iter().flatten() {
                    println!(
                        "  {}  {} -> {}",
                        item["student_id"].as_str().unwrap_or("?"),
                        item["old_points"],
                        item["new_points"]
                    );
                }
                println!(
                    "status now:    {}",
                    result["health"]["status"].as_str().unwrap_or("?")
                );
            }
            status_of(&result)
        }
        Err(failure) => {
            failure.report();
            UNREACHABLE
        }
    }
}

async fn student(client: &Client, args: &MonitorArgs, student_id: &str) -> u8 {
    let path = format!("/api/points/monitor?student_id={student_id}");
    match client.call(reqwest::Method::GET, &path).await {
        Ok(result) => {
            let consistent = result["consistent"].as_bool() == Some(true);
            if args.json {
                println!("{result:#}");
            } else {
                println!("student:       {student_id}");
                println!("points:        {}", result["points"]);
                println!("ledger sum:    {}", result["expected"]);
                println!("consistent:    {}", if consistent { "yes" } else { "NO" });
            }
            if consistent { HEALTHY } else { INCONSISTENT }
        }
        Err(failure) => {
            failure.report();
            UNREACHABLE
        }
    }
}

async fn start(client: &Client, args: &MonitorArgs, interval: Duration, auto_fix: bool) -> u8 {
    loop {
        let started = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
        let last = match client
            .call(reqwest::Method::GET, "/api/points/monitor")
            .await
        {
            Ok(report) => {
                let summary = &report["summary"];
                if args.json {
                    println!("{report}");
                } else {
                    println!(
                        "{started}  {}  {} students, {} inconsistent, {} transactions",
                        report["health"]["status"].as_str().unwrap_or("?"),
                        summary["totalStudents"],
                        summary["inconsistentStudents"],
                        summary["totalTransactions"]
                    );
                }
                match status_of(&report) {
                    INCONSISTENT if auto_fix => fix(client, args, None).await,
                    status => status,
                }
            }
            Err(failure) => {
                failure.report();
                UNREACHABLE
            }
        };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return last,
        }
    }
}
