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

mod graph;
mod list_append;
mod rw_register;

use crate::error::InputError;
use crate::history::{short, Operation, Operations};
use crate::value::Value;
use serde::Serialize;
use std::time::Instant;

pub use graph::{DepGraph, EdgeKind};

/// Which kind of transactions the history holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    ListAppend,
    RwRegister,
}

impl Workload {
    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "list-append" | "append" => Some(Workload::ListAppend),
            "rw-register" | "register" => Some(Workload::RwRegister),
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

/// The result of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub verdict: &'static str,
    pub anomalies: Vec<Anomaly>,
    pub txns: usize,
    pub edges: usize,
    /// Time spent checking, excluding parsing.
    pub check_nanos: u128,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.anomalies.is_empty()
    }
}

fn mop_from(v: &Value, workload: Workload) -> Result<Mop, String> {
    let Some(l) = v.as_list().filter(|l| l.len() == 3) else {
        return Err(format!(
            "expected a micro-op [f key value], found {}",
            short(v)
        ));
    };
    let f = l[0].as_name().ok_or_else(|| {
        format!(
            "expected a micro-op name (r, append, w), found {}",
            short(&l[0])
        )
    })?;
    let key = l[1].clone();
    let value = l[2].clone();
    match (f, workload) {
        ("r", _) | ("read", _) => Ok(Mop::Read {
            key,
            value: Some(value),
        }),
        ("append", Workload::ListAppend) => Ok(Mop::Append { key, value }),
        ("w", Workload::RwRegister) | ("write", Workload::RwRegister) => {
            Ok(Mop::Write { key, value })
        }
        (f, Workload::ListAppend) => Err(format!(
            "expected micro-op r or append for list-append, found `{f}`"
        )),
        (f, Workload::RwRegister) => Err(format!(
            "expected micro-op r or w for rw-register, found `{f}`"
        )),
    }
}

fn txn_from(
    op: &Operation,
    status: Status,
    workload: Workload,
    source: &str,
) -> Result<Txn, InputError> {
    // Completed transactions report what they read; otherwise only the invocation is known.
    let value = match (&op.output, status) {
        (Some(out), Status::Committed) if !out.is_nil() => out,
        _ => &op.input,
    };
    let line = if status == Status::Committed {
        op.ret_line.unwrap_or(op.line)
    } else {
        op.line
    };
    let Some(list) = value.as_list() else {
        return Err(InputError::new(
            source,
            line,
            format!(
                "expected a transaction: a list of micro-ops, found {}",
                short(value)
            ),
        ));
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
        txns.push(txn_from(op, status, workload, &history.source)?);
    }
    for op in &history.failed_ops {
        txns.push(txn_from(op, Status::Aborted, workload, &history.source)?);
    }
    txns.sort_by_key(|t| t.call);
    for (i, t) in txns.iter_mut().enumerate() {
        t.id = i;
    }
    Ok(txns)
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

/// Checks already-read transactions.
pub fn check_txns(txns: &[Txn], workload: Workload, opts: &Options) -> Report {
    let start = Instant::now();
    let mut g = DepGraph::new(txns);
    let mut anomalies = match workload {
        Workload::ListAppend => list_append::infer(txns, &mut g),
        Workload::RwRegister => rw_register::infer(txns, &mut g),
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
    }
}

/// `T3 (process 1, line 7)`.
pub(crate) fn label(t: &Txn) -> String {
    format!("T{} (process {}, line {})", t.id, t.process, t.line)
}
