//! Simulated time: integer milliseconds, never `f64`.
//!
//! `SimTime` is an instant since the start of a run; `SimDuration` a span.
//! Both are plain `u64` milliseconds so that arithmetic is exact and runs are
//! reproducible bit for bit.

use std::fmt;
use std::ops::{Add, Sub};

/// An instant of simulated time, in milliseconds since the run began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// Parses a duration such as `90s`, `10m`, `2h`, `1h30m`, `250ms` or `0s`.
///
/// # Errors
/// A message naming what was wrong, for the file layer to attach a location to.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (write e.g. \"30s\", \"10m\", \"2h\")".to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "bad duration {text:?} (write e.g. \"30s\", \"10m\", \"1h30m\", \"250ms\")"
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("duration {text:?} needs a unit (ms, s, m, h or d)")),
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {text:?} (use ms, s, m, h or d)"
                ));
            }
        };
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(SimDuration(total))
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

    #[test]
    fn durations_display_round_trip() {
        for ms in [0, 250, 30_000, 600_000, 5_400_000, 3_723_000] {
            let d = SimDuration(ms);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d);
        }
    }
}
