//! Limits on a request's body: the time it may take to arrive, and its size.
//!
//! hyper's header read timeout bounds a request's head; nothing bounds its body. A client that
//! sends the head of a `POST` and then stalls, or trickles the body a byte at a time, would hold
//! its connection and its handler for good, and sign-in takes such a request from anyone.
//! tower-http's body timeout does not close this: it bounds the wait for each piece of the body,
//! so a trickle slow enough to take days still passes. Here the whole body must arrive within
//! the deadline once the handler starts reading it.
//!
//! The size limit is axum's own (the REST API's extractors and the server functions read
//! through it), enforced here first for two reasons: a body whose declared length is over it
//! is refused at once, where axum would read 2 MiB of it before giving up; and the refusal is
//! ours, in words the REST API and the pages can show ("must be at most 2048 KiB", a problem
//! the interface words in its own language), where axum's reads "length limit exceeded".

use hyper::body::{Body, Buf, Frame, SizeHint};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Sleep;

/// A request body that fails with [`BodyRefused`] unless it has arrived in full within
/// `time_limit` of the handler's first read that found it incomplete, and is at most
/// `MAX_REQUEST_BODY_BYTES` long.
pub struct GuardedBody<B> {
    body: B,
    time_limit: Duration,
    /// Armed at the first read that has to wait, so a body that arrived with its head costs
    /// no timer.
    deadline: Option<Pin<Box<Sleep>>>,
    bytes_left: usize,
}

impl<B> GuardedBody<B> {
    pub fn new(body: B, time_limit: Duration) -> Self {
        Self {
            body,
            time_limit,
            deadline: None,
            bytes_left: crate::api::MAX_REQUEST_BODY_BYTES,
        }
    }
}

/// Why a body was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefused {
    /// It did not arrive within the deadline.
    TimedOut { limit: Duration },
    /// It is longer than any request the server takes.
    TooLarge,
}

impl std::fmt::Display for BodyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimedOut { limit } => write!(
                f,
                "was not received in full within {} s; nothing was done, send the request again",
                limit.as_secs()
            ),
            // The words of the shared problem, which server functions' errors are matched by.
            Self::TooLarge => crate::api::request_too_large().fmt(f),
        }
    }
}

impl std::error::Error for BodyRefused {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for GuardedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        // A declared length over the limit is refused before anything is read.
        if this.body.size_hint().lower() > this.bytes_left as u64 {
            return Poll::Ready(Some(Err(Box::new(BodyRefused::TooLarge))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(match frame {
                Some(Ok(frame)) => {
                    let length = frame.data_ref().map_or(0, Buf::remaining);
                    match this.bytes_left.checked_sub(length) {
                        Some(left) => {
                            this.bytes_left = left;
                            Some(Ok(frame))
                        }
                        None => Some(Err(Box::new(BodyRefused::TooLarge))),
                    }
                }
                Some(Err(error)) => Some(Err(error.into())),
                None => None,
            });
        }
        let limit = this.time_limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyRefused::TimedOut { limit })))),
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

/// The refusal, if it is what ended a body read that failed with `error`.
pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<BodyRefused> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<BodyRefused>() {
            return Some(*refused);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    /// A body of `pieces` frames of `size` bytes each, with no declared length (as a chunked
    /// upload arrives).
    fn chunked(pieces: usize, size: usize) -> impl Body<Data = Bytes, Error = BoxError> + Unpin {
        let frames =
            (0..pieces).map(move |_| Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b'x'; size]))));
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_up_to_the_limit_is_taken_and_one_past_it_refused() {
        let limit = crate::api::MAX_REQUEST_BODY_BYTES;
        let whole = GuardedBody::new(chunked(limit / 1024, 1024), Duration::from_secs(30));
        assert_eq!(whole.collect().await.unwrap().to_bytes().len(), limit);

        let over = GuardedBody::new(chunked(limit / 1024 + 1, 1024), Duration::from_secs(30));
        let error = over.collect().await.unwrap_err();
        assert_eq!(refusal(error.as_ref()), Some(BodyRefused::TooLarge));
        assert_eq!(error.to_string(), "must be at most 2048 KiB");
    }

    #[tokio::test]
    async fn a_declared_length_past_the_limit_is_refused_before_anything_is_read() {
        let declared = http_body_util::Full::new(Bytes::from(vec![
            b'x';
            crate::api::MAX_REQUEST_BODY_BYTES
                + 1
        ]));
        let mut body = GuardedBody::new(declared, Duration::from_secs(30));
        let first = body.frame().await.unwrap();
        assert!(matches!(
            first.map_err(|error| refusal(error.as_ref())),
            Err(Some(BodyRefused::TooLarge))
        ));
    }

    #[tokio::test]
    async fn a_body_that_stops_coming_is_refused_at_the_deadline() {
        let pending = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, BoxError>>());
        let limit = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let error = GuardedBody::new(pending, limit)
            .collect()
            .await
            .unwrap_err();
        assert_eq!(
            refusal(error.as_ref()),
            Some(BodyRefused::TimedOut { limit })
        );
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
    }
}
