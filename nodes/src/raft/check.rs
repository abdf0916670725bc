//! The checks a Raft run ends with: the observer's safety findings, log matching over the
//! final logs, linearizability of the client history (key-value model, per key), and
//! liveness after the last fault; and the checks every system gets (`check_end`).

use checkers::history::compact::CompactHistory;
use checkers::history::EventKind as HistKind;
use checkers::linearizability::ModelKind;
use sim::audit::Violation;

use super::observer::RaftObserver;
use crate::system::RunEnd;

pub use crate::system::LINEARIZABILITY_TIMEOUT;

/// The outcome of the end-of-run checks.
pub struct RaftCheck {
    pub violations: Vec<Violation>,
    /// The linearizability search ran out of time.
    pub unknown: Option<String>,
    pub history_ops: usize,
    /// The client history as checked.
    pub history: CompactHistory,
}

/// Runs every check. `liveness`: (time of the last fault, bound) in simulated ns.
pub fn check_run(obs: &mut RaftObserver, liveness: Option<(u64, u64)>) -> RaftCheck {
    obs.check_log_matching();
    // The logs and per-index maps are done with; the history check that follows is the
    // peak of a long run's memory, so they go before it.
    obs.forget_logs();
    let mut violations = std::mem::take(&mut obs.violations);
    let history = obs.take_history();
    let judged = crate::system::check_compact(&history, ModelKind::Kv, "raft client history");
    violations.extend(judged.violations);
    let unknown = judged.unknown;
    let history_ops = judged.ops;
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
        history,
    }
}

/// The checks every system gets ([`crate::universal`]): each client completes an
/// operation within the liveness bound after the last fault (when the scenario has a
/// bound), and no server refuses to start on a disk no fault damaged.
/// `history` is the client history as checked (the observer gave its record up to the
/// linearizability check).
pub fn check_end(
    history: &CompactHistory,
    system: &super::RaftSystem,
    end: &RunEnd<'_>,
) -> Vec<Violation> {
    let mut v = crate::universal::refused_start(end);
    if let Some(bound) = system.liveness.filter(|_| majority_serving(end)) {
        // A `fail` is a CAS the committed state refused: the client was served.
        let oks = history
            .headers()
            .filter(|(e, _)| matches!(e.kind, HistKind::Ok | HistKind::Fail))
            .map(|(e, _)| (e.process as usize, e.time.unwrap_or(0)));
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
