//! Runs a scenario at a seed: builds the world, starts the system, plays the fault
//! schedule, then checks the trace and the system's own properties. A panic inside the
//! run (a broken invariant) becomes a violation of the run, not a crash of the tool.

use std::panic::{catch_unwind, AssertUnwindSafe};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use nodes::system::{Recorder, RunEnd, Running};
use rand::seq::SliceRandom;
use rand::Rng;
use sim::audit::Violation;
use sim::crash_trigger::CrashWhen;
use sim::trace::{first_divergence, Divergence};
use sim::{InitialClock, NodeSpec, SimConfig, SimHandle, Status, Topology, Trace, WorldFaults};

use crate::report::{replay_command, RunReport, Verdict};
use crate::scenario::{Fault, Scenario, Scheduled};

pub use nodes::system::ClientHistory;

/// Knobs of a single run beyond scenario and seed.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub world_faults: WorldFaults,
    /// Bugs to switch on (`--bug SYSTEM:NAME`) as (system, bug); a run switches on those
    /// of its own system.
    pub bugs: Vec<(String, String)>,
    /// Keep only the trace's landmark events (digest, audit and checks stay exact), so
    /// memory does not grow with the run; set by runs that export no trace or picture.
    pub lean_trace: bool,
}

impl RunOptions {
    /// Options with these `--bug SYSTEM:NAME` switches on, checked against the process's
    /// registry.
    pub fn with_bugs(bugs: &[String]) -> Result<Self, String> {
        crate::registry::current().run_options(bugs)
    }

    /// The `--bug` flags that reproduce these options, for replay commands.
    pub fn bug_flags(&self) -> Vec<String> {
        self.bugs.iter().map(|(s, b)| format!("{s}:{b}")).collect()
    }

    /// The bugs a run of `system` switches on: the scenario's own and these options'.
    fn bugs_for(&self, s: &Scenario) -> Vec<String> {
        let mut bugs = s.bugs.clone();
        for (system, bug) in &self.bugs {
            if system == s.system.name() && !bugs.contains(bug) {
                bugs.push(bug.clone());
            }
        }
        bugs
    }
}

/// Every catalogued bug of the process's registry as `SYSTEM:NAME` with its description.
pub fn all_bugs() -> Vec<(String, &'static str)> {
    crate::registry::current().bugs()
}

/// Parses `SYSTEM:NAME` into the options; says what exists if it does not.
pub fn add_bug(opts: &mut RunOptions, spec: &str) -> Result<(), String> {
    opts.bugs.push(crate::registry::current().parse_bug(spec)?);
    Ok(())
}

/// A report plus, when the run finished, its trace and node names.
pub struct RunResult {
    pub report: RunReport,
    pub trace: Option<Trace>,
    pub names: Vec<String>,
    /// The client history, for systems with clients.
    pub history: Option<ClientHistory>,
}

fn sim_config(s: &Scenario, seed: u64, opts: &RunOptions) -> SimConfig {
    let servers = (1..=s.nodes).map(|i| format!("n{i}"));
    let clients = (1..=s.clients()).map(|i| format!("c{i}"));
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
        // The relay's check reads every delivery after the last fault.
        keep_events: !opts.lean_trace || s.system.reads_every_event(),
        world_faults: opts.world_faults,
    }
}

/// The server that leads now, if the system has leaders and it is up.
fn leader(running: &dyn Running, sim: &SimHandle) -> Option<usize> {
    running.leader(sim).filter(|&l| sim.status(l) == Status::Up)
}

/// What a fault did, so that its `for` can undo it.
enum Done {
    Nothing,
    Crashed(Vec<usize>),
    Paused(Vec<usize>),
    /// The links it cut.
    Partitioned(Vec<(usize, usize)>),
    /// A crash trigger (its id) and the servers it may crash.
    Armed(u64, Vec<usize>),
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
        // A trigger's `for` is how long it stays armed; then what it crashed restarts.
        Done::Armed(id, nodes) => {
            sim.disarm_crash_trigger(*id);
            undo(sim, &Done::Crashed(nodes.clone()));
        }
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
    running: &dyn Running,
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
        Fault::CrashLeader => crash_all(sim, leader(running, sim).into_iter().collect()),
        Fault::CrashFollower => {
            let leader = leader(running, sim);
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
            let node = leader(running, sim).unwrap_or(0);
            sim.partition_with(&Topology::Isolate { node: Some(node) }, rng)
                .map(Done::Partitioned)
                .map_err(|e| e.to_string())
        }
        Fault::DriftLeader { ppm } => {
            if let Some(l) = leader(running, sim) {
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
        Fault::PauseLeader => pause_all(sim, leader(running, sim).into_iter().collect()),
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
        Fault::CrashAfterSyncs {
            node,
            max_syncs,
            power,
        } => {
            let k = rng.gen_range(1..=(*max_syncs).max(1));
            Ok(arm_trigger(sim, n, CrashWhen::Syncs(k), *node, *power))
        }
        Fault::CrashAfterSends {
            node,
            max_sends,
            power,
        } => {
            let k = rng.gen_range(1..=(*max_sends).max(1));
            Ok(arm_trigger(sim, n, CrashWhen::Sends(k), *node, *power))
        }
        Fault::CrashAfterRename { node, power } => {
            Ok(arm_trigger(sim, n, CrashWhen::Rename, *node, *power))
        }
        Fault::CrashOnUnsyncedWrite {
            node,
            power,
            max_writes,
        } => {
            let k = max_writes.map_or(1, |m| rng.gen_range(1..=m.max(1)));
            Ok(arm_trigger(
                sim,
                n,
                CrashWhen::UnsyncedWrite(k),
                *node,
                *power,
            ))
        }
        Fault::CrashOnUnsyncedSend {
            node,
            power,
            max_sends,
        } => {
            let k = max_sends.map_or(1, |m| rng.gen_range(1..=m.max(1)));
            Ok(arm_trigger(
                sim,
                n,
                CrashWhen::UnsyncedSend(k),
                *node,
                *power,
            ))
        }
    }
}

/// Arms a crash trigger on `node` (every server when `None`); it crashes the server that
/// fires it, or all `n` servers with `power`. A `for` disarms it when it runs out and
/// restarts whatever it crashed.
fn arm_trigger(
    sim: &SimHandle,
    n: usize,
    when: CrashWhen,
    node: Option<usize>,
    power: bool,
) -> Done {
    let watched: Vec<usize> = node.map_or_else(|| (0..n).collect(), |x| vec![x]);
    let victims: Vec<usize> = if power { (0..n).collect() } else { Vec::new() };
    let may_crash = if power {
        victims.clone()
    } else {
        watched.clone()
    };
    let id = sim.arm_crash_trigger(when, watched, victims);
    Done::Armed(id, may_crash)
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

/// How late fault `index` fires within its `jitter`, drawn from a stream of its own
/// (named after the fault's stream), so its other draws and every other fault's stay put.
pub fn jitter_delay(seed: u64, s: &Scenario, index: usize) -> u64 {
    match s.faults[index].jitter {
        Some(j) if j.0 > 0 => {
            let name = format!("{}/jitter", fault_stream(&s.faults, index));
            sim::rng::stream(seed, &name).gen_range(0..=j.0)
        }
        _ => 0,
    }
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
async fn nemesis(sim: &SimHandle, s: &Scenario, running: &dyn Running) -> Vec<Violation> {
    let mut problems = Vec::new();
    // Pending ends, earliest first; ties in schedule order.
    let mut ends = Ends::new();
    let mut done: Vec<Option<Done>> = (0..s.faults.len()).map(|_| None).collect();
    for (index, step) in s.faults.iter().enumerate() {
        let delay = jitter_delay(sim.seed(), s, index);
        for (t, what) in due_ends(step.at.0 + delay, &mut ends, &mut done) {
            sim.sleep_until(t).await;
            if let Some(what) = what {
                undo(sim, &what);
            }
        }
        sim.sleep_until(step.at.0 + delay).await;
        let mut rng = sim::rng::stream(sim.seed(), &fault_stream(&s.faults, index));
        match apply(sim, s, running, &step.fault, &mut rng) {
            Ok(what) => {
                if let Some(end) = step.ends() {
                    done[index] = Some(what);
                    ends.push(Reverse((end.0 + delay, index)));
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
    let recorder = Recorder::default();
    let run_recorder = &recorder;
    quiet_panics::install();
    let outcome = quiet_panics::during_run(|| {
        catch_unwind(AssertUnwindSafe(|| {
            sim::run(config, |sim| async move {
                let running = s.system.start(
                    &sim,
                    &s.settings,
                    s.nodes,
                    &opts.bugs_for(s),
                    run_recorder.clone(),
                );
                let problems = nemesis(&sim, s, &*running).await;
                (problems, running)
            })
        }))
    });
    let out = match outcome {
        Ok(out) => out,
        Err(payload) => {
            if let Some(over) = payload.downcast_ref::<sim::budget::BudgetExceeded>() {
                return RunResult {
                    report: RunReport {
                        scenario: s.name.clone(),
                        seed,
                        verdict: Verdict::Unknown,
                        violations: Vec::new(),
                        unknown: Some(over.to_string()),
                        system_stats: Default::default(),
                        trace_digest: String::new(),
                        events: 0,
                        sim_time_ns: over.time_ns,
                        replay,
                        stats: Default::default(),
                    },
                    trace: None,
                    names,
                    history: None,
                };
            }
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
    violations.extend(out.trace.audit());
    let end = RunEnd {
        events: out.trace.events(),
        names: &out.names,
        statuses: &out.statuses,
        servers: s.nodes,
        last_fault_ns: s.last_fault().0,
        end_ns: out.sim_time_ns,
        lossy: s.net.default.loss > 0.0 || s.net.links.iter().any(|l| l.link.loss > 0.0),
    };
    let check = running.judge(&end);
    violations.extend(check.violations);
    let mut unknown = check.unknown;
    let mut stats = check.stats;
    let mut history = check.history;
    if let Some(model) = s.system.history_model() {
        let recorded = recorder.take_compact();
        let judged = nodes::system::check_compact(&recorded, model, "client history");
        violations.extend(judged.violations);
        unknown = unknown.or(judged.unknown);
        history = Some(ClientHistory::Compact(std::sync::Arc::new(recorded)));
    }
    violations.retain(|v| !s.checks.skip.contains(&v.check));
    if out.disk_crashes.crashes > 0 {
        // How often crashes caught unsynced data, and how often it was lost or torn.
        stats.insert("disk_crashes".into(), serde_json::json!(out.disk_crashes));
    }
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
        (Some(x), Some(y)) if x.digest() != y.digest() && !x.is_complete() => {
            // Lean traces tell that the runs differ, not where: run both again, complete.
            let full = RunOptions {
                lean_trace: false,
                ..opts.clone()
            };
            let (a, b) = (run_scenario(s, seed, &full), run_scenario(s, seed, &full));
            a.trace
                .zip(b.trace)
                .and_then(|(x, y)| first_divergence(x.events(), y.events()))
        }
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
