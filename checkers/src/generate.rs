//! Deterministic generators of histories and traces, for property tests and benchmarks.
//!
//! Linearizable histories come from simulating clients against one sequential object: each
//! operation takes effect at a point between its invocation and completion, so the history
//! is linearizable by construction; some clients crash (`info`, effect applied or not) and
//! failed compare-and-sets are recorded as `fail`. Planted bugs are added after a quiescent
//! point with crashes disabled, which makes them definite violations (see `LinBug`).
//! Transaction histories execute atomically at such points (serializable by construction).
//! Traces keep per-destination delivery in global send order, so delivery is causal unless a
//! violation is planted. Randomness is a SplitMix64 stream from the seed: no OS entropy.

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// SplitMix64: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }
}

/// Which object the generated clients talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinModel {
    Register,
    CasRegister,
    Kv,
    Set,
    Queue,
}

/// A bug planted at the end of a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinBug {
    /// Write A, write B (both complete), then a read returns A. Sets: a completed add is
    /// missing from a later read. Queues: a value is dequeued twice.
    StaleRead,
    /// A write completes but never takes effect; a later read returns the old state.
    LostWrite,
    /// An append completes and takes effect twice (kv only; other models: a stale read).
    DuplicateAppend,
}

#[derive(Clone, Debug)]
pub struct LinSpec {
    pub model: LinModel,
    pub ops: usize,
    pub clients: usize,
    pub keys: usize,
    /// Percentage of operations whose client crashes (recorded as `info`).
    pub crash_percent: u32,
    pub seed: u64,
    pub bug: Option<LinBug>,
}

#[derive(Clone, Debug, Default)]
struct State {
    reg: BTreeMap<usize, serde_json::Value>,
    set: BTreeSet<i64>,
    queue: VecDeque<i64>,
}

enum Client {
    Idle,
    Invoked {
        f: String,
        key: usize,
        value: serde_json::Value,
    },
    Done {
        f: String,
        key: usize,
        value: serde_json::Value,
        fail: bool,
    },
}

struct Writer {
    lines: Vec<String>,
    model: LinModel,
}

impl Writer {
    fn emit(&mut self, process: usize, ty: &str, f: &str, key: usize, value: &serde_json::Value) {
        let line = if self.model == LinModel::Kv {
            json!({"process": process, "type": ty, "f": f, "key": key.to_string(), "value": value})
        } else {
            json!({"process": process, "type": ty, "f": f, "value": value})
        };
        self.lines.push(line.to_string());
    }
}

/// Applies an operation at its linearization point; returns (completion value, failed).
fn apply(
    model: LinModel,
    st: &mut State,
    f: &str,
    key: usize,
    value: &serde_json::Value,
) -> (serde_json::Value, bool) {
    let null = serde_json::Value::Null;
    match (model, f) {
        (LinModel::Set, "add") => {
            st.set.insert(value.as_i64().unwrap_or(0));
            (value.clone(), false)
        }
        (LinModel::Set, _) => (json!(st.set.iter().collect::<Vec<_>>()), false),
        (LinModel::Queue, "enqueue") => {
            st.queue.push_back(value.as_i64().unwrap_or(0));
            (value.clone(), false)
        }
        (LinModel::Queue, _) => (
            st.queue.pop_front().map(|v| json!(v)).unwrap_or(null),
            false,
        ),
        (_, "read") | (_, "get") => (st.reg.get(&key).cloned().unwrap_or(null), false),
        (_, "cas") => {
            let cur = st.reg.get(&key).cloned().unwrap_or(null);
            if cur == value[0] {
                st.reg.insert(key, value[1].clone());
                (value.clone(), false)
            } else {
                (value.clone(), true)
            }
        }
        (_, "append") => {
            let cur = st
                .reg
                .get(&key)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            st.reg
                .insert(key, json!(format!("{cur}{}", value.as_str().unwrap_or(""))));
            (value.clone(), false)
        }
        _ => {
            st.reg.insert(key, value.clone());
            (value.clone(), false)
        }
    }
}

/// Generates a history as native JSON lines.
pub fn lin_history(spec: &LinSpec) -> String {
    let mut rng = Rng::new(spec.seed);
    let clients = spec.clients.max(1);
    let keys = spec.keys.max(1);
    let mut st = State::default();
    let mut procs: Vec<usize> = (0..clients).collect();
    let mut cs: Vec<Client> = (0..clients).map(|_| Client::Idle).collect();
    let mut w = Writer {
        lines: Vec::new(),
        model: spec.model,
    };
    let mut invoked = 0;
    let mut fresh = 0i64;
    let mut busy = 0;
    while invoked < spec.ops || busy > 0 {
        let c = rng.below(clients);
        let p = procs[c];
        match std::mem::replace(&mut cs[c], Client::Idle) {
            Client::Idle if invoked < spec.ops => {
                invoked += 1;
                busy += 1;
                fresh += 1;
                let key = if spec.model == LinModel::Kv {
                    rng.below(keys)
                } else {
                    0
                };
                let r = rng.below(100);
                let (f, value) = match spec.model {
                    LinModel::Register => {
                        if r < 50 {
                            ("read", json!(null))
                        } else {
                            ("write", json!(rng.below(5)))
                        }
                    }
                    LinModel::CasRegister => match r {
                        0..=39 => ("read", json!(null)),
                        40..=69 => ("write", json!(rng.below(5))),
                        _ => ("cas", json!([rng.below(5), rng.below(5)])),
                    },
                    LinModel::Kv => match r {
                        0..=44 => ("get", json!(null)),
                        45..=59 => ("put", json!(format!("p{fresh} "))),
                        _ => ("append", json!(format!("x {p} {fresh} y"))),
                    },
                    LinModel::Set => {
                        if r < 60 {
                            ("add", json!(fresh))
                        } else {
                            ("read", json!(null))
                        }
                    }
                    LinModel::Queue => {
                        if r < 55 {
                            ("enqueue", json!(fresh))
                        } else {
                            ("dequeue", json!(null))
                        }
                    }
                };
                w.emit(p, "invoke", f, key, &value);
                cs[c] = Client::Invoked {
                    f: f.to_string(),
                    key,
                    value,
                };
            }
            Client::Idle => {}
            Client::Invoked { f, key, value } => {
                if rng.chance(spec.crash_percent) {
                    // Crash: the effect may or may not happen; the client returns under a new id.
                    if rng.chance(50) {
                        apply(spec.model, &mut st, &f, key, &value);
                    }
                    w.emit(p, "info", &f, key, &value);
                    procs[c] += clients;
                    busy -= 1;
                } else {
                    let (out, fail) = apply(spec.model, &mut st, &f, key, &value);
                    cs[c] = Client::Done {
                        f,
                        key,
                        value: out,
                        fail,
                    };
                }
            }
            Client::Done {
                f,
                key,
                value,
                fail,
            } => {
                w.emit(p, if fail { "fail" } else { "ok" }, &f, key, &value);
                busy -= 1;
            }
        }
    }
    if let Some(bug) = spec.bug {
        plant_lin_bug(spec.model, bug, &mut st, &mut w, procs[0], &mut fresh);
    }
    w.lines.join("\n") + "\n"
}

/// Runs `f` sequentially (invoke then complete) at quiescence.
fn seq(
    w: &mut Writer,
    p: usize,
    f: &str,
    key: usize,
    input: &serde_json::Value,
    out: &serde_json::Value,
) {
    w.emit(p, "invoke", f, key, input);
    w.emit(p, "ok", f, key, out);
}

fn plant_lin_bug(
    model: LinModel,
    bug: LinBug,
    st: &mut State,
    w: &mut Writer,
    p: usize,
    fresh: &mut i64,
) {
    let null = serde_json::Value::Null;
    let mut next = || {
        *fresh += 1;
        *fresh + 1_000_000
    };
    let (wf, rf) = match model {
        LinModel::Kv => ("put", "get"),
        _ => ("write", "read"),
    };
    match (model, bug) {
        (LinModel::Set, LinBug::LostWrite) | (LinModel::Set, _) => {
            let a = next();
            let before = json!(st.set.iter().collect::<Vec<_>>());
            seq(w, p, "add", 0, &json!(a), &json!(a));
            // Both bugs look the same on a set: the completed add is missing.
            seq(w, p, "read", 0, &null, &before);
        }
        (LinModel::Queue, _) => {
            let a = next();
            seq(w, p, "enqueue", 0, &json!(a), &json!(a));
            while let Some(v) = st.queue.pop_front() {
                seq(w, p, "dequeue", 0, &null, &json!(v));
            }
            seq(w, p, "dequeue", 0, &null, &json!(a));
            if bug == LinBug::LostWrite {
                seq(w, p, "enqueue", 0, &json!(next()), &null);
                seq(w, p, "dequeue", 0, &null, &null);
            } else {
                seq(w, p, "dequeue", 0, &null, &json!(a));
            }
        }
        (LinModel::Kv, LinBug::DuplicateAppend) => {
            let a = format!("x {p} {} y", next());
            let cur = st
                .reg
                .get(&0)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            seq(w, p, "append", 0, &json!(a), &json!(a));
            seq(w, p, "get", 0, &null, &json!(format!("{cur}{a}{a}")));
        }
        (_, LinBug::LostWrite) => {
            let before = st.reg.get(&0).cloned().unwrap_or(null.clone());
            let a = json!(next());
            seq(w, p, wf, 0, &a, &a);
            seq(w, p, rf, 0, &null, &before);
        }
        (_, _) => {
            let (a, b) = (json!(next()), json!(next()));
            seq(w, p, wf, 0, &a, &a);
            seq(w, p, wf, 0, &b, &b);
            seq(w, p, rf, 0, &null, &a);
        }
    }
}

/// A key-value history where one key is beyond any exhaustive search and others hold
/// definite violations: the case where checking keys one at a time in key order gives up
/// on the hard key before it reaches the violations.
#[derive(Clone, Debug)]
pub struct HardKeySpec {
    /// Operations of the ordinary (linearizable) part, over keys `1..keys`.
    pub ops: usize,
    pub clients: usize,
    /// Keys in all, the hard key "0" included.
    pub keys: usize,
    /// Indeterminate puts of distinct values on key "0", all concurrent with a final read
    /// of a value none of them wrote: deciding it means trying every subset of them.
    pub hard_puts: usize,
    /// Keys `1..=violations` end with a stale read (put A, put B, get A, in sequence).
    pub violations: usize,
    pub seed: u64,
}

/// Generates a [`HardKeySpec`] history as native JSON lines.
pub fn hard_key_history(spec: &HardKeySpec) -> String {
    let keys = spec.keys.max(2);
    let clients = spec.clients.max(1);
    let base = lin_history(&LinSpec {
        model: LinModel::Kv,
        ops: spec.ops,
        clients,
        keys: keys - 1,
        crash_percent: 0,
        seed: spec.seed,
        bug: None,
    });
    let mut lines = Vec::new();
    // Processes above every client's: the hard puts, each crashing (never completing).
    let hard_proc = |i: usize| clients * 1000 + i;
    for i in 0..spec.hard_puts {
        lines.push(json!({"process": hard_proc(i), "type": "invoke", "f": "put", "key": "0", "value": format!("h{i}")}).to_string());
    }
    for line in base.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("generated JSON");
        let k: usize = v["key"].as_str().and_then(|k| k.parse().ok()).unwrap_or(0);
        v["key"] = json!((k + 1).to_string());
        lines.push(v.to_string());
    }
    let p = 0;
    for k in 1..=spec.violations.min(keys - 1) {
        let key = k.to_string();
        for (ty, f, value) in [
            ("invoke", "put", json!(format!("stale-a{k}"))),
            ("ok", "put", json!(format!("stale-a{k}"))),
            ("invoke", "put", json!(format!("stale-b{k}"))),
            ("ok", "put", json!(format!("stale-b{k}"))),
            ("invoke", "get", json!(null)),
            ("ok", "get", json!(format!("stale-a{k}"))),
        ] {
            lines.push(
                json!({"process": p, "type": ty, "f": f, "key": key, "value": value}).to_string(),
            );
        }
    }
    let reader = hard_proc(spec.hard_puts);
    lines.push(
        json!({"process": reader, "type": "invoke", "f": "get", "key": "0", "value": null})
            .to_string(),
    );
    lines.push(
        json!({"process": reader, "type": "ok", "f": "get", "key": "0", "value": "never-written"})
            .to_string(),
    );
    for i in 0..spec.hard_puts {
        lines.push(json!({"process": hard_proc(i), "type": "info", "f": "put", "key": "0", "value": format!("h{i}")}).to_string());
    }
    lines.join("\n") + "\n"
}

/// A cycle planted at the end of a generated transaction history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnBug {
    G0,
    G1c,
    G2,
}

#[derive(Clone, Debug)]
pub struct TxnSpec {
    pub txns: usize,
    pub clients: usize,
    pub keys: usize,
    /// Micro-ops per transaction: 1..=max_mops.
    pub max_mops: usize,
    pub crash_percent: u32,
    pub fail_percent: u32,
    pub seed: u64,
    pub bug: Option<TxnBug>,
}

/// A client's transaction: micro-ops (is_read, key, value) and its result once applied.
type PendingTxn = (Vec<(bool, usize, i64)>, Option<serde_json::Value>);

/// Generates a list-append history as native JSON lines.
pub fn list_append_history(spec: &TxnSpec) -> String {
    let mut rng = Rng::new(spec.seed);
    let clients = spec.clients.max(1);
    let keys = spec.keys.max(2);
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); keys];
    let mut next_val = vec![0i64; keys];
    let mut procs: Vec<usize> = (0..clients).collect();
    // Client: None idle, Some((mops, applied-result or None if not yet applied)).
    let mut cs: Vec<Option<PendingTxn>> = vec![None; clients];
    let mut lines = Vec::with_capacity(spec.txns * 2);
    let mut invoked = 0;
    let mut busy = 0;
    let exec = |lists: &mut Vec<Vec<i64>>, mops: &[(bool, usize, i64)]| -> serde_json::Value {
        let out: Vec<serde_json::Value> = mops
            .iter()
            .map(|&(is_read, k, v)| {
                if is_read {
                    json!(["r", k, lists[k]])
                } else {
                    lists[k].push(v);
                    json!(["append", k, v])
                }
            })
            .collect();
        json!(out)
    };
    let invoke_value = |mops: &[(bool, usize, i64)]| -> serde_json::Value {
        json!(mops
            .iter()
            .map(|&(r, k, v)| if r {
                json!(["r", k, null])
            } else {
                json!(["append", k, v])
            })
            .collect::<Vec<_>>())
    };
    while invoked < spec.txns || busy > 0 {
        let c = rng.below(clients);
        let p = procs[c];
        match cs[c].take() {
            None if invoked < spec.txns => {
                invoked += 1;
                busy += 1;
                let n = 1 + rng.below(spec.max_mops.max(1));
                let mops: Vec<(bool, usize, i64)> = (0..n)
                    .map(|_| {
                        let k = rng.below(keys);
                        if rng.chance(50) {
                            (true, k, 0)
                        } else {
                            next_val[k] += 1;
                            (false, k, next_val[k])
                        }
                    })
                    .collect();
                lines.push(json!({"process": p, "type": "invoke", "f": "txn", "value": invoke_value(&mops)}).to_string());
                cs[c] = Some((mops, None));
            }
            None => {}
            Some((mops, None)) => {
                if rng.chance(spec.crash_percent) {
                    if rng.chance(50) {
                        exec(&mut lists, &mops);
                    }
                    lines.push(json!({"process": p, "type": "info", "f": "txn", "value": invoke_value(&mops)}).to_string());
                    procs[c] += clients;
                    busy -= 1;
                } else if rng.chance(spec.fail_percent) {
                    lines.push(json!({"process": p, "type": "fail", "f": "txn", "value": invoke_value(&mops)}).to_string());
                    busy -= 1;
                } else {
                    let out = exec(&mut lists, &mops);
                    cs[c] = Some((mops, Some(out)));
                }
            }
            Some((_, Some(out))) => {
                lines.push(
                    json!({"process": p, "type": "ok", "f": "txn", "value": out}).to_string(),
                );
                busy -= 1;
            }
        }
    }
    if let Some(bug) = spec.bug {
        let (x, y) = (0usize, 1usize);
        let (p1, p2, p3) = (
            procs[0],
            procs[1 % clients] + clients * 1000,
            procs[0] + clients * 2000,
        );
        let mut val = |k: usize| {
            next_val[k] += 1;
            next_val[k]
        };
        let (a, b, a2, b2) = (val(x), val(y), val(x), val(y));
        let inv = |p: usize, v: serde_json::Value| {
            json!({"process": p, "type": "invoke", "f": "txn", "value": v}).to_string()
        };
        let ok = |p: usize, v: serde_json::Value| {
            json!({"process": p, "type": "ok", "f": "txn", "value": v}).to_string()
        };
        let (t1, t2) = match bug {
            TxnBug::G0 => {
                // x: T1 then T2; y: T2 then T1.
                lists[x].push(a);
                lists[x].push(a2);
                lists[y].push(b2);
                lists[y].push(b);
                (
                    json!([["append", x, a], ["append", y, b]]),
                    json!([["append", x, a2], ["append", y, b2]]),
                )
            }
            TxnBug::G1c => {
                let (lx, ly) = (lists[x].clone(), lists[y].clone());
                lists[x].push(a);
                lists[y].push(b);
                let mut ly1 = ly.clone();
                ly1.push(b);
                let mut lx2 = lx.clone();
                lx2.push(a);
                (
                    json!([["append", x, a], ["r", y, ly1]]),
                    json!([["append", y, b], ["r", x, lx2]]),
                )
            }
            TxnBug::G2 => {
                let (lx, ly) = (lists[x].clone(), lists[y].clone());
                lists[x].push(a);
                lists[y].push(b);
                (
                    json!([["r", x, lx], ["r", y, ly], ["append", x, a]]),
                    json!([["r", x, lx], ["r", y, ly], ["append", y, b]]),
                )
            }
        };
        let strip = |v: &serde_json::Value| -> serde_json::Value {
            json!(v
                .as_array()
                .unwrap_or(&Vec::new())
                .iter()
                .map(|m| if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    m.clone()
                })
                .collect::<Vec<_>>())
        };
        lines.push(inv(p1, strip(&t1)));
        lines.push(inv(p2, strip(&t2)));
        lines.push(ok(p1, t1));
        lines.push(ok(p2, t2));
        lines.push(inv(p3, json!([["r", x, null], ["r", y, null]])));
        lines.push(ok(p3, json!([["r", x, lists[x]], ["r", y, lists[y]]])));
    }
    lines.join("\n") + "\n"
}

#[derive(Clone, Debug)]
pub struct TraceSpec {
    pub events: usize,
    pub hosts: usize,
    pub seed: u64,
    /// Plant a causal-delivery violation at the end.
    pub causal_violation: bool,
}

/// Generates a trace as JSON lines with array clocks and a `nodes` header.
pub fn trace(spec: &TraceSpec) -> String {
    let mut rng = Rng::new(spec.seed);
    let h = spec.hosts.max(3);
    let mut clocks: Vec<Vec<u64>> = vec![vec![0; h]; h];
    // Per destination, in global send order: (msg id, send clock).
    let mut inflight: Vec<VecDeque<(u64, Vec<u64>)>> = vec![VecDeque::new(); h];
    let mut out = String::with_capacity(spec.events * (24 + 4 * h));
    let names: Vec<String> = (0..h).map(|i| format!("n{i}")).collect();
    out.push_str(&json!({ "nodes": names }).to_string());
    out.push('\n');
    let mut msg = 0u64;
    let line = |out: &mut String, node: usize, c: &[u64], kind: &str, m: Option<u64>| {
        use std::fmt::Write;
        let _ = write!(out, "{{\"node\":{node},\"vc\":[");
        for (i, v) in c.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{v}");
        }
        let _ = write!(out, "],\"kind\":\"{kind}\"");
        if let Some(m) = m {
            let _ = write!(out, ",\"msg\":{m}");
        }
        out.push_str("}\n");
    };
    for _ in 0..spec.events {
        let n = rng.below(h);
        let r = rng.below(100);
        if r < 45 && !inflight[n].is_empty() {
            let (m, sc) = inflight[n].pop_front().expect("checked non-empty");
            for k in 0..h {
                clocks[n][k] = clocks[n][k].max(sc[k]);
            }
            clocks[n][n] += 1;
            line(&mut out, n, &clocks[n], "deliver", Some(m));
        } else if r < 85 {
            clocks[n][n] += 1;
            let mut to = rng.below(h - 1);
            if to >= n {
                to += 1;
            }
            msg += 1;
            inflight[to].push_back((msg, clocks[n].clone()));
            line(&mut out, n, &clocks[n], "send", Some(msg));
        } else {
            clocks[n][n] += 1;
            line(&mut out, n, &clocks[n], "local", None);
        }
    }
    if spec.causal_violation {
        // n0 sends m1 then m2 to n2, which delivers m2 first.
        let mut sent = Vec::new();
        for _ in 0..2 {
            clocks[0][0] += 1;
            msg += 1;
            sent.push((msg, clocks[0].clone()));
            line(&mut out, 0, &clocks[0], "send", Some(msg));
        }
        for (m, sc) in sent.into_iter().rev() {
            for k in 0..h {
                clocks[2][k] = clocks[2][k].max(sc[k]);
            }
            clocks[2][2] += 1;
            line(&mut out, 2, &clocks[2], "deliver", Some(m));
        }
    }
    out
}
