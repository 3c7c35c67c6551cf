//! Simulated time: integer milliseconds, never `f64`.
//!
//! `SimTime` is an instant since the start of a run; `SimDuration` a span.
//! Both are plain `u64` milliseconds so that arithmetic is exact and runs are
//! reproducible bit for bit.

use std::fmt;
use std::ops::{Add, Sub};

/// An instant of simulated time, in milliseconds since the run began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SimTime(pub u64);

/// A span of simulated time, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn ms(self) -> u64 {
        self.0
    }

    /// Seconds as a float, for reports only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_ms(ms: u64) -> SimDuration {
        SimDuration(ms)
    }

    pub const fn from_secs(s: u64) -> SimDuration {
        SimDuration(s * 1000)
    }

    /// Seconds as a float, rounded to whole milliseconds; negative and NaN
    /// seconds are zero.
    pub fn from_secs_f64(seconds: f64) -> SimDuration {
        SimDuration((seconds * 1000.0).max(0.0).round() as u64)
    }

    pub fn ms(self) -> u64 {
        self.0
    }

    /// Seconds as a float, for rates and reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    /// # Panics
    /// If `other` is later than `self`: time never goes backwards.
    fn sub(self, other: SimTime) -> SimDuration {
        assert!(self.0 >= other.0, "time went backwards: {} < {}", self.0, other.0);
        SimDuration(self.0 - other.0)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl fmt::Display for SimDuration {
    /// Compact human form: `1h30m`, `10m`, `45s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let mut s = ms / 1000;
        let h = s / 3600;
        s %= 3600;
        let m = s / 60;
        s %= 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl fmt::Display for SimTime {
    /// `hh:mm:ss` from the start of the run (with `.mmm` when not whole).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let s = self.0 / 1000;
        write!(f, "{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        Ok(())
    }
}

/// Parses a duration such as `90s`, `10m`, `2h`, `1h30m`, `250ms` or `0s`:
/// whole numbers, each followed by a unit (`ms`, `s`, `m`, `h`, `d`), with
/// no spaces.
///
/// # Errors
/// A message naming what was wrong, for the file layer to attach a location
/// to; where the intent is plain (`"5 min"`, `"1.5h"`), it shows the
/// accepted form (`"5m"`, `"1h30m"`).
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    let bad = |why: &str| {
        let fix = suggest(t).map_or(String::new(), |d| format!("; write \"{d}\""));
        Err(format!("bad duration {text:?}: {why}{fix}"))
    };
    if t.is_empty() {
        return Err("empty duration (write e.g. \"30s\", \"10m\", \"2h\")".to_owned());
    }
    if t.starts_with('-') {
        return bad("a duration cannot be negative");
    }
    if t.contains(char::is_whitespace) {
        return bad("no spaces allowed");
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return match suggest(t) {
                Some(_) => bad("each part is a whole number and a unit"),
                None => Err(format!(
                    "bad duration {text:?} (write e.g. \"30s\", \"10m\", \"1h30m\", \"250ms\")"
                )),
            };
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?} is too large"))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return bad("whole numbers only");
        }
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "duration {text:?} needs a unit (ms, s, m, h or d), e.g. \"{value}s\""
                ));
            }
            "ns" | "us" => return bad("durations are whole milliseconds; the smallest unit is ms"),
            other => return bad(&format!("unknown unit {other:?} (use ms, s, m, h or d)")),
        };
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(SimDuration(total))
}

/// What a rejected duration most likely meant, in the accepted form: its
/// parts read leniently (spaces, fractions, unit words such as `min` or
/// `hours`). `None` when it has no such reading or is not whole milliseconds.
fn suggest(text: &str) -> Option<SimDuration> {
    let mut ms = 0.0;
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').count();
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let scale = match &rest[..unit_len] {
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
            "m" | "min" | "mins" | "minute" | "minutes" => 6e4,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3.6e6,
            "d" | "day" | "days" => 8.64e7,
            _ => return None,
        };
        rest = rest[unit_len..].trim_start();
        ms += value * scale;
    }
    let whole = ms.round();
    (ms.is_finite() && whole < 1e15 && (ms - whole).abs() < 1e-6).then_some(SimDuration(whole as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, ms: Option<u64>) {
        assert_eq!(parse_duration(text).ok().map(|d| d.0), ms, "{text}");
    }

    #[test]
    fn durations_parse() {
        check("0s", Some(0));
        check("250ms", Some(250));
        check("30s", Some(30_000));
        check("10m", Some(600_000));
        check("2h", Some(7_200_000));
        check("1h30m", Some(5_400_000));
        check("1d", Some(86_400_000));
        check("10", None);
        check("m", None);
        check("5 minutes", None);
        check("", None);
        check("99999999999999999999s", None);
    }

    fn message(text: &str) -> String {
        parse_duration(text).expect_err(text)
    }

    /// `pause = "5 min"` was told it "needs a unit": the message now says
    /// what is wrong and shows the accepted form.
    #[test]
    fn a_rejected_duration_says_what_is_wrong_and_how_to_write_it() {
        assert_eq!(
            message("5 min"),
            "bad duration \"5 min\": no spaces allowed; write \"5m\""
        );
        assert_eq!(message("5 m"), "bad duration \"5 m\": no spaces allowed; write \"5m\"");
        assert_eq!(
            message("1h 30m"),
            "bad duration \"1h 30m\": no spaces allowed; write \"1h30m\""
        );
        assert_eq!(
            message("5min"),
            "bad duration \"5min\": unknown unit \"min\" (use ms, s, m, h or d); write \"5m\""
        );
        assert_eq!(
            message("2hours"),
            "bad duration \"2hours\": unknown unit \"hours\" (use ms, s, m, h or d); write \"2h\""
        );
        assert_eq!(
            message("1.5h"),
            "bad duration \"1.5h\": whole numbers only; write \"1h30m\""
        );
        assert_eq!(message("-5m"), "bad duration \"-5m\": a duration cannot be negative");
        assert_eq!(
            message("1ns"),
            "bad duration \"1ns\": durations are whole milliseconds; the smallest unit is ms"
        );
        assert_eq!(
            message("10"),
            "duration \"10\" needs a unit (ms, s, m, h or d), e.g. \"10s\""
        );
        assert_eq!(
            message("5M"),
            "bad duration \"5M\": unknown unit \"M\" (use ms, s, m, h or d)"
        );
        assert_eq!(
            message("soon"),
            "bad duration \"soon\" (write e.g. \"30s\", \"10m\", \"1h30m\", \"250ms\")"
        );
        assert_eq!(
            message(".5h"),
            "bad duration \".5h\": each part is a whole number and a unit; write \"30m\""
        );
    }

    #[test]
    fn durations_display_round_trip() {
        for ms in [0, 250, 30_000, 600_000, 5_400_000, 3_723_000] {
            let d = SimDuration(ms);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d);
        }
    }
}
