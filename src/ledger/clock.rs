//! Timestamps as stored: UTC, millisecond precision, fixed width so text order is time order.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};

pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now() -> String {
    format(Utc::now())
}

/// Parses a stored or client-given timestamp (any RFC 3339 offset) into the stored form.
pub fn normalize(value: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| format(t.with_timezone(&Utc)))
}

/// The school's zone, `utc_offset_minutes` from UTC (UTC itself for an offset out of range,
/// which the rules never store).
fn school_zone(utc_offset_minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(utc_offset_minutes * 60).unwrap_or(FixedOffset::east_opt(0).unwrap())
}

/// The school's date at `at` (`2026-11-29`), for a school `utc_offset_minutes` from UTC.
pub fn school_date(at: DateTime<Utc>, utc_offset_minutes: i32) -> String {
    at.with_timezone(&school_zone(utc_offset_minutes))
        .format("%Y-%m-%d")
        .to_string()
}

/// Start of the school day containing `at`, for a school `utc_offset_minutes` from UTC.
pub fn day_start(at: DateTime<Utc>, utc_offset_minutes: i32) -> String {
    let local = at.with_timezone(&school_zone(utc_offset_minutes));
    let midnight = local
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        - Duration::minutes(i64::from(utc_offset_minutes));
    format(midnight.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_fixed_width_utc_millis() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T08:00:00+08:00").unwrap();
        assert_eq!(format(t.with_timezone(&Utc)), "2026-11-25T00:00:00.000Z");
        assert_eq!(
            normalize("2026-11-25T08:00:00.5+08:00").as_deref(),
            Some("2026-11-25T00:00:00.500Z")
        );
        assert_eq!(normalize("yesterday"), None);
    }

    #[test]
    fn school_day_starts_at_local_midnight() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T17:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 01:30 on the 26th in UTC+8, so the day started at 16:00Z on the 25th.
        assert_eq!(day_start(at, 480), "2026-11-25T16:00:00.000Z");
        assert_eq!(day_start(at, 0), "2026-11-25T00:00:00.000Z");
        assert_eq!(day_start(at, -300), "2026-11-25T05:00:00.000Z");
        // The backup's file name: the 26th already in UTC+8, still the 25th in UTC-5.
        assert_eq!(school_date(at, 480), "2026-11-26");
        assert_eq!(school_date(at, -300), "2026-11-25");
    }
}
