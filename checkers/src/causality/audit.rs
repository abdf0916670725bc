//! Conflict audit for replicated data: did the system order writes the way causality allows?
//!
//! Input, JSON lines: writes `{"write":"w1","key":"x","vc":{..},"vv":{..}}`, where `vc` is
//! the write's vector clock in the trace (what really happened) and `vv` the version vector
//! the system assigned, and optionally the survivors of each key after conflict resolution,
//! `{"survivors":["w2","w3"],"key":"x"}`. Reported: writes the system ordered although the
//! trace says they were concurrent (one silently supersedes the other), writes ordered
//! against causality, and lost updates: a write absent from its key's survivors that no
//! surviving write causally follows. Deliberately not modelled: CRDT merge semantics (a
//! merged value counts as survival of every write it lists).

use crate::error::InputError;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct AuditWrite {
    pub id: String,
    pub key: String,
    pub line: usize,
    pub vc: BTreeMap<String, u64>,
    pub vv: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditInput {
    pub writes: Vec<AuditWrite>,
    /// Key -> ids of surviving writes (keys without a line are not judged for lost updates).
    pub survivors: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Conflict {
    /// ordered-concurrent, inverted-order or lost-update.
    pub kind: &'static str,
    pub key: String,
    pub writes: Vec<String>,
    pub message: String,
}

/// Partial order of two vector clocks (or version vectors, whatever names their entries);
/// `None` when concurrent.
pub fn compare<K: Ord>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> Option<Ordering> {
    let (mut le, mut ge) = (true, true);
    for k in a.keys().chain(b.keys()) {
        let (x, y) = (
            a.get(k).copied().unwrap_or(0),
            b.get(k).copied().unwrap_or(0),
        );
        le &= x <= y;
        ge &= x >= y;
    }
    match (le, ge) {
        (true, true) => Some(Ordering::Equal),
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        (false, false) => None,
    }
}

fn clock(v: Option<&serde_json::Value>, what: &str) -> Result<BTreeMap<String, u64>, String> {
    let Some(serde_json::Value::Object(o)) = v else {
        return Err(format!("expected `{what}`: an object host->counter"));
    };
    o.iter()
        .map(|(k, v)| {
            v.as_u64().map(|n| (k.clone(), n)).ok_or_else(|| {
                format!("expected a non-negative integer for `{what}.{k}`, found {v}")
            })
        })
        .collect()
}

fn text(v: Option<&serde_json::Value>, what: &str) -> Result<String, String> {
    match v {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!("expected `{what}` as a string or number")),
    }
}

pub fn parse_audit(source: &str, input: &str) -> Result<AuditInput, InputError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut out = AuditInput::default();
    for (i, line) in input.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let err = |m: String| InputError::new(source, lineno, m);
        let v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| err(format!("expected a JSON object: {e}")))?;
        if v.get("write").is_some() {
            out.writes.push(AuditWrite {
                id: text(v.get("write"), "write").map_err(err)?,
                key: text(v.get("key"), "key").map_err(err)?,
                line: lineno,
                vc: clock(v.get("vc"), "vc").map_err(err)?,
                vv: clock(v.get("vv"), "vv").map_err(err)?,
            });
        } else if let Some(s) = v.get("survivors") {
            let key = text(v.get("key"), "key").map_err(err)?;
            let Some(ids) = s.as_array() else {
                return Err(err("expected `survivors` as a list of write ids".into()));
            };
            let ids = ids
                .iter()
                .map(|x| text(Some(x), "survivors[]"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            out.survivors.entry(key).or_default().extend(ids);
        } else {
            return Err(err("expected a `write` line or a `survivors` line".into()));
        }
    }
    if out.writes.is_empty() {
        return Err(InputError::new(
            source,
            0,
            "expected at least one `write` line",
        ));
    }
    Ok(out)
}

/// Runs the audit; conflicts come out ordered by key, then by write order in the input.
pub fn audit(input: &AuditInput) -> Vec<Conflict> {
    let mut by_key: BTreeMap<&str, Vec<&AuditWrite>> = BTreeMap::new();
    for w in &input.writes {
        by_key.entry(&w.key).or_default().push(w);
    }
    let mut out = Vec::new();
    for (key, ws) in by_key {
        for (i, a) in ws.iter().enumerate() {
            for b in &ws[i + 1..] {
                let trace = compare(&a.vc, &b.vc);
                let system = compare(&a.vv, &b.vv);
                match (trace, system) {
                    (None, Some(o)) if o != Ordering::Equal => {
                        let (first, second) = if o == Ordering::Less { (a, b) } else { (b, a) };
                        out.push(Conflict {
                            kind: "ordered-concurrent",
                            key: key.to_string(),
                            writes: vec![first.id.clone(), second.id.clone()],
                            message: format!(
                                "the system ordered {} before {} on {key}, but the trace says they were concurrent: {} silently supersedes {}",
                                first.id, second.id, second.id, first.id
                            ),
                        });
                    }
                    (Some(t), Some(s))
                        if t != Ordering::Equal && s != Ordering::Equal && t != s =>
                    {
                        out.push(Conflict {
                            kind: "inverted-order",
                            key: key.to_string(),
                            writes: vec![a.id.clone(), b.id.clone()],
                            message: format!(
                                "{} happened {} {} on {key}, but the system ordered it {}",
                                a.id,
                                if t == Ordering::Less {
                                    "before"
                                } else {
                                    "after"
                                },
                                b.id,
                                if s == Ordering::Less {
                                    "before"
                                } else {
                                    "after"
                                }
                            ),
                        });
                    }
                    _ => {}
                }
            }
        }
        let Some(survivors) = input.survivors.get(key) else {
            continue;
        };
        let live: Vec<&&AuditWrite> = ws.iter().filter(|w| survivors.contains(&w.id)).collect();
        for w in ws.iter().filter(|w| !survivors.contains(&w.id)) {
            let overwritten = live
                .iter()
                .any(|s| matches!(compare(&w.vc, &s.vc), Some(Ordering::Less)));
            if !overwritten {
                let names: Vec<&str> = live.iter().map(|s| s.id.as_str()).collect();
                out.push(Conflict {
                    kind: "lost-update",
                    key: key.to_string(),
                    writes: vec![w.id.clone()],
                    message: format!(
                        "{} (line {}) was dropped from {key}, but no surviving write ({}) causally follows it: a concurrent update was silently lost",
                        w.id,
                        w.line,
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                });
            }
        }
    }
    out
}
