//! `GET /api/events?class_id=…`: server-sent events for live boards. Each committed change to
//! the class arrives as an `update` event carrying a [`LiveUpdate`] in JSON.

use super::extract::{ApiQuery, Auth};
use crate::{
    error::AppError,
    ledger::LedgerEvent,
    model::{LiveUpdate, StudentBalance, validate_id},
    server::AppState,
};
use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use serde::Deserialize;
use std::{collections::HashSet, convert::Infallible, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    class_id: String,
}

/// What of a ledger event concerns a board of this class.
fn update_for(
    event: &LedgerEvent,
    class_id: &str,
    students: &HashSet<String>,
) -> Option<LiveUpdate> {
    match event {
        LedgerEvent::Points {
            class_ids,
            balances,
            ..
        } if class_ids.iter().any(|c| c == class_id) => Some(LiveUpdate {
            balances: balances
                .iter()
                .filter(|b| students.contains(&b.student_id))
                .cloned()
                .collect(),
            reload: false,
        }),
        LedgerEvent::Repaired { repaired } => {
            let balances: Vec<StudentBalance> = repaired
                .iter()
                .filter(|r| students.contains(&r.student_id))
                .map(|r| StudentBalance {
                    student_id: r.student_id.clone(),
                    points: r.new_points,
                })
                .collect();
            (!balances.is_empty()).then_some(LiveUpdate {
                balances,
                reload: false,
            })
        }
        LedgerEvent::RosterChanged { .. } | LedgerEvent::Imported => Some(LiveUpdate {
            balances: vec![],
            reload: true,
        }),
        _ => None,
    }
}

fn sse_event(update: &LiveUpdate) -> Event {
    Event::default()
        .event("update")
        .json_data(update)
        .unwrap_or_else(|_| {
            Event::default()
                .event("update")
                .data("{\"balances\":[],\"reload\":true}")
        })
}

/// Live changes of one class for its teachers (and admins).
#[utoipa::path(get, path = "/api/events", tag = "points", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "`update` events with a LiveUpdate as JSON"),
        (status = 401, body = super::replies::ErrorReply), (status = 403, body = super::replies::ErrorReply)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    validate_id("class_id", &query.class_id)?;
    let actor = auth.0.actor();
    // Subscribe before reading the roster, so nothing committed in between is missed.
    let receiver = state.ledger.subscribe();
    let classes = state.ledger.classes(&actor).await?;
    if !classes.iter().any(|c| c.id == query.class_id) {
        return Err(AppError::not_class_teacher(&query.class_id));
    }
    let students: HashSet<String> = state
        .ledger
        .students(&actor, Some(&query.class_id))
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let class_id = query.class_id;
    let updates = futures::stream::unfold(
        (receiver, students, class_id),
        |(mut receiver, students, class_id)| async move {
            loop {
                let update = match receiver.recv().await {
                    Ok(event) => update_for(&event, &class_id, &students),
                    // Too slow to keep up: tell the page to reload rather than show stale points.
                    Err(RecvError::Lagged(_)) => Some(LiveUpdate {
                        balances: vec![],
                        reload: true,
                    }),
                    Err(RecvError::Closed) => return None,
                };
                if let Some(update) = update {
                    return Some((Ok(sse_event(&update)), (receiver, students, class_id)));
                }
            }
        },
    );
    let stream = state.live_stream(&auth.0.id, updates);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How long the monitor stream gathers point changes before it says "changed" once: under
/// load the page refreshes about once a second, not once per award.
const POINTS_COALESCE: Duration = Duration::from_secs(1);

/// `GET /api/monitor/events` (admins): a `changed` event whenever what the monitor page shows
/// may have changed: a run, a repair, an alert, the roster, or points (at most once a second).
#[utoipa::path(get, path = "/api/monitor/events", tag = "monitor",
    responses((status = 200, content_type = "text/event-stream", description = "`changed` events (data: the reason)"),
        (status = 401, body = super::replies::ErrorReply), (status = 403, body = super::replies::ErrorReply)),
    security(("bearer" = [])))]
pub async fn monitor_events(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    auth.require_admin()?;
    let receiver = state.ledger.subscribe();
    let changes = futures::stream::unfold(receiver, |mut receiver| async move {
        let reason = match receiver.recv().await {
            Ok(LedgerEvent::Points { .. }) => {
                // Gather whatever else arrives in the next moment into this one event.
                let _ = tokio::time::timeout(POINTS_COALESCE, async {
                    while receiver.recv().await.is_ok() {}
                })
                .await;
                "points"
            }
            Ok(LedgerEvent::Monitored { .. }) => "monitor",
            Ok(LedgerEvent::Repaired { .. }) => "repaired",
            Ok(_) => "roster",
            Err(RecvError::Lagged(_)) => "points",
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().event("changed").data(reason)), receiver))
    });
    let stream = state.live_stream(&auth.0.id, changes);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
