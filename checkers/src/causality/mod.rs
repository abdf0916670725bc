//! Vector-clock traces: validation, causal delivery, conflict audits, ShiViz export.
//!
//! Validation follows ShiViz: each host's own entry starts at 1 and steps by one per event;
//! a clock may name only hosts that have events; when an entry for another host grows, the
//! event it points to must exist and must not know more than this one (so the clock equals
//! the merge of its parents); with message ids, a deliver's clock must be at least its
//! send's and equal the merge of its local predecessor and the send, plus one tick, and no
//! other event may merge knowledge. The happens-before graph (local order, messages,
//! inferred parents) must be acyclic. Causal delivery (required by `check`, only counted by
//! `check_clocks`): if send(m1) happened before send(m2) and a host delivers both, it must
//! deliver m1 first. Deliberately out of scope: clocks of
//! world events (they have none), wall-clock timestamps, and matrix clocks.

pub mod audit;
pub mod shiviz;
pub mod trace;

use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;
pub use trace::{parse_trace, read_trace, EventKind, Trace, TraceEvent};

/// Only this many problems are kept in a report (all are counted).
const MAX_PROBLEMS: usize = 1000;

/// Something wrong with a trace.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Problem {
    /// own-entry, unknown-host, backwards, unknown-parent, merge, unknown-message,
    /// duplicate-send, receive-before-send, cycle, causal-delivery.
    pub kind: &'static str,
    pub line: usize,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub verdict: &'static str,
    pub events: usize,
    pub hosts: usize,
    pub messages: usize,
    pub problems: Vec<Problem>,
    pub problems_total: usize,
    /// Deliveries out of causal order, counted but not required (`check_clocks`): most
    /// networks reorder, and only a system that promises causal delivery must not.
    pub unordered_deliveries: usize,
    /// Time spent checking, excluding parsing.
    pub check_nanos: u128,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.problems_total == 0
    }
}

struct Problems {
    list: Vec<Problem>,
    total: usize,
}

impl Problems {
    fn push(&mut self, kind: &'static str, line: usize, message: String) {
        self.total += 1;
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem {
                kind,
                line,
                message,
            });
        }
    }
}

fn fmt_clock(trace: &Trace, c: &[u64]) -> String {
    let parts: Vec<String> = c
        .iter()
        .enumerate()
        .filter(|(_, &v)| v > 0)
        .map(|(k, v)| format!("{}:{v}", trace.hosts[k]))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Validates a trace and checks causal delivery.
pub fn check(trace: &Trace) -> Report {
    check_with(trace, true)
}

/// Validates the clocks only; deliveries out of causal order are counted in
/// `unordered_deliveries`, not reported as problems. For traces of systems over networks
/// that reorder (every simulated network does), where causal delivery is no promise.
pub fn check_clocks(trace: &Trace) -> Report {
    check_with(trace, false)
}

fn check_with(trace: &Trace, require_causal_delivery: bool) -> Report {
    let start = Instant::now();
    let h = trace.hosts.len();
    let n = trace.events.len();
    let mut problems = Problems {
        list: Vec::new(),
        total: 0,
    };
    let mut host_events: Vec<Vec<usize>> = vec![Vec::new(); h];
    for (i, e) in trace.events.iter().enumerate() {
        host_events[e.host as usize].push(i);
    }
    let mut sends: HashMap<&str, usize> = HashMap::new();
    for (i, e) in trace.events.iter().enumerate() {
        if e.kind == EventKind::Send {
            if let Some(m) = &e.msg {
                if let Some(&first) = sends.get(m.as_str()) {
                    problems.push(
                        "duplicate-send",
                        e.line,
                        format!(
                            "message {m} is sent again (first sent at line {})",
                            trace.events[first].line
                        ),
                    );
                } else {
                    sends.insert(m, i);
                }
            }
        }
    }
    let mut hb: petgraph::Graph<(), (), petgraph::Directed, u32> =
        petgraph::Graph::with_capacity(n, 2 * n);
    for _ in 0..n {
        hb.add_node(());
    }
    let node = petgraph::graph::NodeIndex::new;
    let zero = vec![0u64; h];
    let mut prev_of_host: Vec<Option<usize>> = vec![None; h];
    let mut seen_on_host: Vec<u64> = vec![0; h];
    // Per receiving host: the sends delivered to it so far, for causal delivery.
    let mut deliveries: Vec<(usize, usize)> = Vec::new(); // (deliver event, send event)
    let mut merged = vec![0u64; h];
    for (i, e) in trace.events.iter().enumerate() {
        let me = e.host as usize;
        let c = trace.clock(i);
        let prev = prev_of_host[me].replace(i);
        let p = prev.map(|p| trace.clock(p)).unwrap_or(&zero);
        if let Some(p) = prev {
            hb.add_edge(node(p), node(i), ());
        }
        // Judged by position, so one bad clock is reported once, not at every later event.
        seen_on_host[me] += 1;
        if c[me] != seen_on_host[me] {
            problems.push(
                "own-entry",
                e.line,
                format!(
                    "this is {}'s event #{}, so its own entry should be {}, found {}",
                    trace.hosts[me], seen_on_host[me], seen_on_host[me], c[me]
                ),
            );
            continue;
        }
        if let Some(k) = (0..h).find(|&k| c[k] > 0 && host_events[k].is_empty()) {
            problems.push(
                "unknown-host",
                e.line,
                format!(
                    "clock names host `{}`, which has no events in the trace",
                    trace.hosts[k]
                ),
            );
            continue;
        }
        if let Some(k) = (0..h).find(|&k| c[k] < p[k] && !host_events[k].is_empty()) {
            problems.push(
                "backwards",
                e.line,
                format!(
                    "entry for {} went from {} to {}",
                    trace.hosts[k], p[k], c[k]
                ),
            );
            continue;
        }
        // Inferred parents: every grown entry points at an event that must exist and be known.
        let mut parents: Vec<usize> = Vec::new();
        let mut ok = true;
        for k in (0..h).filter(|&k| k != me && c[k] > p[k]) {
            let Some(&q) = host_events[k].get(c[k] as usize - 1) else {
                problems.push(
                    "unknown-parent",
                    e.line,
                    format!(
                        "entry {}:{} points at an event {} never had",
                        trace.hosts[k], c[k], trace.hosts[k]
                    ),
                );
                ok = false;
                break;
            };
            let qc = trace.clock(q);
            if let Some(j) = (0..h).find(|&j| qc[j] > c[j]) {
                problems.push(
                    "merge",
                    e.line,
                    format!(
                        "knows {}'s event at line {} but not what that event knew ({}:{} > {})",
                        trace.hosts[k], trace.events[q].line, trace.hosts[j], qc[j], c[j]
                    ),
                );
                ok = false;
                break;
            }
            parents.push(q);
        }
        if !ok {
            continue;
        }
        if trace.has_msg_ids {
            match (e.kind, &e.msg) {
                (EventKind::Deliver, Some(m)) => {
                    let Some(&s) = sends.get(m.as_str()) else {
                        problems.push(
                            "unknown-message",
                            e.line,
                            format!("delivers message {m}, which is never sent"),
                        );
                        continue;
                    };
                    hb.add_edge(node(s), node(i), ());
                    let sc = trace.clock(s);
                    if (0..h).any(|k| c[k] < sc[k]) {
                        problems.push(
                            "receive-before-send",
                            e.line,
                            format!(
                                "deliver of {m} has clock {} which is not at least its send's {} (line {})",
                                fmt_clock(trace, c),
                                fmt_clock(trace, sc),
                                trace.events[s].line
                            ),
                        );
                        continue;
                    }
                    for k in 0..h {
                        merged[k] = p[k].max(sc[k]);
                    }
                    merged[me] = c[me]; // validated above: one more than the previous event
                    if merged != c {
                        problems.push(
                            "merge",
                            e.line,
                            format!(
                                "deliver of {m} has clock {}, but the merge of its previous event and the send (line {}) is {}",
                                fmt_clock(trace, c),
                                trace.events[s].line,
                                fmt_clock(trace, &merged)
                            ),
                        );
                        continue;
                    }
                    deliveries.push((i, s));
                }
                _ => {
                    if !parents.is_empty() {
                        problems.push(
                            "merge",
                            e.line,
                            format!(
                                "a {} event gained knowledge of other hosts ({} -> {}); only a deliver may merge",
                                e.label,
                                fmt_clock(trace, p),
                                fmt_clock(trace, c)
                            ),
                        );
                    }
                }
            }
        } else {
            for &q in &parents {
                hb.add_edge(node(q), node(i), ());
            }
            // The messages are the parents not known through another parent.
            for &q in &parents {
                let qc = trace.clock(q);
                let implied = parents.iter().any(|&r| {
                    r != q && {
                        let rc = trace.clock(r);
                        (0..h).all(|j| qc[j] <= rc[j])
                    }
                });
                if !implied {
                    deliveries.push((i, q));
                }
            }
        }
    }
    if let Err(cycle) = petgraph::algo::toposort(&hb, None) {
        let at = cycle.node_id().index();
        problems.push(
            "cycle",
            trace.events[at].line,
            "the happens-before graph has a cycle through this event".to_string(),
        );
    }
    let mut unordered_deliveries = 0;
    if require_causal_delivery {
        causal_delivery(trace, &deliveries, &mut problems);
    } else {
        let mut unordered = Problems {
            list: Vec::new(),
            total: 0,
        };
        causal_delivery(trace, &deliveries, &mut unordered);
        unordered_deliveries = unordered.total;
    }
    let mut messages = sends.len();
    if !trace.has_msg_ids {
        messages = deliveries.len();
    }
    Report {
        verdict: if problems.total == 0 {
            "valid"
        } else {
            "invalid"
        },
        events: n,
        hosts: h,
        messages,
        problems: problems.list,
        problems_total: problems.total,
        unordered_deliveries,
        check_nanos: start.elapsed().as_nanos(),
    }
}

/// For each receiving host, the largest entries of the send clocks it has delivered so far.
/// A send s from host j with own entry c happened before an earlier-delivered send t exactly
/// when t's clock has entry j >= c and t is not s itself; so one pass suffices.
fn causal_delivery(trace: &Trace, deliveries: &[(usize, usize)], problems: &mut Problems) {
    let h = trace.hosts.len();
    // Per receiver: (max entry, send event giving it, whether that send is a different event
    // than the one the entry names).
    let mut max: HashMap<u32, Vec<(u64, usize, bool)>> = HashMap::new();
    for &(d, s) in deliveries {
        let recv = trace.events[d].host;
        let sender = trace.events[s].host as usize;
        let sc = trace.clock(s);
        let c = sc[sender];
        let m = max
            .entry(recv)
            .or_insert_with(|| vec![(0, usize::MAX, false); h]);
        let (top, who, other) = m[sender];
        if top > c || (top == c && other && who != s) {
            let ev = &trace.events;
            problems.push(
                "causal-delivery",
                ev[d].line,
                format!(
                    "{} delivers {} (sent at line {}) after {} (sent at line {}), but the first send happened before the second",
                    trace.hosts[recv as usize],
                    ev[s].label,
                    ev[s].line,
                    ev[who].label,
                    ev[who].line
                ),
            );
        }
        for k in 0..h {
            let is_other = k != sender;
            if sc[k] > m[k].0 || (sc[k] == m[k].0 && sc[k] > 0 && is_other && !m[k].2) {
                m[k] = (sc[k], s, is_other);
            }
        }
    }
}
