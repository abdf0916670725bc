//! Gossip's checks of what must eventually happen, and of promises made to clients:
//!
//! - `failure-detection`: completeness of SWIM's detector. A server that is down at the
//!   end, for longer than the detection bound, is held dead by every live server; the
//!   slowest detection (crash to the last live server's verdict) is reported;
//! - `copies`: a write acknowledged to a client is, at the moment of the ack, on as many
//!   servers as the system promises (`copies`), counted in the replicas themselves, not
//!   in the acks the coordinator counted;
//! - `client-progress`: every client completes an operation within a bound after the
//!   last fault, while the workload still runs and the links no longer lose messages;
//! - `client-service`: an available store answers whenever nothing is wrong: in every
//!   stretch with all servers up and no cut link, a client that asks is answered within
//!   two rounds of its timeout and think time (not judged on lossy links).
//!
//! Membership agreement among live servers (nobody held dead) is the `membership` check
//! in `check`. Not judged: detection accuracy under partitions (a cut-off node is rightly
//! suspected), and how fast a restarted node is taken back (refutation covers it).

use sim::audit::Violation;
use sim::{EventKind, Status};

use super::msg::MemberState;
use super::observer::Observer;
use super::GossipSystem;
use crate::system::RunEnd;

/// Clients must complete something within this after the last fault.
pub const PROGRESS_NS: u64 = 2_500_000_000;

const MS: u64 = 1_000_000;

/// How long detection may take: enough probe periods for some live server to pick the
/// dead one as its target, the suspicion timeout, and the time the verdict takes to
/// spread by piggybacking and anti-entropy.
pub fn detection_bound(system: &GossipSystem) -> u64 {
    let g = &system.gossip;
    20 * g.period.0.max(1) + 2 * g.suspicion.0 + 10 * g.gossip_interval.0.max(1)
}

pub fn check(
    obs: &Observer,
    system: &GossipSystem,
    end: &RunEnd<'_>,
    stats: &mut serde_json::Map<String, serde_json::Value>,
) -> Vec<Violation> {
    let mut v = crate::universal::refused_start(end);
    let servers = end.servers.min(obs.views.len());
    // When each server last went down, and last (re)started.
    let mut down_at = vec![0u64; servers];
    let mut started_at = vec![0u64; servers];
    for e in end.events {
        let Some(n) = e.node.filter(|&n| n < servers) else {
            continue;
        };
        match e.kind {
            EventKind::Crash | EventKind::Pause => down_at[n] = e.time_ns,
            EventKind::Restart { .. } => started_at[n] = e.time_ns,
            _ => {}
        }
    }
    let bound = detection_bound(system);
    let live: Vec<usize> = (0..servers)
        .filter(|&n| end.statuses[n] == Status::Up)
        .collect();
    let mut slowest: Option<u64> = None;
    for dead in (0..servers).filter(|&n| end.statuses[n] != Status::Up) {
        for &a in &live {
            let from = down_at[dead].max(started_at[a]);
            match obs.views[a].1.get(&dead) {
                Some(&(MemberState::Dead, _, since)) => {
                    let took = since.saturating_sub(down_at[dead]);
                    slowest = Some(slowest.map_or(took, |s| s.max(took)));
                }
                other
                    if from + bound <= end.end_ns
                        && v.iter().filter(|x| x.check == "failure-detection").count() < 3 =>
                {
                    let state = other.map_or("unknown".to_string(), |(s, i, _)| {
                        format!("{s:?} at incarnation {i}").to_lowercase()
                    });
                    v.push(
                            Violation::new(
                                "failure-detection",
                                format!(
                                    "n{} has been down since {} ms, yet at the end ({} ms) live n{} holds it {state}, not dead (detection bound {} ms)",
                                    dead + 1,
                                    down_at[dead] / MS,
                                    end.end_ns / MS,
                                    a + 1,
                                    bound / MS
                                ),
                                None,
                            )
                            .at_time((from + bound).max(1)),
                        );
                }
                _ => {}
            }
        }
    }
    if let Some(s) = slowest {
        stats.insert("detection_ms_max".into(), serde_json::json!(s / MS));
    }
    for (id, holders, copies, at) in obs.short_acks.iter().take(3) {
        let names: Vec<String> = holders.iter().map(|h| format!("n{}", h + 1)).collect();
        v.push(
            Violation::new(
                "copies",
                format!(
                    "write {id} was acknowledged at {} ms as on {copies} servers, but only {} held it: [{}]",
                    at / MS,
                    holders.len(),
                    names.join(", ")
                ),
                None,
            )
            .at_time((*at).max(1)),
        );
    }
    // Both client checks need links that no longer lose messages at random.
    if crate::universal::still_lossy(end) {
        return v;
    }
    let clients = end.servers..end.servers + system.clients;
    let (mut invokes, mut answers) = (Vec::new(), Vec::new());
    for line in &obs.history {
        let (Some(kind), Some(p), Some(t)) = (
            line.get("type").and_then(|k| k.as_str()),
            line.get("process").and_then(|p| p.as_u64()),
            line.get("time").and_then(|t| t.as_u64()),
        ) else {
            continue;
        };
        match kind {
            "invoke" => invokes.push((p as usize, t)),
            "ok" => answers.push((p as usize, t)),
            _ => {}
        }
    }
    let stretches = crate::universal::healthy_stretches(end.events, end.servers, end.end_ns);
    let span = 2 * (system.client.timeout.0 + system.client.think.0);
    v.extend(crate::universal::client_service(
        clients.clone(),
        &invokes,
        &answers,
        &stretches,
        span,
    ));
    let quiet_from = end.last_fault_ns;
    if system.client.until.0 >= quiet_from + PROGRESS_NS {
        v.extend(crate::universal::client_progress(
            clients,
            answers.iter().copied(),
            quiet_from,
            PROGRESS_NS,
            end.end_ns,
        ));
    }
    v
}
