//! The checks a gossip run ends with:
//! - convergence: once the last fault is over and clients are quiet, every live server
//!   holds the same replica within a bound; the rounds it took are reported;
//! - membership: no live server has been held dead by another for long at the end (a live
//!   node declared dead that never refuted stays dead);
//! - lost-write: every acknowledged write survives, or a write that causally follows it
//!   in the simulator's happens-before does (the conflict audit's lost-update);
//! - resurrection: no version an acknowledged delete removed is live at the end;
//! - conflict-audit: the version vectors the system assigned never order two writes the
//!   trace says were concurrent, nor against the trace's order;
//! - integrity: every version a live server holds is exactly what its coordinator wrote
//!   (key, value, version vector): nothing a damaged disk made up is served.
//!
//! Convergence is judged on the final replicas; a run too short to settle shows up as a
//! convergence violation, which is the intent.

use std::collections::{BTreeMap, BTreeSet};

use checkers::causality::audit::{audit, AuditInput, AuditWrite};
use serde_json::json;
use sim::audit::Violation;
use sim::{EventKind, Status};

use super::msg::MemberState;
use super::observer::Observer;
use super::store::{actor_name, vv_digest, WriteId};
use super::GossipSystem;
use crate::system::{RunEnd, SystemCheck};

/// At most this many violations of one check are kept; the first is what matters.
const KEEP_PER_CHECK: usize = 3;

/// How long a live node may stay declared dead at the end before it counts (15 rounds).
const DEAD_GRACE_NS: u64 = 1_500_000_000;

fn push(out: &mut Vec<Violation>, check: &str, message: String) {
    push_with_ops(out, check, message, Vec::new());
}

/// Like `push`, pointing at client-history operations (line, role) that show it.
fn push_with_ops(
    out: &mut Vec<Violation>,
    check: &str,
    message: String,
    ops: Vec<(usize, String)>,
) {
    if out.iter().filter(|v| v.check == check).count() < KEEP_PER_CHECK {
        out.push(Violation::new(check, message, None).with_ops(ops));
    }
}

/// The history's final reads, once live servers have converged (the system has quiesced:
/// the last fault is over, clients are quiet and every live replica is the same): each key
/// read at each live server at the end of the run, as a client read there would return it,
/// marked `"final": true` for `dst check siblings`. They are recorded by the harness as
/// process `reader` (the node index after the last client) and take no simulated time, so
/// the run and its trace are unchanged.
fn final_reads(obs: &Observer, live: &[usize], reader: usize, end: &RunEnd<'_>) -> String {
    let mut keys: BTreeSet<&str> = obs
        .history
        .iter()
        .filter_map(|l| l.get("key")?.as_str())
        .collect();
    for &n in live {
        keys.extend(obs.stores[n].0.keys().map(String::as_str));
    }
    let mut out = String::new();
    for key in keys {
        for &n in live {
            let values: Vec<i64> = obs.stores[n]
                .0
                .get(key)
                .into_iter()
                .flatten()
                .filter_map(|(_, v, _)| *v)
                .collect();
            let node = format!("n{}", n + 1);
            for (kind, value) in [("invoke", json!(null)), ("ok", json!(values))] {
                let line = json!({
                    "process": reader, "type": kind, "f": "read", "key": key, "value": value,
                    "time": end.end_ns, "final": true, "node": node,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    out
}

pub fn check_run(obs: &mut Observer, system: &GossipSystem, end: &RunEnd<'_>) -> SystemCheck {
    let mut v = Vec::new();
    let mut stats = serde_json::Map::new();
    let servers = end.servers.min(obs.stores.len());
    let live: Vec<usize> = (0..servers)
        .filter(|&n| end.statuses[n] == Status::Up)
        .collect();
    let quiet_from = end.last_fault_ns.max(obs.workload_end);
    let interval = system.gossip.gossip_interval.0.max(1);

    // Convergence.
    let mut converged = true;
    if let Some(&first) = live.first() {
        for &n in &live[1..] {
            let (a, b) = (&obs.stores[first].0, &obs.stores[n].0);
            if a != b {
                converged = false;
                let key = a
                    .keys()
                    .chain(b.keys())
                    .find(|k| a.get(*k) != b.get(*k))
                    .cloned()
                    .unwrap_or_default();
                // Version vectors are shown (as digests) only when nothing else differs.
                let same_ids = |s: &super::observer::Summary| {
                    s.get(&key)
                        .map(|vs| vs.iter().map(|(id, x, _)| (*id, *x)).collect::<Vec<_>>())
                };
                let vvs = same_ids(a) == same_ids(b);
                let show = |s: &super::observer::Summary| {
                    s.get(&key).map_or("nothing".to_string(), |vs| {
                        vs.iter()
                            .map(|(id, value, d)| {
                                let x = match value {
                                    Some(x) => format!("{id}={x}"),
                                    None => format!("{id}(deleted)"),
                                };
                                if vvs {
                                    format!("{x} vv#{:04x}", d & 0xffff)
                                } else {
                                    x
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                };
                push(
                    &mut v,
                    "convergence",
                    format!(
                        "live servers n{} and n{} still differ at the end ({} ms after the last fault) on {key}: [{}] vs [{}]",
                        first + 1,
                        n + 1,
                        end.end_ns.saturating_sub(quiet_from) / 1_000_000,
                        show(a),
                        show(b)
                    ),
                );
            }
        }
    }
    if converged && !live.is_empty() {
        let settled = live.iter().map(|&n| obs.stores[n].1).max().unwrap_or(0);
        let after = settled.saturating_sub(quiet_from);
        let rounds = after.div_ceil(interval);
        stats.insert("convergence_rounds".into(), json!(rounds));
        stats.insert("convergence_ms".into(), json!(after as f64 / 1e6));
        if rounds > system.convergence_rounds {
            push(
                &mut v,
                "convergence",
                format!(
                    "live servers took {rounds} anti-entropy rounds to converge after the last fault, more than the bound {}",
                    system.convergence_rounds
                ),
            );
        }
    }

    // Membership: no live server is held dead for long at the end. Suspicions and fresh
    // death verdicts may be in flight (lossy links make them); a refutation takes a few
    // rounds to spread, so only verdicts older than `DEAD_GRACE` count.
    for &a in &live {
        for &b in &live {
            if a == b {
                continue;
            }
            let Some(&(state, inc, since)) = obs.views[a].1.get(&b) else {
                continue;
            };
            if state == MemberState::Dead && since + DEAD_GRACE_NS <= end.end_ns {
                let current = obs.views[b].0;
                let why = if current > inc {
                    format!("it refuted, but n{} never took it back", a + 1)
                } else {
                    "it never refuted".to_string()
                };
                push(
                    &mut v,
                    "membership",
                    format!(
                        "at the end n{} has considered live n{} dead (incarnation {inc}) for {} ms; n{} is at incarnation {current}: {why}",
                        a + 1,
                        b + 1,
                        (end.end_ns - since) / 1_000_000,
                        b + 1,
                    ),
                );
            }
        }
    }

    // What survives: the union over live replicas (equal when converged).
    let mut survivors: BTreeMap<String, BTreeSet<WriteId>> = BTreeMap::new();
    for &n in &live {
        for (k, vs) in &obs.stores[n].0 {
            survivors
                .entry(k.clone())
                .or_default()
                .extend(vs.iter().map(|(id, _, _)| *id));
        }
    }

    // Integrity: each held version matches the write its coordinator recorded.
    for &n in &live {
        for (k, vs) in &obs.stores[n].0 {
            for &(id, value, digest) in vs {
                let wrong = match obs.writes.get(&id) {
                    None => Some("no client wrote it".to_string()),
                    Some(rec) if rec.key != *k => Some(format!("it was written to {}", rec.key)),
                    Some(rec) if rec.value != value => {
                        Some(format!("its value was {:?}, here {:?}", rec.value, value))
                    }
                    Some(rec) if vv_digest(&rec.vv) != digest => {
                        Some("its version vector differs from the one assigned".to_string())
                    }
                    Some(_) => None,
                };
                if let Some(why) = wrong {
                    push(
                        &mut v,
                        "integrity",
                        format!("n{} holds {id} on {k} at the end, but {why}", n + 1),
                    );
                }
            }
        }
    }

    // Resurrection: what an acknowledged delete removed must stay removed.
    for (id, ack) in &obs.acked {
        if !ack.delete {
            continue;
        }
        let Some(rec) = obs.writes.get(id) else {
            continue;
        };
        for old in &rec.superseded {
            if survivors.get(&rec.key).is_some_and(|s| s.contains(old)) {
                let mut ops = vec![(ack.line, "at-fault".to_string())];
                if let Some(put) = obs.acked.get(old) {
                    ops.push((put.line, "involved".to_string()));
                }
                push_with_ops(
                    &mut v,
                    "resurrection",
                    format!(
                        "{old} on {} was removed by the acknowledged delete {id} (at n{}), yet it is live at the end",
                        rec.key,
                        rec.node + 1
                    ),
                    ops,
                );
            }
        }
    }

    // The conflict audit over acknowledged writes and every survivor.
    let mut vcs: BTreeMap<&str, &[u64]> = BTreeMap::new();
    for e in end.events {
        if let (Some(_), EventKind::Note { text }) = (e.node, &e.kind) {
            if text.starts_with("gossip-write ") {
                vcs.insert(text.as_str(), &e.vc);
            }
        }
    }
    let texts: BTreeMap<WriteId, String> = obs
        .writes
        .iter()
        .map(|(id, r)| (*id, format!("gossip-write {id} {}", r.key)))
        .collect();
    let mut input = AuditInput::default();
    let mut included = BTreeSet::new();
    let survivor_ids: BTreeSet<WriteId> = survivors.values().flatten().copied().collect();
    for id in obs.acked.keys().chain(survivor_ids.iter()) {
        if !included.insert(*id) {
            continue;
        }
        let (Some(rec), Some(vc)) = (
            obs.writes.get(id),
            texts.get(id).and_then(|t| vcs.get(t.as_str())),
        ) else {
            continue;
        };
        input.writes.push(AuditWrite {
            id: id.to_string(),
            key: rec.key.clone(),
            // The client history line of an acknowledged write; 0 for one no client saw
            // acknowledged (a survivor the audit needs for comparison).
            line: obs.acked.get(id).map_or(0, |a| a.line),
            vc: vc
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(i, &c)| {
                    (
                        end.names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                        c,
                    )
                })
                .collect(),
            vv: rec.vv.iter().map(|(&a, &c)| (actor_name(a), c)).collect(),
        });
    }
    if !live.is_empty() {
        let keys: BTreeSet<&String> = input.writes.iter().map(|w| &w.key).collect();
        for k in keys {
            let ids = survivors
                .get(k)
                .map_or(Vec::new(), |s| s.iter().map(|id| id.to_string()).collect());
            input.survivors.insert(k.clone(), ids);
        }
    }
    let acked_names: BTreeSet<String> = obs.acked.keys().map(|id| id.to_string()).collect();
    let acked_lines: BTreeMap<String, usize> = obs
        .acked
        .iter()
        .map(|(id, a)| (id.to_string(), a.line))
        .collect();
    let audited = input.writes.len();
    for c in audit(&input) {
        match c.kind {
            // Only acknowledged writes are promised to survive.
            "lost-update" if c.writes.iter().all(|w| acked_names.contains(w)) => {
                // The lost write's operation, then those of the writes that survived it.
                let kept = survivors.get(&c.key).into_iter().flatten();
                let ops = c
                    .writes
                    .iter()
                    .filter_map(|w| acked_lines.get(w.as_str()))
                    .map(|&line| (line, "at-fault".to_string()))
                    .chain(kept.filter_map(|id| {
                        acked_lines
                            .get(id.to_string().as_str())
                            .map(|&line| (line, "survivor".to_string()))
                    }))
                    .collect();
                push_with_ops(
                    &mut v,
                    "lost-write",
                    format!("acknowledged write lost: {}", c.message),
                    ops,
                )
            }
            "lost-update" => {}
            _ => push(&mut v, "conflict-audit", c.message),
        }
    }

    v.extend(super::liveness::check(obs, system, end, &mut stats));
    let acked_puts = obs.acked.values().filter(|a| !a.delete).count();
    stats.insert("live_servers".into(), json!(live.len()));
    stats.insert("acked_puts".into(), json!(acked_puts));
    stats.insert("acked_deletes".into(), json!(obs.acked.len() - acked_puts));
    stats.insert("writes_audited".into(), json!(audited));
    stats.insert("suspicions".into(), json!(obs.suspicions.len()));
    stats.insert("false_suspicions".into(), json!(obs.false_suspicions.len()));
    stats.insert(
        "live_declared_dead".into(),
        json!(obs.live_declared_dead.len()),
    );
    stats.insert("refutations".into(), json!(obs.refutations));
    stats.insert("snapshots_restored".into(), json!(obs.snapshots_restored));
    stats.insert("snapshots_discarded".into(), json!(obs.snapshots_discarded));
    let mut history = String::new();
    for line in &obs.history {
        history.push_str(&line.to_string());
        history.push('\n');
    }
    if converged {
        history.push_str(&final_reads(obs, &live, end.servers + system.clients, end));
    }
    SystemCheck {
        violations: v,
        unknown: None,
        stats,
        history: Some(crate::system::ClientHistory::Lines(history)),
    }
}
