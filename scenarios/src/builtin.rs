//! The built-in scenarios: TOML files under `scenarios/builtin/<system>/<name>.toml`,
//! embedded in the binary by `build.rs` and read by the same parser as a user's file, so a
//! built-in and the file `dst show` prints for it run the same way. The bundled registry
//! (`registry::bundled`) registers them; the functions here read the process's registry.
//! A system's swarm family (`swarm/SYSTEM`) is derived from the scenario it names.
//!
//! A built-in file that does not parse is a build defect: the first use panics with the
//! file's one-line error (and `builtin_files_parse` fails in `cargo test`).

use crate::scenario::Scenario;

include!(concat!(env!("OUT_DIR"), "/builtin_files.rs"));

/// The registered files, parsed; `Err` names the first file that does not parse.
pub fn parse_files() -> Result<Vec<Scenario>, String> {
    crate::registry::current().parse_files()
}

/// Every built-in scenario of every registered system, then the swarm families.
pub fn everything() -> Vec<Scenario> {
    crate::registry::current().scenarios()
}

/// The built-in scenarios of one system ("relay", "raft", ...), without swarm families.
pub fn of_system(system: &str) -> Vec<Scenario> {
    crate::registry::current().of_system(system)
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    crate::registry::current().find(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Nanos;

    #[test]
    fn builtin_files_parse() {
        let files = parse_files().unwrap();
        assert_eq!(files.len(), BUILTIN_FILES.len());
        for system in crate::registry::current().system_names() {
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
