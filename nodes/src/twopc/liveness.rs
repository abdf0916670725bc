//! Two-phase commit's liveness checks, on by default, judged once the last fault is over:
//!
//! - `locks-released`: a participant holds a lock only for a transaction it is in doubt
//!   about; a lock left behind by a decided transaction blocks its keys for good;
//! - `blocked-time` (the default bound): no yes voter stays in doubt longer than
//!   [`SETTLE_NS`] after the last fault ends (with the coordinator up, asking is enough);
//!   a scenario's `max_blocked` adds a stricter bound over the whole run;
//! - `client-progress`: every client commits a transaction within [`PROGRESS_NS`] after
//!   the last fault, when every server is up at the end and the links no longer lose
//!   messages (clients do not resubmit, so under loss they may time out again and again);
//! - `commit-rate`: in the quiet tail the clients commit at least [`MIN_COMMITS_PER_S`]
//!   transactions per second each, and at least [`MIN_RATE_SHARE`] of the rate they had
//!   before the first fault (a system that aborts nearly everything, or stalls most of
//!   the time, is not making progress even if each client commits once).
//!
//! Not judged: runs whose quiet tail is too short, and runs that end with a server down
//! (2PC blocks by design while a participant or the coordinator is away).

use checkers::history::EventKind as HistKind;
use serde_json::json;
use sim::audit::Violation;
use sim::EventKind;

use super::observer::Observer;
use crate::system::RunEnd;

/// How long after the last fault a yes voter may still be in doubt.
pub const SETTLE_NS: u64 = 1_500_000_000;
/// Within this of the last fault every client must have committed something (three
/// client timeouts at the default settings: lossy links make a client wait out a few).
pub const PROGRESS_NS: u64 = 3_000_000_000;
/// The commit rate is measured from this long after the last fault (recovery time).
const RATE_FROM_NS: u64 = 500_000_000;
/// The shortest measuring window worth judging.
const RATE_WINDOW_NS: u64 = 500_000_000;
/// Commits per second per client below which the rate has collapsed, whatever it was.
pub const MIN_COMMITS_PER_S: f64 = 0.5;
/// The quiet tail's rate must be at least this share of the rate before the first fault.
pub const MIN_RATE_SHARE: f64 = 0.2;

const MS: u64 = 1_000_000;

/// Runs the checks; `blocked` lists every in-doubt period (node, from, to), open ones
/// ending at the end of the run.
pub fn check(
    obs: &Observer,
    clients: usize,
    end: &RunEnd<'_>,
    blocked: &[(usize, u64, u64)],
    stats: &mut serde_json::Map<String, serde_json::Value>,
) -> Vec<Violation> {
    let mut v = crate::universal::refused_start(end);
    // Locks of transactions the participant is not in doubt about.
    for (node, state) in obs.states.iter().enumerate().skip(1) {
        let leaked: Vec<String> = state
            .locks
            .iter()
            .filter(|(_, t)| !state.in_doubt.contains_key(t))
            .map(|(k, t)| format!("{k} (T{t})"))
            .collect();
        if !leaked.is_empty() && v.iter().filter(|x| x.check == "locks-released").count() < 3 {
            v.push(Violation::new(
                "locks-released",
                format!(
                    "at the end n{} still holds locks of transactions it is not in doubt about: {}",
                    node + 1,
                    leaked.join(", ")
                ),
                None,
            ));
        }
    }
    let quiet_from = end.last_fault_ns;
    let serving = crate::universal::serving(end);
    let all_up = serving.iter().all(|&s| s);
    let coordinator_up = serving.first() == Some(&true);
    // In doubt long after the last fault, while the coordinator could answer.
    if coordinator_up {
        let late = blocked
            .iter()
            .filter(|&&(node, _, to)| to < end.end_ns || serving[node])
            .map(|&(node, from, to)| (node, from, to, to.saturating_sub(from.max(quiet_from))))
            .filter(|&(.., after)| after > SETTLE_NS)
            .max_by_key(|&(node, from, _, after)| (after, std::cmp::Reverse((from, node))));
        if let Some((node, from, to, after)) = late {
            v.push(
                Violation::new(
                    "blocked-time",
                    format!(
                        "n{} stayed in doubt holding its locks from {} ms to {} ms{}: {} ms after the last fault at {} ms, over the settling bound of {} ms",
                        node + 1,
                        from / MS,
                        to / MS,
                        if to >= end.end_ns { " (the end of the run)" } else { "" },
                        after / MS,
                        quiet_from / MS,
                        SETTLE_NS / MS
                    ),
                    None,
                )
                .at_time(from.max(1)),
            );
        }
    }
    if !all_up {
        return v;
    }
    let commits: Vec<(usize, u64)> = obs
        .history
        .headers()
        .filter(|(e, _)| e.kind == HistKind::Ok)
        .map(|(e, _)| (e.process as usize, e.time.unwrap_or(0)))
        .collect();
    if !crate::universal::still_lossy(end) {
        v.extend(crate::universal::client_progress(
            end.servers..end.servers + clients,
            commits.iter().copied(),
            quiet_from,
            PROGRESS_NS,
            end.end_ns,
        ));
    }
    let from = quiet_from + RATE_FROM_NS;
    if clients > 0 && end.end_ns >= from + RATE_WINDOW_NS {
        let rate_in = |a: u64, b: u64| {
            let n = commits.iter().filter(|&&(_, t)| t > a && t <= b).count();
            (n, n as f64 / ((b - a) as f64 / 1e9) / clients as f64)
        };
        let (n, rate) = rate_in(from, end.end_ns);
        stats.insert("tail_commits_per_client_s".into(), json!(rate));
        // Before the first fault, once the clients are under way.
        let first_fault = first_fault_ns(end).unwrap_or(end.end_ns);
        let baseline = (first_fault >= RATE_FROM_NS + RATE_WINDOW_NS)
            .then(|| rate_in(RATE_FROM_NS, first_fault).1);
        if let Some(b) = baseline {
            stats.insert("early_commits_per_client_s".into(), json!(b));
        }
        let floor = baseline.map_or(MIN_COMMITS_PER_S, |b| {
            (b * MIN_RATE_SHARE).max(MIN_COMMITS_PER_S)
        });
        if rate < floor {
            v.push(
                Violation::new(
                    "commit-rate",
                    format!(
                        "from {} ms to the end the clients committed {n} transactions, {rate:.1} per client per second, under the floor of {floor:.1}{}",
                        from / MS,
                        baseline.map_or(String::new(), |b| format!(
                            " ({:.0}% of the {b:.1} they committed before the first fault)",
                            MIN_RATE_SHARE * 100.0
                        ))
                    ),
                    None,
                )
                .at_time(from),
            );
        }
    }
    v
}

/// When the first network, process or clock fault struck (disk faults are background
/// noise of the disk model, not a scheduled event).
fn first_fault_ns(end: &RunEnd<'_>) -> Option<u64> {
    end.events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::Crash
                    | EventKind::Pause
                    | EventKind::Partition { .. }
                    | EventKind::Clock(_)
            )
        })
        .map(|e| e.time_ns)
}
