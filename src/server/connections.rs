//! The client connections the server keeps open, and room for new ones when they run out.
//!
//! Each connection is an open file, so the server keeps at most a fixed number open; past it,
//! new clients wait in the operating system's listen queue. Waiting alone would let one client
//! deny everyone else: open that many connections, send nothing, and every new client waits
//! until the header timeout closes one, then races the same client for the freed place. So
//! when no place is free, the connection idle the longest (no request being answered, a live
//! stream counts as one) is closed to make room. An idle keep-alive connection closed by the
//! server costs its client a reconnect; a stalled one was holding its place for nothing. Only
//! when every connection is busy answering does a new client wait.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The open connections, at most `limit` of them.
pub struct Connections {
    free: Arc<Semaphore>,
    limit: usize,
    open: Arc<Mutex<HashMap<u64, Arc<Connection>>>>,
    next_id: u64,
    started: Instant,
    last_warned: Option<Instant>,
    shed: prometheus_client::metrics::counter::Counter,
}

/// One open connection, as the accept loop and its requests see it.
pub struct Connection {
    /// Requests being answered on it; an answer counts until its body has been sent.
    answering: AtomicUsize,
    /// When it last became idle (accepted, or an answer sent), in microseconds since the
    /// server started.
    idle_since: AtomicU64,
    started: Instant,
    /// Tells its task to close it, if it is still idle.
    close_if_idle: Notify,
    /// Asked to close and not yet declined (see [`Connection::close_if_still_idle`]).
    asked: AtomicBool,
    /// Counts the connections closed to make room.
    shed: prometheus_client::metrics::counter::Counter,
}

/// A connection's place: while held, the connection counts as open.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    id: u64,
    open: Arc<Mutex<HashMap<u64, Arc<Connection>>>>,
    pub connection: Arc<Connection>,
}

impl Connections {
    /// `shed` counts the idle connections closed to make room.
    pub fn new(limit: usize, shed: prometheus_client::metrics::counter::Counter) -> Self {
        Self {
            free: Arc::new(Semaphore::new(limit)),
            limit,
            open: Arc::default(),
            next_id: 0,
            started: Instant::now(),
            last_warned: None,
            shed,
        }
    }

    /// A place for the next connection, once one is free.
    pub async fn free_place(&mut self) -> Place {
        match self.free.clone().acquire_owned().await {
            Ok(permit) => self.place(permit),
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        }
    }

    /// A place for a client accepted while none was free: made by closing the connection
    /// idle the longest, else the first that frees up.
    pub async fn make_place(&mut self) -> Place {
        loop {
            if let Ok(permit) = self.free.clone().try_acquire_owned() {
                return self.place(permit);
            }
            let closing = self.close_longest_idle();
            if !closing {
                self.warn_at_most_once_a_minute();
            }
            // A connection that finishes its answer becomes idle without giving its place
            // back, so while all are busy, look again now and then.
            let look_again = Duration::from_millis(if closing { 100 } else { 250 });
            tokio::select! {
                permit = self.free.clone().acquire_owned() => match permit {
                    Ok(permit) => return self.place(permit),
                    Err(_) => std::future::pending().await,
                },
                () = tokio::time::sleep(look_again) => {}
            }
        }
    }

    fn place(&mut self, permit: OwnedSemaphorePermit) -> Place {
        let id = self.next_id;
        self.next_id += 1;
        let connection = Arc::new(Connection {
            answering: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            started: self.started,
            close_if_idle: Notify::new(),
            asked: AtomicBool::new(false),
            shed: self.shed.clone(),
        });
        connection.now_idle();
        lock(&self.open).insert(id, connection.clone());
        Place {
            _permit: permit,
            id,
            open: self.open.clone(),
            connection,
        }
    }

    /// Asks the connection idle the longest to close; false if none is idle.
    fn close_longest_idle(&self) -> bool {
        let open = lock(&self.open);
        // Of two idle since the same moment, the older connection.
        let longest_idle = open
            .iter()
            .filter(|(_, connection)| {
                connection.is_idle() && !connection.asked.load(Ordering::Acquire)
            })
            .min_by_key(|(id, connection)| (connection.idle_since.load(Ordering::Relaxed), **id));
        let Some((_, connection)) = longest_idle else {
            return false;
        };
        connection.asked.store(true, Ordering::Release);
        // A permit is stored if its task is not waiting yet, so the request is not lost.
        connection.close_if_idle.notify_one();
        true
    }

    /// Once a minute at most: under a flood each closing connection lets one more in and
    /// the limit is reached again.
    fn warn_at_most_once_a_minute(&mut self) {
        let minute = Duration::from_secs(60);
        if self.last_warned.is_none_or(|at| at.elapsed() >= minute) {
            self.last_warned = Some(Instant::now());
            tracing::warn!(
                limit = self.limit,
                "connection limit reached with every connection answering; new clients wait \
                 until one closes"
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding the lock; should it, the table is still whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Place {
    fn drop(&mut self) {
        lock(&self.open).remove(&self.id);
    }
}

impl Connection {
    /// A request on this connection is being answered, until the body of its answer
    /// ([`Connection::answer_body`]) is dropped.
    pub fn answering(&self) {
        self.answering.fetch_add(1, Ordering::AcqRel);
    }

    fn answered(&self) {
        if self.answering.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.now_idle();
        }
    }

    fn now_idle(&self) {
        let since_start = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.idle_since.store(since_start, Ordering::Relaxed);
    }

    /// Whether no request on it is being answered.
    pub fn is_idle(&self) -> bool {
        self.answering.load(Ordering::Acquire) == 0
    }

    /// Completes when the accept loop wants this connection closed to make room; its task
    /// then asks [`Connection::close_if_still_idle`].
    pub async fn asked_to_close(&self) {
        self.close_if_idle.notified().await;
    }

    /// Whether to close the connection now: it is still idle. Called by its task between
    /// polls of the connection, so no request can have begun unseen and closing cuts no
    /// answer. Otherwise a request began since the ask: the connection stays open and may
    /// be asked again once idle.
    pub fn close_if_still_idle(&self) -> bool {
        if self.is_idle() {
            self.shed.inc();
            true
        } else {
            self.asked.store(false, Ordering::Release);
            false
        }
    }

    /// `body` as the body of an answer on this connection: the answer counts as in progress
    /// until it has been sent (or dropped).
    pub fn answer_body<B>(self: &Arc<Self>, body: B) -> AnswerBody<B> {
        AnswerBody {
            body,
            connection: self.clone(),
        }
    }
}

/// An answer's body, which marks its connection idle again once it has been sent.
pub struct AnswerBody<B> {
    body: B,
    connection: Arc<Connection>,
}

impl<B> Drop for AnswerBody<B> {
    fn drop(&mut self) {
        self.connection.answered();
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for AnswerBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[tokio::test]
    async fn with_no_place_free_the_connection_idle_the_longest_is_asked_to_close() {
        let shed = Counter::default();
        let mut connections = Connections::new(3, shed.clone());
        let oldest = connections.free_place().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let busy = connections.free_place().await;
        busy.connection.answering();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newest = connections.free_place().await;

        let taking = tokio::spawn(async move { connections.make_place().await });
        tokio::time::timeout(Duration::from_secs(5), oldest.connection.asked_to_close())
            .await
            .expect("the longest idle was asked to close");
        assert!(oldest.connection.close_if_still_idle());
        assert_eq!(shed.get(), 1);
        assert!(
            !taking.is_finished(),
            "no place until the closed one gives it back"
        );
        drop(oldest);
        let _fourth = tokio::time::timeout(Duration::from_secs(5), taking)
            .await
            .expect("a place once the closed connection gave its back")
            .unwrap();
        // The busy one was passed over although it had been idle longer than the newest.
        assert!(!busy.connection.is_idle());
        drop((busy, newest));
    }

    #[tokio::test]
    async fn an_answer_keeps_its_connection_busy_until_its_body_is_dropped() {
        let mut connections = Connections::new(1, Counter::default());
        let place = connections.free_place().await;
        assert!(place.connection.is_idle());
        place.connection.answering();
        let body = place.connection.answer_body(axum::body::Body::empty());
        assert!(!place.connection.is_idle());
        drop(body);
        assert!(place.connection.is_idle());
    }

    #[tokio::test]
    async fn while_every_connection_is_busy_a_new_one_waits() {
        let shed = Counter::default();
        let mut connections = Connections::new(1, shed.clone());
        let busy = connections.free_place().await;
        busy.connection.answering();
        let taking = tokio::spawn(async move { connections.make_place().await });
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!taking.is_finished());
        assert_eq!(shed.get(), 0, "a busy connection is not asked to close");
        // Its answer sent, it is idle: the next look asks it to close.
        busy.connection.answered();
        tokio::time::timeout(Duration::from_secs(5), busy.connection.asked_to_close())
            .await
            .expect("asked to close once idle");
        assert!(busy.connection.close_if_still_idle());
        assert_eq!(shed.get(), 1);
        drop(busy);
        tokio::time::timeout(Duration::from_secs(5), taking)
            .await
            .expect("a place")
            .unwrap();
    }

    #[tokio::test]
    async fn a_connection_asked_while_a_request_began_stays_and_may_be_asked_again() {
        let shed = Counter::default();
        let mut connections = Connections::new(1, shed.clone());
        let place = connections.free_place().await;
        assert!(connections.close_longest_idle());
        assert!(
            !connections.close_longest_idle(),
            "not asked twice while the ask stands"
        );
        place.connection.answering();
        assert!(!place.connection.close_if_still_idle(), "a request began");
        assert_eq!(shed.get(), 0);
        place.connection.answered();
        assert!(connections.close_longest_idle(), "asked again once idle");
        assert!(place.connection.close_if_still_idle());
        assert_eq!(shed.get(), 1);
    }
}
