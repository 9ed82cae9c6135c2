//! Request ids for writes from the page: one per press, kept for retries of that press.

/// A fresh id of 32 hex characters (in the browser; the end-to-end tests exercise it).
#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
pub fn new_request_id() -> String {
    // Two draws of 52 random bits each: unique enough for idempotency keys, which need to be
    // distinct, not secret.
    let draw = || (js_sys::Math::random() * 4_503_599_627_370_496.0) as u128;
    format_request_id(js_sys::Date::now() as u64, (draw() << 52) | draw())
}

/// The time in milliseconds (11 hex digits, until the year 2527), then 84 of the `random`
/// bits (21 hex digits). Time first, so that one teacher's ids sort in the order they were
/// made: the server files each id in a B-tree keyed by (teacher, id), and ids that arrive in
/// order land on the same few pages instead of one random page each, which halved the cost of
/// storing a key when measured (BENCHMARKS.md).
pub fn format_request_id(millis: u64, random: u128) -> String {
    const RANDOM_BITS: u32 = 84;
    format!(
        "{:011x}{:021x}",
        millis & 0xfff_ffff_ffff,
        random & ((1u128 << RANDOM_BITS) - 1)
    )
}

/// A board-style id made natively from the system clock and `random` (the benchmarks send
/// these to measure keys as the board makes them).
#[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
pub fn format_request_id_now(random: u128) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format_request_id(millis, random)
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

    #[test]
    fn formatted_ids_are_32_hex_digits_that_sort_by_time() {
        use super::format_request_id;
        let early = format_request_id(1_790_000_000_000, u128::MAX);
        let later = format_request_id(1_790_000_000_001, 0);
        assert_eq!(early.len(), 32);
        assert_eq!(later.len(), 32);
        assert!(early.bytes().all(|c| c.is_ascii_hexdigit()), "{early}");
        assert!(early < later, "{early} sorts before {later}");
        assert_ne!(
            format_request_id(1, 1 << 83),
            format_request_id(1, 1 << 82),
            "the top random bit kept is used"
        );
    }
}
