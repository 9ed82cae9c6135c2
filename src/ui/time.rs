//! Times as the school reads them. The ledger and the logs store UTC (`2026-11-26T08:05:03.123Z`);
//! pages show the school's wall clock, at the offset its rules set, so a teacher in Beijing sees
//! 16:05 for that award, not 08:05. The server renders the same text the browser would, so
//! hydration agrees whatever zone the device is in. Plain arithmetic on the civil calendar
//! rather than a date crate: this runs in the browser bundle.

use crate::rules::UTC_OFFSETS;
use leptos::prelude::*;

/// A stored timestamp as the school's clock reads it ([`school_time`], or [`school_minute`]
/// with `to_the_minute`), in a `<time>` that keeps the instant itself for machines.
#[component]
pub fn SchoolTime(at: String, offset: i32, #[prop(optional)] to_the_minute: bool) -> impl IntoView {
    let text = if to_the_minute {
        school_minute(&at, offset)
    } else {
        school_time(&at, offset)
    };
    view! { <time datetime=at>{text}</time> }
}

/// `timestamp` (UTC, as stored) at `utc_offset_minutes` from UTC: `YYYY-MM-DD HH:MM:SS`, or
/// `YYYY-MM-DD HH:MM` when the timestamp has no seconds. Text that is not such a timestamp is
/// returned as it is: showing it beats hiding it.
pub fn school_time(timestamp: &str, utc_offset_minutes: i32) -> String {
    shifted(timestamp, utc_offset_minutes).unwrap_or_else(|| timestamp.to_owned())
}

/// [`school_time`] to the minute, for lists where seconds are noise (a student's history).
pub fn school_minute(timestamp: &str, utc_offset_minutes: i32) -> String {
    match shifted(timestamp, utc_offset_minutes) {
        Some(mut text) => {
            text.truncate("YYYY-MM-DD HH:MM".len());
            text
        }
        None => timestamp.to_owned(),
    }
}

/// The offsets from UTC, in minutes, that the world's time zones use (standard and summer
/// times in the IANA time zone database), offered by the rules page.
pub const ZONE_OFFSETS: [i32; 38] = [
    -720, -660, -600, -570, -540, -480, -420, -360, -300, -240, -210, -180, -120, -60, 0, 60, 120,
    180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 525, 540, 570, 600, 630, 660, 720, 765,
    780, 840,
];

/// How an offset in minutes reads as a time zone ("UTC+08:00", "UTC-05:30"); `None` for one
/// outside [`UTC_OFFSETS`].
pub fn utc_offset_label(minutes: i32) -> Option<String> {
    UTC_OFFSETS.contains(&minutes).then(|| {
        let sign = if minutes < 0 { '-' } else { '+' };
        let (hours, rest) = (minutes.abs() / 60, minutes.abs() % 60);
        format!("UTC{sign}{hours:02}:{rest:02}")
    })
}

fn shifted(timestamp: &str, utc_offset_minutes: i32) -> Option<String> {
    let b = timestamp.as_bytes();
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':')];
    if !separators.iter().all(|&(at, sep)| b.get(at) == Some(&sep)) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute) = (number(11, 13)?, number(14, 16)?);
    let second = match b.get(16) {
        Some(b':') => Some(number(17, 19)?),
        Some(b'Z' | b'.') | None => None,
        Some(_) => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let minutes = days_from_civil(year, month, day) * 1440
        + hour * 60
        + minute
        + i64::from(utc_offset_minutes);
    let (year, month, day) = civil_from_days(minutes.div_euclid(1440));
    let (hour, minute) = (minutes.rem_euclid(1440) / 60, minutes.rem_euclid(60));
    let mut text = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}");
    if let Some(second) = second {
        text.push_str(&format!(":{second:02}"));
    }
    Some(text)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_reads_as_the_schools_wall_clock() {
        let award = "2026-11-26T08:05:03.123Z";
        assert_eq!(school_time(award, 480), "2026-11-26 16:05:03");
        assert_eq!(school_time(award, 0), "2026-11-26 08:05:03");
        assert_eq!(school_time(award, -330), "2026-11-26 02:35:03");
        assert_eq!(school_minute(award, 480), "2026-11-26 16:05");
        // Minutes only, as the traffic window's minutes are written.
        assert_eq!(school_time("2026-11-26T08:05Z", 480), "2026-11-26 16:05");
    }

    #[test]
    fn the_date_turns_with_the_offset() {
        // New year's eve in UTC is new year's day in Beijing, and still the 31st in New York.
        assert_eq!(
            school_minute("2026-12-31T20:00:00.000Z", 480),
            "2027-01-01 04:00"
        );
        assert_eq!(
            school_minute("2027-01-01T02:00:00.000Z", -300),
            "2026-12-31 21:00"
        );
        // Leap days, both ways.
        assert_eq!(
            school_minute("2028-02-28T20:00:00.000Z", 480),
            "2028-02-29 04:00"
        );
        assert_eq!(
            school_minute("2028-03-01T01:00:00.000Z", -120),
            "2028-02-29 23:00"
        );
        assert_eq!(
            school_minute("2026-02-28T20:00:00.000Z", 480),
            "2026-03-01 04:00"
        );
    }

    #[test]
    fn other_text_is_shown_as_it_is() {
        for text in [
            "",
            "yesterday",
            "2026-11-26",
            "2026-13-01T00:00Z",
            "2026-11-26T24:00Z",
        ] {
            assert_eq!(school_time(text, 480), text);
            assert_eq!(school_minute(text, 480), text);
        }
    }

    #[test]
    fn the_zones_offered_are_valid_and_in_order() {
        assert!(ZONE_OFFSETS.windows(2).all(|w| w[0] < w[1]));
        assert!(ZONE_OFFSETS.iter().all(|o| UTC_OFFSETS.contains(o)));
        assert!(ZONE_OFFSETS.contains(&480), "the default zone is offered");
    }

    #[test]
    fn a_utc_offset_reads_as_a_time_zone() {
        assert_eq!(utc_offset_label(480).as_deref(), Some("UTC+08:00"));
        assert_eq!(utc_offset_label(0).as_deref(), Some("UTC+00:00"));
        assert_eq!(utc_offset_label(-330).as_deref(), Some("UTC-05:30"));
        assert_eq!(utc_offset_label(14 * 60).as_deref(), Some("UTC+14:00"));
        assert_eq!(utc_offset_label(14 * 60 + 1), None);
        assert_eq!(utc_offset_label(-14 * 60 - 1), None);
    }

    /// Against chrono (the server's clock) over many instants and every whole-quarter offset.
    #[cfg(feature = "ssr")]
    #[test]
    fn agrees_with_chrono() {
        use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
        let mut at = DateTime::parse_from_rfc3339("1999-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        for step in 0..4000 {
            // An uneven stride of ~9.6 days walks across months, leap years and hours.
            at += chrono::Duration::seconds(829_441 + step);
            let stored = at.to_rfc3339_opts(SecondsFormat::Millis, true);
            for offset in (UTC_OFFSETS).step_by(15) {
                let local = at.with_timezone(&FixedOffset::east_opt(offset * 60).unwrap());
                assert_eq!(
                    school_time(&stored, offset),
                    local.format("%Y-%m-%d %H:%M:%S").to_string(),
                    "{stored} at {offset}"
                );
            }
        }
    }
}
