//! Adapters over the core: server functions for the web UI, and the REST API.

pub mod admin;
pub mod board;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
mod session;
pub mod status;

/// How server functions answer the browser: postcard instead of JSON. A JSON reply needs a
/// deserializer per result type that matches field names and accepts maps and sequences alike,
/// all of it compiled into the browser bundle; postcard reads fields in order and its code is a
/// fraction of the size (BENCHMARKS.md, "Browser bundle"). Errors travel in postcard too
/// (`AppError`'s `FromServerFnError`).
pub type Reply = leptos::server_fn::codec::Postcard;

/// Longest request body the server takes, through the REST API and the server functions
/// alike: axum's default body limit, which both read through. The largest thing anyone sends
/// is a roster file, at most `admin::MAX_ROSTER_BYTES`.
pub const MAX_REQUEST_BODY_BYTES: usize = 2 << 20;

/// What a body over [`MAX_REQUEST_BODY_BYTES`] is refused with.
pub fn request_too_large() -> crate::error::Problem {
    crate::error::Problem::TooLarge {
        max_kib: MAX_REQUEST_BODY_BYTES / 1024,
    }
}
