//! Request ids for writes from the page: one per press, kept for retries of that press.

/// A fresh id of 32 hex characters (in the browser; the end-to-end tests exercise it).
#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
pub fn new_request_id() -> String {
    // Two draws of 52 random bits each, plus the time: unique enough for idempotency keys,
    // which need to be distinct, not secret.
    let draw = || (js_sys::Math::random() * 4_503_599_627_370_496.0) as u64;
    format!(
        "{:013x}{:013x}{:06x}",
        draw(),
        draw(),
        (js_sys::Date::now() as u64) & 0xff_ffff
    )
}

/// Outside the browser (server rendering, native tests): time and a counter.
#[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
pub fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A random index below `n` (0 when `n` is 0), for the random picker.
pub fn random_below(n: usize) -> usize {
    #[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
    let unit = js_sys::Math::random();
    #[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
    let unit = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| f64::from(d.subsec_nanos()) / 1e9);
    ((unit * n as f64) as usize).min(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_visible_ascii() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_graphic()) && !a.is_empty() && a.len() <= 200);
    }
}
