//! When to try a failed request again: exponential backoff with jitter, and
//! the server's `Retry-After`.
//!
//! Randomness comes in as an argument (`jitter` in `[0, 1)`), so the schedule
//! is a pure function that tests can pin down exactly.

use super::text::{parse_decimal, split_ascii, trim};

/// First backoff delay.
pub const BACKOFF_BASE_MS: u64 = 250;
/// Longest backoff delay.
pub const BACKOFF_CAP_MS: u64 = 10_000;
/// A `Retry-After` longer than this is not waited out inside a call: the call
/// fails with a retryable error that carries the delay instead.
pub const MAX_RETRY_AFTER_MS: u64 = 60_000;

/// The delay before retry number `retry` (0 for the first), "equal jitter":
/// half the exponential step plus a random share of the other half, so retries
/// of many clients spread out but never come back immediately.
pub fn backoff_ms(retry: u32, jitter: f64) -> u64 {
    let step = BACKOFF_BASE_MS
        .saturating_mul(1_u64 << retry.min(16))
        .min(BACKOFF_CAP_MS);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    step / 2 + ((step / 2) as f64 * jitter) as u64
}

/// Parses a `Retry-After` value, either delta-seconds (`"120"`) or an HTTP
/// date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), into a delay from `now_ms`.
/// Unparseable values are ignored (`None`); a date in the past is zero.
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<u64> {
    let value = trim(value);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return parse_decimal(value).map(|s| s.saturating_mul(1000));
    }
    let at = parse_http_date(value)?;
    Some((at - now_ms).max(0.0) as u64)
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form
/// servers may send, into ms since the epoch.
fn parse_http_date(value: &str) -> Option<f64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    // `parse_decimal` reads what `str::parse::<u32>` would, and every field
    // is range-checked below, so reading them as u64 changes nothing.
    let day = parse_decimal(parts.next()?)?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    // Four-digit years only: anything else is not a date a server sends, and
    // an unbounded year would overflow the day arithmetic below. (A signed
    // parse would also take "-5", which this range refuses all the same.)
    let year = parse_decimal(parts.next()?).filter(|year| (1..=9999).contains(year))?;
    let mut clock = split_ascii(parts.next()?, b':');
    let hour = parse_decimal(clock.next()?)?;
    let minute = parse_decimal(clock.next()?)?;
    let second = parse_decimal(clock.next()?)?;
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // In range, so these conversions are exact.
    let days = days_from_civil(year as i64, month, day as u32);
    let seconds = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    Some(seconds as f64 * 1000.0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_the_upper_half() {
        let lows: Vec<u64> = (0..8).map(|retry| backoff_ms(retry, 0.0)).collect();
        assert_eq!(lows, [125, 250, 500, 1000, 2000, 4000, 5000, 5000]);
        let highs: Vec<u64> = (0..8).map(|retry| backoff_ms(retry, 1.0)).collect();
        assert_eq!(highs, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(backoff_ms(2, 0.5), 750);
        assert_eq!(backoff_ms(u32::MAX, 1.0), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(0, f64::NAN), 125);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("0", 0.0), Some(0));
        assert_eq!(parse_retry_after(" 120 ", 0.0), Some(120_000));
        assert_eq!(parse_retry_after("99999999999999999999", 0.0), None);
        assert_eq!(parse_retry_after("-5", 0.0), None);
        assert_eq!(parse_retry_after("1.5", 0.0), None);
        assert_eq!(parse_retry_after("", 0.0), None);
    }

    #[test]
    fn retry_after_http_date() {
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        let at = 784_111_777_000.0;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 5000.0),
            Some(5000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 5000.0),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Wed, 29 Feb 2040 12:00:00 GMT", 0.0),
            Some(2_214_129_600_000)
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 999999999999 08:49:37 GMT",
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
            "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
            "soon",
        ] {
            assert_eq!(parse_retry_after(bad, 0.0), None, "{bad}");
        }
    }
}
