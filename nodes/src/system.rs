//! The public system interface: what a system under test implements once so that every
//! part of the harness (scenario files, role faults, checks, sweeps, shrinking, fuzzing,
//! the corpus, reports and the CLI) works on it, and what it hands the runner at the end
//! of a run. The bundled systems implement it exactly as a user's system does.
//!
//! A system implements [`System`] (typed: its settings struct and its bug catalog); the
//! harness holds it as a [`DynSystem`] (settings as a TOML table, bugs as names), which a
//! blanket impl derives. This module does not know any scenario, fault or system by name.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use checkers::history::compact::CompactHistory;
use checkers::history::{Event, EventKind, Operations};
use checkers::linearizability::ModelKind;
use checkers::Value;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;
use sim::audit::Violation;
use sim::{NodeCtx, SimHandle, Status, TraceEvent, World};

/// The finished run, as a system's checks see it.
pub struct RunEnd<'a> {
    pub events: &'a [TraceEvent],
    pub names: &'a [String],
    /// Every node's status at the end (servers first, then clients).
    pub statuses: &'a [Status],
    /// Servers are nodes `0..servers`.
    pub servers: usize,
    /// Simulated time of the last scheduled fault (0 if none).
    pub last_fault_ns: u64,
    /// Simulated time at which the run ended.
    pub end_ns: u64,
    /// Whether some link loses messages at random (the network's settings hold for the
    /// whole run). Lean traces keep no drop events, so checks ask this instead.
    pub lossy: bool,
}

/// The disk fault families a swarm run may draw (`System::swarm_disk`); each is drawn
/// only for a system that claims to survive it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwarmDisk {
    /// Power losses: every server crashes at once, then restarts from its disk.
    pub power_loss: bool,
    /// Lying fsyncs, with followers crashing one at a time.
    pub lying_fsync: bool,
    /// Fsyncs that fail now and then.
    pub failing_fsync: bool,
    /// Disks that fill up (ENOSPC).
    pub full_disk: bool,
}

impl SwarmDisk {
    /// Every family.
    pub const ALL: SwarmDisk = SwarmDisk {
        power_loss: true,
        lying_fsync: true,
        failing_fsync: true,
        full_disk: true,
    };
}

/// A system's verdict on a run.
#[derive(Debug, Default, Serialize)]
pub struct SystemCheck {
    pub violations: Vec<Violation>,
    /// Set when a check could not decide (a search ran out of time).
    pub unknown: Option<String>,
    /// Figures the system reports (convergence rounds, blocked time, ...), shown in reports.
    pub stats: serde_json::Map<String, serde_json::Value>,
    /// The client history, if the system keeps one of its own (systems that record
    /// through the [`Recorder`] need not set it).
    #[serde(skip)]
    pub history: Option<ClientHistory>,
}

/// A run's client history. Kept as events and rendered as native JSON lines only when
/// asked: rendering costs about a tenth of a whole run, and most runs (sweeps, benches)
/// never show their history.
#[derive(Debug, Clone)]
pub enum ClientHistory {
    /// Already rendered as JSON lines.
    Lines(String),
    /// Events, not rendered yet.
    Events(Vec<Event>),
    /// Events encoded compactly, decoded only when shown (what the [`Recorder`] keeps).
    Compact(Arc<CompactHistory>),
}

impl ClientHistory {
    /// The history as native JSON lines, which `dst check` reads.
    pub fn json_lines(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ClientHistory::Lines(text) => text.as_str().into(),
            ClientHistory::Events(events) => {
                checkers::history::native::to_json_lines(events).into()
            }
            ClientHistory::Compact(h) => {
                checkers::history::native::to_json_lines(&h.to_events()).into()
            }
        }
    }

    /// How many operations were invoked, without rendering the history.
    pub fn invocations(&self) -> usize {
        match self {
            ClientHistory::Lines(text) => text.matches("\"type\":\"invoke\"").count(),
            ClientHistory::Events(events) => events
                .iter()
                .filter(|e| e.kind == EventKind::Invoke)
                .count(),
            ClientHistory::Compact(h) => h.invocations(),
        }
    }
}

/// A bug catalog: the named switches a system's code reads. `bug_catalog!` implements it;
/// a system without bugs uses [`NoBugs`].
pub trait Catalog: Copy + Ord + Send + Sync + 'static {
    /// Every bug, in catalog order.
    fn all() -> &'static [Self];
    /// The name used in `--bug SYSTEM:NAME` and in a scenario's `bugs` list.
    fn name(self) -> &'static str;
    /// One line on what the bug does.
    fn describe(self) -> &'static str;
}

/// The empty catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoBugs {}

impl Catalog for NoBugs {
    fn all() -> &'static [Self] {
        &[]
    }
    fn name(self) -> &'static str {
        match self {}
    }
    fn describe(self) -> &'static str {
        match self {}
    }
}

/// Records what clients saw, for the linearizability check, `--history` and the HTML
/// report. Each client takes its own [`ClientRecorder`] with [`Recorder::client`]; cloning
/// shares the one history. Events are kept encoded ([`CompactHistory`]), so a long run's
/// history costs a few dozen bytes an event.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<CompactHistory>>);

impl Recorder {
    /// The recorder of the client running in `ctx`: its events carry the client's node
    /// index as the process and the true simulated time.
    pub fn client(&self, ctx: &NodeCtx) -> ClientRecorder {
        ClientRecorder {
            events: self.0.clone(),
            world: ctx.world().clone(),
            process: ctx.id(),
        }
    }

    /// The events so far, leaving the recorder empty.
    pub fn take(&self) -> Vec<Event> {
        self.take_compact().to_events()
    }

    /// The events so far as recorded (encoded), leaving the recorder empty.
    pub fn take_compact(&self) -> CompactHistory {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One client's handle on the [`Recorder`]. An operation is one `invoke` followed by one
/// of `ok`, `fail` or `info`; a client has at most one operation open at a time.
#[derive(Clone)]
pub struct ClientRecorder {
    events: Arc<Mutex<CompactHistory>>,
    world: Arc<World>,
    process: usize,
}

impl ClientRecorder {
    fn push(&self, kind: EventKind, f: &str, key: Option<Value>, value: Value) {
        let time = self.world.now_ns();
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(
            self.process as i64,
            kind,
            f,
            key.as_ref(),
            &value,
            Some(time),
        );
    }

    /// An operation starts: `f` is its function (`read`, `write`, `cas`, `add`, ...), `key`
    /// the key for keyed models, `value` what it carries (`Value::Nil` for a read).
    pub fn invoke(&self, f: &str, key: Option<Value>, value: Value) {
        self.push(EventKind::Invoke, f, key, value);
    }

    /// The operation took effect and returned `value` (for a read, what it read).
    pub fn ok(&self, f: &str, key: Option<Value>, value: Value) {
        self.push(EventKind::Ok, f, key, value);
    }

    /// The operation certainly did not take effect.
    pub fn fail(&self, f: &str, key: Option<Value>, value: Value) {
        self.push(EventKind::Fail, f, key, value);
    }

    /// The outcome is unknown (a timeout): it may take effect at any later time, or never.
    pub fn info(&self, f: &str, key: Option<Value>, value: Value) {
        self.push(EventKind::Info, f, key, value);
    }
}

/// What a system's `start` gets.
pub struct Start<'a, S, B> {
    pub sim: &'a SimHandle,
    pub settings: &'a S,
    /// Servers are nodes `0..servers`; clients follow them.
    pub servers: usize,
    /// Bugs switched on: the scenario's `bugs` and the command line's `--bug`.
    pub bugs: &'a BTreeSet<B>,
    /// Where clients record their history (see [`System::history_model`]).
    pub recorder: Recorder,
}

/// A system started on the simulator: what the nemesis asks while the run goes on, and
/// the judge of the finished run.
pub trait Running: Send {
    /// The server that leads now, if the system has leaders (role faults such as
    /// `crash-leader` and `isolate-leader` target it). `None`: no leader right now.
    fn leader(&self, _sim: &SimHandle) -> Option<usize> {
        None
    }

    /// Judges the finished run: the system's own checks. The default has none (a system
    /// may rely on its recorded history alone).
    fn judge(self: Box<Self>, _end: &RunEnd<'_>) -> SystemCheck {
        SystemCheck::default()
    }
}

/// A system under test, as its author writes it. Register it with the harness's registry;
/// scenario files then name it (`system = "NAME"`), and `--bug NAME:BUG`, `swarm/NAME`,
/// reports and the CLI know it.
pub trait System: Send + Sync + 'static {
    /// The settings a scenario gives: every top-level key of a scenario file that is not
    /// one of the scenario's own (serde; refuse unknown keys with
    /// `#[serde(deny_unknown_fields)]` so a typo is an error with its position).
    type Settings: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;
    /// The bug catalog (`bug_catalog!` makes one; [`NoBugs`] for none).
    type Bug: Catalog;

    /// The name scenarios, `--bug` flags, swarm families and reports use.
    fn name(&self) -> &'static str;

    /// One line on what the system is.
    fn describe(&self) -> &'static str {
        ""
    }

    /// Client processes that run beside the servers (nodes `servers..servers + clients`).
    fn clients(&self, _settings: &Self::Settings) -> usize {
        0
    }

    /// The names of the checks [`Running::judge`] may report, with one line each; a
    /// scenario's `[checks] skip` may name them. `linearizability` is added for systems
    /// with a [`System::history_model`]. The default: none of its own.
    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Settings keys that are check bounds: a scenario file keeps them in `[checks]`.
    fn bound_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks settings that parse but cannot work. The message starts with the dotted
    /// key at fault (`client.read_percent: ...`) so the error can point at it.
    fn validate(&self, _settings: &Self::Settings, _servers: usize) -> Result<(), String> {
        Ok(())
    }

    /// The model the clients' history is checked against (register, cas-register, kv,
    /// set, queue), if the clients record through [`Start::recorder`]: the harness then
    /// checks linearizability, writes `--history` and draws the history in reports.
    fn history_model(&self) -> Option<ModelKind> {
        None
    }

    /// Starts the servers and clients on the simulator.
    fn start(&self, start: Start<'_, Self::Settings, Self::Bug>) -> Box<dyn Running>;

    /// For the shrinker: the settings with one client fewer, if that is possible.
    fn fewer_clients(&self, _settings: &Self::Settings) -> Option<Self::Settings> {
        None
    }

    /// For the shrinker: settings that make fewer client operations, most promising
    /// first (e.g. a longer think time).
    fn fewer_operations(&self, _settings: &Self::Settings) -> Vec<Self::Settings> {
        Vec::new()
    }

    /// The scenario a `swarm/NAME` family takes its cluster, network and settings from
    /// (its faults are drawn per seed instead). `None`: no swarm family.
    fn swarm_base(&self) -> Option<&'static str> {
        None
    }

    /// Draws protocol settings for one swarm run (PreVote, timeouts, ...) from `rng`;
    /// returns what it drew, for the run's description. Default: the base's settings.
    fn swarm_settings(
        &self,
        _settings: &mut Self::Settings,
        _rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String> {
        Vec::new()
    }

    /// The disk fault families a swarm run may draw for this system, each one it claims
    /// to survive; a schedule borrowed through [`System::runs_schedules_of`] with a family
    /// it does not claim is left out too. Default: none (a system that keeps state only in
    /// memory loses it to a power loss by design).
    fn swarm_disk(&self) -> SwarmDisk {
        SwarmDisk::default()
    }

    /// Another registered system of the same shape (servers, clients, a leader) whose
    /// built-in fault schedules this one also runs: each scenario `OTHER/X` gives a
    /// scenario `NAME/X` with the same cluster, network, disk, clocks and faults, and this
    /// system's default settings, except schedules whose disk faults this system does not
    /// claim to survive ([`System::swarm_disk`]). Nothing is copied: the schedules stay in
    /// one place.
    fn runs_schedules_of(&self) -> Option<&'static str> {
        None
    }

    /// Whether the system has a leader for role faults (`crash-leader`, `isolate-leader`,
    /// `pause-leader`, `drift-leader`, ...): [`Running::leader`] names it. A scenario with
    /// a leader fault on a system without one is refused.
    fn has_leader(&self) -> bool {
        false
    }

    /// Whether [`Running::judge`] reads every trace event. Runs that export no trace keep
    /// only landmark events (crashes, restarts, pauses, partitions, heals, clock changes,
    /// notes, disk faults) so memory does not grow with run length; a system whose checks
    /// read deliveries or sends says so here.
    fn reads_every_event(&self) -> bool {
        false
    }
}

/// A system as the harness holds it: settings as a TOML table, bugs by name. Every
/// [`System`] is one.
pub trait DynSystem: Send + Sync {
    fn name(&self) -> &'static str;
    fn describe(&self) -> &'static str;
    /// `(name, description)` of every catalogued bug.
    fn bugs(&self) -> Vec<(&'static str, &'static str)>;
    /// `(name, description)` of every check.
    fn checks(&self) -> Vec<(&'static str, &'static str)>;
    fn bound_keys(&self) -> &'static [&'static str];
    fn history_model(&self) -> Option<ModelKind>;
    fn swarm_base(&self) -> Option<&'static str>;
    fn swarm_disk(&self) -> SwarmDisk;
    fn runs_schedules_of(&self) -> Option<&'static str>;
    fn reads_every_event(&self) -> bool;
    fn has_leader(&self) -> bool;
    /// The default settings.
    fn default_settings(&self) -> toml::Table;
    /// Reads, validates and normalizes settings (every key spelled out).
    fn read_settings(&self, table: &toml::Table, servers: usize) -> Result<toml::Table, String>;
    /// Reads the settings from a whole scenario file's text, skipping the scenario's own
    /// top-level keys: slower, but an error keeps its position (a byte offset).
    fn locate_settings_error(&self, text: &str, scenario_keys: &[&str]) -> Option<(usize, String)>;
    fn clients(&self, settings: &toml::Table) -> usize;
    fn start(
        &self,
        sim: &SimHandle,
        settings: &toml::Table,
        servers: usize,
        bugs: &[String],
        recorder: Recorder,
    ) -> Box<dyn Running>;
    fn fewer_clients(&self, settings: &toml::Table) -> Option<toml::Table>;
    fn fewer_operations(&self, settings: &toml::Table) -> Vec<toml::Table>;
    /// [`System::swarm_settings`] on a settings table.
    fn swarm_settings(
        &self,
        settings: &mut toml::Table,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String>;
}

/// How long a history's linearizability search may take before the verdict is unknown.
pub const LINEARIZABILITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What [`check_history`] found; the events come back for `--history` and reports.
pub struct HistoryCheck {
    pub violations: Vec<Violation>,
    pub unknown: Option<String>,
    pub events: Vec<Event>,
    /// Operations paired from the events.
    pub ops: usize,
}

/// Checks a client history for linearizability against `model`: the check every system
/// with a [`System::history_model`] gets without writing checker glue. A violation names
/// the operations of its witness (history lines), so reports can outline them.
pub fn check_history(events: Vec<Event>, model: ModelKind, source: &str) -> HistoryCheck {
    use checkers::history::{pair, History};
    let history = History::new(source, events);
    let judged = check_paired(pair(&history), model);
    HistoryCheck {
        violations: judged.violations,
        unknown: judged.unknown,
        events: history.events,
        ops: judged.ops,
    }
}

/// What [`check_compact`] found.
pub struct CompactCheck {
    pub violations: Vec<Violation>,
    pub unknown: Option<String>,
    /// Operations paired from the events.
    pub ops: usize,
}

/// [`check_history`] on a compactly kept history: its events are paired straight into
/// operations, never held decoded all at once, and the history stays as it was.
pub fn check_compact(history: &CompactHistory, model: ModelKind, source: &str) -> CompactCheck {
    check_paired(history.pair(source), model)
}

fn check_paired(
    paired: Result<Operations, checkers::error::InputError>,
    model: ModelKind,
) -> CompactCheck {
    use checkers::linearizability::{self, Options, Verdict};
    let mut violations = Vec::new();
    let mut unknown = None;
    let mut ops = 0;
    match paired {
        Err(e) => violations.push(Violation::new(
            "history",
            format!("the client history is malformed: {e}"),
            None,
        )),
        Ok(paired) => {
            ops = paired.ops.len();
            let opts = Options {
                timeout: Some(LINEARIZABILITY_TIMEOUT),
                ..Options::default()
            };
            match linearizability::check_with(model, None, &paired, &opts) {
                Err(e) => violations.push(Violation::new(
                    "history",
                    format!("cannot check the history: {e}"),
                    None,
                )),
                Ok(report) => match report.verdict {
                    Verdict::Linearizable => {}
                    Verdict::NotLinearizable { witness } => violations.push(
                        Violation::new("linearizability", witness.render(6), None)
                            .with_ops(witness.op_refs(6)),
                    ),
                    Verdict::Unknown { progress } => {
                        unknown = Some(format!(
                            "linearizability search ran out of time: {progress:?}"
                        ));
                    }
                },
            }
        }
    }
    CompactCheck {
        violations,
        unknown,
        ops,
    }
}

/// Doubles a think time (from at least 1 ms) up to 5 s, for [`System::fewer_operations`]:
/// half as many operations. False when it is already there.
pub fn double_think(think: &mut sim::Nanos) -> bool {
    let next = (think.0.max(1_000_000) * 2).min(5_000_000_000);
    let changed = next != think.0;
    think.0 = next;
    changed
}

fn to_table<S: Serialize>(settings: &S) -> toml::Table {
    match toml::Value::try_from(settings) {
        Ok(toml::Value::Table(t)) => t,
        Ok(other) => panic!("a system's settings must serialize as a table, not {other}"),
        Err(e) => panic!("a system's settings must serialize to TOML: {e}"),
    }
}

fn from_table<S: DeserializeOwned>(table: &toml::Table) -> Result<S, String> {
    S::deserialize(toml::Value::Table(table.clone())).map_err(|e| e.message().to_string())
}

/// Settings the harness already read: reading them again cannot fail.
fn typed<S: DeserializeOwned>(name: &str, table: &toml::Table) -> S {
    from_table(table).unwrap_or_else(|e| panic!("{name}: settings were validated: {e}"))
}

impl<T: System> DynSystem for T {
    fn name(&self) -> &'static str {
        System::name(self)
    }
    fn describe(&self) -> &'static str {
        System::describe(self)
    }
    fn bugs(&self) -> Vec<(&'static str, &'static str)> {
        T::Bug::all()
            .iter()
            .map(|b| (b.name(), b.describe()))
            .collect()
    }
    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = System::checks(self);
        if self.history_model().is_some() && !v.iter().any(|(c, _)| *c == "linearizability") {
            v.push((
                "linearizability",
                "the clients' history is linearizable (recorded through the Recorder)",
            ));
        }
        v
    }
    fn bound_keys(&self) -> &'static [&'static str] {
        System::bound_keys(self)
    }
    fn history_model(&self) -> Option<ModelKind> {
        System::history_model(self)
    }
    fn swarm_base(&self) -> Option<&'static str> {
        System::swarm_base(self)
    }
    fn swarm_disk(&self) -> SwarmDisk {
        System::swarm_disk(self)
    }
    fn runs_schedules_of(&self) -> Option<&'static str> {
        System::runs_schedules_of(self)
    }
    fn reads_every_event(&self) -> bool {
        System::reads_every_event(self)
    }
    fn has_leader(&self) -> bool {
        System::has_leader(self)
    }
    fn default_settings(&self) -> toml::Table {
        to_table(&T::Settings::default())
    }
    fn read_settings(&self, table: &toml::Table, servers: usize) -> Result<toml::Table, String> {
        let s: T::Settings = from_table(table)?;
        System::validate(self, &s, servers)?;
        Ok(to_table(&s))
    }
    fn locate_settings_error(&self, text: &str, scenario_keys: &[&str]) -> Option<(usize, String)> {
        let de = toml::Deserializer::new(text);
        let err = settings_text::SettingsOnly::<T::Settings>::new(scenario_keys)
            .deserialize(de)
            .err()?;
        let at = err.span().filter(|r| r.start > 0)?.start;
        Some((at, err.message().to_string()))
    }
    fn clients(&self, settings: &toml::Table) -> usize {
        System::clients(self, &typed(System::name(self), settings))
    }
    fn start(
        &self,
        sim: &SimHandle,
        settings: &toml::Table,
        servers: usize,
        bugs: &[String],
        recorder: Recorder,
    ) -> Box<dyn Running> {
        let settings: T::Settings = typed(System::name(self), settings);
        let bugs: BTreeSet<T::Bug> = bugs
            .iter()
            .map(|b| {
                *T::Bug::all()
                    .iter()
                    .find(|x| x.name() == b)
                    .unwrap_or_else(|| panic!("bug {b} was validated"))
            })
            .collect();
        System::start(
            self,
            Start {
                sim,
                settings: &settings,
                servers,
                bugs: &bugs,
                recorder,
            },
        )
    }
    fn fewer_clients(&self, settings: &toml::Table) -> Option<toml::Table> {
        System::fewer_clients(self, &typed(System::name(self), settings)).map(|s| to_table(&s))
    }
    fn fewer_operations(&self, settings: &toml::Table) -> Vec<toml::Table> {
        System::fewer_operations(self, &typed(System::name(self), settings))
            .iter()
            .map(to_table)
            .collect()
    }
    fn swarm_settings(
        &self,
        settings: &mut toml::Table,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String> {
        let mut typed_settings: T::Settings = typed(System::name(self), settings);
        let drawn = System::swarm_settings(self, &mut typed_settings, rng);
        *settings = to_table(&typed_settings);
        drawn
    }
}

/// Declares a system's bug catalog: the `Bug` enum (each variant with its `--bug` name
/// and a one-line description), `Bug::ALL`, `name`, `describe`, `parse`, `Display`, and
/// the `Bugs` set a run switches on. One list, so names, serde form and docs cannot drift.
#[macro_export]
macro_rules! bug_catalog {
    ($( $variant:ident = $name:literal : $describe:literal ),+ $(,)?) => {
        /// One catalogued bug.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum Bug {
            $( #[serde(rename = $name)] $variant ),+
        }

        impl Bug {
            const COUNT: usize = [$( Bug::$variant ),+].len();

            pub const ALL: [Bug; Bug::COUNT] = [$( Bug::$variant ),+];

            pub fn name(self) -> &'static str {
                match self { $( Bug::$variant => $name ),+ }
            }

            /// One line on what the bug does.
            pub fn describe(self) -> &'static str {
                match self { $( Bug::$variant => $describe ),+ }
            }

            pub fn parse(name: &str) -> Option<Bug> {
                Bug::ALL.into_iter().find(|b| b.name() == name)
            }
        }

        impl $crate::system::Catalog for Bug {
            fn all() -> &'static [Bug] {
                &Bug::ALL
            }
            fn name(self) -> &'static str {
                Bug::name(self)
            }
            fn describe(self) -> &'static str {
                Bug::describe(self)
            }
        }

        impl std::fmt::Display for Bug {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// The set of bugs switched on.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Bugs(pub std::collections::BTreeSet<Bug>);

        impl Bugs {
            pub fn none() -> Self {
                Bugs::default()
            }

            pub fn has(&self, bug: Bug) -> bool {
                self.0.contains(&bug)
            }

            pub fn with(mut self, bug: Bug) -> Self {
                self.0.insert(bug);
                self
            }
        }

        #[cfg(test)]
        mod catalog_tests {
            use super::*;
            use std::collections::BTreeSet;

            #[test]
            fn names_round_trip_and_are_unique() {
                let names: BTreeSet<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                assert_eq!(names.len(), Bug::ALL.len());
                for b in Bug::ALL {
                    assert_eq!(Bug::parse(b.name()), Some(b));
                    assert!(!b.describe().is_empty());
                    let json = $crate::__serde_json::to_string(&b).unwrap();
                    assert_eq!(json, format!("\"{}\"", b.name()));
                }
                assert_eq!(Bug::parse("nope"), None);
            }
        }
    };
}

/// Deserializes a system's settings from a whole scenario document, skipping the
/// scenario's own keys, so that errors keep their positions (serde's `flatten` loses them).
mod settings_text {
    use std::marker::PhantomData;

    use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    pub struct SettingsOnly<'k, S> {
        skip: &'k [&'k str],
        _settings: PhantomData<S>,
    }

    impl<'k, S> SettingsOnly<'k, S> {
        pub fn new(skip: &'k [&'k str]) -> Self {
            SettingsOnly {
                skip,
                _settings: PhantomData,
            }
        }
    }

    impl<'de, S: DeserializeOwned> DeserializeSeed<'de> for SettingsOnly<'_, S> {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, S: DeserializeOwned> Visitor<'de> for SettingsOnly<'_, S> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a scenario table")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
            let de = serde::de::value::MapAccessDeserializer::new(Filtered {
                map,
                skip: self.skip,
            });
            S::deserialize(de).map(drop)
        }
    }

    /// A map without the scenario's own keys.
    struct Filtered<'k, A> {
        map: A,
        skip: &'k [&'k str],
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filtered<'_, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            loop {
                let Some(key) = self.map.next_key::<String>()? else {
                    return Ok(None);
                };
                if self.skip.contains(&key.as_str()) {
                    self.map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let key = serde::de::value::StringDeserializer::<A::Error>::new(key);
                return seed.deserialize(key).map(Some);
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.map.next_value_seed(seed)
        }
    }
}
