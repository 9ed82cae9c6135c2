//! A deadline for receiving a request's body.
//!
//! hyper's header read timeout bounds a request's head; nothing bounds its body. A client that
//! sends the head of a `POST` and then stalls, or trickles the body a byte at a time, would hold
//! its connection and its handler for good, and sign-in takes such a request from anyone.
//! tower-http's body timeout does not close this: it bounds the wait for each piece of the body,
//! so a trickle slow enough to take days still passes. Here the whole body must arrive within
//! the deadline once the handler starts reading it.

use hyper::body::{Body, Frame, SizeHint};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Sleep;

/// A request body that fails with [`BodyTimedOut`] unless it has arrived in full within
/// `limit` of the handler's first read that found it incomplete.
pub struct DeadlineBody<B> {
    body: B,
    limit: Duration,
    /// Armed at the first read that has to wait, so a body that arrived with its head (every
    /// award) costs no timer.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(body: B, limit: Duration) -> Self {
        Self {
            body,
            limit,
            deadline: None,
        }
    }
}

/// The body did not arrive within the deadline.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimedOut {
    pub limit: Duration,
}

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "was not received in full within {} s; nothing was done, send the request again",
            self.limit.as_secs()
        )
    }
}

impl std::error::Error for BodyTimedOut {}

impl<B> Body for DeadlineBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut { limit })))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The deadline's error, if it is what ended a body read that failed with `error`.
pub fn timed_out(error: &(dyn std::error::Error + 'static)) -> Option<BodyTimedOut> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
            return Some(*timed_out);
        }
        cause = error.source();
    }
    None
}
