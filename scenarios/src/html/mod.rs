//! The visual report of one run: a single self-contained HTML page (no network access
//! needed) with a space-time diagram of the trace, the client history with the violation's
//! operations highlighted, and the scenario, seed, digest, fault schedule and replay command.
//!
//! This module turns a finished run into a compact JSON model (messages paired from send to
//! delivery or drop, partitions as intervals with the sides they made, lifecycle marks, each
//! node's clock offset sampled over time, operations paired from invoke to completion) and
//! embeds it in a page whose script draws only what is inside the visible time window, so a
//! 100,000-event trace stays usable. It does not draw timers or individual disk operations
//! (only disk faults), and the clock curve is sampled, so a strobe faster than the sampling
//! step shows as its envelope.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use checkers::history::{native, EventKind as OpKind};
use serde_json::{json, Value};
use sim::clock::NodeClock;
use sim::trace::{ClockChange, DropReason, EventKind};

pub mod bench;

use crate::runner::RunResult;
use crate::scenario::Scenario;

const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

/// How many points of each node's clock-offset curve the page gets.
const CLOCK_SAMPLES: u64 = 400;

/// Message states in the model's `st` column.
const DELIVERED: u8 = 0;
const LOST: u8 = 1;
const CUT: u8 = 2;
const DEAD: u8 = 3;
const IN_FLIGHT: u8 = 4;

/// The page for a finished run. `bugs` are the switches the run had on, for the replay line.
pub fn render(s: &Scenario, result: &RunResult) -> Result<String, String> {
    let model = model(s, result)?;
    Ok(page(&model))
}

/// Wraps the model in the page. `</` inside the JSON is escaped so no string in the data
/// can close the script element.
fn page(model: &Value) -> String {
    let data = model.to_string().replace("</", "<\\/");
    let title = html_escape(&format!(
        "{} seed {}",
        model["meta"]["scenario"].as_str().unwrap_or("run"),
        model["meta"]["seed"]
    ));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>dst: {title}</title><style>{PAGE_CSS}</style></head>\
<body data-status=\"loading\"><div id=\"app\"><noscript>This report draws itself with \
JavaScript; enable it to see the diagram.</noscript></div>\
<script type=\"application/json\" id=\"dst-data\">{data}</script>\
<script>{PAGE_JS}</script></body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Columns of the message table: one row per message copy that went on the wire.
#[derive(Default)]
struct Messages {
    from: Vec<usize>,
    to: Vec<usize>,
    sent: Vec<u64>,
    /// Delivery or drop time; the end of the run for messages still in flight.
    end: Vec<u64>,
    state: Vec<u8>,
    dup: Vec<u8>,
    kind: Vec<usize>,
    /// Message id -> row.
    rows: HashMap<u64, usize>,
    kinds: Vec<String>,
    kind_index: HashMap<String, usize>,
}

impl Messages {
    fn add(&mut self, id: u64, from: usize, to: usize, at: u64, what: &str, dup: bool) {
        let kind = match self.kind_index.get(what) {
            Some(&k) => k,
            None => {
                self.kinds.push(what.to_string());
                self.kind_index
                    .insert(what.to_string(), self.kinds.len() - 1);
                self.kinds.len() - 1
            }
        };
        self.rows.insert(id, self.from.len());
        self.from.push(from);
        self.to.push(to);
        self.sent.push(at);
        self.end.push(u64::MAX);
        self.state.push(IN_FLIGHT);
        self.dup.push(u8::from(dup));
        self.kind.push(kind);
    }

    fn finish(&mut self, id: u64, at: u64, state: u8) {
        if let Some(&row) = self.rows.get(&id) {
            self.end[row] = at;
            self.state[row] = state;
        }
    }
}

/// Per-node clocks replayed from the scenario's initial settings and the trace's changes.
struct Clocks {
    clocks: Vec<NodeClock>,
    samples: Vec<Vec<(u64, i64)>>,
    next_sample: u64,
    step: u64,
}

impl Clocks {
    fn new(s: &Scenario, nodes: usize, duration: u64) -> Self {
        let mut clocks: Vec<NodeClock> = (0..nodes).map(|_| NodeClock::new(0, 0, 0)).collect();
        for c in &s.clocks {
            if c.node < nodes {
                clocks[c.node] = NodeClock::new(0, c.offset_ns, c.drift_ppm);
            }
        }
        Clocks {
            clocks,
            samples: vec![Vec::new(); nodes],
            next_sample: 0,
            step: (duration / CLOCK_SAMPLES).max(1),
        }
    }

    fn sample_all(&mut self, t: u64) {
        for (clock, out) in self.clocks.iter().zip(&mut self.samples) {
            let offset = clock.wall(t) - t as i64;
            if out.last().map(|&(_, o)| o) != Some(offset) || out.is_empty() {
                out.push((t, offset));
            }
        }
    }

    /// Samples every node up to (not including) `t`.
    fn advance(&mut self, t: u64) {
        while self.next_sample < t {
            self.sample_all(self.next_sample);
            self.next_sample += self.step;
        }
    }

    fn change(&mut self, node: usize, t: u64, change: &ClockChange) {
        let Some(clock) = self.clocks.get_mut(node) else {
            return;
        };
        match *change {
            ClockChange::Bump { delta_ns } => clock.bump(delta_ns),
            ClockChange::Drift { ppm } => clock.set_drift(t, ppm),
            ClockChange::Strobe {
                delta_ns,
                period_ns,
                duration_ns,
            } => clock.strobe(t, delta_ns, period_ns, duration_ns),
        }
        let offset = clock.wall(t) - t as i64;
        self.samples[node].push((t, offset));
    }

    /// Only nodes whose clock ever differs from true time, as `[[t, offset_ns], ...]`.
    fn into_json(self) -> Value {
        let curves: Vec<Value> = self
            .samples
            .into_iter()
            .map(|s| {
                if s.iter().all(|&(_, o)| o == 0) {
                    Value::Null
                } else {
                    json!(s.iter().map(|&(t, o)| [t as i64, o]).collect::<Vec<_>>())
                }
            })
            .collect();
        Value::Array(curves)
    }
}

/// Connected groups of `0..n` when only links open in both directions count.
fn sides(n: usize, cut: &BTreeSet<(usize, usize)>) -> Vec<usize> {
    let mut side: Vec<usize> = (0..n).collect();
    fn root(side: &mut [usize], mut a: usize) -> usize {
        while side[a] != a {
            side[a] = side[side[a]];
            a = side[a];
        }
        a
    }
    for a in 0..n {
        for b in a + 1..n {
            if !cut.contains(&(a, b)) && !cut.contains(&(b, a)) {
                let (ra, rb) = (root(&mut side, a), root(&mut side, b));
                side[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    // Renumber groups 0, 1, ... in order of their first member.
    let mut names = BTreeMap::new();
    (0..n)
        .map(|a| {
            let r = root(&mut side, a);
            let next = names.len();
            *names.entry(r).or_insert(next)
        })
        .collect()
}

/// The JSON model the page draws.
pub fn model(s: &Scenario, result: &RunResult) -> Result<Value, String> {
    let trace = result
        .trace
        .as_ref()
        .ok_or("the run panicked before it produced a trace, so there is nothing to draw")?;
    if !trace.is_complete() {
        return Err("the run kept only landmark events, so there is not enough to draw".into());
    }
    let report = &result.report;
    let names = &result.names;
    let n = names.len();
    let end_time = report.sim_time_ns.max(s.duration.0);
    let mut msgs = Messages::default();
    let mut marks: Vec<Value> = Vec::new();
    let mut notes: Vec<Value> = Vec::new();
    let mut partitions: Vec<Value> = Vec::new();
    // How many partitions hold each cut link, as the network counts them.
    let mut cut: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    let mut open_partition: Option<(u64, String)> = None;
    let mut clocks = Clocks::new(s, n, end_time);
    let mut event_times: Vec<u64> = Vec::with_capacity(trace.events().len());
    let close = |partitions: &mut Vec<Value>,
                 open: &mut Option<(u64, String)>,
                 cut: &BTreeMap<(usize, usize), u32>,
                 t: u64| {
        if let Some((start, topology)) = open.take() {
            let links: BTreeSet<(usize, usize)> = cut.keys().copied().collect();
            partitions.push(json!({
                "from": start,
                "to": t,
                "topology": topology,
                "cut": links.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>(),
                "sides": sides(s.nodes.min(n), &links),
            }));
        }
    };
    for ev in trace.events() {
        let t = ev.time_ns;
        event_times.push(t);
        clocks.advance(t);
        let node = ev.node;
        match &ev.kind {
            EventKind::Send { msg, to, what } => {
                if let Some(from) = node {
                    msgs.add(*msg, from, *to, t, what, false);
                }
            }
            EventKind::Deliver { msg, .. } => msgs.finish(*msg, t, DELIVERED),
            EventKind::Drop { msg, reason, .. } => {
                let state = match reason {
                    DropReason::Loss => LOST,
                    DropReason::CutLink => CUT,
                    DropReason::DeadNode => DEAD,
                };
                msgs.finish(*msg, t, state);
            }
            EventKind::Duplicate {
                msg,
                copy,
                from,
                to,
            } => {
                let what = msgs
                    .rows
                    .get(msg)
                    .map(|&r| msgs.kinds[msgs.kind[r]].clone())
                    .unwrap_or_else(|| "?".to_string());
                msgs.add(*copy, *from, *to, t, &what, true);
            }
            EventKind::Crash | EventKind::Pause | EventKind::Resume => {
                marks.push(json!({"t": t, "node": node, "kind": ev.kind.name(), "i": ev.index}));
            }
            EventKind::Restart { incarnation } => {
                marks.push(
                    json!({"t": t, "node": node, "kind": "restart", "i": ev.index,
                    "text": format!("incarnation {incarnation}")}),
                );
            }
            EventKind::Partition {
                topology,
                cut: links,
            } => {
                close(&mut partitions, &mut open_partition, &cut, t);
                for &l in links {
                    *cut.entry(l).or_insert(0) += 1;
                }
                open_partition = Some((t, topology.to_string()));
                marks.push(
                    json!({"t": t, "node": null, "kind": "partition", "i": ev.index,
                    "text": format!("partition: {topology}, {} links cut", links.len())}),
                );
            }
            EventKind::HealLinks { links } => {
                let topology = open_partition.as_ref().map(|(_, t)| t.clone());
                close(&mut partitions, &mut open_partition, &cut, t);
                for l in links {
                    if let Some(k) = cut.get_mut(l) {
                        *k -= 1;
                        if *k == 0 {
                            cut.remove(l);
                        }
                    }
                }
                if !cut.is_empty() {
                    open_partition = Some((t, topology.unwrap_or_default()));
                }
                marks.push(json!({"t": t, "node": null, "kind": "heal", "i": ev.index,
                    "text": format!("{} links restored", links.len())}));
            }
            EventKind::Heal => {
                close(&mut partitions, &mut open_partition, &cut, t);
                cut.clear();
                marks.push(json!({"t": t, "node": null, "kind": "heal", "i": ev.index}));
            }
            EventKind::Clock(change) => {
                if let Some(node) = node {
                    clocks.change(node, t, change);
                }
                marks.push(json!({"t": t, "node": node, "kind": "clock", "i": ev.index,
                    "text": serde_json::to_value(change).map(|v| compact(&v)).unwrap_or_default()}));
            }
            EventKind::Note { text } => {
                notes.push(json!([t, node, text]));
            }
            EventKind::DiskFault { node: disk, fault } => {
                marks.push(
                    json!({"t": t, "node": disk, "kind": "disk-fault", "i": ev.index,
                    "text": serde_json::to_value(fault).map(|v| compact(&v)).unwrap_or_default()}),
                );
            }
            EventKind::Timer { .. } | EventKind::Disk(_) => {}
        }
    }
    close(&mut partitions, &mut open_partition, &cut, end_time);
    clocks.advance(end_time + 1);
    for e in msgs.end.iter_mut() {
        if *e == u64::MAX {
            *e = end_time;
        }
    }

    let history = match &result.history {
        Some(h) => history_ops(&h.json_lines())?,
        None => Value::Null,
    };
    let violations: Vec<Value> = report
        .violations
        .iter()
        .map(|v| {
            json!({
                "check": v.check,
                "message": v.message,
                "event": v.event,
                "t": v.event.and_then(|i| event_times.get(i as usize)).copied().or(v.time_ns),
                "ops": v.ops,
            })
        })
        .collect();
    let faults: Vec<Value> = s
        .faults
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.remove("at");
            }
            json!({"t": f.at.0, "text": compact(&v)})
        })
        .collect();
    let servers = s.nodes.min(n);
    Ok(json!({
        "meta": {
            "scenario": report.scenario,
            "description": s.description,
            "system": s.system.name(),
            "seed": report.seed,
            "verdict": report.verdict.as_str(),
            "digest": report.trace_digest,
            "events": report.events,
            "end": end_time,
            "replay": report.replay,
            "unknown": report.unknown,
            "stats": report.stats,
            "system_stats": report.system_stats,
        },
        "nodes": names.iter().enumerate().map(|(i, name)| json!({
            "name": name,
            "role": if i < servers { "server" } else { "client" },
        })).collect::<Vec<_>>(),
        "msgs": {
            "from": msgs.from, "to": msgs.to, "sent": msgs.sent, "end": msgs.end,
            "st": msgs.state, "dup": msgs.dup, "kind": msgs.kind, "kinds": msgs.kinds,
        },
        "marks": marks,
        "notes": notes,
        "partitions": partitions,
        "clocks": clocks.into_json(),
        "history": history,
        "violations": violations,
        "faults": faults,
    }))
}

/// `{"fault":"crash","node":2}` as `crash node=2`; other values as compact JSON.
fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut parts = Vec::new();
            for key in ["fault", "change", "kind"] {
                if let Some(Value::String(s)) = m.get(key) {
                    parts.push(s.clone());
                }
            }
            for (k, v) in m {
                if matches!(k.as_str(), "fault" | "change" | "kind") && v.is_string() {
                    continue;
                }
                let text = match (k.as_str(), v) {
                    // Node indices read as the names the lanes show: node 0 is n1.
                    ("node", Value::Number(n)) if n.is_u64() => {
                        format!("n{}", n.as_u64().unwrap_or(0) + 1)
                    }
                    (_, Value::String(s)) => s.clone(),
                    (_, other) => other.to_string(),
                };
                parts.push(format!("{k}={text}"));
            }
            parts.join(" ")
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The client history as operations: invocation paired with the same process's next
/// completion. Columns: process, f, key, input, output, invoke time, completion time
/// (null if never completed), outcome (ok, fail, info), invoke line, completion line.
fn history_ops(text: &str) -> Result<Value, String> {
    let events =
        native::parse("client history", text).map_err(|e| format!("client history: {e}"))?;
    let mut ops: Vec<Value> = Vec::new();
    let mut open: BTreeMap<i64, usize> = BTreeMap::new();
    for e in &events {
        let time = e.time.unwrap_or(0);
        match e.kind {
            OpKind::Invoke => {
                open.insert(e.process, ops.len());
                ops.push(json!({
                    "p": e.process, "f": e.f, "key": e.key.as_ref().map(|k| k.to_json()),
                    "in": e.value.to_json(), "out": null,
                    "t0": time, "t1": null, "type": "info", "line": e.line, "rline": null,
                }));
            }
            OpKind::Ok | OpKind::Fail | OpKind::Info => {
                let Some(i) = open.remove(&e.process) else {
                    continue;
                };
                let op = &mut ops[i];
                op["out"] = e.value.to_json();
                op["t1"] = json!(time);
                op["type"] = json!(match e.kind {
                    OpKind::Ok => "ok",
                    OpKind::Fail => "fail",
                    _ => "info",
                });
                op["rline"] = json!(e.line);
            }
        }
    }
    Ok(Value::Array(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_two_way_links() {
        // n1 n2 | n3 n4 n5
        let cut: BTreeSet<_> = [(0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)]
            .into_iter()
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .collect();
        assert_eq!(sides(5, &cut), vec![0, 0, 1, 1, 1]);
        // A one-way cut leaves a node on its own side.
        let one_way: BTreeSet<_> = [(2, 0), (2, 1)].into_iter().collect();
        assert_eq!(sides(3, &one_way), vec![0, 0, 1]);
        assert_eq!(sides(3, &BTreeSet::new()), vec![0, 0, 0]);
    }

    #[test]
    fn compact_puts_the_kind_first() {
        let v = json!({"fault": "crash", "node": 2});
        assert_eq!(compact(&v), "crash node=n3");
        let v = json!({"change": "bump", "delta_ns": -5});
        assert_eq!(compact(&v), "bump delta_ns=-5");
    }

    #[test]
    fn history_pairs_invocations_with_completions() {
        let text = concat!(
            r#"{"process":0,"type":"invoke","f":"put","key":"x","value":1,"time":10}"#,
            "\n",
            r#"{"process":1,"type":"invoke","f":"get","key":"x","value":null,"time":11}"#,
            "\n",
            r#"{"process":0,"type":"ok","f":"put","key":"x","value":1,"time":20}"#,
            "\n",
            r#"{"process":1,"type":"info","f":"get","key":"x","value":null,"time":30}"#,
            "\n",
        );
        let ops = history_ops(text).unwrap();
        let ops = ops.as_array().unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["type"], "ok");
        assert_eq!(ops[0]["t1"], 20);
        assert_eq!(ops[0]["rline"], 3);
        assert_eq!(ops[1]["type"], "info");
        assert_eq!(ops[1]["line"], 2);
    }
}
