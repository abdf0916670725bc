//! Elle-style serializability checking of transaction histories.
//!
//! Each operation's value is a list of micro-operations, `[["r","x",[1,2]],["append","x",3]]`
//! for list-append or `[["r","x",1],["w","x",2]]` for read-write registers. From what the
//! transactions observed we infer a dependency graph (write-write, write-read and read-write
//! edges; optionally process order and real-time order), find its strongly connected
//! components, and classify one cycle per component as G0, G1c, G-single or G2 (with a
//! `-process` / `-realtime` suffix when the cycle needs those edges), plus the non-cycle
//! anomalies G1a (aborted read) and G1b (intermediate read). Every report explains its
//! edges in words. Assumed, as in Elle: every appended or written value is unique per key
//! (duplicates are reported, not inferred from), and the initial state of every key is
//! empty / nil. Deliberately not checked: internal consistency within one transaction,
//! predicate reads, and weaker-than-serializable models beyond naming the anomaly classes.

mod bank;
mod graph;
mod list_append;
mod rw_register;

use crate::error::InputError;
use crate::history::compact::CompactHistory;
use crate::history::{pair_stream, short, Ended, Operation, Operations};
use crate::value::Value;
use serde::Serialize;
use std::time::Instant;

pub use graph::{DepGraph, EdgeKind};

/// Which kind of transactions the history holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    ListAppend,
    RwRegister,
    /// Transfers (`add` micro-ops) and audits (reads of balances); see `bank`.
    Bank,
}

impl Workload {
    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "list-append" | "append" => Some(Workload::ListAppend),
            "rw-register" | "register" => Some(Workload::RwRegister),
            "bank" => Some(Workload::Bank),
            _ => None,
        }
    }
}

/// Checking options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Add edges between consecutive transactions of one process.
    pub process_edges: bool,
    /// Add edges from every transaction to those invoked after it completed.
    pub realtime_edges: bool,
}

/// A micro-operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Mop {
    /// A read with its observed value (`None` when the transaction's outcome is unknown).
    Read {
        key: Value,
        value: Option<Value>,
    },
    Append {
        key: Value,
        value: Value,
    },
    Write {
        key: Value,
        value: Value,
    },
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Committed,
    Indeterminate,
    Aborted,
}

/// A transaction of the history.
#[derive(Clone, Debug)]
pub struct Txn {
    /// `T<id>`: position in invocation order, counting every transaction.
    pub id: usize,
    pub process: i64,
    pub status: Status,
    pub mops: Vec<Mop>,
    pub line: usize,
    pub call: usize,
    pub ret: Option<usize>,
}

impl Txn {
    pub fn name(&self) -> String {
        format!("T{}", self.id)
    }
}

/// One anomaly, explained.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Anomaly {
    /// G0, G1a, G1b, G1c, G-single, G2 (cycles may carry -process / -realtime), or an
    /// input-assumption problem: incompatible-order, garbage-read, duplicate-write.
    pub kind: String,
    /// Transactions involved, as `T<id> (process P, line L)`.
    pub txns: Vec<String>,
    /// The history line of each transaction in `txns`, in the same order.
    pub lines: Vec<usize>,
    /// Why, in words: for a cycle, one sentence per edge.
    pub explanation: Vec<String>,
}

/// Which workload a transaction belongs to, by its micro-ops: `append` is list-append,
/// `add` is bank, `w` is rw-register; a transaction of reads only goes by what its reads
/// returned (lists: list-append; integers: bank) or, unread, by its keys' other uses.
fn classify(op: &Operation, bank_keys: &std::collections::BTreeSet<Value>) -> Option<Workload> {
    let value = op
        .output
        .as_ref()
        .filter(|v| !v.is_nil())
        .unwrap_or(&op.input);
    let mops = value.as_list()?;
    let mut reads_only = true;
    let mut seen = None;
    for m in mops {
        let l = m.as_list()?;
        match l.first().and_then(Value::as_name) {
            Some("append") => return Some(Workload::ListAppend),
            Some("add") => return Some(Workload::Bank),
            Some("w") | Some("write") => return Some(Workload::RwRegister),
            Some("r") | Some("read") => {
                match l.get(2) {
                    Some(Value::List(_)) => seen = Some(Workload::ListAppend),
                    Some(Value::Int(_)) if seen.is_none() => seen = Some(Workload::Bank),
                    _ => {}
                }
                if !l.get(1).is_some_and(|k| bank_keys.contains(k)) {
                    reads_only = false;
                }
            }
            _ => return None,
        }
    }
    match seen {
        Some(w) => Some(w),
        None if reads_only && !mops.is_empty() => Some(Workload::Bank),
        None => Some(Workload::ListAppend),
    }
}

/// The result of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub verdict: &'static str,
    pub anomalies: Vec<Anomaly>,
    pub txns: usize,
    pub edges: usize,
    /// Time spent checking, excluding parsing.
    pub check_nanos: u128,
    /// Remarks a person should see (an empty history, workloads checked separately).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.anomalies.is_empty()
    }
}

fn mop_from(v: Value, workload: Workload) -> Result<Mop, String> {
    let l = match v {
        Value::List(l) if l.len() == 3 => l,
        other => {
            return Err(format!(
                "expected a micro-op [f key value], found {}",
                short(&other)
            ))
        }
    };
    let [name, key, value]: [Value; 3] = l
        .try_into()
        .map_err(|_| "expected a micro-op [f key value]".to_string())?;
    let f = name.as_name().ok_or_else(|| {
        format!(
            "expected a micro-op name (r, append, w), found {}",
            short(&name)
        )
    })?;
    match (f, workload) {
        ("r", _) | ("read", _) => Ok(Mop::Read {
            key,
            value: Some(value),
        }),
        ("append", Workload::ListAppend) => Ok(Mop::Append { key, value }),
        ("w", Workload::RwRegister) | ("write", Workload::RwRegister) => {
            Ok(Mop::Write { key, value })
        }
        ("add", Workload::Bank) => match value {
            Value::Int(_) => Ok(Mop::Write { key, value }),
            other => Err(format!(
                "expected an integer amount in a bank add, found {}",
                short(&other)
            )),
        },
        (f, Workload::Bank) => Err(format!(
            "expected micro-op r or add for bank, found `{f}`"
        )),
        (f, Workload::ListAppend) => Err(format!(
            "expected micro-op r or append for list-append, found `{f}` (a history that mixes workloads is checked without --workload)"
        )),
        (f, Workload::RwRegister) => Err(format!(
            "expected micro-op r or w for rw-register, found `{f}`"
        )),
    }
}

/// What a transaction's micro-ops are read from: completed transactions report what they
/// read; otherwise only the invocation is known.
fn txn_value(op: &Operation, status: Status) -> &Value {
    match (&op.output, status) {
        (Some(out), Status::Committed) if !out.is_nil() => out,
        _ => &op.input,
    }
}

/// Reads a transaction from `value` (its `txn_value`, owned so that large reads are moved,
/// not copied).
fn txn_from(
    op: &Operation,
    value: Value,
    status: Status,
    workload: Workload,
    source: &str,
) -> Result<Txn, InputError> {
    let line = if status == Status::Committed {
        op.ret_line.unwrap_or(op.line)
    } else {
        op.line
    };
    let list = match value {
        Value::List(l) => l,
        other => {
            return Err(InputError::new(
                source,
                line,
                format!(
                    "expected a transaction: a list of micro-ops, found {}",
                    short(&other)
                ),
            ))
        }
    };
    let mut mops = Vec::with_capacity(list.len());
    for m in list {
        let mut mop = mop_from(m, workload).map_err(|e| InputError::new(source, line, e))?;
        if let Mop::Read { value: Some(v), .. } = &mop {
            if workload == Workload::ListAppend
                && status == Status::Committed
                && !matches!(v, Value::List(_) | Value::Nil)
            {
                return Err(InputError::new(
                    source,
                    line,
                    format!(
                        "expected a list-append read to return a list or nil, found {}",
                        short(v)
                    ),
                ));
            }
        }
        if status != Status::Committed {
            if let Mop::Read { value, .. } = &mut mop {
                *value = None;
            }
        }
        mops.push(mop);
    }
    Ok(Txn {
        id: 0,
        process: op.process,
        status,
        mops,
        line: op.line,
        call: op.call,
        ret: op.ret,
    })
}

/// Reads the transactions of a paired history (failed ones included, as aborted).
pub fn transactions(history: &Operations, workload: Workload) -> Result<Vec<Txn>, InputError> {
    let mut txns = Vec::with_capacity(history.ops.len() + history.failed_ops.len());
    for op in &history.ops {
        let status = if op.is_indeterminate() {
            Status::Indeterminate
        } else {
            Status::Committed
        };
        let value = txn_value(op, status).clone();
        txns.push(txn_from(op, value, status, workload, &history.source)?);
    }
    for op in &history.failed_ops {
        let value = txn_value(op, Status::Aborted).clone();
        txns.push(txn_from(
            op,
            value,
            Status::Aborted,
            workload,
            &history.source,
        )?);
    }
    number(txns)
}

/// Like [`transactions`], moving the values out of the history instead of copying them.
pub fn transactions_owned(history: Operations, workload: Workload) -> Result<Vec<Txn>, InputError> {
    let mut txns = Vec::with_capacity(history.ops.len() + history.failed_ops.len());
    let source = history.source;
    let all = history
        .ops
        .into_iter()
        .map(|op| (op, false))
        .chain(history.failed_ops.into_iter().map(|op| (op, true)));
    for (mut op, failed) in all {
        let (status, value) = outcome(&mut op, failed);
        txns.push(txn_from(&op, value, status, workload, &source)?);
    }
    number(txns)
}

/// What an operation's transaction did, and the value that says what it read and wrote:
/// a committed transaction's output when it has one (its reads filled in), else its
/// input. The value is moved out of the operation.
fn outcome(op: &mut Operation, failed: bool) -> (Status, Value) {
    let status = if failed {
        Status::Aborted
    } else if op.is_indeterminate() {
        Status::Indeterminate
    } else {
        Status::Committed
    };
    let use_output = status == Status::Committed && op.output.as_ref().is_some_and(|o| !o.is_nil());
    let value = if use_output {
        op.output.take().unwrap_or(Value::Nil)
    } else {
        std::mem::replace(&mut op.input, Value::Nil)
    };
    (status, value)
}

/// Orders transactions by invocation and numbers them `T0..`.
fn number(mut txns: Vec<Txn>) -> Result<Vec<Txn>, InputError> {
    txns.sort_by_key(|t| t.call);
    for (i, t) in txns.iter_mut().enumerate() {
        t.id = i;
    }
    Ok(txns)
}

/// Like [`transactions_owned`] over the events of `history` whose `f` passes `keep`, each
/// operation read into its transaction as soon as it completes: the paired operations,
/// each holding its invocation's and its completion's values, never exist all at once.
/// The same transactions, numbered alike, and the same first error.
pub fn transactions_compact(
    history: &CompactHistory,
    source: &str,
    keep: impl Fn(&str) -> bool,
    workload: Workload,
) -> Result<Vec<Txn>, InputError> {
    let mut txns = Vec::new();
    // The error `transactions_owned` would meet first: kept operations in invocation
    // order, then failed ones in completion order.
    let mut first_error: Option<((bool, usize), InputError)> = None;
    let mut failed_seen = 0;
    pair_stream(source, history.events_where(keep), |mut op, ended| {
        let failed = ended == Ended::Failed;
        let order = if failed {
            failed_seen += 1;
            (true, failed_seen)
        } else {
            (false, op.index)
        };
        let (status, value) = outcome(&mut op, failed);
        match txn_from(&op, value, status, workload, source) {
            Ok(t) => txns.push(t),
            Err(e) => {
                let earlier = match &first_error {
                    Some((o, _)) => order < *o,
                    None => true,
                };
                if earlier {
                    first_error = Some((order, e));
                }
            }
        }
        Ok(())
    })?;
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    number(txns)
}

/// [`check`] over the events of a compactly kept history whose `f` passes `keep` (see
/// [`transactions_compact`]).
pub fn check_compact(
    history: &CompactHistory,
    source: &str,
    keep: impl Fn(&str) -> bool,
    workload: Workload,
    opts: &Options,
) -> Result<Report, InputError> {
    let txns = transactions_compact(history, source, keep, workload)?;
    let start = Instant::now();
    let mut report = check_txns(&txns, workload, opts);
    report.check_nanos = start.elapsed().as_nanos();
    Ok(report)
}

/// Checks a paired transaction history.
pub fn check(
    history: &Operations,
    workload: Workload,
    opts: &Options,
) -> Result<Report, InputError> {
    let txns = transactions(history, workload)?;
    let start = Instant::now();
    let mut report = check_txns(&txns, workload, opts);
    report.check_nanos = start.elapsed().as_nanos();
    Ok(report)
}

/// Like [`check`], consuming the history so that its values are moved, not copied.
pub fn check_owned(
    history: Operations,
    workload: Workload,
    opts: &Options,
) -> Result<Report, InputError> {
    let txns = transactions_owned(history, workload)?;
    let start = Instant::now();
    let mut report = check_txns(&txns, workload, opts);
    report.check_nanos = start.elapsed().as_nanos();
    Ok(report)
}

/// Checks a history whose workload is not given, or that mixes them (as dst's two-phase
/// commit clients do: list-append transactions, bank transfers and audits). Each transaction
/// goes to the workload its micro-ops show (see `classify`; one no workload reads is bad
/// input, reported by the list-append reader), each workload is checked on its own and the
/// anomalies are joined. Transaction ids (`T<n>`) count within each workload.
pub fn check_mixed(history: Operations, opts: &Options) -> Result<Report, InputError> {
    let start = Instant::now();
    // Keys some transaction adds to or reads an integer from: bank accounts.
    let mut bank_keys = std::collections::BTreeSet::new();
    for op in history.ops.iter().chain(&history.failed_ops) {
        for v in [Some(&op.input), op.output.as_ref()].into_iter().flatten() {
            for m in v.as_list().into_iter().flatten() {
                if let Some(l) = m.as_list() {
                    let bankish = matches!(
                        (l.first().and_then(Value::as_name), l.get(2)),
                        (Some("add"), _) | (Some("r") | Some("read"), Some(Value::Int(_)))
                    );
                    if bankish {
                        if let Some(k) = l.get(1) {
                            bank_keys.insert(k.clone());
                        }
                    }
                }
            }
        }
    }
    let mut split: std::collections::BTreeMap<u8, Operations> = Default::default();
    let slot = |w: Workload| match w {
        Workload::ListAppend => 0u8,
        Workload::RwRegister => 1,
        Workload::Bank => 2,
    };
    // Operations are moved into their workload's part, not copied: a history of 100k
    // transactions holds hundreds of MB of values.
    let Operations {
        source,
        ops,
        failed_ops,
        ..
    } = history;
    for (op, failed) in ops
        .into_iter()
        .map(|o| (o, false))
        .chain(failed_ops.into_iter().map(|o| (o, true)))
    {
        let w = classify(&op, &bank_keys).unwrap_or(Workload::ListAppend);
        let part = split.entry(slot(w)).or_insert_with(|| Operations {
            source: source.clone(),
            ops: Vec::new(),
            failed: 0,
            failed_ops: Vec::new(),
        });
        if failed {
            part.failed += 1;
            part.failed_ops.push(op);
        } else {
            part.ops.push(op);
        }
    }
    let mut report = Report {
        verdict: "serializable",
        anomalies: Vec::new(),
        txns: 0,
        edges: 0,
        check_nanos: 0,
        notes: Vec::new(),
    };
    if split.is_empty() {
        report
            .notes
            .push("no client operations: an empty history is serializable".into());
    }
    let mut kinds = Vec::new();
    let parts = split.len();
    for (k, part) in split {
        let w = [Workload::ListAppend, Workload::RwRegister, Workload::Bank][k as usize];
        let r = check_owned(part, w, opts)?;
        kinds.push(format!(
            "{} {}",
            r.txns,
            ["list-append", "rw-register", "bank"][k as usize]
        ));
        report.anomalies.extend(r.anomalies);
        report.txns += r.txns;
        report.edges += r.edges;
    }
    if parts > 1 {
        report.notes.push(format!(
            "workloads checked separately: {} transactions",
            kinds.join(", ")
        ));
    }
    if !report.anomalies.is_empty() {
        report.verdict = "not-serializable";
    }
    report.check_nanos = start.elapsed().as_nanos();
    Ok(report)
}

/// Checks already-read transactions.
pub fn check_txns(txns: &[Txn], workload: Workload, opts: &Options) -> Report {
    let start = Instant::now();
    let mut g = DepGraph::new(txns);
    let mut anomalies = match workload {
        Workload::ListAppend => list_append::infer(txns, &mut g),
        Workload::RwRegister => rw_register::infer(txns, &mut g),
        Workload::Bank => bank::infer(txns),
    };
    if opts.process_edges {
        g.add_process_edges();
    }
    if opts.realtime_edges {
        g.add_realtime_edges();
    }
    anomalies.extend(g.cycle_anomalies());
    Report {
        verdict: if anomalies.is_empty() {
            "serializable"
        } else {
            "not-serializable"
        },
        anomalies,
        txns: txns.len(),
        edges: g.edge_count(),
        check_nanos: start.elapsed().as_nanos(),
        notes: if txns.is_empty() {
            vec!["no client operations: an empty history is serializable".into()]
        } else {
            Vec::new()
        },
    }
}

/// `T3 (process 1, line 7)`.
pub(crate) fn label(t: &Txn) -> String {
    format!("T{} (process {}, line {})", t.id, t.process, t.line)
}
