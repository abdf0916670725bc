//! Inference for list-append histories.
//!
//! Appended values are unique per key, so every read of a key names its writers, and the
//! longest read of a key gives that key's version order (every other read must be a prefix
//! of it). From that: write-write edges between consecutive appends, write-read edges from
//! the appender of a read's last element to the reader, and read-write edges from a reader
//! to the appender of the element right after what it saw. Aborted appends seen by a read
//! are G1a; a read ending in an append that its transaction later extended is G1b.
//! Indeterminate transactions count as committed once something of theirs is observed.

use super::graph::{DepGraph, EdgeKind, Why};
use super::{label, Anomaly, Mop, Status, Txn};
use crate::fxhash::FxBuild;
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};

/// `[1 2 3]`, or `[... 8 9]` for long lists.
pub(crate) fn tail(list: &[Value]) -> String {
    const SHOW: usize = 4;
    let shown: Vec<String> = list
        .iter()
        .rev()
        .take(SHOW)
        .rev()
        .map(Value::to_string)
        .collect();
    if list.len() > SHOW {
        format!("[... {}]", shown.join(" "))
    } else {
        format!("[{}]", shown.join(" "))
    }
}

pub(super) fn infer<'a>(txns: &'a [Txn], g: &mut DepGraph<'a>) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut appender: HashMap<(&Value, &Value), usize, FxBuild> = HashMap::default();
    let mut last_append: HashMap<(&Value, usize), &Value, FxBuild> = HashMap::default();
    for t in txns {
        for m in &t.mops {
            if let Mop::Append { key, value } = m {
                if let Some(&prev) = appender.get(&(key, value)) {
                    anomalies.push(Anomaly {
                        kind: "duplicate-write".into(),
                        txns: vec![label(&txns[prev]), label(t)],
                        lines: vec![txns[prev].line, t.line],
                        explanation: vec![format!(
                            "T{prev} and T{} both append {value} to {kb}; appended values must be unique per key",
                            t.id, kb = key.bare())],
                    });
                    continue;
                }
                appender.insert((key, value), t.id);
                last_append.insert((key, t.id), value);
            }
        }
    }
    // Reads of committed transactions, per key.
    let mut reads: BTreeMap<&Value, Vec<(usize, &[Value])>> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.status == Status::Committed) {
        for m in &t.mops {
            if let Mop::Read {
                key,
                value: Some(v),
            } = m
            {
                let list: &[Value] = match v {
                    Value::List(l) => l,
                    _ => &[],
                };
                reads.entry(key).or_default().push((t.id, list));
            }
        }
    }
    let live = |t: usize| txns[t].status != Status::Aborted;
    for (key, rs) in &reads {
        let longest = rs
            .iter()
            .map(|r| r.1)
            .max_by_key(|l| l.len())
            .unwrap_or(&[]);
        // Version order sanity: no duplicates, every read a prefix of the longest.
        let mut seen: std::collections::HashSet<&Value, FxBuild> = Default::default();
        if let Some(d) = longest.iter().find(|v| !seen.insert(*v)) {
            let reader = rs.iter().find(|r| r.1 == longest).map(|r| r.0).unwrap_or(0);
            anomalies.push(Anomaly {
                kind: "duplicate-elements".into(),
                txns: vec![label(&txns[reader])],
                lines: vec![txns[reader].line],
                explanation: vec![format!(
                    "T{reader} read {kb}={} which contains {d} more than once",
                    tail(longest),
                    kb = key.bare()
                )],
            });
        }
        let prefix: Vec<bool> = rs
            .iter()
            .map(|r| longest.get(..r.1.len()) == Some(r.1))
            .collect();
        if let Some(&(bad, list)) = rs.iter().zip(&prefix).find(|(_, &p)| !p).map(|(r, _)| r) {
            let other = rs.iter().find(|r| r.1 == longest).map(|r| r.0).unwrap_or(0);
            anomalies.push(Anomaly {
                kind: "incompatible-order".into(),
                txns: vec![label(&txns[bad]), label(&txns[other])],
                lines: vec![txns[bad].line, txns[other].line],
                explanation: vec![format!(
                    "T{bad} read {kb}={} but T{other} read {kb}={}; one must be a prefix of the other",
                    Value::List(list.to_vec()),
                    Value::List(longest.to_vec()), kb = key.bare())],
            });
        }
        // Write-write edges along the version order.
        for w in longest.windows(2) {
            if let (Some(&a), Some(&b)) =
                (appender.get(&(*key, &w[0])), appender.get(&(*key, &w[1])))
            {
                if live(a) && live(b) {
                    let why = Why::Appended {
                        key,
                        prev: &w[0],
                        next: &w[1],
                    };
                    g.add(a, b, EdgeKind::Ww, why);
                }
            }
        }
        // Who appended each element of the longest read, looked up once per key: a read
        // that is a prefix of it (every read of a valid history) needs no lookups of its
        // own, only the elements with no live appender (usually none).
        let writers: Vec<Option<usize>> = longest
            .iter()
            .map(|v| appender.get(&(*key, v)).copied())
            .collect();
        let suspect: Vec<usize> = writers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.is_none_or(|w| txns[w].status == Status::Aborted))
            .map(|(i, _)| i)
            .collect();
        for (&(reader, list), &is_prefix) in rs.iter().zip(&prefix) {
            let checked: Box<dyn Iterator<Item = (&Value, Option<usize>)>> = if is_prefix {
                Box::new(
                    suspect
                        .iter()
                        .take_while(|&&i| i < list.len())
                        .map(|&i| (&longest[i], writers[i])),
                )
            } else {
                Box::new(list.iter().map(|v| (v, appender.get(&(*key, v)).copied())))
            };
            for (v, writer) in checked {
                match writer {
                    None => anomalies.push(Anomaly {
                        kind: "garbage-read".into(),
                        txns: vec![label(&txns[reader])],
                        lines: vec![txns[reader].line],
                        explanation: vec![format!(
                            "T{reader} read {kb}={} but no transaction appended {v}",
                            tail(list),
                            kb = key.bare()
                        )],
                    }),
                    Some(w) if txns[w].status == Status::Aborted => anomalies.push(Anomaly {
                        kind: "G1a".into(),
                        txns: vec![label(&txns[reader]), label(&txns[w])],
                        lines: vec![txns[reader].line, txns[w].line],
                        explanation: vec![format!(
                            "T{reader} read {kb}={}, including {v} appended by T{w}, which aborted",
                            tail(list),
                            kb = key.bare()
                        )],
                    }),
                    Some(_) => {}
                }
            }
            if let Some(last) = list.last() {
                let w = if is_prefix {
                    writers[list.len() - 1]
                } else {
                    appender.get(&(*key, last)).copied()
                };
                if let Some(w) = w {
                    if w != reader && last_append.get(&(*key, w)) != Some(&last) && live(w) {
                        anomalies.push(Anomaly {
                            kind: "G1b".into(),
                            txns: vec![label(&txns[reader]), label(&txns[w])],
                            lines: vec![txns[reader].line, txns[w].line],
                            explanation: vec![format!(
                                "T{reader} read {kb}={}, ending in {last}, an intermediate append of T{w} (its final append to {kb} was {})",
                                tail(list),
                                last_append.get(&(*key, w)).map(|v| v.to_string()).unwrap_or_default(), kb = key.bare())],
                        });
                    }
                    if live(w) {
                        let why = Why::ReadEnds { key, list, last };
                        g.add(w, reader, EdgeKind::Wr, why);
                    }
                }
            }
            if let Some(next) = longest.get(list.len()) {
                if is_prefix {
                    if let Some(w) = writers[list.len()] {
                        if live(w) {
                            let why = Why::ReadMissing { key, list, next };
                            g.add(reader, w, EdgeKind::Rw, why);
                        }
                    }
                }
            }
        }
    }
    anomalies
}
