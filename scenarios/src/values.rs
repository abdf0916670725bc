//! Scenario values that parse but that a run cannot honour: probabilities outside [0, 1],
//! latency ranges upside down, a zero sector size, a clock drift that stops a clock, fault
//! parameters of zero, a leader fault on a system without leaders, unknown keys in a fault, and runs too large to be
//! meant (more than [`MAX_NODES`] servers, longer than [`MAX_DURATION`]).
//!
//! Each problem names where it is ([`At`]) so the file reader can point at the key. What
//! can only be known while running (a restart after a random crash picked another node)
//! is not judged here: the runner's fault problems report those.

use sim::Nanos;

use crate::scenario::{Fault, Scenario};

/// More servers than this is refused: every event carries a vector clock over all nodes,
/// so a run's cost grows with the square of the cluster.
pub const MAX_NODES: usize = 256;

/// More processes (servers and clients) than this is refused, for the same reason.
pub const MAX_PROCESSES: usize = 1024;

/// Longer runs than this (1,000 hours of simulated time) are refused.
pub const MAX_DURATION: Nanos = sim::duration::MAX_READ;

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// A key, dotted from the top (`disk.faults.torn_write`).
    Key(String),
    /// The fault at this index of `[[faults]]`.
    Fault(usize),
}

/// The first value of `s` a run cannot honour.
pub fn check(s: &Scenario) -> Result<(), (At, String)> {
    let key = |k: &str, msg: String| Err((At::Key(k.to_string()), msg));
    if s.nodes > MAX_NODES {
        return key(
            "nodes",
            format!(
                "nodes = {} is above the limit of {MAX_NODES} servers",
                s.nodes
            ),
        );
    }
    let processes = s.nodes.saturating_add(s.clients());
    if processes > MAX_PROCESSES {
        return key(
            "clients",
            format!(
                "clients = {} with {} servers is above the limit of {MAX_PROCESSES} processes",
                s.clients(),
                s.nodes
            ),
        );
    }
    if s.duration > MAX_DURATION {
        return key(
            "duration",
            format!(
                "duration = {} is above the limit of 1000 hours of simulated time",
                s.duration
            ),
        );
    }
    let d = &s.disk;
    if d.sector_size == 0 {
        return key(
            "disk.sector_size",
            "disk.sector_size must be above zero".into(),
        );
    }
    let f = &d.faults;
    for (name, p) in [
        ("crash_keep", f.crash_keep),
        ("torn_write", f.torn_write),
        ("lying_fsync", f.lying_fsync),
        ("fsync_failure", f.fsync_failure),
        ("misdirected", f.misdirected),
        ("corruption", f.corruption),
        ("latent_error", f.latent_error),
        ("sync_reorder", f.sync_reorder),
    ] {
        if !(0.0..=1.0).contains(&p) {
            let k = format!("disk.faults.{name}");
            return key(&k, format!("{k} = {p} is not a probability in [0, 1]"));
        }
    }
    let l = &d.latency;
    for (name, lat) in [
        ("read", l.read),
        ("write", l.write),
        ("sync", l.sync),
        ("meta", l.meta),
    ] {
        if let Err(e) = lat.validate() {
            let k = format!("disk.latency.{name}");
            return key(&k, format!("{k}: {e}"));
        }
    }
    let leaderless = !s.system.has_leader();
    for (i, sched) in s.faults.iter().enumerate() {
        let here = |msg: String| Err((At::Fault(i), msg));
        let at = sched.at;
        match sched.fault {
            Fault::ClockDrift { ppm, .. } | Fault::DriftLeader { ppm } if ppm <= -1_000_000 => {
                return here(format!(
                    "fault at {at}: drift {ppm} ppm would stop the clock"
                ));
            }
            Fault::CrashAfterDiskOps { ops: 0, .. } => {
                return here(format!("fault at {at}: ops must be at least 1"));
            }
            Fault::CrashAfterRandomDiskOps { max_ops: 0, .. } => {
                return here(format!("fault at {at}: max_ops must be at least 1"));
            }
            Fault::ClockStrobe { period, .. } | Fault::StrobeLeader { period, .. }
                if period == Nanos::ZERO =>
            {
                return here(format!("fault at {at}: a strobe period must be above zero"));
            }
            Fault::CrashLeader
            | Fault::IsolateLeader
            | Fault::PauseLeader
            | Fault::DriftLeader { .. }
            | Fault::BumpLeader { .. }
            | Fault::StrobeLeader { .. }
                if leaderless =>
            {
                return here(format!(
                    "fault at {at}: {} needs a leader, and {} scenarios have no leader",
                    fault_name(&sched.fault),
                    s.system.name()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A fault's name as files spell it (`crash-leader`).
fn fault_name(f: &Fault) -> String {
    toml::Value::try_from(f)
        .ok()
        .and_then(|v| v.get("fault")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "this fault".into())
}

/// The first key of a `[[faults]]` table its fault does not take (serde reads them past
/// the tag and drops them). `tables` are the file's fault tables, in order.
pub fn unknown_fault_keys(s: &Scenario, tables: &[toml::Value]) -> Result<(), (usize, String)> {
    for (i, (sched, table)) in s.faults.iter().zip(tables).enumerate() {
        let Ok(toml::Value::Table(known)) = toml::Value::try_from(sched) else {
            continue;
        };
        let Some(given) = table.as_table() else {
            continue;
        };
        if let Some(bad) = given
            .keys()
            .find(|k| !known.contains_key(*k) && k.as_str() != "for")
        {
            let kind = known
                .get("fault")
                .and_then(|f| f.as_str())
                .unwrap_or("this");
            let mut keys: Vec<&str> = known.keys().map(String::as_str).collect();
            if !keys.contains(&"for") {
                keys.push("for");
            }
            return Err((
                i,
                format!(
                    "unknown key `{bad}` in a {kind} fault; it takes {}",
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
