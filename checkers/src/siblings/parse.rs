//! Reading a sibling-store history: native JSON lines, strictly.
//!
//! Every non-blank line is one JSON object. A line whose `process` is a string (a nemesis)
//! is not a client operation and is skipped; every other line must carry `process`
//! (integer), `type` (invoke, ok, fail, info) and `f` (put or write, delete, read), and an
//! invocation its `key`. A put's invocation carries the written `value`; a read's `ok`
//! carries the sibling values as a list (`[]` or `null`: nothing). `supersedes` (a list of
//! values, on a write's invocation as a client context or on its completion as the
//! store's report) and `final` (`true` on a read issued after the system quiesced) are optional.
//! Other fields are ignored, so recorders may add their own. `time` is either on every
//! client line or on none: events are ordered by time (ties by line), else by line.
//!
//! Anything else is an error naming the line: a truncated or malformed line, a missing
//! field, an unknown operation, a completion without an invocation or for another
//! operation. Nothing is skipped silently, because a skipped write turns reads of it into
//! phantoms and a skipped read hides a violation.

use std::collections::BTreeMap;

use crate::error::InputError;
use crate::value::Value;

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Delete,
    Read,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Delete => "delete",
            OpKind::Read => "read",
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Certainly did not take effect.
    Fail,
    /// `info`, or never completed: may take effect at any time after its invocation.
    Unknown,
}

/// One operation, its invocation paired with its completion.
#[derive(Clone, Debug)]
pub struct Op {
    pub process: i64,
    pub kind: OpKind,
    pub key: Value,
    /// A put's value (`Nil` otherwise).
    pub value: Value,
    /// A read's siblings, when it completed `ok`.
    pub result: Vec<Value>,
    /// What the write superseded, when the history says (context or report); `None`:
    /// not stated, so it may have superseded anything taken before it.
    pub supersedes: Option<Vec<Value>>,
    /// A read issued after the system quiesced.
    pub is_final: bool,
    pub outcome: Outcome,
    /// Positions in event order (time, then line); `complete` is `None` when the operation
    /// never completed or completed `info` (it may take effect at any later time).
    pub invoke: usize,
    pub complete: Option<usize>,
    /// Time of the invocation, when the history has times.
    pub invoke_time: Option<u64>,
    pub line: usize,
    pub ret_line: Option<usize>,
}

/// A parsed history.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub ops: Vec<Op>,
    pub has_time: bool,
}

struct Line {
    lineno: usize,
    process: i64,
    kind: String,
    f: OpKind,
    key: Option<Value>,
    value: Option<serde_json::Value>,
    supersedes: Option<Vec<Value>>,
    is_final: bool,
    time: Option<u64>,
}

fn err(source: &str, line: usize, msg: impl Into<String>) -> InputError {
    InputError::new(source, line, msg)
}

fn read_line(source: &str, lineno: usize, t: &str) -> Result<Option<Line>, InputError> {
    let json: serde_json::Value = serde_json::from_str(t).map_err(|e| {
        let cut = if e.is_eof() {
            " (the line ends early: truncated?)"
        } else {
            ""
        };
        err(
            source,
            lineno,
            format!("expected one JSON object per line{cut}: {e}"),
        )
    })?;
    let serde_json::Value::Object(o) = json else {
        return Err(err(
            source,
            lineno,
            "expected a JSON object `{\"process\":...,\"type\":...,\"f\":...,\"key\":...}`",
        ));
    };
    let process = match o.get("process") {
        None => return Err(err(source, lineno, "expected a `process` field")),
        Some(serde_json::Value::String(_)) => return Ok(None), // a nemesis, not a client
        Some(p) => p.as_i64().ok_or_else(|| {
            err(
                source,
                lineno,
                format!(
                    "expected `process` to be an integer (or a string for a nemesis), found {p}"
                ),
            )
        })?,
    };
    let kind = match o.get("type").and_then(|t| t.as_str()) {
        Some(k @ ("invoke" | "ok" | "fail" | "info")) => k.to_string(),
        Some(k) => {
            return Err(err(
                source,
                lineno,
                format!("expected `type` invoke, ok, fail or info, found `{k}`"),
            ))
        }
        None => {
            return Err(err(
                source,
                lineno,
                "expected a `type` field: invoke, ok, fail or info",
            ))
        }
    };
    let f = match o.get("f") {
        None => {
            return Err(err(
                source,
                lineno,
                "expected an `f` field: put, delete or read",
            ))
        }
        Some(f) => match f.as_str() {
            Some("put" | "write") => OpKind::Put,
            Some("delete") => OpKind::Delete,
            Some("read") => OpKind::Read,
            _ => {
                return Err(err(
                    source,
                    lineno,
                    format!("unknown operation {f}: expected put (or write), delete or read"),
                ))
            }
        },
    };
    let key = match o.get("key") {
        None | Some(serde_json::Value::Null) => None,
        Some(k) => Some(Value::from_json(k)),
    };
    let supersedes = match o.get("supersedes") {
        None => None,
        Some(serde_json::Value::Array(a)) if f != OpKind::Read => {
            Some(a.iter().map(Value::from_json).collect())
        }
        Some(serde_json::Value::Array(_)) => {
            return Err(err(
                source,
                lineno,
                "`supersedes` belongs to a put or a delete, not a read",
            ))
        }
        Some(other) => {
            return Err(err(
                source,
                lineno,
                format!("expected `supersedes` to be a list of values, found {other}"),
            ))
        }
    };
    let is_final = match o.get("final") {
        None | Some(serde_json::Value::Bool(false)) => false,
        Some(serde_json::Value::Bool(true)) if f == OpKind::Read => true,
        Some(serde_json::Value::Bool(true)) => {
            return Err(err(source, lineno, "`final` marks a read, not a write"))
        }
        Some(other) => {
            return Err(err(
                source,
                lineno,
                format!("expected `final` to be true or false, found {other}"),
            ))
        }
    };
    let time = match o.get("time") {
        None => None,
        Some(t) => Some(t.as_u64().ok_or_else(|| {
            err(
                source,
                lineno,
                format!("expected `time` to be a non-negative integer, found {t}"),
            )
        })?),
    };
    Ok(Some(Line {
        lineno,
        process,
        kind,
        f,
        key,
        value: o.get("value").cloned(),
        supersedes,
        is_final,
        time,
    }))
}

/// Parses a history; `source` names it in errors.
pub fn parse(source: &str, text: &str) -> Result<Parsed, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(l) = read_line(source, i + 1, t)? {
            lines.push(l);
        }
    }
    // Times on every client line or on none: a mix has no order to trust.
    let timed = lines.iter().filter(|l| l.time.is_some()).count();
    if timed != 0 && timed != lines.len() {
        let (with, without) = (
            lines.iter().find(|l| l.time.is_some()).map(|l| l.lineno),
            lines.iter().find(|l| l.time.is_none()).map(|l| l.lineno),
        );
        return Err(err(
            source,
            without.unwrap_or(0),
            format!(
                "expected a `time` field (line {} has one; times go on every line or on none)",
                with.unwrap_or(0)
            ),
        ));
    }
    let has_time = timed > 0 && !lines.is_empty();
    if has_time {
        lines.sort_by_key(|l| (l.time, l.lineno));
    }
    let mut ops: Vec<Op> = Vec::new();
    let mut open: BTreeMap<i64, usize> = BTreeMap::new();
    for (pos, l) in lines.into_iter().enumerate() {
        let lineno = l.lineno;
        if l.kind == "invoke" {
            if let Some(&prev) = open.get(&l.process) {
                return Err(err(
                    source,
                    lineno,
                    format!(
                        "expected a completion for process {} (its invocation at line {} is still open) before it invokes again",
                        l.process, ops[prev].line
                    ),
                ));
            }
            let Some(key) = l.key else {
                return Err(err(
                    source,
                    lineno,
                    "expected a `key` field on the invocation",
                ));
            };
            let value = match (l.f, l.value) {
                (OpKind::Put, None | Some(serde_json::Value::Null)) => {
                    return Err(err(
                        source,
                        lineno,
                        "expected the written `value` on a put's invocation",
                    ))
                }
                (OpKind::Put, Some(v)) => Value::from_json(&v),
                _ => Value::Nil,
            };
            open.insert(l.process, ops.len());
            ops.push(Op {
                process: l.process,
                kind: l.f,
                key,
                value,
                result: Vec::new(),
                supersedes: l.supersedes,
                is_final: l.is_final,
                outcome: Outcome::Unknown,
                invoke: pos,
                complete: None,
                invoke_time: l.time,
                line: lineno,
                ret_line: None,
            });
            continue;
        }
        let Some(i) = open.remove(&l.process) else {
            return Err(err(
                source,
                lineno,
                format!(
                    "expected an open invocation for process {} before this completion",
                    l.process
                ),
            ));
        };
        let op = &mut ops[i];
        if op.kind != l.f {
            return Err(err(
                source,
                lineno,
                format!(
                    "expected the completion of the {} invoked at line {}, found a {}",
                    op.kind.name(),
                    op.line,
                    l.f.name()
                ),
            ));
        }
        if let Some(k) = &l.key {
            if *k != op.key {
                return Err(err(
                    source,
                    lineno,
                    format!(
                        "expected key {} (invoked at line {}), found {}",
                        op.key, op.line, k
                    ),
                ));
            }
        }
        op.ret_line = Some(lineno);
        op.is_final |= l.is_final;
        // What a write superseded, if it took effect: on an `info` too (the store may say
        // what it replaced even when it cannot say whether the write will last).
        if let Some(sup) = l.supersedes {
            op.supersedes.get_or_insert_with(Vec::new).extend(sup);
        }
        match l.kind.as_str() {
            "ok" => {
                op.outcome = Outcome::Ok;
                op.complete = Some(pos);
                if op.kind == OpKind::Read {
                    op.result = match l.value {
                        None => return Err(err(
                            source,
                            lineno,
                            "expected the read's sibling values as `value` (a list; [] for none)",
                        )),
                        Some(serde_json::Value::Null) => Vec::new(),
                        Some(serde_json::Value::Array(a)) => {
                            a.iter().map(Value::from_json).collect()
                        }
                        Some(other) => {
                            return Err(err(
                                source,
                                lineno,
                                format!(
                                    "expected the read's sibling values as a list, found {other}"
                                ),
                            ))
                        }
                    };
                }
            }
            "fail" => op.outcome = Outcome::Fail,
            _ => op.outcome = Outcome::Unknown,
        }
    }
    Ok(Parsed { ops, has_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> (usize, String) {
        let e = parse("h", text).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn pairs_operations_and_reads_their_fields() {
        let p = parse(
            "h",
            "\u{feff}{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\",\"value\":5,\"time\":1}\n\
             {\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"partition\"}\n\
             {\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"value\":5,\"supersedes\":[3],\"time\":2}\n\
             \n\
             {\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"final\":true,\"time\":3}\n\
             {\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"value\":[5,6],\"time\":4}\n",
        )
        .unwrap();
        assert_eq!(p.ops.len(), 2);
        assert_eq!(p.ops[0].supersedes, Some(vec![Value::Int(3)]));
        assert_eq!(p.ops[0].outcome, Outcome::Ok);
        assert!(p.ops[1].is_final);
        assert_eq!(p.ops[1].result, vec![Value::Int(5), Value::Int(6)]);
        assert!(parse("h", "").unwrap().ops.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_line() {
        let put = "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\",\"value\":5}";
        let (line, m) = msg(&format!(
            "{put}\n{{\"process\":1,\"type\":\"ok\",\"f\":\"pu"
        ));
        assert_eq!(line, 2);
        assert!(m.contains("truncated"), "{m}");
        let (line, m) = msg("{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\"}");
        assert_eq!(line, 1);
        assert!(m.contains("unknown operation"), "{m}");
        let (_, m) = msg("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}");
        assert!(m.contains("`key`"), "{m}");
        let (_, m) = msg("{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\"}");
        assert!(m.contains("`value`"), "{m}");
        let (line, m) = msg(
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\"}",
        );
        assert_eq!(line, 2);
        assert!(m.contains("sibling values"), "{m}");
        let (line, m) = msg(&format!(
            "{put}\n{{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"time\":3}}"
        ));
        assert_eq!(line, 1);
        assert!(m.contains("`time`"), "{m}");
        let (_, m) = msg("{\"type\":\"ok\",\"f\":\"read\"}");
        assert!(m.contains("`process`"), "{m}");
        let (line, _) = msg(&format!("{put}\n{put}"));
        assert_eq!(line, 2);
    }
}
