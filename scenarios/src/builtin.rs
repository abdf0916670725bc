//! The built-in scenarios: TOML files under `scenarios/builtin/<system>/<name>.toml`,
//! embedded in the binary by `build.rs` and read by the same parser as a user's file, so a
//! built-in and the file `dst show` prints for it run the same way. Relay scenarios prove
//! the world; raft, gossip and twopc ones test those systems. One swarm family per system
//! (`swarm/SYSTEM`) is derived from the system's `partition-halves` scenario.
//!
//! A built-in file that does not parse is a build defect: the first use panics with the
//! file's one-line error (and `builtin_files_parse` fails in `cargo test`).

use std::sync::OnceLock;

use crate::scenario::Scenario;

include!(concat!(env!("OUT_DIR"), "/builtin_files.rs"));

/// Systems with a swarm family, in listing order.
const SWARM_SYSTEMS: [&str; 3] = ["raft", "gossip", "twopc"];

/// Every built-in file, parsed; `Err` names the first file that does not parse.
pub fn parse_files() -> Result<Vec<Scenario>, String> {
    BUILTIN_FILES
        .iter()
        .map(|(name, text)| {
            let s = crate::file::parse(text, &format!("scenarios/builtin/{name}.toml"))?;
            if s.name != *name {
                return Err(format!(
                    "scenarios/builtin/{name}.toml: its name is {:?}, its path says {name:?}",
                    s.name
                ));
            }
            Ok(s)
        })
        .collect()
}

/// Every built-in scenario of every system, then the swarm families.
pub fn everything() -> Vec<Scenario> {
    static ALL: OnceLock<Vec<Scenario>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = parse_files().unwrap_or_else(|e| panic!("{e}"));
        let mut families = Vec::new();
        for system in SWARM_SYSTEMS {
            let mine = || v.iter().filter(|s| s.system.name() == system);
            let base = mine()
                .find(|s| s.name == format!("{system}/partition-halves"))
                .or_else(|| mine().next());
            if let Some(base) = base {
                families.push(crate::swarm::template(system, base));
            }
        }
        v.extend(families);
        v
    })
    .clone()
}

/// The built-in scenarios of one system ("relay", "raft", ...), without swarm families.
pub fn of_system(system: &str) -> Vec<Scenario> {
    everything()
        .into_iter()
        .filter(|s| s.system.name() == system && !crate::swarm::is_swarm(s))
        .collect()
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    everything().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Nanos;

    #[test]
    fn builtin_files_parse() {
        let files = parse_files().unwrap();
        assert_eq!(files.len(), BUILTIN_FILES.len());
        for system in ["relay", "raft", "gossip", "twopc"] {
            assert!(!of_system(system).is_empty(), "{system}");
        }
    }

    #[test]
    fn builtins_are_valid_and_uniquely_named() {
        let all = everything();
        let mut names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            s.validate().unwrap();
            assert!(
                s.last_fault().0 + Nanos::from_secs(1).0 <= s.duration.0,
                "{} has no quiet tail",
                s.name
            );
        }
    }

    #[test]
    fn builtin_files_are_in_the_form_dst_show_prints() {
        // The files are generated with `dst show`; an edit by hand must keep that form so
        // regenerating them gives no diff.
        for ((name, text), s) in BUILTIN_FILES.iter().zip(parse_files().unwrap()) {
            assert_eq!(
                *text,
                crate::file::to_toml(&s),
                "{name}: run `dst show {name}`"
            );
        }
    }
}
