//! How many live-update streams each account holds open.
//!
//! A board, a projector and the monitor page each follow the server over one long-lived
//! connection. Without a bound per account, one account (a script that opens streams and never
//! closes them, a token that leaked) could hold every connection the server keeps open, and no
//! one else could sign in. So an account keeps at most `per_account` streams: opening one more
//! ends its oldest. Ending the oldest, rather than refusing the newest, means the screen just
//! opened always follows live, and a stream whose device vanished without closing its
//! connection (a laptop shut, a phone out of range), which the server cannot tell from a quiet
//! one, is the first to go. A browser whose stream was ended reconnects by itself and resyncs.

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};
use tokio::sync::oneshot;

/// The live streams open, per account. Cheap to clone: clones share the count.
#[derive(Clone)]
pub struct LiveStreams(Arc<Shared>);

struct Shared {
    per_account: usize,
    open: Mutex<Open>,
    metrics: LiveStreamMetrics,
}

/// What `/metrics` shows of the live streams (registered there, counted here).
#[derive(Clone, Default)]
pub struct LiveStreamMetrics {
    /// Streams open.
    pub open: Gauge,
    /// Streams ended because their account opened more than it may keep.
    pub displaced: Counter,
    /// Streams an account may keep open.
    pub per_account: Gauge,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    /// Per account id, its streams oldest first, each with the sender whose drop ends it.
    by_account: HashMap<String, VecDeque<(u64, oneshot::Sender<()>)>>,
    last_warned: Option<Instant>,
}

/// One open stream's place; dropping it (the stream ended) gives the place back.
pub struct LiveStream {
    streams: LiveStreams,
    account: String,
    id: u64,
}

/// Completes once a newer stream of the same account has ended this one.
pub type Displaced = oneshot::Receiver<()>;

impl LiveStreams {
    pub fn new(per_account: usize, metrics: LiveStreamMetrics) -> Self {
        let per_account = per_account.max(1);
        metrics
            .per_account
            .set(i64::try_from(per_account).unwrap_or(i64::MAX));
        Self(Arc::new(Shared {
            per_account,
            open: Mutex::new(Open::default()),
            metrics,
        }))
    }

    /// Takes a place for a stream of `account`, ending the account's oldest stream if it
    /// already has as many as it may.
    pub fn open(&self, account: &str) -> (LiveStream, Displaced) {
        let (displace, displaced) = oneshot::channel();
        let mut open = self.lock();
        let id = open.next_id;
        open.next_id += 1;
        let streams = open.by_account.entry(account.to_owned()).or_default();
        streams.push_back((id, displace));
        let mut ended = 0;
        while streams.len() > self.0.per_account {
            // Dropping the sender completes the oldest stream's `Displaced`.
            streams.pop_front();
            ended += 1;
        }
        self.0.metrics.open.set(open.count());
        if ended > 0 {
            self.0.metrics.displaced.inc_by(ended);
            open.warn_at_most_once_a_minute(account, self.0.per_account);
        }
        let place = LiveStream {
            streams: self.clone(),
            account: account.to_owned(),
            id,
        };
        (place, displaced)
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Nothing panics while holding the lock; should it, the counts are still whole.
        self.0.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Open {
    /// Streams open, for the gauge.
    fn count(&self) -> i64 {
        let open: usize = self.by_account.values().map(VecDeque::len).sum();
        i64::try_from(open).unwrap_or(i64::MAX)
    }

    /// An account at its limit opens and ends streams over and over (each ended browser
    /// reconnects), so one line a minute says it.
    fn warn_at_most_once_a_minute(&mut self, account: &str, per_account: usize) {
        let minute = Duration::from_secs(60);
        if self.last_warned.is_none_or(|at| at.elapsed() >= minute) {
            self.last_warned = Some(Instant::now());
            tracing::warn!(
                account,
                per_account,
                "an account opened more live streams than it may keep; its oldest was ended \
                 (CLASSPOINTS_LIVE_STREAMS_PER_ACCOUNT)"
            );
        }
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(streams) = open.by_account.get_mut(&self.account) {
            streams.retain(|(id, _)| *id != self.id);
            if streams.is_empty() {
                open.by_account.remove(&self.account);
            }
        }
        self.streams.0.metrics.open.set(open.count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot::error::TryRecvError;

    fn streams(per_account: usize) -> LiveStreams {
        LiveStreams::new(per_account, LiveStreamMetrics::default())
    }

    #[test]
    fn an_account_past_its_limit_ends_its_oldest_stream_only() {
        let streams = streams(2);
        let (_first, mut first_ended) = streams.open("teacher");
        let (_second, mut second_ended) = streams.open("teacher");
        let (_other, mut other_ended) = streams.open("another teacher");
        assert_eq!(first_ended.try_recv(), Err(TryRecvError::Empty));
        let (_third, mut third_ended) = streams.open("teacher");
        assert_eq!(
            first_ended.try_recv(),
            Err(TryRecvError::Closed),
            "oldest ended"
        );
        assert_eq!(second_ended.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(third_ended.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(other_ended.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(streams.lock().count(), 3);
        assert_eq!(streams.0.metrics.displaced.get(), 1);
    }

    #[test]
    fn a_stream_that_ends_gives_its_place_back() {
        let streams = streams(2);
        let (first, mut first_ended) = streams.open("teacher");
        let (second, _) = streams.open("teacher");
        drop(second);
        assert_eq!(streams.0.metrics.open.get(), 1);
        let (_third, _) = streams.open("teacher");
        assert_eq!(
            first_ended.try_recv(),
            Err(TryRecvError::Empty),
            "the place the ended stream gave back was taken, no other stream ended"
        );
        drop(first);
        assert_eq!(streams.0.metrics.open.get(), 1);
        assert_eq!(streams.0.metrics.displaced.get(), 0);
    }

    #[test]
    fn a_displaced_stream_dropped_later_leaves_the_others_counted() {
        let streams = streams(1);
        let (first, _) = streams.open("teacher");
        let (_second, mut second_ended) = streams.open("teacher");
        // The first stream's task notices it was ended and drops its place afterwards.
        drop(first);
        assert_eq!(second_ended.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(streams.lock().count(), 1);
        assert_eq!(streams.0.metrics.open.get(), 1);
    }
}
