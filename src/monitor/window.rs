//! Requests per minute over the last hour, each minute with a latency histogram, so the
//! monitor can chart request rate, error rate and latency percentiles without a time-series
//! database. Memory is fixed: 60 minutes × one bucket array.

use crate::model::TrafficMinute;
use std::{
    sync::{LazyLock, Mutex},
    time::Duration,
};

/// Minutes kept.
pub const MINUTES: usize = 60;

/// Latency bucket upper bounds in microseconds: 50 µs growing by 20 % per bucket, up to
/// about two minutes. A percentile is reported as its bucket's upper bound, so it is at most
/// 20 % above the true value.
static BOUNDS_MICROS: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut bounds = Vec::new();
    let mut bound = 50.0f64;
    while bound < 120e6 {
        bounds.push(bound.round() as u64);
        bound *= 1.2;
    }
    bounds
});

#[derive(Clone)]
struct Minute {
    /// Minutes since the Unix epoch; identifies which minute the slot holds.
    minute: i64,
    requests: u64,
    errors: u64,
    /// Counts per bucket of [`BOUNDS_MICROS`], plus one for anything slower.
    latency: Vec<u64>,
}

impl Minute {
    fn empty(minute: i64) -> Self {
        Self {
            minute,
            requests: 0,
            errors: 0,
            latency: vec![0; BOUNDS_MICROS.len() + 1],
        }
    }

    fn add(&mut self, other: &Minute) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            *mine += theirs;
        }
    }

    /// The `q` quantile (0–1) in milliseconds.
    fn percentile_ms(&self, q: f64) -> Option<f64> {
        if self.requests == 0 {
            return None;
        }
        let rank = ((q * self.requests as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = BOUNDS_MICROS
                    .get(i)
                    .or(BOUNDS_MICROS.last())
                    .copied()
                    .unwrap_or(0);
                return Some(bound as f64 / 1000.0);
            }
        }
        None
    }

    fn to_traffic(&self) -> TrafficMinute {
        TrafficMinute {
            minute: minute_label(self.minute),
            requests: self.requests,
            errors: self.errors,
            p50_ms: self.percentile_ms(0.50),
            p95_ms: self.percentile_ms(0.95),
            p99_ms: self.percentile_ms(0.99),
        }
    }
}

/// `2026-11-26T08:05Z` for a Unix minute.
fn minute_label(minute: i64) -> String {
    chrono::DateTime::from_timestamp(minute * 60, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
        .unwrap_or_default()
}

/// The current Unix minute.
pub fn current_minute() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(60)
}

/// The last hour of requests. One short lock per request.
pub struct TrafficWindow {
    slots: Mutex<Vec<Minute>>,
}

impl Default for TrafficWindow {
    fn default() -> Self {
        Self {
            slots: Mutex::new(vec![Minute::empty(i64::MIN); MINUTES]),
        }
    }
}

impl TrafficWindow {
    /// Counts one answered request in `minute`.
    pub fn record(&self, minute: i64, latency: Duration, server_error: bool) {
        let micros = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = Minute::empty(minute);
        }
        slot.requests += 1;
        slot.errors += u64::from(server_error);
        slot.latency[bucket] += 1;
    }

    fn minute(&self, minute: i64) -> Minute {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &slots[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute == minute {
            slot.clone()
        } else {
            Minute::empty(minute)
        }
    }

    /// The last hour up to and including `now`, oldest first, one entry per minute.
    pub fn minutes(&self, now: i64) -> Vec<TrafficMinute> {
        (now - MINUTES as i64 + 1..=now)
            .map(|m| self.minute(m).to_traffic())
            .collect()
    }

    /// The last `count` minutes up to `now` taken together (labelled with `now`).
    pub fn summary(&self, now: i64, count: usize) -> TrafficMinute {
        let mut total = Minute::empty(now);
        for m in now - count.min(MINUTES) as i64 + 1..=now {
            total.add(&self.minute(m));
        }
        total.to_traffic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_come_within_a_bucket_of_the_truth() {
        let window = TrafficWindow::default();
        for i in 1..=1000 {
            window.record(100, Duration::from_micros(i * 100), false);
        }
        let minute = window.summary(100, 1);
        assert_eq!(minute.requests, 1000);
        for (got, truth) in [
            (minute.p50_ms.unwrap(), 50.0),
            (minute.p95_ms.unwrap(), 95.0),
            (minute.p99_ms.unwrap(), 99.0),
        ] {
            assert!(
                got >= truth && got <= truth * 1.2,
                "{got} ms for a true {truth} ms"
            );
        }
    }

    #[test]
    fn minutes_roll_over_and_old_ones_are_forgotten() {
        let window = TrafficWindow::default();
        window.record(10, ms(1), false);
        window.record(10, ms(1), true);
        window.record(11, ms(2), false);
        let hour = window.minutes(11);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(
            (hour[MINUTES - 2].requests, hour[MINUTES - 2].errors),
            (2, 1)
        );
        assert_eq!(hour[MINUTES - 2].error_rate(), 50.0);
        assert_eq!(hour[MINUTES - 1].requests, 1);
        assert_eq!(hour[0].requests, 0);
        assert_eq!(hour[0].p95_ms, None);
        assert_eq!(window.summary(11, 5).requests, 3);
        // Sixty minutes later minute 10's slot belongs to minute 70: the hour up to minute 70
        // holds minutes 11 and 70, and minute 10's two requests are gone.
        window.record(70, ms(1), false);
        assert_eq!(window.summary(70, 60).requests, 2);
        assert_eq!(window.minutes(71)[MINUTES - 2].requests, 1);
    }

    #[test]
    fn very_slow_requests_land_in_the_last_bucket() {
        let window = TrafficWindow::default();
        window.record(5, Duration::from_secs(600), false);
        let p99 = window.summary(5, 1).p99_ms.unwrap();
        assert!(p99 >= 100_000.0, "{p99}");
        assert_eq!(minute_label(0), "1970-01-01T00:00Z");
    }
}
