//! Runs a scenario at a seed: builds the world, starts the system, plays the fault
//! schedule, then checks the trace and the system's own properties. A panic inside the
//! run (a broken invariant) becomes a violation of the run, not a crash of the tool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use nodes::raft::{Bug, Bugs, RaftObserver};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::seq::SliceRandom;
use rand::Rng;
use sim::audit::{audit_world, Violation};
use sim::trace::{first_divergence, Divergence};
use sim::{InitialClock, NodeSpec, SimConfig, SimHandle, Status, Topology, Trace, WorldFaults};

use crate::report::{replay_command, RunReport, Verdict};
use crate::scenario::{Fault, Scenario, Scheduled, SystemSpec};

/// Knobs of a single run beyond scenario and seed.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub world_faults: WorldFaults,
    /// Raft bugs to switch on (`--bug raft:NAME`).
    pub raft_bugs: Bugs,
    pub gossip_bugs: nodes::gossip::Bugs,
    pub twopc_bugs: nodes::twopc::Bugs,
}

impl RunOptions {
    /// Options with these `--bug SYSTEM:NAME` switches on.
    pub fn with_bugs(bugs: &[String]) -> Result<Self, String> {
        let mut opts = RunOptions::default();
        for b in bugs {
            add_bug(&mut opts, b)?;
        }
        Ok(opts)
    }

    /// The `--bug` flags that reproduce these options, for replay commands.
    pub fn bug_flags(&self) -> Vec<String> {
        let raft = self.raft_bugs.0.iter().map(|b| format!("raft:{b}"));
        let gossip = self.gossip_bugs.0.iter().map(|b| format!("gossip:{b}"));
        let twopc = self.twopc_bugs.0.iter().map(|b| format!("twopc:{b}"));
        raft.chain(gossip).chain(twopc).collect()
    }
}

/// Every catalogued bug as `SYSTEM:NAME` with its one-line description.
pub fn all_bugs() -> Vec<(String, &'static str)> {
    let raft = Bug::ALL.iter().map(|b| (format!("raft:{b}"), b.describe()));
    let gossip = nodes::gossip::Bug::ALL
        .iter()
        .map(|b| (format!("gossip:{b}"), b.describe()));
    let twopc = nodes::twopc::Bug::ALL
        .iter()
        .map(|b| (format!("twopc:{b}"), b.describe()));
    raft.chain(gossip).chain(twopc).collect()
}

/// Parses `SYSTEM:NAME` into the options; says what exists if it does not.
pub fn add_bug(opts: &mut RunOptions, spec: &str) -> Result<(), String> {
    let known = || {
        all_bugs()
            .into_iter()
            .map(|(b, _)| b)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((system, name)) = spec.split_once(':') else {
        return Err(format!(
            "bug '{spec}' is not SYSTEM:NAME; known bugs: {}",
            known()
        ));
    };
    let added = match system {
        "raft" => Bug::parse(name).map(|b| opts.raft_bugs.0.insert(b)),
        "gossip" => nodes::gossip::Bug::parse(name).map(|b| opts.gossip_bugs.0.insert(b)),
        "twopc" => nodes::twopc::Bug::parse(name).map(|b| opts.twopc_bugs.0.insert(b)),
        _ => None,
    };
    match added {
        Some(_) => Ok(()),
        None => Err(format!("unknown bug '{spec}'; known bugs: {}", known())),
    }
}

/// A report plus, when the run finished, its trace and node names.
pub struct RunResult {
    pub report: RunReport,
    pub trace: Option<Trace>,
    pub names: Vec<String>,
    /// The client history, for systems with clients.
    pub history: Option<ClientHistory>,
}

/// A run's client history. Raft keeps its events and renders them as native JSON lines
/// only when asked: rendering costs about a tenth of a whole run, and most runs (sweeps,
/// benches) never show their history.
#[derive(Debug, Clone)]
pub enum ClientHistory {
    /// Already rendered as JSON lines.
    Lines(String),
    /// Raft's key-value history, not rendered yet.
    Kv(Vec<checkers::history::Event>),
}

impl ClientHistory {
    /// The history as native JSON lines, which `dst check` reads.
    pub fn json_lines(&self) -> std::borrow::Cow<'_, str> {
        match self {
            ClientHistory::Lines(text) => text.as_str().into(),
            ClientHistory::Kv(events) => checkers::history::native::to_json_lines(events).into(),
        }
    }

    /// How many operations were invoked, without rendering the history.
    pub fn invocations(&self) -> usize {
        match self {
            ClientHistory::Lines(text) => text.matches("\"type\":\"invoke\"").count(),
            ClientHistory::Kv(events) => events
                .iter()
                .filter(|e| e.kind == checkers::history::EventKind::Invoke)
                .count(),
        }
    }
}

fn sim_config(s: &Scenario, seed: u64, opts: &RunOptions) -> SimConfig {
    let servers = (1..=s.nodes).map(|i| format!("n{i}"));
    let clients = (1..=s.system.clients()).map(|i| format!("c{i}"));
    let mut nodes: Vec<NodeSpec> = servers
        .chain(clients)
        .map(|name| NodeSpec {
            name,
            clock: InitialClock::default(),
        })
        .collect();
    for c in &s.clocks {
        nodes[c.node].clock = InitialClock {
            offset_ns: c.offset_ns,
            drift_ppm: c.drift_ppm,
        };
    }
    SimConfig {
        seed,
        nodes,
        net: s.net.clone(),
        disk: s.disk,
        partition_nodes: Some(s.nodes),
        keep_events: true,
        world_faults: opts.world_faults,
    }
}

/// What the running system exposes to the nemesis and the checks.
enum Running {
    Relay,
    Raft(Arc<Mutex<RaftObserver>>),
    Gossip(Arc<Mutex<nodes::gossip::Observer>>),
    Twopc(Arc<Mutex<nodes::twopc::Observer>>),
}

impl Running {
    /// The server that is leader now, if the system has one and it is up.
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        match self {
            Running::Relay | Running::Gossip(_) => None,
            // The coordinator is node 0: "the leader" of two-phase commit.
            Running::Twopc(_) => Some(0).filter(|&c| sim.status(c) == Status::Up),
            Running::Raft(obs) => obs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .current_leader()
                .filter(|&l| sim.status(l) == Status::Up),
        }
    }
}

/// What a fault did, so that its `for` can undo it.
enum Done {
    Nothing,
    Crashed(Vec<usize>),
    Paused(Vec<usize>),
    /// The links it cut.
    Partitioned(Vec<(usize, usize)>),
}

/// Undoes what a fault with a `for` did: restarts the nodes it crashed that are still down,
/// resumes those it paused that are still paused, or ends its partition (links another
/// partition also cuts stay cut).
fn undo(sim: &SimHandle, done: &Done) {
    match done {
        Done::Nothing => {}
        Done::Crashed(nodes) => {
            for &n in nodes {
                if sim.status(n) == Status::Crashed {
                    sim.restart(n).ok();
                }
            }
        }
        Done::Paused(nodes) => {
            for &n in nodes {
                if sim.status(n) == Status::Paused {
                    sim.resume(n).ok();
                }
            }
        }
        Done::Partitioned(links) => sim.heal_links(links),
    }
}

/// Crashes each of `nodes`; what was crashed.
fn crash_all(sim: &SimHandle, nodes: Vec<usize>) -> Result<Done, String> {
    for &n in &nodes {
        sim.crash(n).map_err(|e| e.to_string())?;
    }
    Ok(Done::Crashed(nodes))
}

/// Pauses each of `nodes`; what was paused.
fn pause_all(sim: &SimHandle, nodes: Vec<usize>) -> Result<Done, String> {
    for &n in &nodes {
        sim.pause(n).map_err(|e| e.to_string())?;
    }
    Ok(Done::Paused(nodes))
}

/// `count` servers drawn from those up (fewer if fewer are up), in node order.
fn some_up(sim: &SimHandle, servers: usize, count: usize, rng: &mut impl Rng) -> Vec<usize> {
    let up: Vec<usize> = (0..servers)
        .filter(|&n| sim.status(n) == Status::Up)
        .collect();
    let mut pick: Vec<usize> = up
        .choose_multiple(rng, count.min(up.len()))
        .copied()
        .collect();
    pick.sort_unstable();
    pick
}

/// Applies one fault.
fn apply(
    sim: &SimHandle,
    s: &Scenario,
    running: &Running,
    fault: &Fault,
    rng: &mut impl Rng,
) -> Result<Done, String> {
    let n = s.nodes;
    let (minority, majority) = ((n - 1) / 2, n / 2 + 1);
    match fault {
        Fault::Partition(t) => sim
            .partition_with(t, rng)
            .map(Done::Partitioned)
            .map_err(|e| e.to_string()),
        Fault::Heal => {
            sim.heal();
            Ok(Done::Nothing)
        }
        Fault::Crash { node } => crash_all(sim, vec![*node]),
        Fault::Restart { node } => sim
            .restart(*node)
            .map(|_| Done::Nothing)
            .map_err(|e| e.to_string()),
        // Role-based faults move nodes around, so a pause may find its node crashed (or
        // a resume find it already running): there is nothing to do then.
        Fault::Pause { node } if sim.status(*node) == Status::Crashed => Ok(Done::Nothing),
        Fault::Resume { node } if sim.status(*node) != Status::Paused => Ok(Done::Nothing),
        Fault::Pause { node } => pause_all(sim, vec![*node]),
        Fault::Resume { node } => sim
            .resume(*node)
            .map(|_| Done::Nothing)
            .map_err(|e| e.to_string()),
        Fault::ClockBump { node, delta_ns } => {
            sim.bump_clock(*node, *delta_ns);
            Ok(Done::Nothing)
        }
        Fault::ClockDrift { node, ppm } => {
            sim.set_drift(*node, *ppm);
            Ok(Done::Nothing)
        }
        Fault::ClockStrobe {
            node,
            delta_ns,
            period,
            duration,
        } => {
            sim.strobe_clock(*node, *delta_ns, period.0, duration.0);
            Ok(Done::Nothing)
        }
        Fault::CrashAfterDiskOps { node, ops } => {
            sim.crash_after_disk_ops(*node, *ops);
            Ok(Done::Crashed(vec![*node]))
        }
        Fault::CrashAfterRandomDiskOps { node, max_ops } => {
            let ops = rng.gen_range(1..=*max_ops);
            sim.crash_after_disk_ops(*node, ops);
            Ok(Done::Crashed(vec![*node]))
        }
        // No leader right now: nothing to crash.
        Fault::CrashLeader => crash_all(sim, running.leader(sim).into_iter().collect()),
        Fault::CrashFollower => {
            let leader = running.leader(sim);
            let up: Vec<usize> = (0..n)
                .filter(|&x| Some(x) != leader && sim.status(x) == Status::Up)
                .collect();
            if up.is_empty() {
                Ok(Done::Nothing)
            } else {
                crash_all(sim, vec![up[rng.gen_range(0..up.len())]])
            }
        }
        Fault::IsolateLeader => {
            let node = running.leader(sim).unwrap_or(0);
            sim.partition_with(&Topology::Isolate { node: Some(node) }, rng)
                .map(Done::Partitioned)
                .map_err(|e| e.to_string())
        }
        Fault::DriftLeader { ppm } => {
            if let Some(l) = running.leader(sim) {
                sim.set_drift(l, *ppm);
            }
            Ok(Done::Nothing)
        }
        Fault::BumpLeader { delta_ns } => {
            if let Some(l) = running.leader(sim) {
                sim.bump_clock(l, *delta_ns);
            }
            Ok(Done::Nothing)
        }
        Fault::StrobeLeader {
            delta_ns,
            period,
            duration,
        } => {
            if let Some(l) = running.leader(sim) {
                sim.strobe_clock(l, *delta_ns, period.0, duration.0);
            }
            Ok(Done::Nothing)
        }
        Fault::CrashAll => {
            let mut crashed = Vec::new();
            for x in 0..n {
                if sim.status(x) != Status::Crashed && sim.crash(x).is_ok() {
                    crashed.push(x);
                }
            }
            Ok(Done::Crashed(crashed))
        }
        Fault::CrashRandom => {
            let up: Vec<usize> = (0..n).filter(|&x| sim.status(x) == Status::Up).collect();
            if up.is_empty() {
                Ok(Done::Nothing)
            } else {
                crash_all(sim, vec![up[rng.gen_range(0..up.len())]])
            }
        }
        Fault::RestartCrashed => {
            for x in 0..n {
                if sim.status(x) == Status::Crashed {
                    sim.restart(x).ok();
                }
            }
            Ok(Done::Nothing)
        }
        Fault::CrashMinority => crash_all(sim, some_up(sim, n, minority, rng)),
        Fault::CrashMajority => crash_all(sim, some_up(sim, n, majority, rng)),
        Fault::PauseLeader => pause_all(sim, running.leader(sim).into_iter().collect()),
        Fault::PauseMinority => pause_all(sim, some_up(sim, n, minority, rng)),
        Fault::PauseMajority => pause_all(sim, some_up(sim, n, majority, rng)),
        Fault::ResumePaused => {
            for x in 0..n {
                if sim.status(x) == Status::Paused {
                    sim.resume(x).ok();
                }
            }
            Ok(Done::Nothing)
        }
    }
}

/// The name of the random stream event `index` of `faults` draws from: its time and kind
/// (and how many identical events came before it at that time), so removing one event
/// while shrinking leaves every other event's random choices as they were. A `for` is not
/// part of the name: shortening it changes no draw.
pub fn fault_stream(faults: &[Scheduled], index: usize) -> String {
    let key = |s: &Scheduled| {
        let kind = serde_json::to_string(&s.fault).unwrap_or_default();
        format!("faults@{}:{kind}", s.at.0)
    };
    let mine = key(&faults[index]);
    let nth = faults[..=index].iter().filter(|s| key(s) == mine).count();
    format!("{mine}#{nth}")
}

type Ends = BinaryHeap<Reverse<(u64, usize)>>;

/// Takes the ends due by `until`, in order, with what each is to undo.
fn due_ends(until: u64, ends: &mut Ends, done: &mut [Option<Done>]) -> Vec<(u64, Option<Done>)> {
    let mut due = Vec::new();
    while let Some(&Reverse((t, i))) = ends.peek() {
        if t > until {
            break;
        }
        ends.pop();
        due.push((t, done[i].take()));
    }
    due
}

/// Plays the fault schedule, ending each fault that has a `for` when it runs out (before
/// any fault scheduled at that same instant); returns violations for faults that did not
/// apply.
async fn nemesis(sim: &SimHandle, s: &Scenario, running: &Running) -> Vec<Violation> {
    let mut problems = Vec::new();
    // Pending ends, earliest first; ties in schedule order.
    let mut ends = Ends::new();
    let mut done: Vec<Option<Done>> = (0..s.faults.len()).map(|_| None).collect();
    for (index, step) in s.faults.iter().enumerate() {
        for (t, what) in due_ends(step.at.0, &mut ends, &mut done) {
            sim.sleep_until(t).await;
            if let Some(what) = what {
                undo(sim, &what);
            }
        }
        sim.sleep_until(step.at.0).await;
        let mut rng = sim::rng::stream(sim.seed(), &fault_stream(&s.faults, index));
        match apply(sim, s, running, &step.fault, &mut rng) {
            Ok(what) => {
                if let Some(end) = step.ends() {
                    done[index] = Some(what);
                    ends.push(Reverse((end.0, index)));
                }
            }
            Err(e) => problems.push(Violation::new(
                "scenario",
                format!("fault at {} could not be applied: {e}", step.at),
                None,
            )),
        }
    }
    for (t, what) in due_ends(u64::MAX, &mut ends, &mut done) {
        sim.sleep_until(t).await;
        if let Some(what) = what {
            undo(sim, &what);
        }
    }
    sim.sleep_until(s.duration.0).await;
    problems
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `s` at `seed` and judges it. A swarm family first draws its mix from the seed.
pub fn run_scenario(s: &Scenario, seed: u64, opts: &RunOptions) -> RunResult {
    if crate::swarm::is_swarm(s) {
        let (drawn, mix) = crate::swarm::materialize(s, seed);
        let mut result = run_drawn(&drawn, seed, opts);
        result.report.scenario = s.name.clone();
        result.report.replay = replay_command(&s.name, seed, &opts.bug_flags());
        result
            .report
            .system_stats
            .insert("swarm_mix".into(), serde_json::json!(mix));
        return result;
    }
    run_drawn(s, seed, opts)
}

fn run_drawn(s: &Scenario, seed: u64, opts: &RunOptions) -> RunResult {
    let config = sim_config(s, seed, opts);
    let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
    let replay = replay_command(&s.name, seed, &opts.bug_flags());
    quiet_panics::install();
    let outcome = quiet_panics::during_run(|| {
        catch_unwind(AssertUnwindSafe(|| {
            sim::run(config, |sim| async move {
                let running = match &s.system {
                    SystemSpec::Relay(cfg) => {
                        nodes::relay::start(&sim, *cfg);
                        Running::Relay
                    }
                    SystemSpec::Raft(sys) => {
                        Running::Raft(nodes::raft::start(&sim, sys, s.nodes, &opts.raft_bugs))
                    }
                    SystemSpec::Gossip(sys) => {
                        Running::Gossip(nodes::gossip::start(&sim, sys, s.nodes, &opts.gossip_bugs))
                    }
                    SystemSpec::Twopc(sys) => {
                        Running::Twopc(nodes::twopc::start(&sim, sys, s.nodes, &opts.twopc_bugs))
                    }
                };
                let problems = nemesis(&sim, s, &running).await;
                (problems, running)
            })
        }))
    });
    let out = match outcome {
        Ok(out) => out,
        Err(payload) => {
            let report = RunReport {
                scenario: s.name.clone(),
                seed,
                verdict: Verdict::Violation,
                violations: vec![Violation::new(
                    "panic",
                    match quiet_panics::last_location() {
                        Some(at) => format!("the run panicked at {at}: {}", panic_text(&*payload)),
                        None => format!("the run panicked: {}", panic_text(&*payload)),
                    },
                    None,
                )],
                unknown: None,
                system_stats: Default::default(),
                trace_digest: String::new(),
                events: 0,
                sim_time_ns: 0,
                replay,
                stats: Default::default(),
            };
            return RunResult {
                report,
                trace: None,
                names,
                history: None,
            };
        }
    };
    let (mut violations, running) = out.value;
    violations.extend(audit_world(out.trace.events(), &out.names));
    let mut unknown = None;
    let mut history = None;
    let mut stats = serde_json::Map::new();
    let end = nodes::system::RunEnd {
        events: out.trace.events(),
        names: &out.names,
        statuses: &out.statuses,
        servers: s.nodes,
        last_fault_ns: s.last_fault().0,
        end_ns: out.sim_time_ns,
    };
    match (&s.system, running) {
        (SystemSpec::Relay(_), _) => {
            let servers = &out.statuses[..s.nodes];
            violations.extend(nodes::relay::check_traffic_resumes(
                out.trace.events(),
                &out.names[..s.nodes],
                servers,
                s.last_fault().0,
            ))
        }
        (SystemSpec::Raft(sys), Running::Raft(obs)) => {
            let mut obs = obs.lock().unwrap_or_else(|e| e.into_inner());
            let liveness = sys
                .liveness
                .filter(|_| nodes::raft::check::majority_serving(&end))
                .map(|b| (s.last_fault().0, b.0));
            let check = nodes::raft::check::check_run(&mut obs, liveness);
            violations.extend(check.violations);
            violations.extend(nodes::raft::check::check_end(&obs, sys, &end));
            unknown = check.unknown;
            history = Some(ClientHistory::Kv(std::mem::take(&mut obs.history)));
        }
        (SystemSpec::Gossip(sys), Running::Gossip(obs)) => {
            let mut obs = obs.lock().unwrap_or_else(|e| e.into_inner());
            let check = nodes::gossip::check_run(&mut obs, sys, &end);
            violations.extend(check.violations);
            unknown = check.unknown;
            history = check.history.map(ClientHistory::Lines);
            stats = check.stats;
        }
        (SystemSpec::Twopc(sys), Running::Twopc(obs)) => {
            let mut obs = obs.lock().unwrap_or_else(|e| e.into_inner());
            let check = nodes::twopc::check_run(&mut obs, sys, &end, s.checks.max_blocked);
            violations.extend(check.violations);
            unknown = check.unknown;
            history = check.history.map(ClientHistory::Lines);
            stats = check.stats;
        }
        _ => unreachable!("each system starts its own kind of run"),
    }
    violations.retain(|v| !s.checks.skip.contains(&v.check));
    let verdict = if !violations.is_empty() {
        Verdict::Violation
    } else if unknown.is_some() {
        Verdict::Unknown
    } else {
        Verdict::Pass
    };
    RunResult {
        report: RunReport {
            scenario: s.name.clone(),
            seed,
            verdict,
            violations,
            unknown,
            system_stats: stats,
            trace_digest: out.trace.digest_hex(),
            events: out.trace.len(),
            sim_time_ns: out.sim_time_ns,
            replay,
            stats: out.net,
        },
        trace: Some(out.trace),
        names: out.names,
        history,
    }
}

/// Runs twice; returns the first run and, if the traces differ, where.
pub fn check_determinism(
    s: &Scenario,
    seed: u64,
    opts: &RunOptions,
) -> (RunResult, Option<Divergence>) {
    let a = run_scenario(s, seed, opts);
    let b = run_scenario(s, seed, opts);
    let divergence = match (&a.trace, &b.trace) {
        (Some(x), Some(y)) if x.digest() != y.digest() => first_divergence(x.events(), y.events()),
        (Some(_), Some(_)) => None,
        // A run that panicked has no trace; compare what the two reports said instead.
        _ if a.report.violations != b.report.violations => Some(Divergence {
            index: 0,
            first: None,
            second: None,
        }),
        _ => None,
    };
    (a, divergence)
}

/// A panic inside a run is a finding, reported as a `panic` violation with its message and
/// location; printing it as well would bury a sweep's or a fuzz job's output under
/// backtraces. Set `DST_SHOW_PANICS=1` to have them printed anyway (with a backtrace if
/// `RUST_BACKTRACE` asks for one).
mod quiet_panics {
    use std::cell::{Cell, RefCell};
    use std::sync::Once;

    thread_local! {
        static IN_RUN: Cell<bool> = const { Cell::new(false) };
        static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_RUN.with(Cell::get) {
                    let at = info
                        .location()
                        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                    LOCATION.with(|l| *l.borrow_mut() = at);
                    if std::env::var_os("DST_SHOW_PANICS").is_none() {
                        return;
                    }
                }
                default(info)
            }));
        });
    }

    /// Runs `f` with panics on this thread recorded instead of printed.
    pub fn during_run<T>(f: impl FnOnce() -> T) -> T {
        LOCATION.with(|l| *l.borrow_mut() = None);
        IN_RUN.with(|r| r.set(true));
        let out = f();
        IN_RUN.with(|r| r.set(false));
        out
    }

    /// Where the last recorded panic on this thread happened.
    pub fn last_location() -> Option<String> {
        LOCATION.with(|l| l.borrow().clone())
    }
}
