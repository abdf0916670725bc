//! The checks a Raft run ends with: the observer's safety findings, log matching over the
//! final logs, linearizability of the client history (key-value model, per key), and
//! liveness after the last fault; and the checks every system gets (`check_end`).

use checkers::history::{pair, EventKind as HistKind, History};
use checkers::linearizability::{self, ModelKind, Options, Verdict};
use sim::audit::Violation;

use super::observer::RaftObserver;
use crate::system::RunEnd;

/// How long the linearizability search may take before the verdict is unknown.
pub const LINEARIZABILITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The outcome of the end-of-run checks.
pub struct RaftCheck {
    pub violations: Vec<Violation>,
    /// The linearizability search ran out of time.
    pub unknown: Option<String>,
    pub history_ops: usize,
}

/// Runs every check. `liveness`: (time of the last fault, bound) in simulated ns.
pub fn check_run(obs: &mut RaftObserver, liveness: Option<(u64, u64)>) -> RaftCheck {
    obs.check_log_matching();
    let mut violations = std::mem::take(&mut obs.violations);
    let mut unknown = None;
    // Borrow the events for the check instead of copying them; they go back below.
    let history = History {
        source: "raft client history".to_string(),
        events: std::mem::take(&mut obs.history),
    };
    let mut history_ops = 0;
    match pair(&history) {
        Err(e) => violations.push(Violation::new(
            "history",
            format!("the client history is malformed: {e}"),
            None,
        )),
        Ok(ops) => {
            history_ops = ops.ops.len();
            let opts = Options {
                timeout: Some(LINEARIZABILITY_TIMEOUT),
                ..Options::default()
            };
            match linearizability::check_with(ModelKind::Kv, None, &ops, &opts) {
                Err(e) => violations.push(Violation::new(
                    "history",
                    format!("cannot check the history: {e}"),
                    None,
                )),
                Ok(report) => match report.verdict {
                    Verdict::Linearizable => {}
                    Verdict::NotLinearizable { witness } => {
                        violations.push(
                            Violation::new("linearizability", witness.render(6), None)
                                .with_ops(witness.op_refs(6)),
                        );
                    }
                    Verdict::Unknown { progress } => {
                        unknown = Some(format!(
                            "linearizability search ran out of time: {progress:?}"
                        ));
                    }
                },
            }
        }
    }
    obs.history = history.events;
    if let Some((quiet_from, bound)) = liveness {
        let deadline = quiet_from + bound;
        let elected = obs
            .elections
            .iter()
            .any(|&t| t >= quiet_from && t <= deadline)
            || obs.elections.iter().any(|&t| t < quiet_from);
        let wrote = obs
            .write_oks
            .iter()
            .any(|&t| t > quiet_from && t <= deadline);
        if !(elected && wrote) {
            violations.push(Violation::new(
                "liveness",
                format!(
                    "no client write committed within {} ms after the last fault at {} ms",
                    bound / 1_000_000,
                    quiet_from / 1_000_000
                ),
                None,
            ));
        }
    }
    RaftCheck {
        violations,
        unknown,
        history_ops,
    }
}

/// The checks every system gets ([`crate::universal`]): each client completes an
/// operation within the liveness bound after the last fault (when the scenario has a
/// bound), and no server refuses to start on a disk no fault damaged.
pub fn check_end(
    obs: &RaftObserver,
    system: &super::RaftSystem,
    end: &RunEnd<'_>,
) -> Vec<Violation> {
    let mut v = crate::universal::refused_start(end);
    if let Some(bound) = system.liveness.filter(|_| majority_serving(end)) {
        let oks = obs
            .history
            .iter()
            .filter(|e| e.kind == HistKind::Ok)
            .map(|e| (e.process as usize, e.time.unwrap_or(0)));
        v.extend(crate::universal::client_progress(
            end.servers..end.servers + system.clients,
            oks,
            end.last_fault_ns,
            bound.0,
            end.end_ns,
        ));
    }
    v
}

/// Whether a majority of the servers can serve at the end: liveness is judged only then
/// (failing fsyncs and full disks may stop more servers than Raft can lose).
pub fn majority_serving(end: &RunEnd<'_>) -> bool {
    let serving = crate::universal::serving(end);
    serving.iter().filter(|&&s| s).count() > end.servers / 2
}
