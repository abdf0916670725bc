//! Runs a scenario at a seed: builds the world, starts the system, plays the fault
//! schedule, then checks the trace and the system's own properties. A panic inside the
//! run (a broken invariant) becomes a violation of the run, not a crash of the tool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use nodes::raft::{Bug, Bugs, RaftObserver};
use rand::Rng;
use sim::audit::{audit_world, Violation};
use sim::trace::{first_divergence, Divergence};
use sim::{InitialClock, NodeSpec, SimConfig, SimHandle, Status, Topology, Trace, WorldFaults};

use crate::report::{replay_command, RunReport, Verdict};
use crate::scenario::{Fault, Scenario, SystemSpec};

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
            ClientHistory::Kv(events) => nodes::raft::observer::history_json_lines(events).into(),
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

/// Plays the fault schedule; returns violations for faults that did not apply.
async fn nemesis(sim: &SimHandle, s: &Scenario, running: &Running) -> Vec<Violation> {
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<String, u32> = Default::default();
    for step in &s.faults {
        sim.sleep_until(step.at.0).await;
        // Each event draws from its own stream, named by its time and kind (and how many
        // identical events came before it), so removing one event while shrinking leaves
        // every other event's random choices as they were.
        let kind = serde_json::to_string(&step.fault).unwrap_or_default();
        let key = format!("faults@{}:{kind}", step.at.0);
        let nth = seen.entry(key.clone()).or_insert(0);
        *nth += 1;
        let mut rng = sim::rng::stream(sim.seed(), &format!("{key}#{nth}"));
        let result = match &step.fault {
            Fault::Partition(t) => sim
                .partition_with(t, &mut rng)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Fault::Heal => {
                sim.heal();
                Ok(())
            }
            Fault::Crash { node } => sim.crash(*node).map_err(|e| e.to_string()),
            Fault::Restart { node } => sim.restart(*node).map_err(|e| e.to_string()),
            // Role-based faults move nodes around, so a pause may find its node crashed (or
            // a resume find it already running): there is nothing to do then.
            Fault::Pause { node } if sim.status(*node) == Status::Crashed => Ok(()),
            Fault::Resume { node } if sim.status(*node) != Status::Paused => Ok(()),
            Fault::Pause { node } => sim.pause(*node).map_err(|e| e.to_string()),
            Fault::Resume { node } => sim.resume(*node).map_err(|e| e.to_string()),
            Fault::ClockBump { node, delta_ns } => {
                sim.bump_clock(*node, *delta_ns);
                Ok(())
            }
            Fault::ClockDrift { node, ppm } => {
                sim.set_drift(*node, *ppm);
                Ok(())
            }
            Fault::ClockStrobe {
                node,
                delta_ns,
                period,
                duration,
            } => {
                sim.strobe_clock(*node, *delta_ns, period.0, duration.0);
                Ok(())
            }
            Fault::CrashAfterDiskOps { node, ops } => {
                sim.crash_after_disk_ops(*node, *ops);
                Ok(())
            }
            Fault::CrashAfterRandomDiskOps { node, max_ops } => {
                let ops = rng.gen_range(1..=*max_ops);
                sim.crash_after_disk_ops(*node, ops);
                Ok(())
            }
            Fault::CrashLeader => match running.leader(sim) {
                Some(l) => sim.crash(l).map_err(|e| e.to_string()),
                None => Ok(()), // no leader right now: nothing to crash
            },
            Fault::CrashFollower => {
                let leader = running.leader(sim);
                let up: Vec<usize> = (0..s.nodes)
                    .filter(|&n| Some(n) != leader && sim.status(n) == Status::Up)
                    .collect();
                if up.is_empty() {
                    Ok(())
                } else {
                    let pick = up[rng.gen_range(0..up.len())];
                    sim.crash(pick).map_err(|e| e.to_string())
                }
            }
            Fault::IsolateLeader => {
                let node = running.leader(sim).unwrap_or(0);
                sim.partition_with(&Topology::Isolate { node: Some(node) }, &mut rng)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Fault::DriftLeader { ppm } => {
                if let Some(l) = running.leader(sim) {
                    sim.set_drift(l, *ppm);
                }
                Ok(())
            }
            Fault::CrashAll => {
                for n in 0..s.nodes {
                    if sim.status(n) != Status::Crashed {
                        sim.crash(n).map_err(|e| e.to_string()).ok();
                    }
                }
                Ok(())
            }
            Fault::CrashRandom => {
                let up: Vec<usize> = (0..s.nodes)
                    .filter(|&n| sim.status(n) == Status::Up)
                    .collect();
                if up.is_empty() {
                    Ok(())
                } else {
                    let pick = up[rng.gen_range(0..up.len())];
                    sim.crash(pick).map_err(|e| e.to_string())
                }
            }
            Fault::RestartCrashed => {
                for n in 0..s.nodes {
                    if sim.status(n) == Status::Crashed {
                        sim.restart(n).map_err(|e| e.to_string()).ok();
                    }
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            problems.push(Violation::new(
                "scenario",
                format!("fault at {} could not be applied: {e}", step.at),
                None,
            ));
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
    let outcome = catch_unwind(AssertUnwindSafe(|| {
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
    }));
    let out = match outcome {
        Ok(out) => out,
        Err(payload) => {
            let report = RunReport {
                scenario: s.name.clone(),
                seed,
                verdict: Verdict::Violation,
                violations: vec![Violation::new(
                    "panic",
                    format!("the run panicked: {}", panic_text(&*payload)),
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
            let liveness = sys.liveness.map(|b| (s.last_fault().0, b.0));
            let check = nodes::raft::check::check_run(&mut obs, liveness);
            violations.extend(check.violations);
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
            let check = nodes::twopc::check_run(&mut obs, sys, &end);
            violations.extend(check.violations);
            unknown = check.unknown;
            history = check.history.map(ClientHistory::Lines);
            stats = check.stats;
        }
        _ => unreachable!("each system starts its own kind of run"),
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
