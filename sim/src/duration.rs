//! Human durations ("250us", "10ms", "1.5s", "2m") for scenarios and the CLI, held as
//! nanoseconds of simulated time.
//!
//! Only a single number with one unit is accepted; compound forms ("1m30s") are not.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of simulated time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);

    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms * 1_000_000)
    }

    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s * 1_000_000_000)
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

/// The longest duration a file may give: 1,000 hours of simulated time, the limit of a
/// scenario's run. Far enough below `u64::MAX` that the simulator's time arithmetic
/// cannot overflow on it; anything longer is a typo or a probe, not a plan.
pub const MAX_READ: Nanos = Nanos(1000 * 3600 * 1_000_000_000);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: expected a number and a unit (ns, us, ms, s, m), like \"10ms\""
)]
pub struct DurationError {
    pub input: String,
}

/// Parses "10ms", "1.5s", "250us", "100ns", "2m". A bare "0" is allowed.
pub fn parse_duration(input: &str) -> Result<Nanos, DurationError> {
    let err = || DurationError {
        input: input.to_string(),
    };
    let s = input.trim();
    if s == "0" {
        return Ok(Nanos::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => return Err(err()),
    };
    if num.is_empty() {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    let ns = value * scale;
    if !ns.is_finite() || ns < 0.0 || ns > u64::MAX as f64 {
        return Err(err());
    }
    Ok(Nanos(ns.round() as u64))
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            write!(f, "0")
        } else if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl std::str::FromStr for Nanos {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
    }
}

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NanosVisitor)
    }
}

/// Reads a duration string or integer nanoseconds; any other value is an error that shows
/// the value (so a file reader can find it) and what a duration looks like.
struct NanosVisitor;

impl serde::de::Visitor<'_> for NanosVisitor {
    type Value = Nanos;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"250ms\" or \"3s\" (or integer nanoseconds)")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Nanos, E> {
        within_limit(Nanos(v), &v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Nanos, E> {
        let n = u64::try_from(v)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))?;
        self.visit_u64(n)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Nanos, E> {
        within_limit(parse_duration(v).map_err(E::custom)?, &format!("{v:?}"))
    }
}

fn within_limit<E: serde::de::Error>(n: Nanos, written: &str) -> Result<Nanos, E> {
    if n > MAX_READ {
        return Err(E::custom(format!(
            "duration {written} is longer than 1000 hours, the longest a scenario may give"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("100ns").unwrap(), Nanos(100));
        assert_eq!(parse_duration("250us").unwrap(), Nanos(250_000));
        assert_eq!(parse_duration("10ms").unwrap(), Nanos(10_000_000));
        assert_eq!(parse_duration("1.5s").unwrap(), Nanos(1_500_000_000));
        assert_eq!(parse_duration("2m").unwrap(), Nanos(120_000_000_000));
        assert_eq!(parse_duration("0").unwrap(), Nanos(0));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "ms", "10", "10 parsecs", "-1s", "1.2.3s", "banana"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn deserializes_strings_and_integers_and_names_other_values() {
        #[derive(Deserialize, Debug)]
        struct T {
            d: Nanos,
        }
        let read = |v: &str| serde_json::from_str::<T>(&format!("{{\"d\": {v}}}"));
        assert_eq!(read("\"2ms\"").unwrap().d, Nanos(2_000_000));
        assert_eq!(read("7").unwrap().d, Nanos(7));
        assert_eq!(read("\"60m\"").unwrap().d, Nanos::from_secs(3600));
        for (bad, says) in [
            ("-5", "-5"),
            ("true", "true"),
            ("1.5", "1.5"),
            ("\"zz\"", "zz"),
            ("\"18446744073709551615ns\"", "longer than 1000 hours"),
            ("3600000000000001", "longer than 1000 hours"),
        ] {
            let e = read(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for ns in [0, 7, 3_000, 15_000_000, 2_000_000_000] {
            let n = Nanos(ns);
            assert_eq!(parse_duration(&n.to_string()).unwrap(), n);
        }
    }
}
