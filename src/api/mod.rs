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
