//! Inference for read-write register histories.
//!
//! Written values are unique per key, so a read names its writer (write-read edges). Version
//! order is only partly known: the initial nil precedes every write, and a transaction that
//! read `x=a` and then wrote `x=b` placed `b` right after `a` (in any serial order its read
//! saw the latest version). That gives write-write edges (writer of `a` to the overwriter)
//! and read-write edges (every other reader of `a`, or of the initial nil, to the
//! overwriter). Reading an aborted write is G1a, reading a non-final write of another
//! transaction is G1b. Deliberately not inferred: version orders from real time or from
//! "sequential keys" assumptions, which Elle offers as options.

use super::graph::{DepGraph, EdgeKind, Why};
use super::{label, Anomaly, Mop, Status, Txn};
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};

/// Above this many reader x writer pairs for one key, nil readers are linked only to the
/// writers known to follow nil directly (keeps pathological histories linear).
const NIL_FANOUT_LIMIT: usize = 100_000;

pub(super) fn infer<'a>(txns: &'a [Txn], g: &mut DepGraph<'a>) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut writer: HashMap<(&Value, &Value), usize> = HashMap::new();
    let mut final_write: HashMap<(&Value, usize), &Value> = HashMap::new();
    let mut writers_of: BTreeMap<&Value, Vec<(usize, &Value)>> = BTreeMap::new();
    for t in txns {
        for m in &t.mops {
            if let Mop::Write { key, value } = m {
                if let Some(&prev) = writer.get(&(key, value)) {
                    anomalies.push(Anomaly {
                        kind: "duplicate-write".into(),
                        txns: vec![label(&txns[prev]), label(t)],
                        lines: vec![txns[prev].line, t.line],
                        explanation: vec![format!(
                            "T{prev} and T{} both write {kb}={value}; written values must be unique per key",
                            t.id, kb = key.bare())],
                    });
                    continue;
                }
                writer.insert((key, value), t.id);
                final_write.insert((key, t.id), value);
            }
        }
    }
    for t in txns {
        for m in &t.mops {
            if let Mop::Write { key, .. } = m {
                if let Some(v) = final_write.get(&(key, t.id)) {
                    let list = writers_of.entry(key).or_default();
                    if list.last().map(|l| l.0) != Some(t.id) {
                        list.push((t.id, v));
                    }
                }
            }
        }
    }
    let live = |t: usize| txns[t].status != Status::Aborted;
    // (key, version read) -> external readers; (key, version) -> transactions overwriting it.
    let mut readers: BTreeMap<(&Value, &Value), Vec<usize>> = BTreeMap::new();
    let mut overwriters: BTreeMap<(&Value, &Value), Vec<usize>> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.status != Status::Aborted) {
        let mut written: Vec<&Value> = Vec::new();
        let mut read: Vec<(&Value, &Value)> = Vec::new();
        for m in &t.mops {
            match m {
                Mop::Read {
                    key,
                    value: Some(v),
                } if !written.contains(&key) => {
                    read.push((key, v));
                    readers.entry((key, v)).or_default().push(t.id);
                    if v.is_nil() {
                        continue;
                    }
                    match writer.get(&(key, v)) {
                        None => anomalies.push(Anomaly {
                            kind: "garbage-read".into(),
                            txns: vec![label(t)],
                            lines: vec![t.line],
                            explanation: vec![format!(
                                "T{} read {kb}={v} but no transaction wrote it",
                                t.id,
                                kb = key.bare()
                            )],
                        }),
                        Some(&w) if !live(w) => anomalies.push(Anomaly {
                            kind: "G1a".into(),
                            txns: vec![label(t), label(&txns[w])],
                            lines: vec![t.line, txns[w].line],
                            explanation: vec![format!(
                                "T{} read {kb}={v} which T{w} wrote, but T{w} aborted",
                                t.id,
                                kb = key.bare()
                            )],
                        }),
                        Some(&w) if w != t.id => {
                            if final_write.get(&(key, w)) != Some(&v) {
                                anomalies.push(Anomaly {
                                    kind: "G1b".into(),
                                    txns: vec![label(t), label(&txns[w])],
                                    lines: vec![t.line, txns[w].line],
                                    explanation: vec![format!(
                                        "T{} read {kb}={v}, an intermediate write of T{w} (its final write to {kb} was {})",
                                        t.id,
                                        final_write.get(&(key, w)).map(|v| v.to_string()).unwrap_or_default(), kb = key.bare())],
                                });
                            }
                            g.add(
                                w,
                                t.id,
                                EdgeKind::Wr,
                                Why::Text(format!(
                                    "T{} read {kb}={v} which T{w} wrote",
                                    t.id,
                                    kb = key.bare()
                                )),
                            );
                        }
                        Some(_) => {}
                    }
                }
                Mop::Write { key, .. } if !written.contains(&key) => {
                    if let Some(&(_, r)) = read.iter().find(|(k, _)| *k == key) {
                        overwriters.entry((key, r)).or_default().push(t.id);
                    }
                    written.push(key);
                }
                _ => {}
            }
        }
    }
    for (&(key, r), over) in &overwriters {
        let wrote = |t: usize| {
            final_write
                .get(&(key, t))
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        if !r.is_nil() {
            if let Some(&w) = writer.get(&(key, r)) {
                if live(w) {
                    for &o in over {
                        let why = format!(
                            "T{o} read {kb}={r} (written by T{w}) and overwrote it with {}",
                            wrote(o),
                            kb = key.bare()
                        );
                        g.add(w, o, EdgeKind::Ww, Why::Text(why));
                    }
                }
            }
        }
        for &x in readers.get(&(key, r)).map(Vec::as_slice).unwrap_or(&[]) {
            for &o in over {
                let why = format!(
                    "T{x} read {kb}={r} and T{o} wrote the next version, {kb}={}",
                    wrote(o),
                    kb = key.bare()
                );
                g.add(x, o, EdgeKind::Rw, Why::Text(why));
            }
        }
    }
    // The initial nil precedes every write of the key.
    for (&(key, r), rs) in &readers {
        if !r.is_nil() {
            continue;
        }
        let ws = writers_of.get(key).map(Vec::as_slice).unwrap_or(&[]);
        if rs.len() * ws.len() > NIL_FANOUT_LIMIT {
            continue;
        }
        for &x in rs {
            for &(w, v) in ws {
                if live(w) && !overwriters.get(&(key, r)).is_some_and(|o| o.contains(&w)) {
                    let why = format!(
                        "T{x} read {kb}=nil (the initial state) and T{w} wrote {kb}={v}",
                        kb = key.bare()
                    );
                    g.add(x, w, EdgeKind::Rw, Why::Text(why));
                }
            }
        }
    }
    anomalies
}
