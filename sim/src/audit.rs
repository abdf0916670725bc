//! Audits of a finished trace against the world's own guarantees: no message delivered
//! over a link that was cut at that moment, none delivered to a crashed or paused node,
//! and every node's vector clock stepping its own entry by exactly one per event.
//!
//! These hold for any system under test; they check the simulator, not the protocol.
//! System-specific checks (liveness after heal, say) live with each system in `nodes`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::process::Status;
use crate::trace::{EventKind, TraceEvent};

/// The names of the audit's checks, as violations carry them.
pub const CHECKS: [&str; 4] = [
    "delivery-over-cut-link",
    "delivery-to-stopped-node",
    "event-on-stopped-node",
    "vector-clock",
];

/// Something a check found wrong, with the event that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The check's name, e.g. "delivery-over-cut-link".
    pub check: String,
    pub message: String,
    /// Index of the trace event that shows the violation, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<u64>,
    /// Operations of the client history that show the violation (a linearizability
    /// witness, a serializability cycle), so a report can highlight them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<OpRef>,
    /// When it shows, in simulated ns, for violations that no single trace event marks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<u64>,
}

/// An operation of the client history, by line, and the part it plays in a violation:
/// `at-fault` (the operation that cannot be explained), `blocked` (could not go next),
/// `order N` (the Nth step of the longest valid order found), `cycle N` (a step of a
/// dependency cycle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRef {
    pub line: usize,
    pub role: String,
}

impl Violation {
    pub fn new(check: &str, message: impl Into<String>, event: Option<u64>) -> Self {
        Violation {
            check: check.to_string(),
            message: message.into(),
            event,
            ops: Vec::new(),
            time_ns: None,
        }
    }

    /// The same violation, marked at simulated time `t` (ns).
    pub fn at_time(mut self, t: u64) -> Self {
        self.time_ns = Some(t);
        self
    }

    /// The same violation, pointing at these client-history operations.
    pub fn with_ops(mut self, ops: impl IntoIterator<Item = (usize, String)>) -> Self {
        self.ops = ops
            .into_iter()
            .map(|(line, role)| OpRef { line, role })
            .collect();
        self
    }
}

/// Replays the trace's lifecycle and partition events and checks every delivery.
pub fn audit_world(events: &[TraceEvent], names: &[String]) -> Vec<Violation> {
    let mut audit = WorldAudit::default();
    for ev in events {
        audit.observe(ev, names);
    }
    audit.into_violations()
}

/// The world audit as events stream by: what it needs of the past is only which links are
/// cut, each node's status and each node's own clock entry, so a run that keeps no events
/// is audited exactly as one that keeps them all.
#[derive(Debug, Clone, Default)]
pub struct WorldAudit {
    /// How many partitions cut each link; a link is cut while some partition holds it.
    cut: BTreeMap<(usize, usize), u32>,
    status: Vec<Status>,
    own: Vec<u64>,
    out: Vec<Violation>,
}

impl WorldAudit {
    /// The violations found so far.
    pub fn violations(&self) -> &[Violation] {
        &self.out
    }

    pub fn into_violations(self) -> Vec<Violation> {
        self.out
    }

    /// Checks one event (the next of the trace) and updates the world as the audit sees it.
    pub fn observe(&mut self, ev: &TraceEvent, names: &[String]) {
        let name = |i: usize| names.get(i).map_or("?", String::as_str);
        // Nodes are numbered densely; a node not seen yet starts up, at clock zero.
        let highest = [ev.node, deliver_from(ev)].into_iter().flatten().max();
        if let Some(h) = highest {
            if h >= self.status.len() {
                self.status.resize(h + 1, Status::Up);
                self.own.resize(h + 1, 0);
            }
        }
        let WorldAudit {
            cut,
            status,
            own,
            out,
        } = self;
        if let Some(node) = ev.node {
            own[node] += 1;
            if ev.vc.get(node) != Some(&own[node]) {
                out.push(Violation::new(
                    "vector-clock",
                    format!(
                        "{}'s own clock entry is {:?} at its event #{}, expected {}",
                        name(node),
                        ev.vc.get(node),
                        ev.index,
                        own[node]
                    ),
                    Some(ev.index),
                ));
            }
        }
        match &ev.kind {
            EventKind::Partition { cut: links, .. } => {
                for &l in links {
                    *cut.entry(l).or_insert(0) += 1;
                }
            }
            EventKind::Heal => cut.clear(),
            EventKind::HealLinks { links } => {
                for l in links {
                    if let Some(n) = cut.get_mut(l) {
                        *n -= 1;
                        if *n == 0 {
                            cut.remove(l);
                        }
                    }
                }
            }
            EventKind::Crash => status[ev.node.expect("crash has a node")] = Status::Crashed,
            EventKind::Restart { .. } => status[ev.node.expect("restart has a node")] = Status::Up,
            EventKind::Pause => status[ev.node.expect("pause has a node")] = Status::Paused,
            EventKind::Resume => status[ev.node.expect("resume has a node")] = Status::Up,
            EventKind::Deliver { msg, from } => {
                let to = ev.node.expect("deliver has a node");
                if cut.contains_key(&(*from, to)) {
                    out.push(Violation::new(
                        "delivery-over-cut-link",
                        format!(
                            "message {msg} was delivered {} -> {} at {} ns while that link was cut",
                            name(*from),
                            name(to),
                            ev.time_ns
                        ),
                        Some(ev.index),
                    ));
                }
                // A delivery recorded right after a resume is fine; one while paused is not.
                if status[to] != Status::Up {
                    out.push(Violation::new(
                        "delivery-to-stopped-node",
                        format!(
                            "message {msg} was delivered to {} while it was {:?}",
                            name(to),
                            status[to]
                        ),
                        Some(ev.index),
                    ));
                }
            }
            _ => {}
        }
        if let Some(node) = ev.node {
            let acting = !matches!(
                ev.kind,
                EventKind::Crash
                    | EventKind::Restart { .. }
                    | EventKind::Resume
                    | EventKind::Clock(_)
            );
            if acting && status[node] != Status::Up && !matches!(ev.kind, EventKind::Pause) {
                out.push(Violation::new(
                    "event-on-stopped-node",
                    format!(
                        "{} acted ({}) while {:?}",
                        name(node),
                        ev.kind.name(),
                        status[node]
                    ),
                    Some(ev.index),
                ));
            }
        }
    }
}

fn deliver_from(ev: &TraceEvent) -> Option<usize> {
    match ev.kind {
        EventKind::Deliver { from, .. } => Some(from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(index: u64, node: Option<usize>, kind: EventKind, vc: &[u64]) -> TraceEvent {
        TraceEvent {
            index,
            time_ns: index,
            node,
            kind,
            vc: vc.into(),
        }
    }

    fn names() -> Vec<String> {
        vec!["n1".into(), "n2".into()]
    }

    #[test]
    fn clean_trace_passes() {
        let t = vec![
            ev(
                0,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "M",
                },
                &[1, 0],
            ),
            ev(1, Some(1), EventKind::Deliver { msg: 1, from: 0 }, &[1, 1]),
        ];
        assert!(audit_world(&t, &names()).is_empty());
    }

    #[test]
    fn delivery_over_cut_link_is_caught() {
        let t = vec![
            ev(
                0,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "M",
                },
                &[1, 0],
            ),
            ev(
                1,
                None,
                EventKind::Partition {
                    topology: "links",
                    cut: vec![(0, 1)],
                },
                &[],
            ),
            ev(2, Some(1), EventKind::Deliver { msg: 1, from: 0 }, &[1, 1]),
        ];
        let v = audit_world(&t, &names());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].check, "delivery-over-cut-link");
        assert_eq!(v[0].event, Some(2));
    }

    #[test]
    fn delivery_to_crashed_or_paused_node_is_caught() {
        for stop in [EventKind::Crash, EventKind::Pause] {
            let t = vec![
                ev(0, Some(1), stop.clone(), &[0, 1]),
                ev(1, Some(1), EventKind::Deliver { msg: 1, from: 0 }, &[0, 2]),
            ];
            let v = audit_world(&t, &names());
            assert!(
                v.iter().any(|v| v.check == "delivery-to-stopped-node"),
                "{stop:?}"
            );
        }
    }

    #[test]
    fn vector_clock_skips_are_caught() {
        let t = vec![
            ev(0, Some(0), EventKind::Note { text: "a".into() }, &[1, 0]),
            ev(1, Some(0), EventKind::Note { text: "b".into() }, &[3, 0]),
        ];
        let v = audit_world(&t, &names());
        assert_eq!(v[0].check, "vector-clock");
    }
}
