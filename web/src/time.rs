//! Time parameters as people type them: RFC 3339 timestamps, `now`, and
//! offsets back from now such as `-15m`.
//!
//! Everything is Unix nanoseconds in an `i64`, the unit storage and
//! [`augur_profile::Profile`] use. The RFC 3339 parser and formatter are our
//! own (a few lines of civil-calendar arithmetic) so that UTC offsets are
//! honoured and no input can make them panic.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// Longest time text we look at; anything longer is not a time.
const MAX_TIME_LEN: usize = 64;

/// Why a time parameter could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum TimeError {
    /// The text was empty.
    #[error("empty time; use RFC 3339 (2026-11-24T15:00:00Z), `now` or `-15m`")]
    Empty,
    /// The text is neither RFC 3339, `now`, nor a relative time.
    #[error(
        "cannot parse time {text:?}: {reason}; use RFC 3339 (2026-11-24T15:00:00Z), `now` or `-15m`"
    )]
    Invalid {
        /// The offending text (shortened).
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A relative time whose duration does not parse.
    #[error("cannot parse duration in {text:?}: {source}; use e.g. -30s, -15m, -1h, -2d")]
    Duration {
        /// The offending text (shortened).
        text: String,
        /// What humantime said.
        #[source]
        source: humantime::DurationError,
    },
    /// The time is valid but outside what Unix nanoseconds in an `i64` hold
    /// (years 1677 to 2262).
    #[error("time {text:?} is out of range (years 1677 to 2262 are supported)")]
    OutOfRange {
        /// The offending text (shortened).
        text: String,
    },
}

/// Parses a time parameter into Unix nanoseconds.
///
/// Accepted forms:
/// - RFC 3339: `2026-11-24T15:00:00Z`, `2026-11-24T15:00:00.250+01:00`
///   (a space may replace `T`; a bare date means midnight UTC);
/// - `now`;
/// - an offset back from `now`: `-30s`, `-15m`, `-1h`, `-2d`, `-1h30m`,
///   also written `now-15m`.
pub fn parse_time(text: &str, now: SystemTime) -> Result<i64, TimeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    if text.len() > MAX_TIME_LEN {
        return Err(invalid(text, "too long"));
    }
    let now_nanos = system_time_nanos(now);
    if text.eq_ignore_ascii_case("now") {
        return to_i64(now_nanos, text);
    }
    let relative = text.strip_prefix("now-").or_else(|| text.strip_prefix('-'));
    if let Some(duration_text) = relative {
        let duration = humantime::parse_duration(duration_text.trim()).map_err(|source| {
            TimeError::Duration {
                text: shorten(text),
                source,
            }
        })?;
        let back = i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX);
        return to_i64(now_nanos.saturating_sub(back), text);
    }
    parse_rfc3339(text)
}

/// Formats Unix nanoseconds as RFC 3339 in UTC: whole seconds when there is
/// no fraction, milliseconds when that is exact, nanoseconds otherwise.
pub fn format_rfc3339(unix_nanos: i64) -> String {
    let seconds = unix_nanos.div_euclid(NANOS_PER_SECOND);
    let nanos = unix_nanos.rem_euclid(NANOS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else {
        format!(".{nanos:09}")
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

fn parse_rfc3339(text: &str) -> Result<i64, TimeError> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Result<i64, TimeError> {
        let digits = b
            .get(range)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| invalid(text, "expected YYYY-MM-DDTHH:MM:SSZ"))?;
        Ok(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, allowed: &[u8]| -> Result<(), TimeError> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(invalid(text, "expected YYYY-MM-DDTHH:MM:SSZ")),
        }
    };

    let year = number(0..4)?;
    expect(4, b"-")?;
    let month = number(5..7)?;
    expect(7, b"-")?;
    let day = number(8..10)?;
    if !(1..=12).contains(&month) {
        return Err(invalid(text, "month must be 01 to 12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(invalid(text, "no such day in that month"));
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        // A bare date: midnight UTC.
        return to_i64(
            i128::from(days) * i128::from(SECONDS_PER_DAY * NANOS_PER_SECOND),
            text,
        );
    }

    expect(10, b"Tt ")?;
    let hour = number(11..13)?;
    expect(13, b":")?;
    let minute = number(14..16)?;
    expect(16, b":")?;
    // RFC 3339 allows a leap second (60); it lands on the next second.
    let second = number(17..19)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(invalid(text, "hour, minute or second out of range"));
    }

    let mut at = 19;
    let mut nanos: i64 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale = 100_000_000;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            // Digits beyond nanoseconds are accepted and ignored.
            nanos += i64::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return Err(invalid(text, "expected digits after the decimal point"));
        }
    }

    let offset_seconds = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            let hours = number(at + 1..at + 3)?;
            expect(at + 3, b":")?;
            let minutes = number(at + 4..at + 6)?;
            if hours > 23 || minutes > 59 {
                return Err(invalid(text, "UTC offset out of range"));
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        None => return Err(invalid(text, "missing UTC offset (add Z)")),
        _ => return Err(invalid(text, "expected Z or a +HH:MM offset at the end")),
    };

    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
    to_i64(
        i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(nanos),
        text,
    )
}

fn system_time_nanos(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

fn to_i64(nanos: i128, text: &str) -> Result<i64, TimeError> {
    i64::try_from(nanos).map_err(|_| TimeError::OutOfRange {
        text: shorten(text),
    })
}

fn invalid(text: &str, reason: &'static str) -> TimeError {
    TimeError::Invalid {
        text: shorten(text),
        reason,
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_TIME_LEN).collect()
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// 2026-11-24T15:00:00Z.
    const NOW_SECONDS: u64 = 1_795_532_400;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECONDS)
    }

    fn at(seconds: i64) -> i64 {
        seconds * NANOS_PER_SECOND
    }

    fn parse(text: &str) -> Result<i64, TimeError> {
        parse_time(text, now())
    }

    #[test]
    fn now_and_relative_times() {
        let now = at(NOW_SECONDS as i64);
        assert_eq!(parse("now").unwrap(), now);
        assert_eq!(parse(" NOW ").unwrap(), now);
        assert_eq!(parse("-30s").unwrap(), now - at(30));
        assert_eq!(parse("-15m").unwrap(), now - at(15 * 60));
        assert_eq!(parse("-1h").unwrap(), now - at(3600));
        assert_eq!(parse("-2d").unwrap(), now - at(2 * 86_400));
        assert_eq!(parse("-1h30m").unwrap(), now - at(5400));
        assert_eq!(parse("now-6h").unwrap(), now - at(6 * 3600));
        assert_eq!(parse("-0s").unwrap(), now);
    }

    #[test]
    fn rfc3339_in_utc_and_with_offsets() {
        let expected = at(NOW_SECONDS as i64);
        assert_eq!(parse("2026-11-24T15:00:00Z").unwrap(), expected);
        assert_eq!(parse("2026-11-24t15:00:00z").unwrap(), expected);
        assert_eq!(parse("2026-11-24 15:00:00Z").unwrap(), expected);
        assert_eq!(parse("2026-11-24T16:00:00+01:00").unwrap(), expected);
        assert_eq!(parse("2026-11-24T09:30:00-05:30").unwrap(), expected);
        assert_eq!(
            parse("2026-11-24T15:00:00.5Z").unwrap(),
            expected + 500_000_000
        );
        assert_eq!(
            parse("2026-11-24T15:00:00.123456789123Z").unwrap(),
            expected + 123_456_789
        );
        assert_eq!(parse("2026-11-24").unwrap(), expected - at(15 * 3600));
        assert_eq!(parse("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse("1969-12-31T23:59:59Z").unwrap(), -NANOS_PER_SECOND);
        assert_eq!(parse("2024-02-29T00:00:00Z").unwrap(), at(1_709_164_800));
        // A leap second lands on the next second.
        assert_eq!(
            parse("2016-12-31T23:59:60Z").unwrap(),
            parse("2017-01-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for bad in [
            "",
            "   ",
            "yesterday",
            "15m",
            "-",
            "-15x",
            "now-",
            "2026-11-24T15:00:00",
            "2026-11-24T15:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T15:00:00.Z",
            "2026-11-24T15:00:00+1:00",
            "2026-11-24T15:00:00+01:00junk",
            "2026-11-24T15:00:00Zjunk",
            "２０２６-11-24T15:00:00Z",
            "2026-11-24T15:00:00\u{e9}",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(!error.to_string().is_empty());
        }
        assert!(parse(&"9".repeat(10_000)).is_err());
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(matches!(
            parse("9999-12-31T23:59:59Z"),
            Err(TimeError::OutOfRange { .. })
        ));
        assert!(matches!(parse("-1000y"), Err(TimeError::OutOfRange { .. })));
        assert!(parse("-99999999999999999999y").is_err());
        if let Some(far_past) = UNIX_EPOCH.checked_sub(Duration::from_secs(1 << 40)) {
            assert!(parse_time("now", far_past).is_err());
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in [
            "2026-11-24T15:00:00Z",
            "2026-11-24T15:00:00.250Z",
            "2026-11-24T15:00:00.000000001Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.500Z",
            "2000-02-29T12:34:56Z",
            "2262-04-11T23:47:16Z",
            "1677-09-21T00:12:44Z",
        ] {
            assert_eq!(format_rfc3339(parse(text).unwrap()), text);
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        // Every day over a few centuries survives the calendar arithmetic.
        for days in (-100_000..100_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
