//! `GET /api/v1/stream`: server-sent events for the panel, authenticated like the API and role-scoped:
//! `alert` events (an alert of the caller's scope opened or changed; `id` is a resumable cursor, sent
//! back as `Last-Event-ID`) and `ingestion` events when the count or the minute changes: the current hour's ingested
//! rows, and the rows ingested during the current minute (`minute`, `minute_rows`: the hour's count now
//! minus its count at this stream's first check in that minute, so within [`INGESTION_EVERY`]).
//!
//! Every process answers from the database (a poll per connection every two seconds), so an alert opened
//! by another backend reaches every client, and the stream is pulled: nothing is buffered for a slow
//! reader beyond one poll's events (at most [`BATCH`]). A stream ends after [`LIFETIME`]; clients
//! reconnect with their last cursor.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Timelike, Utc};
use dbpower_core::Scope;
use futures_util::Stream;

use crate::http::{ApiError, ApiResult};
use crate::routes::auth::Auth;
use crate::state::AppState;

const POLL: Duration = Duration::from_secs(2);
const INGESTION_EVERY: Duration = Duration::from_secs(5);
const LIFETIME: Duration = Duration::from_secs(15 * 60);
const BATCH: i64 = 100;

/// `<unix micros>-<alert id>`.
fn cursor_of(at: DateTime<Utc>, id: i64) -> String {
    format!("{}-{id}", at.timestamp_micros())
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, i64)> {
    let (t, id) = s.trim().split_once('-')?;
    let at = DateTime::from_timestamp_micros(t.parse().ok()?)?;
    Some((at, id.parse().ok()?))
}

struct Live {
    s: AppState,
    scope: Scope,
    cursor: (DateTime<Utc>, i64),
    rows: Option<i64>,
    /// The minute being counted and the hour's rows at its first check.
    minute: Option<(DateTime<Utc>, i64)>,
    started: Instant,
    ingestion_checked: Option<Instant>,
    queue: VecDeque<Event>,
}

impl Live {
    async fn poll(&mut self) {
        match self
            .s
            .store
            .alert_changes(&self.scope, self.cursor, BATCH)
            .await
        {
            Ok(changes) => {
                for a in changes {
                    self.cursor = (a.updated_at, a.id);
                    if let Ok(e) = Event::default()
                        .event("alert")
                        .id(cursor_of(a.updated_at, a.id))
                        .json_data(&a)
                    {
                        self.queue.push_back(e);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "live stream: reading alert changes failed"),
        }
        if self
            .ingestion_checked
            .is_some_and(|t| t.elapsed() < INGESTION_EVERY)
        {
            return;
        }
        self.ingestion_checked = Some(Instant::now());
        let now = Utc::now();
        let minute = now
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(now);
        let hour = minute.with_minute(0).unwrap_or(minute);
        let Ok(rows) = self.s.store.rows_in_hour(&self.scope, hour).await else {
            return;
        };
        let start = match self.minute {
            Some((m, start)) if m == minute => start,
            // A new hour counts from 0: its first minute's rows are the hour's.
            _ if minute == hour => 0,
            _ => rows,
        };
        // A new minute is news even without new rows: its count starts again.
        let new_minute = self.minute.is_some_and(|(m, _)| m != minute);
        self.minute = Some((minute, start));
        if self.rows != Some(rows) || new_minute {
            self.rows = Some(rows);
            let counts = serde_json::json!({"hour": hour, "rows": rows, "minute": minute,
                "minute_rows": rows.saturating_sub(start).max(0)});
            if let Ok(e) = Event::default().event("ingestion").json_data(counts) {
                self.queue.push_back(e);
            }
        }
    }
}

/// Live updates: `alert` and `ingestion` events (see the module's documentation). `Last-Event-ID`
/// resumes after that alert change; without it the stream starts now.
#[utoipa::path(get, path = "/api/v1/stream", tag = "alerts",
    params(("Last-Event-ID" = Option<String>, Header, description = "resume after this alert change")),
    responses((status = 200, content_type = "text/event-stream", description = "server-sent events"), (status = 401, body = dbpower_types::ErrorBody), (status = 422, body = dbpower_types::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn stream(
    State(s): State<AppState>,
    Auth(p): Auth,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let cursor = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => (Utc::now(), i64::MAX),
        Some(Ok(v)) => parse_cursor(v).ok_or_else(|| {
            ApiError::validation("Last-Event-ID", "is not a cursor this stream sent")
        })?,
        Some(Err(_)) => {
            return Err(ApiError::validation(
                "Last-Event-ID",
                "is not a cursor this stream sent",
            ));
        }
    };
    let live = Live {
        s,
        scope: Scope::of(&p),
        cursor,
        rows: None,
        minute: None,
        started: Instant::now(),
        ingestion_checked: None,
        queue: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        loop {
            if let Some(e) = live.queue.pop_front() {
                return Some((Ok(e), live));
            }
            if live.started.elapsed() > LIFETIME {
                return None;
            }
            live.poll().await;
            if live.queue.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).expect("time");
        assert_eq!(parse_cursor(&cursor_of(at, 42)), Some((at, 42)));
        for bad in ["", "x-1", "1-", "99999999999999999999-1", "1-2-3"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
