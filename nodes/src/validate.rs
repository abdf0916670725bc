//! Checks of a system's settings that serde's types cannot express: timers that must be
//! above zero (a zero period re-arms at the same instant forever), percentages, and
//! minimums below which a client cannot draw an operation.
//!
//! Each message starts with the key at fault as a scenario file spells it (`raft.heartbeat`,
//! `client.read_percent`, `accounts`), so the file reader can point at it. What a value
//! means for the protocol (a heartbeat slower than the election timeout, say) is left
//! alone: odd settings are what experiments are made of.

use sim::Nanos;

/// A timer or timeout that must be above zero.
pub fn positive(key: &str, value: Nanos) -> Result<(), String> {
    if value.0 == 0 {
        return Err(format!(
            "{key} must be above zero: a zero timer fires again at the same instant forever"
        ));
    }
    Ok(())
}

/// A percentage: 0 to 100.
pub fn percent(key: &str, value: u32) -> Result<(), String> {
    if value > 100 {
        return Err(format!("{key} = {value} is not a percentage (0 to 100)"));
    }
    Ok(())
}

/// A count with a minimum.
pub fn at_least(key: &str, value: usize, min: usize, why: &str) -> Result<(), String> {
    if value < min {
        return Err(format!("{key} = {value} is below {min}: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_the_key() {
        let e = positive("raft.heartbeat", Nanos::ZERO).unwrap_err();
        assert!(e.starts_with("raft.heartbeat "), "{e}");
        assert!(positive("x", Nanos(1)).is_ok());
        assert!(percent("client.read_percent", 100).is_ok());
        let e = percent("client.read_percent", 101).unwrap_err();
        assert!(e.starts_with("client.read_percent = 101 "), "{e}");
        assert!(at_least("accounts", 1, 2, "why").is_err());
        assert!(at_least("accounts", 2, 2, "why").is_ok());
    }
}
