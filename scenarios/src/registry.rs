//! The registry of systems under test: the one place that knows which systems exist.
//! Every entry point (files, runs, sweeps, shrinking, fuzzing, the corpus, labs, reports,
//! benches, `dst list` and the CLI) reads systems, built-in scenarios, bug catalogs and
//! the replay command from a registry, and never names a system itself.
//!
//! [`bundled`] registers relay, Raft, gossip and two-phase commit exactly as a user
//! registers their own system: `Registry::new().system(MySystem).scenario_file(..)`.
//! A program installs its registry once ([`Registry::install`], which `cli::main_with`
//! does); code that is not handed one reads [`current`], the bundled one otherwise.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use nodes::system::{DynSystem, System};

use crate::runner::RunOptions;
use crate::scenario::Scenario;

/// Systems, their scenario files and how to name the binary in replay commands.
pub struct Registry {
    systems: Vec<Arc<dyn DynSystem>>,
    files: Vec<(String, String)>,
    command: String,
    parsed: OnceLock<Result<Vec<Scenario>, String>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry; replay commands start with `dst`.
    pub fn new() -> Self {
        Registry {
            systems: Vec::new(),
            files: Vec::new(),
            command: "dst".to_string(),
            parsed: OnceLock::new(),
        }
    }

    /// Adds a system. Its name must be new (a duplicate is a programming error).
    pub fn system<S: System>(mut self, system: S) -> Self {
        let name = System::name(&system);
        assert!(
            self.systems.iter().all(|s| s.name() != name),
            "system {name} is registered twice"
        );
        assert!(
            !name.is_empty() && !name.contains([':', '/', ' ']),
            "system name {name:?} must be non-empty, without ':', '/' or spaces"
        );
        self.systems.push(Arc::new(system));
        self
    }

    /// Adds a built-in scenario: `name` (by convention `SYSTEM/NAME`) and its TOML text,
    /// usually `include_str!`'d. It is parsed on first use; a file that does not parse is
    /// a programming error reported with its one-line message.
    pub fn scenario_file(mut self, name: &str, text: &str) -> Self {
        self.files.push((name.to_string(), text.to_string()));
        self
    }

    /// How replay commands start: the command that runs this program's CLI, such as
    /// `cargo run --release -p my-system --`. `replay NAME --seed S` is appended.
    pub fn command(mut self, prefix: &str) -> Self {
        self.command = prefix.trim_end().to_string();
        self
    }

    /// The replay command prefix.
    pub fn command_prefix(&self) -> &str {
        &self.command
    }

    /// Makes this the registry of the process (see [`current`]) and returns it. The first
    /// registry installed stays; installing again returns that first one.
    pub fn install(self) -> &'static Registry {
        let _ = INSTALLED.set(self);
        INSTALLED.get().expect("just set")
    }

    /// Every registered system, in registration order.
    pub fn systems(&self) -> impl Iterator<Item = &Arc<dyn DynSystem>> {
        self.systems.iter()
    }

    /// The system called `name`; the error lists the systems there are.
    pub fn lookup(&self, name: &str) -> Result<Arc<dyn DynSystem>, String> {
        self.systems
            .iter()
            .find(|s| s.name() == name)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "unknown system '{name}'; known systems: {}",
                    self.system_names().join(", ")
                )
            })
    }

    pub fn system_names(&self) -> Vec<&'static str> {
        self.systems.iter().map(|s| s.name()).collect()
    }

    /// The built-in files, parsed; `Err` names the first that does not parse.
    pub fn parse_files(&self) -> Result<Vec<Scenario>, String> {
        self.files
            .iter()
            .map(|(name, text)| {
                let origin = format!("built-in scenario {name}");
                let s = crate::file::parse_with(self, text, &origin)?;
                if s.name != *name {
                    return Err(format!(
                        "{origin}: its name is {:?}, it was registered as {name:?}",
                        s.name
                    ));
                }
                Ok(s)
            })
            .collect()
    }

    /// The registered scenario files as (name, text).
    pub fn files(&self) -> &[(String, String)] {
        &self.files
    }

    /// Every built-in scenario, then a swarm family for each system that names a base.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let parsed = self.parsed.get_or_init(|| {
            let mut v = self.parse_files()?;
            let mut borrowed = Vec::new();
            for sys in &self.systems {
                if let Some(other) = sys.runs_schedules_of() {
                    self.lookup(other)
                        .map_err(|e| format!("system {}: runs_schedules_of: {e}", sys.name()))?;
                    let claims = sys.swarm_disk();
                    for s in v
                        .iter()
                        .filter(|s| s.system.name() == other && claims_cover(claims, s))
                    {
                        borrowed.push(borrow_schedule(s, sys)?);
                    }
                }
            }
            v.extend(borrowed);
            let mut families = Vec::new();
            for sys in &self.systems {
                let Some(base) = sys.swarm_base() else {
                    continue;
                };
                match v.iter().find(|s| s.name == base) {
                    Some(b) => families.push(crate::swarm::template(sys.name(), b)),
                    None => {
                        return Err(format!(
                            "system {}: its swarm base {base:?} is not a registered scenario",
                            sys.name()
                        ))
                    }
                }
            }
            v.extend(families);
            Ok(v)
        });
        match parsed {
            Ok(v) => v.clone(),
            Err(e) => panic!("{e}"),
        }
    }

    /// The built-in scenario called `name`.
    pub fn find(&self, name: &str) -> Option<Scenario> {
        self.scenarios().into_iter().find(|s| s.name == name)
    }

    /// The built-in scenarios of one system, without its swarm family.
    pub fn of_system(&self, system: &str) -> Vec<Scenario> {
        self.scenarios()
            .into_iter()
            .filter(|s| s.system.name() == system && !crate::swarm::is_swarm(s))
            .collect()
    }

    /// Parses a scenario's TOML text; `origin` names it in errors.
    pub fn parse(&self, text: &str, origin: &str) -> Result<Scenario, String> {
        crate::file::parse_with(self, text, origin)
    }

    /// Reads a scenario file.
    pub fn load(&self, path: &Path) -> Result<Scenario, String> {
        crate::file::load_with(self, path)
    }

    /// A built-in scenario by name, or a scenario file by path.
    pub fn scenario(&self, name: &str) -> Result<Scenario, String> {
        if let Some(s) = self.find(name) {
            s.validate()?;
            return Ok(s);
        }
        let path = Path::new(name);
        if name.ends_with(".toml") || path.exists() {
            return self.load(path);
        }
        Err(format!(
            "unknown scenario '{name}'; `dst list` shows the built-in scenarios, or give a path to a .toml file"
        ))
    }

    /// Every catalogued bug as `SYSTEM:NAME` with its one-line description.
    pub fn bugs(&self) -> Vec<(String, &'static str)> {
        self.systems
            .iter()
            .flat_map(|s| {
                s.bugs()
                    .into_iter()
                    .map(move |(b, d)| (format!("{}:{b}", s.name()), d))
            })
            .collect()
    }

    /// Checks one `SYSTEM:NAME` bug flag; returns (system, bug).
    pub fn parse_bug(&self, spec: &str) -> Result<(String, String), String> {
        let Some((system, name)) = spec.split_once(':') else {
            return Err(format!(
                "bug '{spec}' is not SYSTEM:NAME; known bugs: {}",
                self.bug_list()
            ));
        };
        let sys = self
            .lookup(system)
            .map_err(|e| format!("bug '{spec}': {e}"))?;
        if sys.bugs().iter().any(|(b, _)| *b == name) {
            return Ok((system.to_string(), name.to_string()));
        }
        let mine: Vec<&str> = sys.bugs().into_iter().map(|(b, _)| b).collect();
        Err(if mine.is_empty() {
            format!("unknown bug '{spec}': {system} has no bug catalog")
        } else {
            format!("unknown bug '{spec}'; {system}'s bugs: {}", mine.join(", "))
        })
    }

    fn bug_list(&self) -> String {
        self.bugs()
            .into_iter()
            .map(|(b, _)| b)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Run options with these `--bug SYSTEM:NAME` switches on.
    pub fn run_options(&self, bugs: &[String]) -> Result<RunOptions, String> {
        let mut opts = RunOptions::default();
        for b in bugs {
            opts.bugs.push(self.parse_bug(b)?);
        }
        Ok(opts)
    }

    /// A `cargo test` sweep of the built-in scenario `name` (panics if there is none: a
    /// test typo).
    pub fn sweep(&self, name: &str) -> crate::testing::Sweep {
        let s = self
            .find(name)
            .unwrap_or_else(|| panic!("no registered scenario {name:?}"));
        crate::testing::Sweep::of(s)
    }
}

/// `source`'s cluster, network, disk, clocks and fault schedule with `system` under test in
/// its default settings, named `SYSTEM/X` for `OTHER/X`.
/// Whether a system claiming `claims` (`System::swarm_disk`, the disk fault families it
/// says it survives) claims to survive the disk faults of schedule `s`. A borrowed
/// schedule it does not is left out, as swarm runs never draw it: a system that keeps one
/// copy of what it acknowledged (raft-rs, two-phase commit) cannot pass lying fsyncs, and
/// a scenario that must fail is no test of it.
fn claims_cover(claims: nodes::system::SwarmDisk, s: &Scenario) -> bool {
    let f = &s.disk.faults;
    let power_loss = s
        .faults
        .iter()
        .any(|x| matches!(x.fault, crate::scenario::Fault::CrashAll));
    (claims.lying_fsync || f.lying_fsync == 0.0)
        && (claims.failing_fsync || f.fsync_failure == 0.0)
        && (claims.full_disk || s.disk.capacity.is_none())
        && (claims.power_loss || !power_loss)
}

fn borrow_schedule(source: &Scenario, system: &Arc<dyn DynSystem>) -> Result<Scenario, String> {
    let mut s = source.clone();
    let rest = source
        .name
        .split_once('/')
        .map_or(source.name.as_str(), |(_, r)| r);
    s.name = format!("{}/{rest}", system.name());
    s.description = format!("{} (the schedule of {})", source.description, source.name);
    s.settings = system
        .read_settings(&system.default_settings(), s.nodes)
        .map_err(|e| format!("{}: {e}", s.name))?;
    s.system = crate::scenario::SystemRef(system.clone());
    s.bugs.clear();
    let known: Vec<&str> = system.checks().into_iter().map(|(c, _)| c).collect();
    s.checks.skip.retain(|c| known.contains(&c.as_str()));
    s.validate()?;
    Ok(s)
}

static INSTALLED: OnceLock<Registry> = OnceLock::new();

/// The registry of this process: the one installed, or else the bundled systems.
pub fn current() -> &'static Registry {
    match INSTALLED.get() {
        Some(r) => r,
        None => bundled_static(),
    }
}

fn bundled_static() -> &'static Registry {
    static BUNDLED: OnceLock<Registry> = OnceLock::new();
    BUNDLED.get_or_init(bundled)
}

/// The bundled systems and their built-in scenarios (`scenarios/builtin/`), registered
/// as any user's system is. Replay commands run the workspace's `dst`.
pub fn bundled() -> Registry {
    let mut r = Registry::new()
        .system(nodes::relay::Relay)
        .system(nodes::raft::Raft)
        .system(nodes::gossip::Gossip)
        .system(nodes::twopc::Twopc)
        .system(nodes::lock::Lock)
        .system(nodes::raftrs::RaftRs)
        .command("cargo run --release --");
    for (name, text) in crate::builtin::BUILTIN_FILES {
        r = r.scenario_file(name, text);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodes::relay::{Relay, RelayConfig};
    use nodes::system::{NoBugs, Running, Start};

    /// The relay under another name, running relay's schedules.
    struct Echo;

    impl System for Echo {
        type Settings = RelayConfig;
        type Bug = NoBugs;
        fn name(&self) -> &'static str {
            "echo"
        }
        fn checks(&self) -> Vec<(&'static str, &'static str)> {
            System::checks(&Relay)
        }
        fn start(&self, st: Start<'_, RelayConfig, NoBugs>) -> Box<dyn Running> {
            System::start(&Relay, st)
        }
        fn runs_schedules_of(&self) -> Option<&'static str> {
            Some("relay")
        }
    }

    fn with_echo() -> Registry {
        let mut r = Registry::new().system(Relay).system(Echo);
        for (name, text) in crate::builtin::BUILTIN_FILES {
            if name.starts_with("relay/") {
                r = r.scenario_file(name, text);
            }
        }
        r
    }

    #[test]
    fn a_system_runs_another_systems_schedules_without_copies() {
        let r = with_echo();
        let relay = r.of_system("relay");
        let echo = r.of_system("echo");
        assert_eq!(relay.len(), echo.len());
        for (a, b) in relay.iter().zip(&echo) {
            assert_eq!(b.name, a.name.replacen("relay/", "echo/", 1));
            assert_eq!((&a.faults, &a.net, a.nodes), (&b.faults, &b.net, b.nodes));
            assert_eq!(b.system.name(), "echo");
        }
        let s = r.find("echo/halves").unwrap();
        let report = crate::runner::run_scenario(&s, 1, &RunOptions::default()).report;
        assert_eq!(report.verdict, crate::report::Verdict::Pass, "{report:?}");
    }

    #[test]
    fn a_borrowed_schedule_needs_its_disk_faults_claimed() {
        use crate::scenario::{Fault, Scheduled};
        use nodes::system::SwarmDisk;
        let plain = with_echo().find("relay/crash-restart").unwrap();
        let none = SwarmDisk::default();
        assert!(claims_cover(none, &plain));
        let mut lying = plain.clone();
        lying.disk.faults.lying_fsync = 0.2;
        assert!(!claims_cover(none, &lying));
        assert!(claims_cover(
            SwarmDisk {
                lying_fsync: true,
                ..none
            },
            &lying
        ));
        let mut failing = plain.clone();
        failing.disk.faults.fsync_failure = 0.01;
        let no_failing = SwarmDisk {
            failing_fsync: false,
            ..SwarmDisk::ALL
        };
        assert!(!claims_cover(no_failing, &failing));
        let mut full = plain.clone();
        full.disk.capacity = Some(1 << 20);
        assert!(!claims_cover(none, &full));
        let mut power = plain.clone();
        power
            .faults
            .push(Scheduled::new(sim::Nanos::from_millis(1), Fault::CrashAll));
        assert!(!claims_cover(none, &power));
        for s in [&lying, &failing, &full, &power] {
            assert!(claims_cover(SwarmDisk::ALL, s));
        }
        // Registered: echo claims no disk family, so relay's schedule with a lying fsync
        // is not borrowed while the others are.
        let base = with_echo().of_system("echo").len();
        lying.name = "relay/lying".into();
        let r = with_echo().scenario_file("relay/lying", &crate::file::to_toml(&lying));
        assert!(r.find("relay/lying").is_some());
        assert!(r.find("echo/lying").is_none());
        assert!(r.find("echo/crash-restart").is_some());
        assert_eq!(r.of_system("echo").len(), base);
    }

    #[test]
    fn unknown_systems_and_bugs_name_what_exists() {
        let r = with_echo();
        let e = r.lookup("mykv").err().unwrap();
        assert_eq!(e, "unknown system 'mykv'; known systems: relay, echo");
        let e = r.parse_bug("echo:x").unwrap_err();
        assert!(e.contains("echo has no bug catalog"), "{e}");
        let e = r.parse_bug("nope").unwrap_err();
        assert!(e.contains("not SYSTEM:NAME"), "{e}");
    }
}
