//! Runs a scenario at a seed: builds the world, starts the system, plays the fault
//! schedule, then checks the trace. A panic inside the run (a broken invariant) becomes a
//! violation of the run, not a crash of the tool.

use std::panic::{catch_unwind, AssertUnwindSafe};

use sim::audit::{audit_world, Violation};
use sim::trace::{first_divergence, Divergence};
use sim::{InitialClock, NodeSpec, SimConfig, SimHandle, Trace, WorldFaults};

use crate::report::{replay_command, RunReport, Verdict};
use crate::scenario::{Fault, Scenario, SystemSpec};

/// Knobs of a single run beyond scenario and seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub world_faults: WorldFaults,
}

/// A report plus, when the run finished, its trace and node names.
pub struct RunResult {
    pub report: RunReport,
    pub trace: Option<Trace>,
    pub names: Vec<String>,
}

fn sim_config(s: &Scenario, seed: u64, opts: &RunOptions) -> SimConfig {
    let mut nodes: Vec<NodeSpec> = (1..=s.nodes)
        .map(|i| NodeSpec {
            name: format!("n{i}"),
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
        keep_events: true,
        world_faults: opts.world_faults,
    }
}

/// Plays the fault schedule; returns violations for faults that did not apply.
async fn nemesis(sim: &SimHandle, s: &Scenario) -> Vec<Violation> {
    let mut problems = Vec::new();
    for step in &s.faults {
        sim.sleep_until(step.at.0).await;
        let result = match &step.fault {
            Fault::Partition(t) => sim.partition(t).map(|_| ()).map_err(|e| e.to_string()),
            Fault::Heal => {
                sim.heal();
                Ok(())
            }
            Fault::Crash { node } => sim.crash(*node).map_err(|e| e.to_string()),
            Fault::Restart { node } => sim.restart(*node).map_err(|e| e.to_string()),
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

/// Runs `s` at `seed` and judges it.
pub fn run_scenario(s: &Scenario, seed: u64, opts: &RunOptions) -> RunResult {
    let config = sim_config(s, seed, opts);
    let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
    let replay = replay_command(&s.name, seed);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        sim::run(config, |sim| async move {
            match &s.system {
                SystemSpec::Relay(cfg) => nodes::relay::start(&sim, *cfg),
            }
            nemesis(&sim, s).await
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
            };
        }
    };
    let mut violations = out.value;
    violations.extend(audit_world(out.trace.events(), &out.names));
    match &s.system {
        SystemSpec::Relay(_) => violations.extend(nodes::relay::check_traffic_resumes(
            out.trace.events(),
            &out.names,
            &out.statuses,
            s.last_fault().0,
        )),
    }
    let verdict = if violations.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Violation
    };
    RunResult {
        report: RunReport {
            scenario: s.name.clone(),
            seed,
            verdict,
            violations,
            trace_digest: out.trace.digest_hex(),
            events: out.trace.len(),
            sim_time_ns: out.sim_time_ns,
            replay,
            stats: out.net,
        },
        trace: Some(out.trace),
        names: out.names,
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
